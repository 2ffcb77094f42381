//! The background provide queue: CIDs waiting to be announced, optionally kept in a small
//! sled database so a restart resumes where the node stopped.
//!
//! An entry leaves the disk only when its announcement finished (reached peers, or timed
//! out). Durability point: sled's background flush (every 500 ms by default) or
//! [`flush`](ProvideQueue::flush) (called at shutdown); entries queued just before a crash
//! may be lost, never duplicated into garbage.

use std::collections::{HashSet, VecDeque};
use std::path::Path;

use chorus_storage::Multihash;
use cid::Cid;
use tracing::warn;

/// Why the on-disk queue could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open the provide queue at {path}: {source}")]
pub struct QueueOpenError {
    /// The database directory.
    pub path: String,
    /// The store's error (sled's, or its lock held too long).
    #[source]
    pub source: chorus_storage::StoreError,
}

/// sled's page cache for the queue: small records, read once at open; 8 MiB.
const QUEUE_CACHE_BYTES: u64 = 8 * 1024 * 1024;

/// The queue. Entries are `(sequence number, CID)`; the sequence orders them on disk.
pub(crate) struct ProvideQueue {
    waiting: VecDeque<(u64, Cid)>,
    queued: HashSet<Multihash>,
    capacity: usize,
    db: Option<sled::Db>,
    next_seq: u64,
}

impl ProvideQueue {
    /// An in-memory queue of at most `capacity` CIDs.
    pub(crate) fn in_memory(capacity: usize) -> Self {
        ProvideQueue {
            waiting: VecDeque::new(),
            queued: HashSet::new(),
            capacity,
            db: None,
            next_seq: 0,
        }
    }

    /// A queue persisted in the sled database at `dir`, loaded with what a previous run left
    /// (entries that do not parse are dropped from disk).
    pub(crate) fn open(dir: &Path, capacity: usize) -> Result<Self, QueueOpenError> {
        let db =
            chorus_storage::open_sled(dir, QUEUE_CACHE_BYTES).map_err(|source| QueueOpenError {
                path: dir.display().to_string(),
                source,
            })?;
        let mut queue = ProvideQueue::in_memory(capacity);
        let mut bad = Vec::new();
        for item in db.iter() {
            let (key, value) = match item {
                Ok(kv) => kv,
                Err(e) => {
                    warn!(error = %e, "unreadable provide queue entry");
                    continue;
                }
            };
            let seq = <[u8; 8]>::try_from(key.as_ref()).map(u64::from_be_bytes);
            match (seq, Cid::try_from(value.as_ref())) {
                (Ok(seq), Ok(cid)) => {
                    queue.next_seq = queue.next_seq.max(seq.saturating_add(1));
                    if queue.queued.insert(*cid.hash()) {
                        queue.waiting.push_back((seq, cid));
                    } else {
                        bad.push(key);
                    }
                }
                _ => bad.push(key),
            }
        }
        for key in bad {
            if let Err(e) = db.remove(key) {
                warn!(error = %e, "cannot drop a provide queue entry");
            }
        }
        queue.db = Some(db);
        Ok(queue)
    }

    /// The database the queue persists in, shared with the reprovider's state; `None` for
    /// an in-memory queue.
    pub(crate) fn db(&self) -> Option<sled::Db> {
        self.db.clone()
    }

    /// CIDs waiting (not counting those being announced).
    pub(crate) fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Queues `cid`; `false` if the queue is full. A CID already waiting counts as queued.
    pub(crate) fn push(&mut self, cid: Cid) -> bool {
        if self.queued.contains(cid.hash()) {
            return true;
        }
        if self.waiting.len() >= self.capacity {
            return false;
        }
        let seq = self.next_seq;
        self.next_seq = self.next_seq.saturating_add(1);
        if let Some(db) = &self.db
            && let Err(e) = db.insert(seq.to_be_bytes(), cid.to_bytes())
        {
            warn!(%cid, error = %e, "provide queue entry not persisted");
        }
        self.queued.insert(*cid.hash());
        self.waiting.push_back((seq, cid));
        true
    }

    /// The next CID to announce; it stays on disk until [`done`](Self::done).
    pub(crate) fn pop(&mut self) -> Option<(u64, Cid)> {
        let (seq, cid) = self.waiting.pop_front()?;
        self.queued.remove(cid.hash());
        Some((seq, cid))
    }

    /// Puts back an entry that could not be announced yet (no DHT peers), first in line.
    pub(crate) fn unpop(&mut self, seq: u64, cid: Cid) {
        if self.queued.insert(*cid.hash()) {
            self.waiting.push_front((seq, cid));
        }
    }

    /// The announcement of entry `seq` finished: forget it on disk.
    pub(crate) fn done(&mut self, seq: u64) {
        if let Some(db) = &self.db
            && let Err(e) = db.remove(seq.to_be_bytes())
        {
            warn!(seq, error = %e, "finished provide queue entry not removed");
        }
    }

    /// Writes pending changes to disk.
    pub(crate) fn flush(&self) {
        if let Some(db) = &self.db
            && let Err(e) = db.flush()
        {
            warn!(error = %e, "provide queue flush failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chorus_storage::{Block, HashAlg, codec};

    fn cid(n: u8) -> Cid {
        *Block::from_data(codec::RAW, HashAlg::Sha2_256, vec![n])
            .unwrap()
            .cid()
    }

    #[test]
    fn bounded_deduplicated_and_ordered() {
        let mut q = ProvideQueue::in_memory(2);
        assert!(q.push(cid(1)));
        assert!(q.push(cid(1)));
        assert!(q.push(cid(2)));
        assert!(!q.push(cid(3)));
        assert_eq!(q.len(), 2);
        let (s1, c1) = q.pop().unwrap();
        assert_eq!(c1, cid(1));
        q.unpop(s1, c1);
        assert_eq!(q.pop().unwrap().1, cid(1));
        assert_eq!(q.pop().unwrap().1, cid(2));
        assert!(q.pop().is_none());
    }

    #[test]
    fn unfinished_entries_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut q = ProvideQueue::open(dir.path(), 10).unwrap();
            for n in 1..=3 {
                assert!(q.push(cid(n)));
            }
            let (seq, _) = q.pop().unwrap();
            q.done(seq);
            // Popped but not finished: still owed.
            q.pop().unwrap();
            q.flush();
        }
        let mut q = ProvideQueue::open(dir.path(), 10).unwrap();
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop().unwrap().1, cid(2));
        assert_eq!(q.pop().unwrap().1, cid(3));
        // New entries come after the old ones.
        assert!(q.push(cid(4)));
        assert_eq!(q.pop().unwrap().1, cid(4));
    }
}
