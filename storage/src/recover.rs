//! Finding the pack records a machine crash tore, on open.
//!
//! A record is appended, then its index entry written; `flush` fsyncs the packs and then
//! flushes sled. sled also persists on its own timer, so after a power loss the index can hold
//! entries whose records never reached the disk whole: the pack may be short, or full length
//! with zeros or stale bytes where the record should be (file systems extend a file's size and
//! write its pages in no promised order).
//!
//! Every `flush` therefore records a **durable mark**, the active pack and its size at the
//! moment the fsync began ([`SYNC_MARK_KEY`]): everything before it is on disk. On open, only
//! what lies past the mark can be torn, so only that is checked, record by record, header and
//! hash (the multihash in the header is the record's checksum). At the first record that is
//! not whole, the rest of that pack is treated as torn, and every index entry naming a
//! location there is dropped: those blocks were never acknowledged (an acknowledgement
//! follows a flush, which moves the mark past them), and a dropped entry lets the block be
//! fetched or added again instead of being reported present and unreadable.
//!
//! After a clean close the mark is at the end of the last pack (the close syncs first) and
//! the check reads nothing; after a crash it reads the records written since the last flush.

use std::collections::HashMap;
use std::io;

use crate::index::{self, Entry, STAT_KEY};
use crate::pack::PackDir;
use crate::sled_store::verify_mh;
use crate::store::StoreError;

/// Key of the durable mark in sled's default tree: pack id (u32 LE) then size (u64 LE).
pub(crate) const SYNC_MARK_KEY: &[u8] = b"chorus-packs-synced";

/// The stored form of a mark.
pub(crate) fn encode_mark((pack, size): (u32, u64)) -> [u8; 12] {
    let mut out = [0u8; 12];
    out[..4].copy_from_slice(&pack.to_le_bytes());
    out[4..].copy_from_slice(&size.to_le_bytes());
    out
}

/// A stored mark, if well formed.
pub(crate) fn decode_mark(bytes: &[u8]) -> Option<(u32, u64)> {
    let pack = u32::from_le_bytes(bytes.get(..4)?.try_into().ok()?);
    let size = u64::from_le_bytes(bytes.get(4..12)?.try_into().ok()?);
    Some((pack, size))
}

/// Where checking starts in `pack`, given the mark: packs before the mark's are durable,
/// the mark's own from its size on, later ones whole. Without a mark (a store from before
/// marks, or never flushed) only the last pack is checked.
fn check_from(pack: u32, mark: Option<(u32, u64)>, last: Option<u32>) -> Option<u64> {
    match mark {
        Some((m, _)) if pack < m => None,
        Some((m, size)) if pack == m => Some(size),
        Some(_) => Some(0),
        None => (Some(pack) == last).then_some(0),
    }
}

/// The torn packs past `mark`, each with the offset where its torn part begins.
pub(crate) fn find_torn(
    packs: &PackDir,
    mark: Option<(u32, u64)>,
) -> io::Result<HashMap<u32, u64>> {
    let ids = packs.ids()?;
    let last = ids.last().copied();
    let mut torn = HashMap::new();
    for id in ids {
        let Some(start) = check_from(id, mark, last) else {
            continue;
        };
        let walk = packs.records_from(id, start)?;
        let mut first_bad = (walk.end < walk.size).then_some(walk.end);
        for (mh, loc) in &walk.records {
            let whole = packs
                .read(mh, loc)?
                .is_some_and(|data| verify_mh(mh, data).is_ok());
            if !whole {
                let record_start = loc.offset - (loc.record_len(mh) - loc.len);
                first_bad = Some(first_bad.map_or(record_start, |b| b.min(record_start)));
                break;
            }
        }
        if let Some(at) = first_bad {
            torn.insert(id, at);
        }
    }
    Ok(torn)
}

/// Drops every index entry naming a location in a torn part; returns how many.
pub(crate) fn drop_torn_entries(
    index: &sled::Tree,
    torn: &HashMap<u32, u64>,
) -> Result<u64, StoreError> {
    let mut dropped = 0;
    for item in index.iter() {
        let (key, value) = item?;
        if key.as_ref() == STAT_KEY {
            continue;
        }
        if let Ok(Entry::Pack(loc)) = index::decode(&key, &value)
            && torn.get(&loc.pack).is_some_and(|at| loc.offset >= *at)
        {
            index.remove(&key)?;
            dropped += 1;
        }
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_round_trip_and_bound_the_check() {
        assert_eq!(decode_mark(&encode_mark((7, 1 << 40))), Some((7, 1 << 40)));
        assert_eq!(decode_mark(&[1, 2, 3]), None);
        let mark = Some((5, 100));
        assert_eq!(check_from(4, mark, Some(6)), None);
        assert_eq!(check_from(5, mark, Some(6)), Some(100));
        assert_eq!(check_from(6, mark, Some(6)), Some(0));
        assert_eq!(check_from(3, None, Some(6)), None);
        assert_eq!(check_from(6, None, Some(6)), Some(0));
    }
}
