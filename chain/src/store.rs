//! The chain database: `<repo>/chain`, a sled DB of its own (as the replication log), opened
//! through storage's [`open_sled`](chorus_storage::open_sled).
//!
//! Trees: `nonces` (owner ‖ nonce → timestamp), `relay` (sequence → job), `owners` (CID →
//! ownership record), `applied` (block number ‖ log index → what applying that event changed,
//! for reorg rollback), `hashes` (block number → hash of the blocks the follower stopped at, to
//! detect reorgs), `relay_cids` (CID → relay job), `relay_done` (finished relay jobs), `meta` (the follower's cursor). Whatever a front end acknowledges is
//! flushed first ([`ChainStore::flush`]).

use std::path::Path;

use chorus_storage::StoreError;
use thiserror::Error;

/// Cache of the chain DB: it holds nonces, a queue and an index of small records.
const CACHE_BYTES: u64 = 8 * 1024 * 1024;

/// A failure of the chain database.
#[derive(Debug, Error)]
pub enum ChainStoreError {
    /// Opening it.
    #[error("opening the chain database: {0}")]
    Open(#[from] StoreError),
    /// sled failed.
    #[error("chain database: {0}")]
    Sled(#[from] sled::Error),
    /// A record that does not decode (the DB was written by something else).
    #[error("chain database: undecodable {what}: {reason}")]
    Corrupt {
        /// Which record.
        what: &'static str,
        /// Why.
        reason: String,
    },
}

/// The chain database's trees.
#[derive(Debug, Clone)]
pub struct ChainStore {
    db: sled::Db,
    pub(crate) nonces: sled::Tree,
    pub(crate) relay: sled::Tree,
    pub(crate) owners: sled::Tree,
    pub(crate) applied: sled::Tree,
    pub(crate) meta: sled::Tree,
    pub(crate) hashes: sled::Tree,
    pub(crate) relay_cids: sled::Tree,
    pub(crate) relay_done: sled::Tree,
}

impl ChainStore {
    /// Opens (creating) the chain database in `dir`.
    pub fn open(dir: &Path) -> Result<Self, ChainStoreError> {
        let db = chorus_storage::open_sled(dir, CACHE_BYTES)?;
        Self::from_db(db)
    }

    /// A throwaway database (tests, `MemoryRepo` nodes).
    pub fn temporary() -> Result<Self, ChainStoreError> {
        Self::from_db(sled::Config::new().temporary(true).open()?)
    }

    fn from_db(db: sled::Db) -> Result<Self, ChainStoreError> {
        Ok(ChainStore {
            nonces: db.open_tree("nonces")?,
            relay: db.open_tree("relay")?,
            owners: db.open_tree("owners")?,
            applied: db.open_tree("applied")?,
            meta: db.open_tree("meta")?,
            hashes: db.open_tree("hashes")?,
            relay_cids: db.open_tree("relay_cids")?,
            relay_done: db.open_tree("relay_done")?,
            db,
        })
    }

    /// Makes every change so far durable (before anything is acknowledged).
    pub fn flush(&self) -> Result<(), ChainStoreError> {
        self.db.flush()?;
        Ok(())
    }
}
