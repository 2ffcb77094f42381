//! Chorus storage: verified blocks, the `Blockstore` trait and its memory and sled
//! implementations, pins and garbage collection.
//!
//! This crate has no networking dependencies. Everything above it (UnixFS, CAR, Bitswap, the
//! node) talks to blocks only through [`Block`] (which cannot exist unverified) and the
//! [`Blockstore`] trait (keyed by multihash, so CIDv0 and CIDv1 of the same bytes share storage).

mod block;
mod hash;
mod store;

pub use block::{Block, BlockError};
pub use hash::{HashAlg, codec, hash_data};
pub use store::{Blockstore, StoreError, StoreStat};

/// The CID type used across chorus (64-byte digest capacity, as in libp2p).
pub use cid::Cid;
/// The multihash type used across chorus.
pub type Multihash = cid::multihash::Multihash<64>;
