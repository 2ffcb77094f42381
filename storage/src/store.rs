//! The `Blockstore` trait: the one interface every layer above uses to reach blocks.

use bytes::Bytes;
use cid::Cid;
use thiserror::Error;

use crate::Multihash;
use crate::block::{Block, BlockError};

/// Errors of blockstore operations.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Underlying I/O failed (disk full, permissions, ...).
    #[error("blockstore I/O error{}: {source}", context.as_deref().map(|c| format!(" ({c})")).unwrap_or_default())]
    Io {
        /// What was being done, e.g. the path or CID.
        context: Option<String>,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The embedded database failed.
    #[error("blockstore database error: {0}")]
    Db(String),
    /// Stored bytes no longer hash to their key (disk corruption).
    #[error("corrupt block {cid}: {source}")]
    Corrupt {
        /// The block.
        cid: Cid,
        /// What verification said.
        #[source]
        source: BlockError,
    },
    /// A block could not be verified.
    #[error(transparent)]
    Block(#[from] BlockError),
    /// Another process (or another handle in this one) holds the repo lock.
    #[error("repo {} is locked by {}", path.display(), pid.map(|p| format!("process {p}")).unwrap_or_else(|| "another process".into()))]
    Locked {
        /// The lock file.
        path: std::path::PathBuf,
        /// Pid written by the holder, if it could be read.
        pid: Option<u32>,
    },
    /// The directory holds a store in a layout this version does not understand.
    #[error("store at {} has format {found:?}, this build reads format {expected}", path.display())]
    IncompatibleFormat {
        /// The store directory.
        path: std::path::PathBuf,
        /// The format marker found on disk.
        found: String,
        /// The format this build writes.
        expected: u32,
    },
    /// An index entry could not be decoded (database damage).
    #[error("undecodable index entry {key}: {reason}")]
    CorruptEntry {
        /// The raw key, hex-encoded.
        key: String,
        /// What was wrong with it.
        reason: &'static str,
    },
}

impl StoreError {
    /// Wraps an I/O error with what was being done.
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        StoreError::Io {
            context: Some(context.into()),
            source,
        }
    }
}

impl From<sled::Error> for StoreError {
    fn from(e: sled::Error) -> Self {
        match e {
            sled::Error::Io(source) => StoreError::Io {
                context: Some("sled index".into()),
                source,
            },
            other => StoreError::Db(other.to_string()),
        }
    }
}

/// What a [`Blockstore::put_many`] added: the blocks that were new and their payload bytes
/// (blocks already present, duplicates within the call and identity hashes count for nothing).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PutReport {
    /// Blocks that were not stored before.
    pub new_blocks: u64,
    /// Their payload bytes.
    pub new_bytes: u64,
}

/// Counters describing a store's content.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreStat {
    /// Number of distinct blocks (multihashes) stored.
    pub blocks: u64,
    /// Sum of their payload sizes in bytes.
    pub bytes: u64,
}

/// A content-addressed block store keyed by multihash.
///
/// Two CIDs that share a multihash (CIDv0 and CIDv1, or raw and dag-pb views of the same bytes)
/// name the same stored bytes. Identity-hash CIDs are not a store's concern: [`IdStore`](crate::IdStore)
/// answers them for any store it wraps. Implementations are internally synchronised and their methods
/// block; async callers use `spawn_blocking`.
pub trait Blockstore: Send + Sync + 'static {
    /// The bytes stored under `mh`, if any.
    fn get_data(&self, mh: &Multihash) -> Result<Option<Bytes>, StoreError>;

    /// The block for `cid`, if the store holds its multihash.
    fn get(&self, cid: &Cid) -> Result<Option<Block>, StoreError> {
        match self.get_data(cid.hash())? {
            Some(data) => {
                Ok(Some(Block::new(*cid, data).map_err(|source| {
                    StoreError::Corrupt { cid: *cid, source }
                })?))
            }
            None => Ok(None),
        }
    }

    /// Whether `mh` is stored.
    fn has(&self, mh: &Multihash) -> Result<bool, StoreError>;

    /// Size in bytes of the data stored under `mh`, without reading it.
    fn size(&self, mh: &Multihash) -> Result<Option<u64>, StoreError>;

    /// Stores a block; returns false when its multihash was already present.
    fn put(&self, block: &Block) -> Result<bool, StoreError>;

    /// Stores several blocks; cheaper per block than repeated `put`. Reports what was new.
    fn put_many(&self, blocks: &[Block]) -> Result<PutReport, StoreError> {
        let mut report = PutReport::default();
        for b in blocks {
            if self.put(b)? {
                report.new_blocks += 1;
                report.new_bytes += b.len() as u64;
            }
        }
        Ok(report)
    }

    /// Removes `mh`; returns whether it was present.
    fn delete(&self, mh: &Multihash) -> Result<bool, StoreError>;

    /// Every stored multihash, each item a `Result` so a damaged
    /// entry does not end the listing.
    fn list(&self) -> Box<dyn Iterator<Item = Result<Multihash, StoreError>> + Send + '_>;

    /// Makes every completed `put`/`delete` durable (survives a crash of the process and of the
    /// machine) before returning.
    fn flush(&self) -> Result<(), StoreError>;

    /// Block count and payload bytes.
    fn stat(&self) -> Result<StoreStat, StoreError>;
}
