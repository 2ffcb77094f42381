//! Helpers shared by the store tests.

use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::{Block, Cid, HashAlg, codec};

/// A raw block of `len` pseudo-random bytes derived from `seed`.
pub(crate) fn raw_block(seed: u64, len: usize) -> Block {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut data = vec![0u8; len];
    rng.fill(&mut data[..]);
    Block::from_data(codec::RAW, HashAlg::Sha2_256, data).unwrap()
}

/// A dag-pb node linking `links` (no data), as a CIDv0 block.
pub(crate) fn dag_pb_node(links: &[Cid], tag: &[u8]) -> Block {
    let node = ipld_dagpb::PbNode {
        links: links
            .iter()
            .map(|c| ipld_dagpb::PbLink {
                cid: *c,
                name: None,
                size: None,
            })
            .collect(),
        data: Some(bytes::Bytes::copy_from_slice(tag)),
    };
    Block::from_data_v0(node.into_bytes()).unwrap()
}

/// Orders child-process spawns against tests that close a store and reopen it.
///
/// A spawned child briefly holds copies of every descriptor of this process (until its exec
/// closes them, which has happened when `spawn` returns), and an `flock` lives as long as any
/// copy: a store closed in that window still looks locked. Spawners hold the write side across
/// `spawn`; close-then-reopen sequences hold the read side.
pub(crate) static SPAWN: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Read side of [`SPAWN`].
pub(crate) fn no_spawns() -> std::sync::RwLockReadGuard<'static, ()> {
    SPAWN
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Write side of [`SPAWN`].
pub(crate) fn spawning() -> std::sync::RwLockWriteGuard<'static, ()> {
    SPAWN
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
