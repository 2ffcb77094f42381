//! An upload's proof of consent as it arrives with the upload (`owner`, `timestamp`, `nonce`,
//! `signature` query options), and why one is refused.

use std::str::FromStr;
use std::time::Duration;

use alloy::primitives::{Address, Signature, U256};
use alloy::sol_types::Eip712Domain;
use thiserror::Error;

use crate::typed_data::{Message, Purpose};

/// How far a signature's timestamp may run ahead of this node's clock (wallets' clocks drift).
pub const MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);

/// The signed fields of an upload, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadProof {
    /// Who claims the content.
    pub owner: Address,
    /// Unix seconds at signing.
    pub timestamp: u64,
    /// The message's nonce.
    pub nonce: U256,
    /// 65 bytes `r ‖ s ‖ v`.
    pub signature: Signature,
}

/// Why an upload (or a delist) is refused; nothing is stored for any of them.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum Refusal {
    /// `chain.require_signatures` is on and the upload carries no signature.
    #[error(
        "this node accepts only signed uploads (chain.require_signatures): pass owner, timestamp, nonce and signature from POST /api/v0/chain/upload-request"
    )]
    Missing,
    /// Some but not all of the four options, or one that does not parse.
    #[error("malformed upload signature: {0}")]
    Malformed(String),
    /// The node has no chain settings to verify against.
    #[error("this node cannot verify signed uploads: {0}")]
    NotConfigured(String),
    /// The signature recovers to another address than `owner`.
    #[error(
        "the signature does not prove {owner}'s consent to {cid}: it recovers to {recovered} (another key signed, or it was signed for other content than these bytes)"
    )]
    WrongSigner {
        /// The claimed owner.
        owner: Address,
        /// The CID recomputed from the bytes received.
        cid: String,
        /// Who actually signed that message (if anyone: a random signature recovers too).
        recovered: Address,
    },
    /// Older than `chain.max_signature_age`.
    #[error(
        "the signature is {age_secs} s old; this node accepts signatures up to {max_secs} s old (chain.max_signature_age)"
    )]
    Expired {
        /// Its age.
        age_secs: u64,
        /// The limit.
        max_secs: u64,
    },
    /// Dated ahead of this node's clock by more than [`MAX_CLOCK_SKEW`].
    #[error("the signature is dated {ahead_secs} s in the future")]
    FromTheFuture {
        /// By how much.
        ahead_secs: u64,
    },
    /// The nonce was used before by this owner.
    #[error("nonce {nonce} was already used by {owner}: request a new one (chain/upload-request)")]
    Replayed {
        /// The owner.
        owner: Address,
        /// The nonce.
        nonce: U256,
    },
}

impl Refusal {
    /// The metric label of this reason.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Missing => "missing",
            Refusal::Malformed(_) => "malformed",
            Refusal::NotConfigured(_) => "not_configured",
            Refusal::WrongSigner { .. } => "wrong_signer",
            Refusal::Expired { .. } => "expired",
            Refusal::FromTheFuture { .. } => "future",
            Refusal::Replayed { .. } => "replayed",
        }
    }

    /// Whether the request itself is malformed (HTTP 400) rather than refused (403).
    pub fn is_malformed(&self) -> bool {
        matches!(self, Refusal::Malformed(_))
    }
}

impl UploadProof {
    /// Parses the four options as an upload carries them; `None` when none is given.
    pub fn parse(
        owner: Option<&str>,
        timestamp: Option<&str>,
        nonce: Option<&str>,
        signature: Option<&str>,
    ) -> Result<Option<UploadProof>, Refusal> {
        match (owner, timestamp, nonce, signature) {
            (None, None, None, None) => Ok(None),
            (Some(o), Some(t), Some(n), Some(s)) => Ok(Some(UploadProof {
                owner: parse_address(o)?,
                timestamp: t.trim().parse().map_err(|_| {
                    Refusal::Malformed(format!("timestamp {t:?} is not unix seconds"))
                })?,
                nonce: U256::from_str(n.trim()).map_err(|_| {
                    Refusal::Malformed(format!("nonce {n:?} is not an unsigned integer"))
                })?,
                signature: parse_signature(s)?,
            })),
            _ => Err(Refusal::Malformed(
                "a signed upload carries all of owner, timestamp, nonce and signature".into(),
            )),
        }
    }

