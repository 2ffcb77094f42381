//! Chorus storage: verified blocks, the `Blockstore` trait and its memory and sled
//! implementations, and the `Repo` trait (pins, GC sessions, garbage collection, verify) with
//! its sled and memory implementations.
//!
//! This crate has no networking dependencies. Everything above it (UnixFS, CAR, Bitswap, the
//! node) talks to blocks only through [`Block`] (which cannot exist unverified) and the
//! [`Blockstore`] trait (keyed by multihash, so CIDv0 and CIDv1 of the same bytes share storage).
//!
//! [`SledStore`] is the on-disk store (sled index + append-only pack files, repo lock, pins, GC that
//! runs alongside reads and writes); [`MemoryStore`] is the reference model of a blockstore and
//! [`MemoryRepo`] a whole repo in memory under the same pin and GC rules. Typical import:
//! ```no_run
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use chorus_storage::{Block, Blockstore, PinMode, SledStore};
//! let store = SledStore::open("/tmp/repo")?;
//! let session = store.session(); // protects what it touches from a concurrent GC
//! let block = Block::from_data_v0(&b"..."[..])?;
//! session.put_many(std::slice::from_ref(&block))?;
//! session.pin(block.cid(), PinMode::Recursive)?;
//! store.flush()?; // durable from here on
//! drop(session);
//! # Ok(()) }
//! ```

mod block;
mod compact;
pub mod dagpb;
mod gc;
mod guard;
mod hash;
mod idstore;
mod index;
mod lock;
mod memory;
mod memory_repo;
mod migrate;
mod pack;
mod pins;
mod recover;
mod repo;
mod session;
mod sled_store;
mod store;
mod verify;

#[cfg(test)]
mod tests;

pub use block::{Block, BlockError};
pub use gc::{GcError, GcReport};
pub use hash::{HashAlg, codec, hash_data};
pub use idstore::{IdStore, is_identity};
pub use lock::{LOCK_FILE, RepoLock};
pub use memory::MemoryStore;
pub use memory_repo::MemoryRepo;
pub use pins::{PinError, PinMode, Pins};
pub use repo::Repo;
pub use session::Session;
pub use sled_store::{
    Config, DEFAULT_CACHE_CAPACITY, DEFAULT_INLINE_MAX, DEFAULT_PACK_TARGET, FORMAT_VERSION,
    SledStore, open_sled,
};
pub use store::{Blockstore, PutReport, StoreError, StoreStat};
pub use verify::VerifyReport;

/// The CID type used across chorus (64-byte digest capacity, as in libp2p).
pub use cid::Cid;
/// The multihash type used across chorus.
pub type Multihash = cid::multihash::Multihash<64>;
