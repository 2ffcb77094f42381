//! The content set: what the community holds, as an append-only log of signed entries kept in
//! its own small sled database (`<repo>/replication`), and the per-root view derived from it.
//!
//! Entries arrive from this node's own acceptances, from offers and from anti-entropy pulls;
//! each is stored once (keyed by its id) under the next local sequence number, so a peer pulls
//! "everything since my cursor" and a node that was down or joins later catches up from any
//! other. The view of a root is its latest entry by time (a removal wins a tie).
//!
//! Durability: [`ContentLog::append`] returns after sled's flush (fsync), so an entry behind
//! an acknowledged upload survives kill -9. Cursors and cleanup clocks are hints, flushed with
//! the next append or by sled's background flush: losing them costs a re-pull (entries are
//! deduplicated) or a later cleanup, never a copy.

use std::collections::HashMap;
use std::path::Path;

use chorus_storage::Cid;
use libp2p::PeerId;

use super::entry::{LogEntry, VerifiedEntry};

/// sled's page cache for the log: entries are read once at open and then written; 8 MiB.
const LOG_CACHE_BYTES: u64 = 8 * 1024 * 1024;

/// What the log says about one root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RootState {
    /// DAG size in bytes (from the latest entry).
    pub size: u64,
    /// Unix seconds of the latest entry.
    pub time: u64,
    /// The node that accepted (or removed) it last.
    pub node: PeerId,
    /// Removed from the content set.
    pub removed: bool,
}

/// Why the log failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// sled failed.
    #[error("content log: {0}")]
    Db(#[from] sled::Error),
    /// The database could not be opened.
    #[error("content log: {0}")]
    Open(#[from] chorus_storage::StoreError),
    /// A stored entry does not decode (a damaged database).
    #[error("content log entry {0} does not decode")]
    Corrupt(u64),
    /// The blocking task that held the log ended without an answer.
    #[error("content log task failed")]
    TaskFailed,
}

/// The log and its view.
pub struct ContentLog {
    db: sled::Db,
    entries: sled::Tree,
    ids: sled::Tree,
    cursors: sled::Tree,
    unassigned: sled::Tree,
    next_seq: u64,
    roots: HashMap<Cid, RootState>,
}

impl std::fmt::Debug for ContentLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ContentLog")
            .field("entries", &self.next_seq)
            .field("roots", &self.roots.len())
            .finish()
    }
}

impl ContentLog {
    /// Opens (or creates) the log at `dir` and rebuilds the view. Entries were verified
    /// before they were stored; they are decoded again, not re-verified.
    pub fn open(dir: &Path) -> Result<Self, LogError> {
        Self::from_db(chorus_storage::open_sled(dir, LOG_CACHE_BYTES)?)
    }

    /// A log that lives in memory only (tests and tools).
    pub fn temporary() -> Result<Self, LogError> {
        Self::from_db(sled::Config::new().temporary(true).open()?)
    }

    fn from_db(db: sled::Db) -> Result<Self, LogError> {
        let mut log = ContentLog {
            entries: db.open_tree("entries")?,
            ids: db.open_tree("ids")?,
            cursors: db.open_tree("cursors")?,
            unassigned: db.open_tree("unassigned")?,
            db,
            next_seq: 0,
            roots: HashMap::new(),
        };
        for item in log.entries.iter() {
            let (key, value) = item?;
            let seq = seq_of(&key);
            let entry: LogEntry =
                serde_json::from_slice(&value).map_err(|_| LogError::Corrupt(seq))?;
            let verified = decode_stored(entry).ok_or(LogError::Corrupt(seq))?;
            log.apply(&verified);
            log.next_seq = seq + 1;
        }
        Ok(log)
    }

    /// Stores the entries not stored yet, durably; returns those that were new.
    pub fn append(&mut self, batch: Vec<VerifiedEntry>) -> Result<Vec<VerifiedEntry>, LogError> {
        let mut added = Vec::new();
        for v in batch {
            let id = v.entry.id();
            if self.ids.contains_key(id)? {
                continue;
            }
            let seq = self.next_seq;
            let bytes = serde_json::to_vec(&v.entry).map_err(|_| LogError::Corrupt(seq))?;
            self.entries.insert(seq.to_be_bytes(), bytes)?;
            self.ids.insert(id, &seq.to_be_bytes())?;
            self.next_seq += 1;
            self.apply(&v);
            added.push(v);
        }
        if !added.is_empty() {
            self.db.flush()?;
        }
        Ok(added)
    }

    /// Up to `limit` entries from sequence number `since` on, and the cursor after them.
    pub fn since(&self, since: u64, limit: usize) -> Result<(Vec<LogEntry>, u64), LogError> {
        let mut out = Vec::new();
        let mut next = since;
        for item in self.entries.range(since.to_be_bytes()..).take(limit) {
            let (key, value) = item?;
            let seq = seq_of(&key);
            out.push(serde_json::from_slice(&value).map_err(|_| LogError::Corrupt(seq))?);
            next = seq + 1;
        }
        Ok((out, next))
    }

    /// The number of entries stored (the next sequence number).
    pub fn len(&self) -> u64 {
        self.next_seq
    }

    /// Whether no entry is stored.
    pub fn is_empty(&self) -> bool {
        self.next_seq == 0
    }

    /// The view of `root`.
    pub fn root(&self, root: &Cid) -> Option<&RootState> {
        self.roots.get(root)
    }

    /// Every root in the content set (not removed).
    pub fn live_roots(&self) -> impl Iterator<Item = (&Cid, &RootState)> {
        self.roots.iter().filter(|(_, s)| !s.removed)
    }

