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
