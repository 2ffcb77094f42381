//! Encoding of the sled index: one entry per multihash, plus the counters.
//!
//! Key: the multihash bytes. Value: a tag byte, then either the block's bytes (inline) or the
//! payload length as u64 little-endian (payload in a file). The empty key, which no multihash
//! can have, holds the [`StoreStat`] counters, so they change in the same atomic batch as the
//! entries they count.

use crate::store::{StoreError, StoreStat};

/// Key of the counters record.
pub(crate) const STAT_KEY: &[u8] = b"";

const TAG_INLINE: u8 = 0;
const TAG_FILE: u8 = 1;

/// A decoded index value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Entry<'a> {
    /// The block's bytes live in the index.
    Inline(&'a [u8]),
    /// The block's bytes live in a payload file of this length.
    File(u64),
}

impl Entry<'_> {
    /// Payload length.
    pub(crate) fn len(&self) -> u64 {
        match self {
            Entry::Inline(d) => d.len() as u64,
            Entry::File(n) => *n,
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

/// Value for a block kept in a payload file.
pub(crate) fn encode_file(len: u64) -> [u8; 9] {
    let mut v = [0u8; 9];
    v[0] = TAG_FILE;
    v[1..].copy_from_slice(&len.to_le_bytes());
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
        Some((&TAG_FILE, len)) => {
            let len: [u8; 8] = len.try_into().map_err(|_| bad("bad file entry length"))?;
            Ok(Entry::File(u64::from_le_bytes(len)))
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
        assert_eq!(
            decode(b"k", &encode_file(1 << 40)).unwrap(),
            Entry::File(1 << 40)
        );
        assert!(decode(b"k", &[]).is_err());
        assert!(decode(b"k", &[7]).is_err());
        assert!(decode(b"k", &[TAG_FILE, 1, 2]).is_err());
        let s = StoreStat {
            blocks: 3,
            bytes: 99,
        };
        assert_eq!(decode_stat(&encode_stat(s)), Some(s));
        assert_eq!(decode_stat(&[1, 2]), None);
    }
}
