//! UnixFS nodes of exactly the shape asked, unchecked: for tests, fuzz seeds and tools that
//! must reproduce a hostile DAG (a HAMT whose shards share a sub-shard, a directory naming an
//! entry twice, a file declaring sizes its children do not have).
//!
//! The importer ([`super::TreeBuilder`], [`super::FileImporter`]) only ever makes valid
//! UnixFS; these make anything, encoded byte-for-byte as the importer would encode it.

use chorus_storage::{Block, Cid};

use super::hamt::shard_data;
use super::pb::{DIRECTORY_DATA, LinkOut, encode_node, file_branch_data};

/// A link as written: name, target, cumulative size.
pub type ShapeLink<'a> = (&'a str, Cid, u64);

fn encode(links: &[ShapeLink<'_>], data: &[u8]) -> Block {
    let out: Vec<LinkOut<'_>> = links
        .iter()
        .map(|(name, cid, tsize)| LinkOut {
            cid,
            name,
            tsize: *tsize,
        })
        .collect();
    // A CIDv0 (sha2-256 dag-pb) as kubo's default import names it.
    Block::from_data_v0(encode_node(&out, data)).expect("sha2-256 hashing cannot fail")
}

/// A plain directory node with `links` in the given order (duplicates and unsafe names
/// included).
pub fn directory_node(links: &[ShapeLink<'_>]) -> Block {
    encode(links, &DIRECTORY_DATA)
}

/// A HAMT shard node (murmur3, fanout 256) with `links` as given: names are expected to
/// start with a two-hex-digit slot (`"A3"` for a sub-shard, `"A3name"` for an entry); the
/// occupancy bitfield is set from those prefixes, and links without one are written anyway.
pub fn hamt_shard_node(links: &[ShapeLink<'_>]) -> Block {
    let slots = links.iter().filter_map(|(name, _, _)| {
        name.get(..2)
            .and_then(|p| usize::from_str_radix(p, 16).ok())
    });
    encode(links, &shard_data(slots))
}

/// A file branch node declaring `blocksizes` (one per link, not checked against them) and a
/// total of their sum.
pub fn file_node(links: &[ShapeLink<'_>], blocksizes: &[u64]) -> Block {
    let total = blocksizes.iter().fold(0u64, |a, b| a.saturating_add(*b));
    encode(links, &file_branch_data(total, blocksizes.iter().copied()))
}
