//! One entry of the content log: "node N accepted root C (S bytes) at time T", or its removal,
//! signed by N's libp2p key so any node can check it whoever relayed it.
//!
//! The signature covers a fixed byte string (not the serialisation, which may change):
//! `"/chorus/content-log/1\n"`, then the root CID's bytes, the size and the time (big-endian
//! u64), the removal flag (one byte) and the uploader's signature (issue 16's wallet
//! signature, empty until then), the variable-length fields each preceded by a u32 length.

use chorus_storage::Cid;
use libp2p::PeerId;
use libp2p::identity::{Keypair, PublicKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

const DOMAIN: &[u8] = b"/chorus/content-log/1\n";

/// Largest encoded public key accepted (an RSA-4096 key in protobuf is about 550 bytes).
const MAX_KEY_BYTES: usize = 1024;
/// Largest signature accepted (RSA-4096: 512 bytes; Ed25519: 64).
const MAX_SIGNATURE_BYTES: usize = 1024;
/// Largest uploader signature accepted (an Ethereum signature is 65 bytes).
const MAX_UPLOADER_SIGNATURE_BYTES: usize = 256;
/// Largest CID accepted (a CIDv1 with a 64-byte digest is under 80 bytes).
const MAX_CID_BYTES: usize = 128;

/// An entry as it travels and as it is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogEntry {
    /// The root CID's bytes.
    pub root: Vec<u8>,
    /// The DAG's size in bytes, as the accepting node counted it.
    pub size: u64,
    /// Unix seconds when the node accepted (or removed) it.
    pub time: u64,
    /// A removal (tombstone) rather than an addition.
    pub removed: bool,
    /// The uploader's own signature (issue 16); empty when there is none.
    #[serde(default)]
    pub uploader_signature: Vec<u8>,
    /// The accepting node's public key, protobuf-encoded (its peer id derives from it).
    pub node_key: Vec<u8>,
    /// The node's signature over the signed bytes.
    pub signature: Vec<u8>,
}

/// An entry whose signature checked, with its fields decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedEntry {
    /// The root.
    pub root: Cid,
    /// The accepting node.
    pub node: PeerId,
    /// The entry itself, as signed.
    pub entry: LogEntry,
}

/// Why an entry was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum EntryError {
    /// A field is longer than any valid entry's.
    #[error("log entry field {0} is too long")]
    Oversize(&'static str),
    /// The root is not a CID.
    #[error("log entry root is not a CID")]
    BadCid,
    /// The node key does not decode.
    #[error("log entry node key does not decode")]
    BadKey,
    /// The signature does not verify against the node key.
    #[error("log entry signature does not verify")]
    BadSignature,
}

impl LogEntry {
    /// A new entry for `root`, signed with `key`.
    pub fn sign(
        key: &Keypair,
        root: &Cid,
        size: u64,
        time: u64,
        removed: bool,
    ) -> Result<VerifiedEntry, libp2p::identity::SigningError> {
        let mut entry = LogEntry {
            root: root.to_bytes(),
            size,
            time,
            removed,
            uploader_signature: Vec::new(),
            node_key: key.public().encode_protobuf(),
            signature: Vec::new(),
        };
        entry.signature = key.sign(&entry.signed_bytes())?;
        Ok(VerifiedEntry {
            root: *root,
            node: key.public().to_peer_id(),
            entry,
        })
    }

