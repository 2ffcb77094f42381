//! Chorus protocol: IPFS wire and data formats with no I/O of their own.
//!
//! - [`unixfs`]: the UnixFS importer (chunking, balanced and trickle layouts, directories, HAMT
//!   shards) that reproduces kubo's CIDs, and the reader that serves byte ranges.
//! - [`car`]: CAR v1 export and v1/v2 import, verifying every block.
//! - [`bitswap`]: Bitswap 1.2.0/1.1.0/1.0.0 as a libp2p `NetworkBehaviour`.
//! - [`lookahead`]: how depth-first DAG walks keep a network fetch busy across subtrees.

#![forbid(unsafe_code)]

pub mod bitswap;
pub mod car;
pub mod lookahead;
pub mod unixfs;

#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzz_api;
