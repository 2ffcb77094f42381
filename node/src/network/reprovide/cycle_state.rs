//! The reprovider's persistent state, in two trees of the provide queue's sled database:
//! the cycle's work list (keyspace point → multihash, so iteration is in keyspace order and
//! memory stays bounded whatever the key count) and the cycle's progress (start time, phase,
//! cursor), so a restart resumes the cycle where it stopped.
//!
//! Durability point: sled's background flush (500 ms) or [`CycleState::flush`], called after
//! every region. A crash may repeat the work since the last flush (announcing a record twice
//! is harmless), never skip any.

use std::ops::Bound;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::keyspace::KadKey;

/// Tree holding the work list.
const KEYS_TREE: &str = "reprovide-keys";
/// Tree holding the progress fields.
const STATE_TREE: &str = "reprovide-state";

const STARTED: &str = "started-ms";
const PHASE: &str = "phase";
const CURSOR: &str = "cursor";
const COMPLETED: &str = "completed-ms";
const STRATEGY: &str = "strategy";
const KEYS: &str = "keys";

/// Where a cycle is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Enumerating keys into the work list (redone from scratch after a restart: it is local
    /// work only).
    Building,
    /// Announcing; keys up to the cursor are done.
    Sweeping,
    /// Finished; the next cycle starts one interval after this one started.
    Done,
}

impl Phase {
    fn tag(self) -> u8 {
        match self {
            Phase::Building => 0,
            Phase::Sweeping => 1,
            Phase::Done => 2,
        }
    }

    fn from_tag(tag: &[u8]) -> Option<Self> {
        match tag {
            [0] => Some(Phase::Building),
            [1] => Some(Phase::Sweeping),
            [2] => Some(Phase::Done),
            _ => None,
        }
    }
}

/// The persisted progress of the current (or last) cycle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// When the cycle started.
    pub started: SystemTime,
    /// Its phase.
    pub phase: Phase,
    /// The last keyspace point announced in this cycle, if any.
    pub cursor: Option<KadKey>,
    /// When the last cycle finished, if one did.
    pub completed: Option<SystemTime>,
    /// The strategy the work list was built with.
    pub strategy: String,
    /// Keys in the work list (0 until it is built).
    pub keys: u64,
}