    /// The signed message for `cid`.
    pub fn message(&self, cid: &str) -> Message {
        Message {
            cid: cid.to_owned(),
            owner: self.owner,
            timestamp: self.timestamp,
            nonce: self.nonce,
        }
    }

    /// Refuses a signature dated more than [`MAX_CLOCK_SKEW`] after `now` (unix seconds) or
    /// older than `max_age`.
    pub fn check_age(&self, now: u64, max_age: Duration) -> Result<(), Refusal> {
        if self.timestamp > now + MAX_CLOCK_SKEW.as_secs() {
            return Err(Refusal::FromTheFuture {
                ahead_secs: self.timestamp - now,
            });
        }
        let age = now.saturating_sub(self.timestamp);
        if age > max_age.as_secs() {
            return Err(Refusal::Expired {
                age_secs: age,
                max_secs: max_age.as_secs(),
            });
        }
        Ok(())
    }

    /// Checks age (against `now`, unix seconds) and the signer for `cid` (the CID recomputed
    /// from the bytes received) in `domain`. The nonce is the gate's to check.
    pub fn verify(
        &self,
        purpose: Purpose,
        cid: &str,
        domain: &Eip712Domain,
        now: u64,
        max_age: Duration,
    ) -> Result<(), Refusal> {
        self.check_age(now, max_age)?;
        let hash = self.message(cid).signing_hash(purpose, domain);
        let recovered = self
            .signature
            .recover_address_from_prehash(&hash)
            .map_err(|e| Refusal::Malformed(format!("signature does not recover: {e}")))?;
        if recovered != self.owner {
            return Err(Refusal::WrongSigner {
                owner: self.owner,
                cid: cid.to_owned(),
                recovered,
            });
        }
        Ok(())
    }
}

/// A 0x-prefixed hex address, checksummed (EIP-55) or all one case.
pub fn parse_address(s: &str) -> Result<Address, Refusal> {
    let s = s.trim();
    let malformed = || {
        Refusal::Malformed(format!(
            "owner {s:?} is not a 0x-prefixed 20-byte address (or its checksum is wrong)"
        ))
    };
    let digits = s.strip_prefix("0x").ok_or_else(malformed)?;
    if digits.len() != 40 || !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(malformed());
    }
    let one_case = !digits.bytes().any(|b| b.is_ascii_uppercase())
        || !digits.bytes().any(|b| b.is_ascii_lowercase());
    let parsed = if one_case {
        Address::from_str(s).ok()
    } else {
        Address::parse_checksummed(s, None).ok()
    };
    parsed.ok_or_else(malformed)
}