    /// Checks bounds, the CID and the signature.
    pub fn verify(self) -> Result<VerifiedEntry, EntryError> {
        if self.root.len() > MAX_CID_BYTES {
            return Err(EntryError::Oversize("root"));
        }
        if self.node_key.len() > MAX_KEY_BYTES {
            return Err(EntryError::Oversize("node_key"));
        }
        if self.signature.len() > MAX_SIGNATURE_BYTES {
            return Err(EntryError::Oversize("signature"));
        }
        if self.uploader_signature.len() > MAX_UPLOADER_SIGNATURE_BYTES {
            return Err(EntryError::Oversize("uploader_signature"));
        }
        let root = Cid::try_from(self.root.as_slice()).map_err(|_| EntryError::BadCid)?;
        let key = PublicKey::try_decode_protobuf(&self.node_key).map_err(|_| EntryError::BadKey)?;
        if !key.verify(&self.signed_bytes(), &self.signature) {
            return Err(EntryError::BadSignature);
        }
        Ok(VerifiedEntry {
            root,
            node: key.to_peer_id(),
            entry: self,
        })
    }

    /// The bytes the node signs.
    fn signed_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(DOMAIN.len() + self.root.len() + 32);
        out.extend_from_slice(DOMAIN);
        push_field(&mut out, &self.root);
        out.extend_from_slice(&self.size.to_be_bytes());
        out.extend_from_slice(&self.time.to_be_bytes());
        out.push(u8::from(self.removed));
        push_field(&mut out, &self.uploader_signature);
        out
    }

    /// The entry's identity: sha256 of the node key and the signed bytes. The same
    /// acceptance relayed by different peers has one id.
    pub fn id(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update((self.node_key.len() as u32).to_be_bytes());
        h.update(&self.node_key);
        h.update(self.signed_bytes());
        h.finalize().into()
    }
}

fn push_field(out: &mut Vec<u8>, field: &[u8]) {
    out.extend_from_slice(&(field.len() as u32).to_be_bytes());
    out.extend_from_slice(field);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn root() -> Cid {
        "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
            .parse()
            .unwrap()
    }

    #[test]
    fn a_signed_entry_verifies_and_names_its_node() {
        let key = Keypair::generate_ed25519();
        let signed = LogEntry::sign(&key, &root(), 42, 1_700_000_000, false).unwrap();
        let checked = signed.entry.clone().verify().unwrap();
        assert_eq!(checked.node, key.public().to_peer_id());
        assert_eq!(checked.root, root());
        assert_eq!(checked, signed);
    }

    #[test]
    fn any_change_breaks_the_signature() {
        let key = Keypair::generate_ed25519();
        let e = LogEntry::sign(&key, &root(), 42, 1_700_000_000, false)
            .unwrap()
            .entry;
        let mut size = e.clone();
        size.size = 43;
        let mut removed = e.clone();
        removed.removed = true;
        let mut time = e.clone();
        time.time += 1;
        for bad in [size, removed, time] {
            assert_eq!(bad.verify(), Err(EntryError::BadSignature));
        }
        // Another node's key cannot claim the entry.
        let mut forged = e.clone();
        forged.node_key = Keypair::generate_ed25519().public().encode_protobuf();
        assert_eq!(forged.verify(), Err(EntryError::BadSignature));
    }

    #[test]
    fn malformed_fields_are_refused_before_any_crypto() {
        let key = Keypair::generate_ed25519();
        let e = LogEntry::sign(&key, &root(), 1, 1, false).unwrap().entry;
        let mut long = e.clone();
        long.signature = vec![0; 5000];
        assert_eq!(long.verify(), Err(EntryError::Oversize("signature")));
        let mut cid = e.clone();
        cid.root = vec![1, 2, 3];
        assert_eq!(cid.verify(), Err(EntryError::BadCid));
        let mut k = e.clone();
        k.node_key = vec![9; 10];
        assert_eq!(k.verify(), Err(EntryError::BadKey));
    }

    #[test]
    fn the_id_is_stable_and_distinguishes_nodes() {
        let a = Keypair::generate_ed25519();
        let b = Keypair::generate_ed25519();
        let ea = LogEntry::sign(&a, &root(), 1, 1, false).unwrap().entry;
        assert_eq!(ea.id(), ea.clone().id());
        assert_ne!(
            ea.id(),
            LogEntry::sign(&b, &root(), 1, 1, false).unwrap().entry.id()
        );
    }
}
