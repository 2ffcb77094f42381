//! HAMT-sharded directories, as boxo's `ipld/unixfs/hamt` writes and reads them.
//!
//! A shard node is a dag-pb node with UnixFS `Type=HAMTShard`, `hashType=0x22` (murmur3
//! x64, first 64 bits), `fanout=256` and `Data` = the occupancy bitfield (go-bitfield bytes:
//! big-endian, leading zero bytes dropped). Each level consumes the next 8 bits of the
//! big-endian 64-bit hash of the entry name. A slot holds either one entry, linked under
//! `"XX" + name` (`XX` = slot index in two upper-case hex digits), or a sub-shard, linked under
//! `"XX"` alone. Insert-only building is order independent, so the tree is built in one pass
//! from the sorted entry list.

use chorus_storage::Block;
use cid::Cid;

use super::dir::{DirEntryOut, DirError};
use super::node::dag_pb_block;
use super::options::ResolvedOptions;
use super::pb::{self, LinkOut};

/// Multicodec of murmur3-x64-64, the only HAMT hash kubo uses.
pub const HAMT_HASH_MURMUR3: u64 = 0x22;
/// kubo's shard width (`DefaultShardWidth`).
pub const HAMT_FANOUT: u64 = 256;
/// Hex digits of a slot index in link names for [`HAMT_FANOUT`].
pub(crate) const HAMT_PREFIX_LEN: usize = 2;
/// Levels available before a 64-bit hash is used up (8 bits each).
pub(crate) const MAX_LEVELS: usize = 8;

/// murmur3 x64 128-bit with seed 0, returning its first 64-bit half (`murmur3.New64()` in Go,
/// whose `Sum` is that half, big-endian).
pub fn murmur3_x64_64(data: &[u8]) -> u64 {
    const C1: u64 = 0x87c3_7b91_1142_53d5;
    const C2: u64 = 0x4cf5_ad43_2745_937f;
    fn fmix(mut k: u64) -> u64 {
        k ^= k >> 33;
        k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
        k ^= k >> 33;
        k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        k ^ (k >> 33)
    }
    let (mut h1, mut h2) = (0u64, 0u64);
    let mut blocks = data.chunks_exact(16);
    for b in &mut blocks {
        let mut k1 = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        let mut k2 = u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]);
        k1 = k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
        h1 ^= k1;
        h1 = h1
            .rotate_left(27)
            .wrapping_add(h2)
            .wrapping_mul(5)
            .wrapping_add(0x52dc_e729);
        k2 = k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
        h2 ^= k2;
        h2 = h2
            .rotate_left(31)
            .wrapping_add(h1)
            .wrapping_mul(5)
            .wrapping_add(0x3849_5ab5);
    }
    let tail = blocks.remainder();
    let mut k1 = 0u64;
    let mut k2 = 0u64;
    for (i, &byte) in tail.iter().enumerate() {
        if i < 8 {
            k1 ^= u64::from(byte) << (8 * i);
        } else {
            k2 ^= u64::from(byte) << (8 * (i - 8));
        }
    }
    if tail.len() > 8 {
        h2 ^= k2.wrapping_mul(C2).rotate_left(33).wrapping_mul(C1);
    }
    if !tail.is_empty() {
        h1 ^= k1.wrapping_mul(C1).rotate_left(31).wrapping_mul(C2);
    }
    let len = data.len() as u64;
    h1 ^= len;
    h2 ^= len;
    h1 = h1.wrapping_add(h2);
    h2 = h2.wrapping_add(h1);
    h1 = fmix(h1);
    h2 = fmix(h2);
    h1.wrapping_add(h2)
}

/// Slot of `name` at shard `level` (0 = root).
pub(crate) fn slot(name: &str, level: usize) -> Option<usize> {
    (level < MAX_LEVELS)
        .then(|| (murmur3_x64_64(name.as_bytes()) >> (56 - 8 * level)) as usize & 0xff)
}

