//! Signing an upload request with a local key (`chorus add --sign`, `track add --sign`): what
//! a browser wallet does with `eth_signTypedData_v4`, for scripts and tests. The node's answer
//! to `chain/upload-request` is read back into the message and domain it describes, and the
//! key must be the message's owner.

use std::str::FromStr;

use alloy::primitives::{Address, U256};
use alloy::signers::SignerSync;
use alloy::signers::local::PrivateKeySigner;
use serde_json::Value;

use crate::typed_data::{Message, Purpose, domain};

/// The four query options a signed upload carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedOptions {
    /// `owner`.
    pub owner: String,
    /// `timestamp`.
    pub timestamp: String,
    /// `nonce`.
    pub nonce: String,
    /// `signature`.
    pub signature: String,
}

impl SignedOptions {
    /// As `(name, value)` query pairs.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        vec![
            ("owner", self.owner.clone()),
            ("timestamp", self.timestamp.clone()),
            ("nonce", self.nonce.clone()),
            ("signature", self.signature.clone()),
        ]
    }
}

fn field<'a>(v: &'a Value, path: &[&str]) -> Result<&'a Value, String> {
    let mut cur = v;
    for key in path {
        cur = cur
            .get(key)
            .ok_or_else(|| format!("typed data has no {}", path.join(".")))?;
    }
    Ok(cur)
}

fn number(v: &Value, path: &[&str]) -> Result<U256, String> {
    let f = field(v, path)?;
    let text = match f {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        _ => return Err(format!("{} is not a number", path.join("."))),
    };
    U256::from_str(&text).map_err(|e| format!("{}: {e}", path.join(".")))
}

fn address(v: &Value, path: &[&str]) -> Result<Address, String> {
    let text = field(v, path)?
        .as_str()
        .ok_or_else(|| format!("{} is not a string", path.join(".")))?;
    Address::from_str(text).map_err(|e| format!("{}: {e}", path.join(".")))
}

/// Signs the typed data of `chain/upload-request` (`{"TypedData": …}` or the bare object)
/// with `signer`, which must be its owner.
pub fn sign_upload_request(
    typed: &Value,
    signer: &PrivateKeySigner,
) -> Result<SignedOptions, String> {
    let typed = typed.get("TypedData").unwrap_or(typed);
    if field(typed, &["primaryType"])?.as_str() != Some(Purpose::Upload.type_name()) {
        return Err("typed data is not an Upload".into());
    }
    let chain_id = u64::try_from(number(typed, &["domain", "chainId"])?)
        .map_err(|_| "domain.chainId is too large".to_string())?;
    let registry = address(typed, &["domain", "verifyingContract"])?;
    let owner = address(typed, &["message", "owner"])?;
    if owner != signer.address() {
        return Err(format!(
            "the request is for owner {owner}, the key is {}",
            signer.address()
        ));
    }
    let timestamp = u64::try_from(number(typed, &["message", "timestamp"])?)
        .map_err(|_| "message.timestamp is too large".to_string())?;
    let message = Message {
        cid: field(typed, &["message", "cid"])?
            .as_str()
            .ok_or("message.cid is not a string")?
            .to_owned(),
        owner,
        timestamp,
        nonce: number(typed, &["message", "nonce"])?,
    };
    let hash = message.signing_hash(Purpose::Upload, &domain(chain_id, registry));
    let signature = signer.sign_hash_sync(&hash).map_err(|e| e.to_string())?;
    Ok(SignedOptions {
        owner: owner.to_checksum(None),
        timestamp: timestamp.to_string(),
        nonce: message.nonce.to_string(),
        signature: format!("0x{}", hex::encode(signature.as_bytes())),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proof::UploadProof;

    #[test]
    fn signs_what_the_node_verifies() {
        let key = PrivateKeySigner::random();
        let registry = Address::repeat_byte(9);
        let m = Message {
            cid: "bafy".into(),
            owner: key.address(),
            timestamp: 1000,
            nonce: U256::from(u64::MAX),
        };
        let typed = serde_json::json!({ "TypedData": m.typed_data(Purpose::Upload, 5, registry) });
        let o = sign_upload_request(&typed, &key).unwrap();
        let proof = UploadProof::parse(
            Some(&o.owner),
            Some(&o.timestamp),
            Some(&o.nonce),
            Some(&o.signature),
        )
        .unwrap()
        .unwrap();
        proof
            .verify(
                Purpose::Upload,
                "bafy",
                &domain(5, registry),
                1000,
                std::time::Duration::from_secs(10),
            )
            .unwrap();
        let stranger = PrivateKeySigner::random();
        assert!(sign_upload_request(&typed, &stranger).is_err());
    }
}
