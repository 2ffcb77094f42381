//! Compaction: give the space of removed blocks back by rewriting sparse pack files.
//!
//! Run at the end of GC. A sealed pack (not the one being appended to, no put in flight into
//! it) whose live records take less than half of it has them re-appended to the active pack;
//! the copies are fsynced, and only then is each index entry swapped to the new location, if
//! it still names the old one (a concurrent delete or repair wins), so no entry ever names a
//! copy a power loss could tear. The swapped entries are made durable, and a pack
//! is removed only when a fresh scan finds no index entry naming it, so no crash and no
//! concurrent operation can leave an entry pointing into a removed pack. Readers that looked
//! the old location up just before the swap still read the old pack through its open handle,
//! or look again (see `SledStore::lookup`).

use std::collections::{HashMap, HashSet};

use crate::Multihash;
use crate::index::{self, Entry, STAT_KEY};
use crate::pack::{Appended, Location};
use crate::sled_store::{SledStore, raw_cid, verify_mh};
use crate::store::{Blockstore, StoreError};

/// A sealed pack is compacted when its live records take less than `1 / COMPACT_BELOW` of it:
/// a half-dead pack costs at most 2× its live bytes on disk, and rewriting it moves at most as
/// many bytes as it gives back.
const COMPACT_BELOW: u64 = 2;

/// A record copied, its entry not yet switched.
struct Move {
    mh: Multihash,
    /// The entry as read before the copy.
    old: sled::IVec,
    new: Location,
}

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
            // Copy the pack's live records, make the copies durable, and only then point the
            // index at them: an entry never names a record that a power loss could tear.
            let mut appended = self.inner.packs.begin();
            let mut moves = Vec::new();
            for (mh, loc) in records {
                if let Some(m) = self.copy_record(&mut appended, &mh, &loc)? {
                    moves.push(m);
                }
            }
            if moves.is_empty() {
                continue;
            }
            self.inner
                .packs
                .sync()
                .map_err(io("syncing moved records"))?;
            for m in moves {
                done.bytes_moved += self.switch_entry(m)?;
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

    /// Appends a copy of the record of `mh` at `loc` if the index still names it there (not
    /// yet switched to). Damaged records stay where they are.
    fn copy_record(
        &self,
        appended: &mut Appended<'_>,
        mh: &Multihash,
        loc: &Location,
    ) -> Result<Option<Move>, StoreError> {
        let key = mh.to_bytes();
        let Some(value) = self.inner.index.get(&key)? else {
            return Ok(None);
        };
        if !matches!(index::decode(&key, &value), Ok(Entry::Pack(l)) if l == *loc) {
            return Ok(None); // a dead record
        }
        let read = self
            .inner
            .packs
            .read(mh, loc)
            .map_err(|e| StoreError::io(format!("reading block {}", raw_cid(mh)), e))?;
        let Some(data) = read else {
            return Ok(None);
        };
        // Damage is not copied into a fresh record, where it would look like a good one.
        let Ok(data) = verify_mh(mh, data) else {
            return Ok(None);
        };
        let new = self
            .inner
            .packs
            .append(appended, mh, &data)
            .map_err(|e| StoreError::io(format!("moving block {}", raw_cid(mh)), e))?;
        Ok(Some(Move {
            mh: *mh,
            old: value,
            new,
        }))
    }

    /// Points the entry at its durable copy if it still names the old record (a concurrent
    /// delete or repair wins); returns the bytes moved.
    fn switch_entry(&self, m: Move) -> Result<u64, StoreError> {
        let swapped = self.inner.index.compare_and_swap(
            m.mh.to_bytes(),
            Some(m.old),
            Some(&index::encode_pack(&m.new)[..]),
        )?;
        Ok(if swapped.is_ok() {
            m.new.record_len(&m.mh)
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