/// The UnixFS data of a shard whose occupied slots are `slots` (each below [`HAMT_FANOUT`]):
/// the occupancy bitfield as go-bitfield writes it (big-endian, leading zero bytes dropped).
pub(crate) fn shard_data(slots: impl IntoIterator<Item = usize>) -> Vec<u8> {
    let mut bitfield = [0u8; (HAMT_FANOUT / 8) as usize];
    for s in slots {
        bitfield[bitfield.len() - 1 - s / 8] |= 1 << (s % 8);
    }
    let first_set = bitfield
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(bitfield.len());
    pb::hamt_data(&bitfield[first_set..], HAMT_HASH_MURMUR3, HAMT_FANOUT)
}

fn prefix(slot: usize) -> String {
    format!("{slot:02X}")
}

/// Builds the shard tree for `entries` (sorted by name, unique); returns the root node's CID
/// and cumulative size, pushing every shard block to `out` (root last).
pub(crate) fn build(
    opts: &ResolvedOptions,
    entries: &[DirEntryOut],
    out: &mut Vec<Block>,
) -> Result<(Cid, u64), DirError> {
    let mut hashed: Vec<(u64, &DirEntryOut)> = entries
        .iter()
        .map(|e| (murmur3_x64_64(e.name.as_bytes()), e))
        .collect();
    hashed.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
    build_level(opts, &hashed, 0, out)
}

fn build_level(
    opts: &ResolvedOptions,
    entries: &[(u64, &DirEntryOut)],
    level: usize,
    out: &mut Vec<Block>,
) -> Result<(Cid, u64), DirError> {
    if level >= MAX_LEVELS {
        return Err(DirError::HamtTooDeep);
    }
    let shift = 56 - 8 * level;
    let slot_of = |h: u64| (h >> shift) as usize & 0xff;
    let mut slots = Vec::new();
    // (link name, cid, tsize) in slot order; entries are sorted by hash, so by slot too.
    let mut links: Vec<(String, Cid, u64)> = Vec::new();
    let mut i = 0;
    while i < entries.len() {
        let s = slot_of(entries[i].0);
        let mut j = i + 1;
        while j < entries.len() && slot_of(entries[j].0) == s {
            j += 1;
        }
        slots.push(s);
        if j - i == 1 {
            let e = entries[i].1;
            links.push((format!("{}{}", prefix(s), e.name), e.cid, e.tsize));
        } else {
            let (cid, tsize) = build_level(opts, &entries[i..j], level + 1, out)?;
            links.push((prefix(s), cid, tsize));
        }
        i = j;
    }
    let data = shard_data(slots);
    let outs: Vec<LinkOut<'_>> = links
        .iter()
        .map(|(name, cid, tsize)| LinkOut {
            cid,
            name,
            tsize: *tsize,
        })
        .collect();
    let bytes = pb::encode_node(&outs, &data);
    let tsize = links
        .iter()
        .fold(bytes.len() as u64, |acc, l| acc.saturating_add(l.2));
    let block = dag_pb_block(opts, bytes)?;
    let cid = *block.cid();
    out.push(block);
    Ok((cid, tsize))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur3_reference_vectors() {
        // First halves of the reference murmur3_x64_128 (seed 0) outputs.
        assert_eq!(murmur3_x64_64(b""), 0);
        assert_eq!(murmur3_x64_64(b"hello"), 0xcbd8_a7b3_41bd_9b02);
        assert_eq!(
            murmur3_x64_64(b"The quick brown fox jumps over the lazy dog"),
            0xe34b_bc7b_bc07_1b6c
        );
    }

    #[test]
    fn slot_uses_top_byte_first() {
        let h = murmur3_x64_64(b"hello");
        assert_eq!(slot("hello", 0), Some((h >> 56) as usize));
        assert_eq!(slot("hello", 1), Some(((h >> 48) & 0xff) as usize));
        assert_eq!(slot("hello", 8), None);
    }
}
