//! Encoding of the sled index: one entry per multihash, plus the counters.
//!
//! Key: the multihash bytes. Value: a tag byte, then either the block's bytes (inline) or the
//! location of its record in a pack file (pack id u32, data offset u64, data length u64, all
//! little-endian). The empty key, which no multihash
//! can have, holds the [`StoreStat`] counters as of the last clean close. The store keeps the
//! live counters in memory and removes this record (durably) when it opens, so a store that
//! was not closed cleanly has no record and is recounted on its next open, as flatfs
//! recomputes its disk usage after an unclean shutdown. Writing the counters with every entry
//! would take a sled batch per put, and a batch rolls and writes sled's log buffer each time
//! (measured: two log writes and a `sync_file_range` per block, 12 % of a receiving node's CPU).

use crate::pack::Location;
use crate::store::{StoreError, StoreStat};

/// Key of the counters record (present only while the store is closed cleanly).
pub(crate) const STAT_KEY: &[u8] = b"";

const TAG_INLINE: u8 = 0;
/// Tag 1 was a payload file per block (format 1); such entries are upgraded on open (see the
/// `migrate` module) and never decoded here.
const TAG_PACK: u8 = 2;

/// A decoded index value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entry<'a> {
    /// The block's bytes live in the index.
    Inline(&'a [u8]),
    /// The block's bytes live in a pack file, here.
    Pack(Location),
}

impl Entry<'_> {
    /// Payload length.
    pub(crate) fn len(&self) -> u64 {
        match self {
            Entry::Inline(d) => d.len() as u64,
            Entry::Pack(loc) => loc.len,
        }
    }
}

/// Value for an inline block.
pub(crate) fn encode_inline(data: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(1 + data.len());
    v.push(TAG_INLINE);
    v.extend_from_slice(data);
    v
}

/// Value for a block kept in a pack file.
pub(crate) fn encode_pack(loc: &Location) -> [u8; 21] {
    let mut v = [0u8; 21];
    v[0] = TAG_PACK;
    v[1..5].copy_from_slice(&loc.pack.to_le_bytes());
    v[5..13].copy_from_slice(&loc.offset.to_le_bytes());
    v[13..].copy_from_slice(&loc.len.to_le_bytes());
    v
}

/// Hex form of a raw key, for error messages.
pub(crate) fn hex_key(key: &[u8]) -> String {
    key.iter().map(|b| format!("{b:02x}")).collect()
}

/// Decodes an index value.
pub(crate) fn decode<'a>(key: &[u8], value: &'a [u8]) -> Result<Entry<'a>, StoreError> {
    let bad = |reason| StoreError::CorruptEntry {
        key: hex_key(key),
        reason,
    };
    match value.split_first() {
        Some((&TAG_INLINE, data)) => Ok(Entry::Inline(data)),
        Some((&TAG_PACK, rest)) => {
            if rest.len() != 20 {
                return Err(bad("bad pack entry length"));
            }
            let (mut pack, mut offset, mut len) = ([0u8; 4], [0u8; 8], [0u8; 8]);
            pack.copy_from_slice(&rest[..4]);
            offset.copy_from_slice(&rest[4..12]);
            len.copy_from_slice(&rest[12..]);
            Ok(Entry::Pack(Location {
                pack: u32::from_le_bytes(pack),
                offset: u64::from_le_bytes(offset),
                len: u64::from_le_bytes(len),
            }))
        }
        Some(_) => Err(bad("unknown entry tag")),
        None => Err(bad("empty entry")),
    }
}

/// Encodes the counters.
pub(crate) fn encode_stat(s: StoreStat) -> [u8; 16] {
    let mut v = [0u8; 16];
    v[..8].copy_from_slice(&s.blocks.to_le_bytes());
    v[8..].copy_from_slice(&s.bytes.to_le_bytes());
    v
}

/// Decodes the counters; `None` if the record is damaged.
pub(crate) fn decode_stat(v: &[u8]) -> Option<StoreStat> {
    let blocks: [u8; 8] = v.get(..8)?.try_into().ok()?;
    let bytes: [u8; 8] = v.get(8..16)?.try_into().ok()?;
    Some(StoreStat {
        blocks: u64::from_le_bytes(blocks),
        bytes: u64::from_le_bytes(bytes),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        assert_eq!(
            decode(b"k", &encode_inline(b"xy")).unwrap(),
            Entry::Inline(b"xy")
        );
        let loc = Location {
            pack: 7,
            offset: 1 << 33,
            len: 1 << 40,
        };
        assert_eq!(decode(b"k", &encode_pack(&loc)).unwrap(), Entry::Pack(loc));
        assert!(decode(b"k", &[]).is_err());
        assert!(decode(b"k", &[7]).is_err());
        assert!(decode(b"k", &[TAG_PACK, 1, 2]).is_err());
        // Format 1's payload-file entries are not read.
        assert!(decode(b"k", &[1, 0, 0, 0, 0, 0, 0, 0, 0]).is_err());
        let s = StoreStat {
            blocks: 3,
            bytes: 99,
        };
        assert_eq!(decode_stat(&encode_stat(s)), Some(s));
        assert_eq!(decode_stat(&[1, 2]), None);
    }
}
