//! The EIP-712 messages of the registry, shared by the node (which verifies them), the
//! contract (which checks them again on chain) and any wallet (which signs them).
//!
//! The domain is `{name: "Chorus", version: "1", chainId, verifyingContract: ContentRegistry}`,
//! so a signature is good for one registry on one chain only. The message types are a wire
//! contract with `deploy/contracts/ContentRegistry.sol`:
//!
//! ```text
//! Upload(string cid,address owner,uint256 timestamp,uint256 nonce)
//! Delist(string cid,address owner,uint256 timestamp,uint256 nonce)
//! ```

use alloy::primitives::{Address, B256, U256};
use alloy::sol_types::{Eip712Domain, SolStruct};
use serde_json::{Value, json};

alloy::sol! {
    /// An artist's consent to store and register `cid` as theirs.
    #[derive(Debug, PartialEq, Eq)]
    struct Upload {
        string cid;
        address owner;
        uint256 timestamp;
        uint256 nonce;
    }

    /// An owner's request to delist `cid`.
    #[derive(Debug, PartialEq, Eq)]
    struct Delist {
        string cid;
        address owner;
        uint256 timestamp;
        uint256 nonce;
    }
}

/// A nonce for a new upload request: 64 random bits (a collision needs billions of requests
/// by one owner within the signature's lifetime).
pub fn fresh_nonce() -> U256 {
    U256::from(rand::random::<u64>())
}

/// The domain's name.
pub const DOMAIN_NAME: &str = "Chorus";
/// The domain's version.
pub const DOMAIN_VERSION: &str = "1";

/// The EIP-712 domain of the registry at `registry` on chain `chain_id`.
pub fn domain(chain_id: u64, registry: Address) -> Eip712Domain {
    Eip712Domain::new(
        Some(DOMAIN_NAME.into()),
        Some(DOMAIN_VERSION.into()),
        Some(U256::from(chain_id)),
        Some(registry),
        None,
    )
}

/// Which message a signature is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `Upload`: store and register.
    Upload,
    /// `Delist`: take down.
    Delist,
}

impl Purpose {
    /// The message type's name (`primaryType`).
    pub fn type_name(self) -> &'static str {
        match self {
            Purpose::Upload => "Upload",
            Purpose::Delist => "Delist",
        }
    }
}

/// The four fields both messages carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// The content's CID, as text (the CID the node recomputes from the bytes).
    pub cid: String,
    /// The artist's address.
    pub owner: Address,
    /// Unix seconds at signing.
    pub timestamp: u64,
    /// Any number the owner has not used before (the node hands out random ones).
    pub nonce: U256,
}

impl Message {
    /// The digest a wallet signs for `purpose` in `domain` (`eth_signTypedData_v4`'s hash).
    pub fn signing_hash(&self, purpose: Purpose, domain: &Eip712Domain) -> B256 {
        match purpose {
            Purpose::Upload => Upload {
                cid: self.cid.clone(),
                owner: self.owner,
                timestamp: U256::from(self.timestamp),
                nonce: self.nonce,
            }
            .eip712_signing_hash(domain),
            Purpose::Delist => Delist {
                cid: self.cid.clone(),
                owner: self.owner,
                timestamp: U256::from(self.timestamp),
                nonce: self.nonce,
            }
            .eip712_signing_hash(domain),
        }
    }

    /// The complete typed-data object, exactly as `eth_signTypedData_v4` takes it (with
    /// `EIP712Domain` in `types`, which browser wallets need; ethers' `signTypedData` takes the
    /// same object without it). The nonce is a decimal string (it may exceed 2^53).
    pub fn typed_data(&self, purpose: Purpose, chain_id: u64, registry: Address) -> Value {
        let fields = json!([
            {"name": "cid", "type": "string"},
            {"name": "owner", "type": "address"},
            {"name": "timestamp", "type": "uint256"},
            {"name": "nonce", "type": "uint256"},
        ]);
        let mut types = serde_json::Map::new();
        types.insert(
            "EIP712Domain".into(),
            json!([
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"},
                {"name": "verifyingContract", "type": "address"},
            ]),
        );
        types.insert(purpose.type_name().into(), fields);
        json!({
            "types": types,
            "primaryType": purpose.type_name(),
            "domain": {
                "name": DOMAIN_NAME,
                "version": DOMAIN_VERSION,
                "chainId": chain_id,
                "verifyingContract": registry.to_checksum(None),
            },
            "message": {
                "cid": self.cid,
                "owner": self.owner.to_checksum(None),
                "timestamp": self.timestamp,
                "nonce": self.nonce.to_string(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::address;

    #[test]
    fn type_strings_are_the_wire_contract() {
        assert_eq!(
            Upload::eip712_encode_type(),
            "Upload(string cid,address owner,uint256 timestamp,uint256 nonce)"
        );
        assert_eq!(
            Delist::eip712_encode_type(),
            "Delist(string cid,address owner,uint256 timestamp,uint256 nonce)"
        );
    }

    #[test]
    fn purposes_and_domains_sign_different_digests() {
        let registry = address!("0x5FbDB2315678afecb367f032d93F642f64180aa3");
        let m = Message {
            cid: "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy".into(),
            owner: address!("0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"),
            timestamp: 1_700_000_000,
            nonce: U256::from(7u64),
        };
        let d = domain(31337, registry);
        let up = m.signing_hash(Purpose::Upload, &d);
        assert_ne!(up, m.signing_hash(Purpose::Delist, &d));
        assert_ne!(up, m.signing_hash(Purpose::Upload, &domain(1, registry)));
        let typed = m.typed_data(Purpose::Upload, 31337, registry);
        assert_eq!(typed["primaryType"], "Upload");
        assert_eq!(typed["message"]["nonce"], "7");
        assert_eq!(typed["domain"]["chainId"], 31337);
    }
}
