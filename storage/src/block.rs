//! The verified block: bytes together with a CID they are known to hash to.

use bytes::Bytes;
use cid::Cid;
use thiserror::Error;

use crate::hash::{HashAlg, hash_data};

/// Why bytes could not become a [`Block`].
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BlockError {
    /// The bytes do not hash to the CID's multihash.
    #[error("block data does not match {cid}: hash mismatch")]
    HashMismatch {
        /// The CID the bytes claimed to be.
        cid: Cid,
    },
    /// The CID uses a hash function chorus cannot verify.
    #[error("unsupported hash function 0x{code:x} in {cid}")]
    UnsupportedHash {
        /// The CID in question.
        cid: Cid,
        /// Its multihash code.
        code: u64,
    },
    /// An identity multihash holds at most 64 bytes here.
    #[error("identity hash of {len} bytes exceeds the 64-byte limit")]
    IdentityTooLarge {
        /// Length of the data.
        len: usize,
    },
    /// A CIDv0 must be dag-pb with sha2-256.
    #[error("cannot build a CIDv0 for codec 0x{codec:x} with {alg:?}")]
    InvalidCidV0 {
        /// Requested codec.
        codec: u64,
        /// Requested hash.
        alg: HashAlg,
    },
}

/// Bytes that are known to hash to `cid`.
///
/// The only constructors verify (or compute) the hash, so holding a `Block` is proof that its
/// data is what its CID names: no code path can store or send bytes under a wrong hash.
/// Cloning is cheap (`Bytes` is reference counted).
#[derive(Clone, PartialEq, Eq)]
pub struct Block {
    cid: Cid,
    data: Bytes,
}

impl std::fmt::Debug for Block {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Block")
            .field("cid", &self.cid.to_string())
            .field("len", &self.data.len())
            .finish()
    }
}

impl Block {
    /// Verifies that `data` hashes to `cid` and returns the block.
    pub fn new(cid: Cid, data: impl Into<Bytes>) -> Result<Self, BlockError> {
        let data = data.into();
        let code = cid.hash().code();
        let alg = HashAlg::from_code(code).ok_or(BlockError::UnsupportedHash { cid, code })?;
        let computed = hash_data(alg, &data)?;
        // A truncated digest (multihash length below the function's output) is compared on
        // its prefix, as go-cid does for such CIDs.
        let want = cid.hash().digest();
        let got = computed.digest();
        if want.is_empty() || want.len() > got.len() || got[..want.len()] != *want {
            return Err(BlockError::HashMismatch { cid });
        }
        Ok(Block { cid, data })
    }

    /// Hashes `data` and builds a CIDv1 block of `codec`.
    pub fn from_data(codec: u64, alg: HashAlg, data: impl Into<Bytes>) -> Result<Self, BlockError> {
        let data = data.into();
        let mh = hash_data(alg, &data)?;
        Ok(Block {
            cid: Cid::new_v1(codec, mh),
            data,
        })
    }

    /// Hashes dag-pb `data` with sha2-256 and builds a CIDv0 block (kubo's default).
    pub fn from_data_v0(data: impl Into<Bytes>) -> Result<Self, BlockError> {
        let data = data.into();
        let mh = hash_data(HashAlg::Sha2_256, &data)?;
        let cid = Cid::new_v0(mh).map_err(|_| BlockError::InvalidCidV0 {
            codec: crate::codec::DAG_PB,
            alg: HashAlg::Sha2_256,
        })?;
        Ok(Block { cid, data })
    }

    /// Bytes the store verified when they were written, read back without re-hashing (the
    /// store's own choice, see `Config::with_verify_reads`). Never for bytes from outside.
    pub(crate) fn trusted(cid: Cid, data: Bytes) -> Self {
        Block { cid, data }
    }

    /// Re-labels verified bytes with another CID of the same multihash (v0 <-> v1, or another
    /// codec), which needs no re-hashing.
    pub fn with_cid(self, cid: Cid) -> Result<Self, BlockError> {
        if cid.hash() == self.cid.hash() {
            Ok(Block {
                cid,
                data: self.data,
            })
        } else {
            Block::new(cid, self.data)
        }
    }

    /// The CID.
    pub fn cid(&self) -> &Cid {
        &self.cid
    }

    /// The bytes.
    pub fn data(&self) -> &Bytes {
        &self.data
    }

    /// Length of the bytes.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// True for a zero-length block.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Splits into CID and bytes.
    pub fn into_parts(self) -> (Cid, Bytes) {
        (self.cid, self.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec;

    #[test]
    fn verifies_and_rejects() {
        let b = Block::from_data(codec::RAW, HashAlg::Sha2_256, &b"hello\n"[..]).unwrap();
        assert!(Block::new(*b.cid(), &b"hello\n"[..]).is_ok());
        assert!(matches!(
            Block::new(*b.cid(), &b"hellO\n"[..]),
            Err(BlockError::HashMismatch { .. })
        ));
        let b3 = Block::from_data(codec::RAW, HashAlg::Blake3, &b"x"[..]).unwrap();
        assert!(Block::new(*b3.cid(), &b"x"[..]).is_ok());
        assert!(Block::new(*b3.cid(), &b"y"[..]).is_err());
    }

    #[test]
    fn known_cidv1_raw() {
        // `echo hello | ipfs add --cid-version 1` (a single raw leaf).
        let b = Block::from_data(codec::RAW, HashAlg::Sha2_256, &b"hello\n"[..]).unwrap();
        assert_eq!(
            b.cid().to_string(),
            "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am"
        );
    }

    #[test]
    fn identity() {
        let b = Block::from_data(codec::RAW, HashAlg::Identity, &b"tiny"[..]).unwrap();
        assert_eq!(b.cid().hash().digest(), b"tiny");
        assert!(Block::from_data(codec::RAW, HashAlg::Identity, vec![0u8; 65]).is_err());
    }
}
