//! The hash functions chorus can address content with, and the multicodec numbers it uses.

use crate::Multihash;
use crate::block::BlockError;

/// Multicodec codes for the IPLD codecs chorus handles.
pub mod codec {
    /// Raw bytes (`raw`, 0x55): UnixFS raw leaves.
    pub const RAW: u64 = 0x55;
    /// dag-pb (0x70): UnixFS nodes, and every CIDv0.
    pub const DAG_PB: u64 = 0x70;
    /// dag-cbor (0x71): CAR headers, later ownership records.
    pub const DAG_CBOR: u64 = 0x71;
}

/// A multihash function chorus can compute and verify.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum HashAlg {
    /// `sha2-256` (0x12): kubo's default and the only hash CIDv0 can carry.
    Sha2_256,
    /// `blake3` (0x1e), 32-byte digest (kubo's `--hash blake3`).
    Blake3,
    /// `identity` (0x00): the data is the digest; such blocks never touch disk.
    Identity,
}

impl HashAlg {
    /// Multihash code of this function.
    pub const fn code(self) -> u64 {
        match self {
            HashAlg::Sha2_256 => 0x12,
            HashAlg::Blake3 => 0x1e,
            HashAlg::Identity => 0x00,
        }
    }

    /// The function for a multihash code, if chorus supports it.
    pub const fn from_code(code: u64) -> Option<Self> {
        match code {
            0x12 => Some(HashAlg::Sha2_256),
            0x1e => Some(HashAlg::Blake3),
            0x00 => Some(HashAlg::Identity),
            _ => None,
        }
    }

    /// Parses kubo's names for `--hash` (`sha2-256`, `blake3`, `identity`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "sha2-256" => Some(HashAlg::Sha2_256),
            "blake3" => Some(HashAlg::Blake3),
            "identity" => Some(HashAlg::Identity),
            _ => None,
        }
    }

    /// kubo's name for this function.
    pub const fn name(self) -> &'static str {
        match self {
            HashAlg::Sha2_256 => "sha2-256",
            HashAlg::Blake3 => "blake3",
            HashAlg::Identity => "identity",
        }
    }
}

/// Hashes `data` with `alg` into a multihash.
///
/// Fails only for identity hashes of more than 64 bytes (the digest capacity).
pub fn hash_data(alg: HashAlg, data: &[u8]) -> Result<Multihash, BlockError> {
    let mh = match alg {
        HashAlg::Sha2_256 => {
            use sha2::Digest;
            Multihash::wrap(alg.code(), &sha2::Sha256::digest(data))
        }
        HashAlg::Blake3 => Multihash::wrap(alg.code(), blake3::hash(data).as_bytes()),
        HashAlg::Identity => Multihash::wrap(alg.code(), data),
    };
    mh.map_err(|_| BlockError::IdentityTooLarge { len: data.len() })
}
