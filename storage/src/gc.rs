//! Garbage collection: remove every block not reachable from a pin, without stopping the store.
//!
//! Mark: walk the pins (direct pins keep their block; recursive pins keep their DAG through
//! dag-pb links; raw blocks have no links; blocks of other codecs are kept but not descended).
//! Sweep: for each indexed block that is not marked, take the short guard lock, check that no
//! put is in progress for it, that it was not written since GC started, that no session
//! protects it and that the pin set has not changed since the mark (else re-mark first), and
//! only then remove it. Reads, puts, pins and sessions proceed concurrently throughout; only
//! one GC runs at a time. Finally, sparse pack files are compacted (see the `compact` module),
//! which gives back the space of the removed blocks and of records a crash left without an
//! index entry.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, PoisonError};

use cid::Cid;
use thiserror::Error;

use crate::Multihash;
use crate::codec;
use crate::dagpb;
use crate::idstore::IdStore;
use crate::index::{self, Entry, STAT_KEY};
use crate::pins::{PinError, PinMode};
use crate::sled_store::{SledStore, raw_cid};
use crate::store::{Blockstore, StoreError};

/// Errors that abort a GC run (nothing is removed after the error).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum GcError {
    /// A block of a recursively pinned DAG is missing, so what lies below it is unknown and
    /// nothing can safely be collected. `chorus repo verify` shows the damage; re-adding or
    /// re-fetching the content (or unpinning it) lets GC run again.
    #[error("block {missing} of pinned DAG {pin} is missing; not collecting")]
    IncompletePin {
        /// The recursive pin.
        pin: Cid,
        /// The block that is missing.
        missing: Cid,
    },
    /// A dag-pb block of a pinned DAG is corrupt or undecodable, so its links are unknown.
    #[error("block {cid} of pinned DAG {pin} cannot be read: {reason}; not collecting")]
    UnreadablePinnedBlock {
        /// The recursive pin.
        pin: Cid,
        /// The block in question.
        cid: Cid,
        /// Why it could not be read.
        reason: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The pin set could not be read.
    #[error(transparent)]
    Pin(#[from] PinError),
}

/// What a GC run removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Multihashes of the removed blocks, in index order ([`GcReport::removed_cids`] names them
    /// as kubo prints them).
    pub removed: Vec<Multihash>,
    /// Payload bytes of the removed blocks.
    pub freed_bytes: u64,
    /// Pack files removed by compaction.
    pub packs_removed: u64,
    /// Disk bytes given back by compaction (pack files removed, less the live records they
    /// held, which moved to the active pack).
    pub reclaimed_bytes: u64,
    /// Blocks found reachable from pins.
    pub live_blocks: u64,
}

impl GcReport {
    /// The removed blocks as CIDv1 raw, the form kubo's `repo gc` prints for multihash keys.
    pub fn removed_cids(&self) -> impl Iterator<Item = Cid> + '_ {
        self.removed.iter().map(raw_cid)
    }
}

/// The live set, grown incrementally when pins change during the sweep.
#[derive(Default)]
struct Marker {
    live: HashSet<Multihash>,
    visited: HashSet<Cid>,
    generation: u64,
}

impl Marker {
    /// Marks everything the current pin set protects (re-walking only new parts).
    fn mark(&mut self, store: &SledStore) -> Result<(), GcError> {
        // Pinned DAGs may link identity CIDs: read through the wrapper that answers them.
        let blocks = IdStore::new(Arc::new(store.clone()));
        for item in store.pins().ls(None) {
            let (cid, mode) = item?;
            match mode {
                PinMode::Direct => {
                    self.live.insert(*cid.hash());
                }
                PinMode::Recursive => self.walk(&blocks, cid)?,
            }
        }
        Ok(())
    }

    fn walk(&mut self, store: &IdStore<SledStore>, pin: Cid) -> Result<(), GcError> {
        let mut stack = vec![pin];
        while let Some(cid) = stack.pop() {
            if !self.visited.insert(cid) {
                continue;
            }
            self.live.insert(*cid.hash());
            if cid.codec() != codec::DAG_PB {
                continue;
            }
            let block = match store.get(&cid) {
                Ok(Some(b)) => b,
                Ok(None) => return Err(GcError::IncompletePin { pin, missing: cid }),
                Err(e) => {
                    return Err(GcError::UnreadablePinnedBlock {
                        pin,
                        cid,
                        reason: e.to_string(),
                    });
                }
            };
            let children = dagpb::links(&block).map_err(|e| GcError::UnreadablePinnedBlock {
                pin,
                cid,
                reason: e.to_string(),
            })?;
            stack.extend(children);
        }
        Ok(())
    }
}

/// Ends the GC run on every exit path.
struct RunGuard<'a>(&'a SledStore);

impl Drop for RunGuard<'_> {
    fn drop(&mut self) {
        self.0.inner.guard.finish_gc();
    }
}

impl SledStore {
    /// Removes every block not reachable from a pin and not protected by a put in progress, a
    /// put since GC started, or a live [`crate::Session`]; then compacts sparse pack files.
    ///
    /// Runs concurrently with every other operation; a second concurrent `gc` waits for the
    /// first. Removals are durable after the next [`Blockstore::flush`] (compaction flushes
    /// itself before it removes a pack).
    pub fn gc(&self) -> Result<GcReport, GcError> {
        let _one = self
            .inner
            .gc_running
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        self.inner.guard.start_gc();
        let _run = RunGuard(self);
        let mut report = GcReport::default();
        let mut marker = Marker {
            generation: self.pins().generation(),
            ..Marker::default()
        };
        marker.mark(self)?;

        // Live bytes per pack, of the entries the sweep keeps: what compaction decides on.
        let mut live: HashMap<u32, u64> = HashMap::new();
        for item in self.inner.index.iter() {
            let (key, value) = item.map_err(StoreError::from)?;
            if key.as_ref() == STAT_KEY {
                continue;
            }
            // Damaged keys are left for `verify` to report.
            let Ok(mh) = Multihash::from_bytes(&key) else {
                continue;
            };
            let removed = loop {
                if marker.live.contains(&mh) {
                    break None;
                }
                let g = self.inner.guard.lock();
                let generation = g.pin_generation();
                if generation != marker.generation {
                    drop(g);
                    marker.generation = generation;
                    marker.mark(self)?;
                    continue;
                }
                if g.is_protected(&mh) {
                    break None;
                }
                break self.remove_entry_locked(&mh)?;
            };
            match removed {
                Some(len) => {
                    report.removed.push(mh);
                    report.freed_bytes += len;
                }
                None => {
                    if let Ok(Entry::Pack(loc)) = index::decode(&key, &value) {
                        *live.entry(loc.pack).or_default() += loc.record_len(&mh);
                    }
                }
            }
        }

        let compaction = self.compact_packs(&live)?;
        report.packs_removed = compaction.packs_removed;
        report.reclaimed_bytes = compaction
            .bytes_removed
            .saturating_sub(compaction.bytes_moved);
        report.live_blocks = marker.live.len() as u64;
        Ok(report)
    }
}