/// Why the state could not be used.
#[derive(Debug, thiserror::Error)]
#[error("reprovider state: {0}")]
pub struct StateError(#[from] sled::Error);

/// Handles to the two trees.
#[derive(Clone)]
pub struct CycleState {
    keys: sled::Tree,
    state: sled::Tree,
}

fn millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

fn from_millis(bytes: &[u8]) -> Option<SystemTime> {
    let ms = u64::from_be_bytes(<[u8; 8]>::try_from(bytes).ok()?);
    UNIX_EPOCH.checked_add(Duration::from_millis(ms))
}

impl CycleState {
    /// Opens (creating) the trees in `db`.
    pub fn open(db: &sled::Db) -> Result<Self, StateError> {
        Ok(CycleState {
            keys: db.open_tree(KEYS_TREE)?,
            state: db.open_tree(STATE_TREE)?,
        })
    }

    /// The saved progress; `None` before the first cycle (or if it is unreadable, which
    /// starts a fresh cycle).
    pub fn progress(&self) -> Result<Option<Progress>, StateError> {
        let started = self.state.get(STARTED)?.and_then(|v| from_millis(&v));
        let phase = self.state.get(PHASE)?.and_then(|v| Phase::from_tag(&v));
        let (Some(started), Some(phase)) = (started, phase) else {
            return Ok(None);
        };
        let cursor = self
            .state
            .get(CURSOR)?
            .and_then(|v| <KadKey>::try_from(v.as_ref()).ok());
        let completed = self.state.get(COMPLETED)?.and_then(|v| from_millis(&v));
        let strategy = self
            .state
            .get(STRATEGY)?
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .unwrap_or_default();
        let keys = self
            .state
            .get(KEYS)?
            .and_then(|v| <[u8; 8]>::try_from(v.as_ref()).ok())
            .map_or(0, u64::from_be_bytes);
        Ok(Some(Progress {
            started,
            phase,
            cursor,
            completed,
            strategy,
            keys,
        }))
    }

    /// Starts a cycle at `started` with `strategy`: empties the work list and the cursor.
    pub fn begin(&self, started: SystemTime, strategy: &str) -> Result<(), StateError> {
        self.state.insert(PHASE, &[Phase::Building.tag()])?;
        self.state.insert(STARTED, &millis(started).to_be_bytes())?;
        self.state.insert(STRATEGY, strategy.as_bytes())?;
        self.state.remove(CURSOR)?;
        self.state.remove(KEYS)?;
        self.keys.clear()?;
        Ok(())
    }

    /// Restarts the building phase of the current cycle (after a crash while building).
    pub fn rebuild(&self) -> Result<(), StateError> {
        self.state.insert(PHASE, &[Phase::Building.tag()])?;
        self.state.remove(CURSOR)?;
        self.keys.clear()?;
        Ok(())
    }

    /// The work list is complete with `keys` keys: the sweep may start.
    pub fn built(&self, keys: u64) -> Result<(), StateError> {
        self.state.insert(KEYS, &keys.to_be_bytes())?;
        self.state.insert(PHASE, &[Phase::Sweeping.tag()])?;
        self.flush()
    }

    /// Everything up to and including `cursor` has been announced.
    pub fn advance(&self, cursor: &KadKey) -> Result<(), StateError> {
        self.state.insert(CURSOR, &cursor[..])?;
        Ok(())
    }

    /// The cycle finished at `at`; frees the work list.
    pub fn complete(&self, at: SystemTime) -> Result<(), StateError> {
        self.state.insert(PHASE, &[Phase::Done.tag()])?;
        self.state.insert(COMPLETED, &millis(at).to_be_bytes())?;
        self.state.remove(CURSOR)?;
        self.keys.clear()?;
        self.flush()
    }

    /// Adds a key to the work list; `false` if it was already there.
    pub fn insert_key(&self, point: &KadKey, multihash: &[u8]) -> Result<bool, StateError> {
        Ok(self.keys.insert(point, multihash)?.is_none())
    }

    /// Adds distinct keys in one sled batch (cheaper per key than [`insert_key`](Self::insert_key)
    /// for large lists; the caller guarantees they are not in the list yet).
    pub fn insert_batch(&self, entries: &[(KadKey, Vec<u8>)]) -> Result<(), StateError> {
        let mut batch = sled::Batch::default();
        for (point, multihash) in entries {
            batch.insert(&point[..], multihash.as_slice());
        }
        self.keys.apply_batch(batch)?;
        Ok(())
    }

    /// Keys in the work list (counts them: O(n), for tests and checks).
    pub fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Up to `n` work-list entries after `cursor` (from the start when `None`), in keyspace
    /// order. Entries that do not parse are skipped.
    pub fn batch_after(
        &self,
        cursor: Option<&KadKey>,
        n: usize,
    ) -> Result<Vec<(KadKey, Vec<u8>)>, StateError> {
        let start = match cursor {
            Some(c) => Bound::Excluded(c.to_vec()),
            None => Bound::Unbounded,
        };
        let mut out = Vec::with_capacity(n.min(4096));
        for item in self.keys.range::<Vec<u8>, _>((start, Bound::Unbounded)) {
            if out.len() >= n {
                break;
            }
            let (k, v) = item?;
            if let Ok(point) = <KadKey>::try_from(k.as_ref()) {
                out.push((point, v.to_vec()));
            }
        }
        Ok(out)
    }

    /// Writes pending changes to disk.
    pub fn flush(&self) -> Result<(), StateError> {
        self.keys.flush()?;
        self.state.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::reprovide::keyspace::key_of_multihash;

    fn mh(n: u32) -> Vec<u8> {
        let mut bytes = vec![0x12, 0x20];
        bytes.extend_from_slice(&[0; 28]);
        bytes.extend_from_slice(&n.to_be_bytes());
        bytes
    }

    fn sweep_some(state: &CycleState, batches: usize, n: usize) -> Vec<KadKey> {
        let mut cursor = state.progress().unwrap().unwrap().cursor;
        let mut seen = Vec::new();
        for _ in 0..batches {
            let batch = state.batch_after(cursor.as_ref(), n).unwrap();
            let Some((last, _)) = batch.last() else { break };
            seen.extend(batch.iter().map(|(k, _)| *k));
            state.advance(last).unwrap();
            cursor = Some(*last);
        }
        seen
    }

    #[test]
    fn a_restart_mid_cycle_resumes_at_the_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let started = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let first;
        {
            let db = sled::open(dir.path()).unwrap();
            let state = CycleState::open(&db).unwrap();
            assert_eq!(state.progress().unwrap(), None);
            state.begin(started, "all").unwrap();
            for n in 0..100 {
                let m = mh(n);
                assert!(state.insert_key(&key_of_multihash(&m), &m).unwrap());
            }
            // The same key twice is one entry.
            assert!(!state.insert_key(&key_of_multihash(&mh(0)), &mh(0)).unwrap());
            state.built(100).unwrap();
            first = sweep_some(&state, 3, 10);
            assert_eq!(first.len(), 30);
            state.flush().unwrap();
        }
        let db = sled::open(dir.path()).unwrap();
        let state = CycleState::open(&db).unwrap();
        let p = state.progress().unwrap().unwrap();
        assert_eq!(p.phase, Phase::Sweeping);
        assert_eq!(p.started, started);
        assert_eq!(p.cursor, first.last().copied());
        assert_eq!(p.strategy, "all");
        assert_eq!(p.keys, 100);
        let rest = sweep_some(&state, 100, 7);
        assert_eq!(rest.len(), 70);
        // In keyspace order, nothing repeated, nothing skipped.
        let mut all = first.clone();
        all.extend(rest);
        let mut expected: Vec<KadKey> = (0..100).map(|n| key_of_multihash(&mh(n))).collect();
        expected.sort();
        assert_eq!(all, expected);
        let done_at = started + Duration::from_secs(60);
        state.complete(done_at).unwrap();
        let p = state.progress().unwrap().unwrap();
        assert_eq!(
            (p.phase, p.cursor, p.completed),
            (Phase::Done, None, Some(done_at))
        );
        assert_eq!(state.key_count(), 0);
    }

    #[test]
    fn a_new_cycle_forgets_the_old_work_list() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let state = CycleState::open(&db).unwrap();
        state.begin(SystemTime::now(), "all").unwrap();
        state.insert_key(&key_of_multihash(&mh(1)), &mh(1)).unwrap();
        state.advance(&[9; 32]).unwrap();
        state.begin(SystemTime::now(), "roots").unwrap();
        let p = state.progress().unwrap().unwrap();
        assert_eq!((p.phase, p.cursor), (Phase::Building, None));
        assert_eq!(state.key_count(), 0);
    }
}
