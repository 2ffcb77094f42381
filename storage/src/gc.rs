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
use std::hash::{BuildHasher, RandomState};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use cid::Cid;
use thiserror::Error;

use crate::Multihash;
use crate::codec;
use crate::dagpb;
use crate::guard::Guard;
use crate::idstore::IdStore;
use crate::index::{self, Entry, STAT_KEY};
use crate::pins::{PinError, PinMode, Pins};
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
///
/// Memory per block is what bounds GC at millions of blocks, so neither set holds multihashes
/// or CIDs (a `HashSet<Multihash>` plus a `HashSet<Cid>` cost about 210 bytes per block, over
/// 1 GB at 5 million). A block is remembered by a 64-bit fingerprint: SipHash-1-3 of its
/// multihash under keys drawn at random for this run (std's `RandomState`), so nobody can
/// choose blocks whose fingerprints collide.
/// - `live`: every reached block's fingerprint, sorted (8 bytes per block; `contains` is a
///   binary search). A garbage block whose fingerprint equals a live one's is kept, which is
///   safe (it goes in a later run, under other keys); with 5 million live blocks the chance
///   for a given garbage block is 5e6 / 2^64, about 3e-13.
/// - `visited`: the dag-pb blocks already walked, so a DAG that links one subtree many times
///   is walked once (without it, 64 nodes each linking the next twice would take 2^64 steps).
///   Only dag-pb blocks with links are descended into, so only they go in: one in about 175
///   blocks of a UnixFS file. A collision here would skip a subtree, so this set is keyed the same way:
///   with random keys, skipping a subtree needs a 64-bit collision nobody can aim for.
struct Marker {
    keys: RandomState,
    live: Vec<u64>,
    /// How much of `live` is sorted and free of duplicates (everything, after [`Marker::mark`]).
    sorted: usize,
    visited: HashSet<u64>,
    generation: u64,
}

impl Marker {
    fn new(generation: u64) -> Self {
        Marker {
            keys: RandomState::new(),
            live: Vec::new(),
            sorted: 0,
            visited: HashSet::new(),
            generation,
        }
    }

    fn fingerprint(&self, mh: &Multihash) -> u64 {
        self.keys.hash_one(mh)
    }

    /// Whether a pin reaches `mh` (as of the last [`Marker::mark`]).
    fn contains(&self, mh: &Multihash) -> bool {
        self.live[..self.sorted]
            .binary_search(&self.fingerprint(mh))
            .is_ok()
    }

    /// Blocks found reachable.
    fn len(&self) -> usize {
        self.sorted
    }

    /// Marks everything the current pin set protects (re-walking only new parts: the roots
    /// of DAGs walked before are in `visited`).
    fn mark(&mut self, blocks: &IdStore<dyn Blockstore>, pins: &Pins) -> Result<(), GcError> {
        for item in pins.ls(None) {
            let (cid, mode) = item?;
            match mode {
                PinMode::Direct => {
                    let fp = self.fingerprint(cid.hash());
                    self.live.push(fp);
                }
                PinMode::Recursive => self.walk(blocks, cid)?,
            }
        }
        self.live.sort_unstable();
        self.live.dedup();
        self.live.shrink_to_fit();
        self.sorted = self.live.len();
        Ok(())
    }

    fn walk(&mut self, store: &IdStore<dyn Blockstore>, pin: Cid) -> Result<(), GcError> {
        let mut stack = vec![pin];
        while let Some(cid) = stack.pop() {
            let fp = self.fingerprint(cid.hash());
            if cid.codec() != codec::DAG_PB {
                self.live.push(fp);
                continue;
            }
            if self.visited.contains(&fp) {
                continue;
            }
            self.live.push(fp);
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
            // A node without links (a small file in one block) has nothing to walk twice, and
            // reading it again costs no more than remembering it would.
            if !children.is_empty() {
                self.visited.insert(fp);
            }
            stack.extend(children);
        }
        Ok(())
    }
}

/// One GC run, shared by every [`crate::Repo`]: the mark of what the pins reach, and the
/// decision, block by block, under the guard lock, whether a block may go. The run ends (and
/// puts stop being recorded as live) when it drops.
pub(crate) struct Sweep<'a> {
    guard: &'a Guard,
    pins: &'a Pins,
    /// Pinned DAGs may link identity CIDs: read through the wrapper that answers them.
    blocks: IdStore<dyn Blockstore>,
    marker: Marker,
    _one: MutexGuard<'a, ()>,
}

impl<'a> Sweep<'a> {
    /// Waits for a GC run in progress (`one` is the repo's one-run-at-a-time lock), then
    /// starts recording puts as live and marks what the pins reach.
    pub(crate) fn start(
        one: &'a Mutex<()>,
        guard: &'a Guard,
        pins: &'a Pins,
        blocks: Arc<dyn Blockstore>,
    ) -> Result<Self, GcError> {
        let one = one.lock().unwrap_or_else(PoisonError::into_inner);
        guard.start_gc();
        let mut sweep = Sweep {
            guard,
            pins,
            blocks: IdStore::new(blocks),
            marker: Marker::new(pins.generation()),
            _one: one,
        };
        sweep.marker.mark(&sweep.blocks, pins)?;
        Ok(sweep)
    }

    /// Removes `mh` with `remove` (called with the guard lock held) unless a pin reaches it
    /// or something protects it; re-marks first when the pin set changed since the mark.
    /// Returns the removed payload length.
    pub(crate) fn collect(
        &mut self,
        mh: &Multihash,
        remove: impl FnOnce(&Multihash) -> Result<Option<u64>, StoreError>,
    ) -> Result<Option<u64>, GcError> {
        loop {
            if self.marker.contains(mh) {
                return Ok(None);
            }
            let g = self.guard.lock();
            let generation = g.pin_generation();
            if generation != self.marker.generation {
                drop(g);
                self.marker.generation = generation;
                self.marker.mark(&self.blocks, self.pins)?;
                continue;
            }
            if g.is_protected(mh) {
                return Ok(None);
            }
            return Ok(remove(mh)?);
        }
    }

    /// Blocks found reachable from pins.
    pub(crate) fn live_blocks(&self) -> u64 {
        self.marker.len() as u64
    }
}

impl Drop for Sweep<'_> {
    fn drop(&mut self) {
        self.guard.finish_gc();
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
        let mut sweep = Sweep::start(
            &self.inner.gc_running,
            &self.inner.guard,
            self.pins(),
            Arc::new(self.clone()),
        )?;
        let mut report = GcReport::default();
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
            match sweep.collect(&mh, |mh| self.remove_entry_locked(mh))? {
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
        report.live_blocks = sweep.live_blocks();
        Ok(report)
    }
}