    /// Where the last pull from `peer` stopped.
    pub fn cursor(&self, peer: &PeerId) -> Result<u64, LogError> {
        Ok(self
            .cursors
            .get(peer.to_bytes())?
            .map(|v| seq_of(&v))
            .unwrap_or(0))
    }

    /// Records where the pull from `peer` stopped.
    pub fn set_cursor(&self, peer: &PeerId, next: u64) -> Result<(), LogError> {
        self.cursors.insert(peer.to_bytes(), &next.to_be_bytes())?;
        Ok(())
    }

    /// Since when (Unix seconds) this node has held `root` without being assigned it,
    /// starting the clock at `now` if it was not running.
    pub fn unassigned_since(&self, root: &Cid, now: u64) -> Result<u64, LogError> {
        let key = root.to_bytes();
        if let Some(v) = self.unassigned.get(&key)? {
            return Ok(seq_of(&v));
        }
        self.unassigned.insert(key, &now.to_be_bytes())?;
        Ok(now)
    }

    /// Stops `root`'s cleanup clock (assigned again, or cleaned up).
    pub fn clear_unassigned(&self, root: &Cid) -> Result<(), LogError> {
        self.unassigned.remove(root.to_bytes())?;
        Ok(())
    }

    fn apply(&mut self, v: &VerifiedEntry) {
        let incoming = RootState {
            size: v.entry.size,
            time: v.entry.time,
            node: v.node,
            removed: v.entry.removed,
        };
        match self.roots.get_mut(&v.root) {
            Some(state) if (state.time, state.removed) >= (incoming.time, incoming.removed) => {}
            Some(state) => *state = incoming,
            None => {
                self.roots.insert(v.root, incoming);
            }
        }
    }
}

/// A stored entry's decoded fields (it was verified before it was stored).
fn decode_stored(entry: LogEntry) -> Option<VerifiedEntry> {
    let root = Cid::try_from(entry.root.as_slice()).ok()?;
    let node = libp2p::identity::PublicKey::try_decode_protobuf(&entry.node_key)
        .ok()?
        .to_peer_id();
    Some(VerifiedEntry { root, node, entry })
}

fn seq_of(bytes: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    let n = bytes.len().min(8);
    b[8 - n..].copy_from_slice(&bytes[..n]);
    u64::from_be_bytes(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use libp2p::identity::Keypair;

    fn cid(i: u8) -> Cid {
        let mh = chorus_storage::Multihash::wrap(0x12, &[i; 32]).unwrap();
        Cid::new_v1(0x55, mh)
    }

    #[test]
    fn entries_are_stored_once_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let key = Keypair::generate_ed25519();
        let a = LogEntry::sign(&key, &cid(1), 10, 100, false).unwrap();
        let b = LogEntry::sign(&key, &cid(2), 20, 100, false).unwrap();
        {
            let mut log = ContentLog::open(dir.path()).unwrap();
            assert_eq!(log.append(vec![a.clone(), b.clone()]).unwrap().len(), 2);
            assert_eq!(log.append(vec![a.clone()]).unwrap().len(), 0);
            log.set_cursor(&key.public().to_peer_id(), 7).unwrap();
        }
        let log = ContentLog::open(dir.path()).unwrap();
        assert_eq!(log.len(), 2);
        assert_eq!(log.live_roots().count(), 2);
        assert_eq!(log.root(&cid(2)).unwrap().size, 20);
        let (entries, next) = log.since(1, 10).unwrap();
        assert_eq!((entries, next), (vec![b.entry], 2));
    }

    #[test]
    fn the_latest_entry_decides_and_a_removal_wins_a_tie() {
        let key = Keypair::generate_ed25519();
        let mut log = ContentLog::temporary().unwrap();
        let add = LogEntry::sign(&key, &cid(1), 10, 100, false).unwrap();
        let remove = LogEntry::sign(&key, &cid(1), 10, 100, true).unwrap();
        let older_add = LogEntry::sign(&key, &cid(1), 10, 50, false).unwrap();
        log.append(vec![add, remove, older_add]).unwrap();
        assert!(log.root(&cid(1)).unwrap().removed);
        assert_eq!(log.live_roots().count(), 0);
        let readd = LogEntry::sign(&key, &cid(1), 10, 200, false).unwrap();
        log.append(vec![readd]).unwrap();
        assert_eq!(log.live_roots().count(), 1);
    }

    #[test]
    fn since_pages_through_the_log() {
        let key = Keypair::generate_ed25519();
        let mut log = ContentLog::temporary().unwrap();
        let batch = (0..25)
            .map(|i| LogEntry::sign(&key, &cid(i), 1, 1, false).unwrap())
            .collect();
        log.append(batch).unwrap();
        let mut cursor = 0;
        let mut seen = 0;
        loop {
            let (entries, next) = log.since(cursor, 10).unwrap();
            if entries.is_empty() {
                break;
            }
            seen += entries.len();
            cursor = next;
        }
        assert_eq!((seen, cursor), (25, 25));
    }

    #[test]
    fn the_cleanup_clock_starts_once() {
        let log = ContentLog::temporary().unwrap();
        assert_eq!(log.unassigned_since(&cid(1), 100).unwrap(), 100);
        assert_eq!(log.unassigned_since(&cid(1), 500).unwrap(), 100);
        log.clear_unassigned(&cid(1)).unwrap();
        assert_eq!(log.unassigned_since(&cid(1), 500).unwrap(), 500);
    }
}