/// A 0x-prefixed 65-byte signature with `v` 27/28 (or 0/1) and a low `s` (EIP-2: the high-s
/// twin of a signature is refused, as the contract refuses it).
pub fn parse_signature(s: &str) -> Result<Signature, Refusal> {
    let s = s.trim();
    let hex = s
        .strip_prefix("0x")
        .ok_or_else(|| Refusal::Malformed("signature must be 0x-prefixed hex".into()))?;
    let bytes = hex::decode(hex).map_err(|_| Refusal::Malformed("signature is not hex".into()))?;
    if bytes.len() != 65 {
        return Err(Refusal::Malformed(format!(
            "signature is {} bytes, expected 65",
            bytes.len()
        )));
    }
    let sig =
        Signature::from_raw(&bytes).map_err(|e| Refusal::Malformed(format!("signature: {e}")))?;
    if sig.normalize_s().is_some() {
        return Err(Refusal::Malformed(
            "signature has a high s value (EIP-2); sign again".into(),
        ));
    }
    Ok(sig)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::typed_data::domain;
    use alloy::signers::SignerSync;
    use alloy::signers::local::PrivateKeySigner;

    fn signed(signer: &PrivateKeySigner, cid: &str, ts: u64) -> UploadProof {
        let d = domain(31337, Address::repeat_byte(7));
        let mut proof = UploadProof {
            owner: signer.address(),
            timestamp: ts,
            nonce: U256::from(42u64),
            signature: Signature::new(U256::from(1), U256::from(1), false),
        };
        let hash = proof.message(cid).signing_hash(Purpose::Upload, &d);
        proof.signature = signer.sign_hash_sync(&hash).unwrap();
        proof
    }

    #[test]
    fn accepts_the_owners_signature_and_refuses_the_rest() {
        let d = domain(31337, Address::repeat_byte(7));
        let artist = PrivateKeySigner::random();
        let max = Duration::from_secs(3600);
        let now = 1_700_000_000;
        let proof = signed(&artist, "bafy-one", now - 10);
        proof
            .verify(Purpose::Upload, "bafy-one", &d, now, max)
            .unwrap();
        // Other bytes (another CID), another purpose, another domain: another signer.
        for (purpose, cid, dom) in [
            (Purpose::Upload, "bafy-two", d.clone()),
            (Purpose::Delist, "bafy-one", d.clone()),
            (
                Purpose::Upload,
                "bafy-one",
                domain(1, Address::repeat_byte(7)),
            ),
        ] {
            let err = proof.verify(purpose, cid, &dom, now, max).unwrap_err();
            assert_eq!(err.reason(), "wrong_signer", "{err}");
        }
        let err = proof
            .verify(Purpose::Upload, "bafy-one", &d, now + 7200, max)
            .unwrap_err();
        assert_eq!(err.reason(), "expired");
        let err = proof
            .verify(Purpose::Upload, "bafy-one", &d, now - 1000, max)
            .unwrap_err();
        assert_eq!(err.reason(), "future");
    }

    #[test]
    fn parses_the_wire_options() {
        let artist = PrivateKeySigner::random();
        let proof = signed(&artist, "bafy", 5);
        let sig = format!("0x{}", hex::encode(proof.signature.as_bytes()));
        let owner = artist.address().to_checksum(None);
        let parsed = UploadProof::parse(Some(&owner), Some("5"), Some("42"), Some(&sig))
            .unwrap()
            .unwrap();
        assert_eq!(parsed, proof);
        let lower = owner.to_lowercase();
        assert!(UploadProof::parse(Some(&lower), Some("5"), Some("42"), Some(&sig)).is_ok());
        assert_eq!(UploadProof::parse(None, None, None, None), Ok(None));
        for (o, t, n, s) in [
            (Some(owner.as_str()), None, Some("42"), Some(sig.as_str())),
            (Some("0x12"), Some("5"), Some("42"), Some(sig.as_str())),
            (
                Some(owner.as_str()),
                Some("-1"),
                Some("42"),
                Some(sig.as_str()),
            ),
            (
                Some(owner.as_str()),
                Some("5"),
                Some("x"),
                Some(sig.as_str()),
            ),
            (Some(owner.as_str()), Some("5"), Some("42"), Some("0x1234")),
            (Some(owner.as_str()), Some("5"), Some("42"), Some(&sig[2..])),
        ] {
            let err = UploadProof::parse(o, t, n, s).unwrap_err();
            assert!(err.is_malformed(), "{err}");
        }
        // A wrong checksum (one letter's case flipped) is refused.
        let mut bad: Vec<char> = owner.chars().collect();
        let i = bad
            .iter()
            .rposition(|c| c.is_ascii_alphabetic() && *c != 'x')
            .unwrap();
        bad[i] = if bad[i].is_ascii_uppercase() {
            bad[i].to_ascii_lowercase()
        } else {
            bad[i].to_ascii_uppercase()
        };
        let bad: String = bad.into_iter().collect();
        if bad != owner.to_lowercase() && bad[2..] != owner[2..].to_uppercase() {
            assert!(parse_address(&bad).is_err());
        }
    }

    #[test]
    fn odd_text_is_malformed_not_a_panic() {
        // Found by the upload_proof fuzz target: a multi-byte character where "0x" would be.
        for s in [
            "\u{e9}\u{e9}",
            "0",
            "",
            "0x",
            "0x\u{e9}1",
            &format!("0x{}", "g".repeat(40)),
        ] {
            assert!(parse_address(s).unwrap_err().is_malformed(), "{s:?}");
        }
    }

    #[test]
    fn refuses_the_high_s_twin() {
        let artist = PrivateKeySigner::random();
        let proof = signed(&artist, "bafy", 5);
        let sig = proof.signature;
        let n = alloy::primitives::U256::from_str(
            "0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141",
        )
        .unwrap();
        let twin = Signature::new(sig.r(), n - sig.s(), !sig.v());
        let hex = format!("0x{}", hex::encode(twin.as_bytes()));
        assert!(parse_signature(&hex).unwrap_err().is_malformed());
    }
}
