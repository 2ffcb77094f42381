//! The reprovider's persistent state: the cycle's progress (start time, phase, cursor) in a
//! tree of the provide queue's sled database, so a restart resumes the cycle where it
//! stopped, and the cycle's work list beside it as a sorted file ([`work_list`](super::work_list):
//! keyspace order, memory bounded whatever the key count).
//!
//! Durability point: sled's background flush (500 ms) or [`CycleState::flush`], called after
//! every batch; the work list is fsynced before the phase says it is built. A crash may repeat
//! the work since the last flush (announcing a record twice is harmless), never skip any.

use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::keyspace::KadKey;
use super::work_list::{WorkList, WorkListBuilder};

/// The tree that held the work list before it moved to a file; dropped on open.
const OLD_KEYS_TREE: &str = "reprovide-keys";
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
pub enum StateError {
    /// The progress tree failed.
    #[error("reprovider state: {0}")]
    Sled(#[from] sled::Error),
    /// The work list's file failed.
    #[error("reprovider work list: {0}")]
    Io(#[from] std::io::Error),
}

/// Handles to the progress tree and the work list.
#[derive(Clone)]
pub struct CycleState {
    state: sled::Tree,
    list: WorkList,
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
    /// Opens (creating) the progress tree in `db`, with the work list kept in `dir`.
    pub fn open(db: &sled::Db, dir: impl Into<PathBuf>) -> Result<Self, StateError> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        // A work list an older version kept in sled: a cycle in progress rebuilds it as a file.
        if db
            .tree_names()
            .iter()
            .any(|n| n.as_ref() == OLD_KEYS_TREE.as_bytes())
        {
            db.drop_tree(OLD_KEYS_TREE)?;
            let state = db.open_tree(STATE_TREE)?;
            if state.get(PHASE)?.as_deref() == Some(&[Phase::Sweeping.tag()]) {
                state.insert(PHASE, &[Phase::Building.tag()])?;
            }
        }
        Ok(CycleState {
            state: db.open_tree(STATE_TREE)?,
            list: WorkList::new(dir),
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
        self.list.clear()?;
        Ok(())
    }

    /// Restarts the building phase of the current cycle (after a crash while building).
    pub fn rebuild(&self) -> Result<(), StateError> {
        self.state.insert(PHASE, &[Phase::Building.tag()])?;
        self.state.remove(CURSOR)?;
        self.list.clear()?;
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
        self.flush()?;
        self.list.clear()?;
        Ok(())
    }

    /// Starts writing the work list (finish it, then call [`built`](Self::built)).
    pub fn builder(&self) -> Result<WorkListBuilder, StateError> {
        Ok(self.list.builder()?)
    }

    /// Keys in the work list (reads it whole: for tests and checks).
    pub fn key_count(&self) -> Result<u64, StateError> {
        Ok(self.list.len()?)
    }

    /// Up to `n` work-list entries after `cursor` (from the start when `None`), in keyspace
    /// order.
    pub fn batch_after(
        &self,
        cursor: Option<&KadKey>,
        n: usize,
    ) -> Result<Vec<(KadKey, Vec<u8>)>, StateError> {
        Ok(self.list.batch_after(cursor, n)?)
    }

    /// Writes pending changes to disk.
    pub fn flush(&self) -> Result<(), StateError> {
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

    fn build(state: &CycleState, keys: impl IntoIterator<Item = u32>) -> u64 {
        let mut builder = state.builder().unwrap();
        for n in keys {
            let m = mh(n);
            builder.push(key_of_multihash(&m), m).unwrap();
        }
        builder.finish().unwrap()
    }

    #[test]
    fn a_restart_mid_cycle_resumes_at_the_cursor() {
        let dir = tempfile::tempdir().unwrap();
        let list_dir = dir.path().join("work");
        let started = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let first;
        {
            let db = sled::open(dir.path().join("db")).unwrap();
            let state = CycleState::open(&db, &list_dir).unwrap();
            assert_eq!(state.progress().unwrap(), None);
            state.begin(started, "all").unwrap();
            // The same key twice is one entry.
            assert_eq!(build(&state, (0..100).chain([0])), 100);
            state.built(100).unwrap();
            first = sweep_some(&state, 3, 10);
            assert_eq!(first.len(), 30);
            state.flush().unwrap();
        }
        let db = sled::open(dir.path().join("db")).unwrap();
        let state = CycleState::open(&db, &list_dir).unwrap();
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
        assert_eq!(state.key_count().unwrap(), 0);
    }

    #[test]
    fn a_new_cycle_forgets_the_old_work_list() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().temporary(true).open().unwrap();
        let state = CycleState::open(&db, dir.path()).unwrap();
        state.begin(SystemTime::now(), "all").unwrap();
        build(&state, [1]);
        state.advance(&[9; 32]).unwrap();
        state.begin(SystemTime::now(), "roots").unwrap();
        let p = state.progress().unwrap().unwrap();
        assert_eq!((p.phase, p.cursor), (Phase::Building, None));
        assert_eq!(state.key_count().unwrap(), 0);
    }

    #[test]
    fn a_sweep_over_the_old_sled_work_list_is_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new().temporary(true).open().unwrap();
        let old = db.open_tree(OLD_KEYS_TREE).unwrap();
        old.insert([1u8; 32], &mh(1)[..]).unwrap();
        let tree = db.open_tree(STATE_TREE).unwrap();
        tree.insert(PHASE, &[Phase::Sweeping.tag()]).unwrap();
        tree.insert(STARTED, &millis(SystemTime::now()).to_be_bytes())
            .unwrap();
        let state = CycleState::open(&db, dir.path()).unwrap();
        assert_eq!(state.progress().unwrap().unwrap().phase, Phase::Building);
        assert!(
            !db.tree_names()
                .iter()
                .any(|n| n.as_ref() == OLD_KEYS_TREE.as_bytes())
        );
    }
}
