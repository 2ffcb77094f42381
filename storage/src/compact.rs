//! Compaction: give the space of removed blocks back by rewriting sparse pack files.
//!
//! Run at the end of GC. A sealed pack (not the one being appended to, no put in flight into
//! it) whose live records take less than half of it has them re-appended to the active pack,
//! each index entry swapped to the new location only if it still names the old one (a
//! concurrent delete or repair wins). The new records and entries are made durable, and a pack
//! is removed only when a fresh scan finds no index entry naming it, so no crash and no
//! concurrent operation can leave an entry pointing into a removed pack. Readers that looked
//! the old location up just before the swap still read the old pack through its open handle,
//! or look again (see `SledStore::lookup`).

use std::collections::{HashMap, HashSet};

use crate::Multihash;
use crate::index::{self, Entry, STAT_KEY};
use crate::pack::Location;
use crate::sled_store::{SledStore, raw_cid, verify_mh};
use crate::store::{Blockstore, StoreError};

/// A sealed pack is compacted when its live records take less than `1 / COMPACT_BELOW` of it:
/// a half-dead pack costs at most 2× its live bytes on disk, and rewriting it moves at most as
/// many bytes as it gives back.
const COMPACT_BELOW: u64 = 2;

/// What a compaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Compaction {
    /// Pack files removed.
    pub(crate) packs_removed: u64,
    /// Their size on disk.
    pub(crate) bytes_removed: u64,
    /// Bytes of live records re-appended to the active pack.
    pub(crate) bytes_moved: u64,
}

impl SledStore {
    /// Compacts the sealed packs whose live bytes (`live`, per pack, from the GC's scan of the
    /// index) are below the threshold; packs with no live bytes are just removed.
    pub(crate) fn compact_packs(&self, live: &HashMap<u32, u64>) -> Result<Compaction, StoreError> {
        let io = |what: &str| {
            let what = what.to_string();
            move |e| StoreError::io(what, e)
        };
        let candidates: Vec<(u32, u64)> = self
            .inner
            .packs
            .idle_sealed()
            .map_err(io("listing pack files"))?
            .into_iter()
            .filter(|(id, size)| live.get(id).copied().unwrap_or(0) * COMPACT_BELOW < *size)
            .collect();
        let mut done = Compaction::default();
        if candidates.is_empty() {
            return Ok(done);
        }
        for &(pack, _) in &candidates {
            let records = self
                .inner
                .packs
                .records(pack)
                .map_err(io("reading a pack file"))?;
            for (mh, loc) in records {
                done.bytes_moved += self.move_record(&mh, &loc)?;
            }
        }
        // The new records and the swapped entries are durable before any old pack goes.
        self.flush()?;
        let referenced = self.referenced_packs()?;
        for (pack, size) in candidates {
            if referenced.contains(&pack) {
                // A record that could not be moved (damaged: `verify` reports it) keeps its
                // pack.
                tracing::warn!(pack, "pack still referenced after compaction; kept");
                continue;
            }
            self.inner
                .packs
                .remove(pack)
                .map_err(io("removing a pack file"))?;
            done.packs_removed += 1;
            done.bytes_removed += size;
        }
        Ok(done)
    }

    /// Re-appends the record of `mh` at `loc` if the index still names it there; returns the
    /// bytes appended. Damaged records stay where they are.
    fn move_record(&self, mh: &Multihash, loc: &Location) -> Result<u64, StoreError> {
        let key = mh.to_bytes();
        let Some(value) = self.inner.index.get(&key)? else {
            return Ok(0);
        };
        if !matches!(index::decode(&key, &value), Ok(Entry::Pack(l)) if l == *loc) {
            return Ok(0); // a dead record
        }
        let read = self
            .inner
            .packs
            .read(mh, loc)
            .map_err(|e| StoreError::io(format!("reading block {}", raw_cid(mh)), e))?;
        let Some(data) = read else {
            return Ok(0);
        };
        // Damage is not copied into a fresh record, where it would look like a good one.
        let Ok(data) = verify_mh(mh, data) else {
            return Ok(0);
        };
        let mut appended = self.inner.packs.begin();
        let new = self
            .inner
            .packs
            .append(&mut appended, mh, &data)
            .map_err(|e| StoreError::io(format!("moving block {}", raw_cid(mh)), e))?;
        let swapped = self.inner.index.compare_and_swap(
            &key,
            Some(value),
            Some(&index::encode_pack(&new)[..]),
        )?;
        drop(appended);
        Ok(if swapped.is_ok() {
            new.record_len(mh)
        } else {
            0
        })
    }

    /// Packs that some index entry names.
    fn referenced_packs(&self) -> Result<HashSet<u32>, StoreError> {
        let mut out = HashSet::new();
        for item in self.inner.index.iter() {
            let (key, value) = item?;
            if key.as_ref() == STAT_KEY {
                continue;
            }
            if let Ok(Entry::Pack(loc)) = index::decode(&key, &value) {
                out.insert(loc.pack);
            }
        }
        Ok(out)
    }
}
