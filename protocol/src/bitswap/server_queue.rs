//! The server's fair task queue: which peer's want is looked up next.
//!
//! Deficit round robin over peers: each peer in turn may take tasks until it has used its
//! quantum of bytes for the round, then goes to the back of the ring. Within a peer, higher
//! priority first, then arrival order. A peer with a thousand wants therefore gets the same
//! share of lookups and bandwidth per round as a peer with one, and cannot starve it.
//!
//! Sizes are unknown when a task is handed out (the node looks the block up afterwards), so
//! [`ServerQueue::pop`] charges an estimate and [`ServerQueue::settle`] corrects it once the
//! answer is known.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap, VecDeque};

use cid::Cid;
use libp2p::PeerId;

type Key = (Reverse<i32>, u64);

#[derive(Debug, Default)]
struct PeerTasks {
    tasks: BTreeMap<Key, Cid>,
    index: HashMap<Cid, Key>,
    deficit: i64,
}

/// Per-peer task queues served by deficit round robin.
#[derive(Debug)]
pub struct ServerQueue {
    quantum: i64,
    estimate: i64,
    peers: HashMap<PeerId, PeerTasks>,
    ring: VecDeque<PeerId>,
    seq: u64,
}

impl ServerQueue {
    /// A queue giving each peer `quantum` bytes per round and charging `estimate` bytes per
    /// task until its real size is settled.
    pub fn new(quantum: usize, estimate: usize) -> Self {
        ServerQueue {
            quantum: i64::try_from(quantum.max(1)).unwrap_or(i64::MAX),
            estimate: i64::try_from(estimate).unwrap_or(i64::MAX),
            peers: HashMap::new(),
            ring: VecDeque::new(),
            seq: 0,
        }
    }

    /// Queues `cid` for `peer`, or updates its priority if already queued.
    pub fn push(&mut self, peer: PeerId, cid: Cid, priority: i32) {
        self.seq += 1;
        let key = (Reverse(priority), self.seq);
        let tasks = self.peers.entry(peer).or_default();
        if tasks.tasks.is_empty() {
            self.ring.push_back(peer);
        }
        if let Some(old) = tasks.index.insert(cid, key) {
            tasks.tasks.remove(&old);
        }
        tasks.tasks.insert(key, cid);
    }

    /// Removes a queued task; returns whether it was queued.
    pub fn remove(&mut self, peer: &PeerId, cid: &Cid) -> bool {
        let Some(tasks) = self.peers.get_mut(peer) else {
            return false;
        };
        let Some(key) = tasks.index.remove(cid) else {
            return false;
        };
        tasks.tasks.remove(&key);
        if tasks.tasks.is_empty() {
            self.remove_peer(peer);
        }
        true
    }

    /// Removes every task of `peer`.
    pub fn remove_peer(&mut self, peer: &PeerId) {
        if self.peers.remove(peer).is_some() {
            self.ring.retain(|p| p != peer);
        }
    }

    /// Number of tasks queued for `peer`.
    pub fn len_of(&self, peer: &PeerId) -> usize {
        self.peers.get(peer).map_or(0, |t| t.tasks.len())
    }

    /// Total tasks queued.
    pub fn len(&self) -> usize {
        self.peers.values().map(|t| t.tasks.len()).sum()
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.ring.is_empty()
    }

    /// Hands out the next task among peers for which `eligible` holds (e.g. whose connection
    /// is not backed up), charging the estimate to that peer.
    pub fn pop(&mut self, mut eligible: impl FnMut(&PeerId) -> bool) -> Option<(PeerId, Cid)> {
        if !self.ring.iter().any(&mut eligible) {
            return None;
        }
        // Terminates: every pass over an eligible peer either returns or raises its deficit
        // by a positive quantum, and some eligible peer exists.
        loop {
            let peer = *self.ring.front()?;
            if !eligible(&peer) {
                self.ring.rotate_left(1);
                continue;
            }
            let tasks = self.peers.get_mut(&peer)?;
            if tasks.deficit <= 0 {
                tasks.deficit = tasks.deficit.saturating_add(self.quantum);
                self.ring.rotate_left(1);
                continue;
            }
            let (_, cid) = tasks.tasks.pop_first()?;
            tasks.index.remove(&cid);
            tasks.deficit = tasks.deficit.saturating_sub(self.estimate);
            if tasks.tasks.is_empty() {
                self.remove_peer(&peer);
            }
            return Some((peer, cid));
        }
    }

    /// Corrects the charge of a task handed out by [`pop`](Self::pop) to its real size.
    pub fn settle(&mut self, peer: &PeerId, bytes: usize) {
        let actual = i64::try_from(bytes).unwrap_or(i64::MAX);
        self.adjust(peer, actual.saturating_sub(self.estimate));
    }

    /// Charges `bytes` to `peer` for work done outside [`pop`](Self::pop).
    pub fn charge(&mut self, peer: &PeerId, bytes: usize) {
        self.adjust(peer, i64::try_from(bytes).unwrap_or(i64::MAX));
    }

    fn adjust(&mut self, peer: &PeerId, delta: i64) {
        if let Some(tasks) = self.peers.get_mut(peer) {
            tasks.deficit = tasks.deficit.saturating_sub(delta);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chorus_storage::{Block, HashAlg, codec};

    fn cid(n: u32) -> Cid {
        *Block::from_data(codec::RAW, HashAlg::Sha2_256, n.to_be_bytes().to_vec())
            .unwrap()
            .cid()
    }

    #[test]
    fn a_greedy_peer_does_not_starve_a_modest_one() {
        let (greedy, modest) = (PeerId::random(), PeerId::random());
        let mut q = ServerQueue::new(1000, 500);
        for n in 0..100 {
            q.push(greedy, cid(n), 1);
        }
        for n in 100..103 {
            q.push(modest, cid(n), 1);
        }
        let mut served = Vec::new();
        while let Some((peer, _)) = q.pop(|_| true) {
            served.push(peer);
        }
        assert_eq!(served.len(), 103);
        let last_modest = served.iter().rposition(|p| *p == modest).unwrap();
        // Two tasks of 500 bytes per 1000-byte round each: the modest peer is done within
        // its second round.
        assert!(
            last_modest < 8,
            "modest peer served at {last_modest}: {served:?}"
        );
        let first_four: Vec<_> = served[..4].to_vec();
        assert_eq!(first_four.iter().filter(|p| **p == modest).count(), 2);
    }

    #[test]
    fn large_blocks_cost_more_rounds() {
        let (big, small) = (PeerId::random(), PeerId::random());
        let mut q = ServerQueue::new(1000, 100);
        for n in 0..10 {
            q.push(big, cid(n), 1);
            q.push(small, cid(100 + n), 1);
        }
        let mut order = Vec::new();
        for _ in 0..12 {
            let (peer, _) = q.pop(|_| true).unwrap();
            // The big peer's blocks really cost 3000 bytes, the small one's 100.
            q.settle(&peer, if peer == big { 3000 } else { 100 });
            order.push(peer);
        }
        let bigs = order.iter().filter(|p| **p == big).count();
        assert!(bigs <= 2, "big peer took {bigs} of 12: {order:?}");
    }

    #[test]
    fn priority_then_arrival_order_within_a_peer() {
        let p = PeerId::random();
        let mut q = ServerQueue::new(1 << 20, 1);
        q.push(p, cid(1), 1);
        q.push(p, cid(2), 5);
        q.push(p, cid(3), 1);
        let got: Vec<_> = std::iter::from_fn(|| q.pop(|_| true).map(|(_, c)| c)).collect();
        assert_eq!(got, vec![cid(2), cid(1), cid(3)]);
    }

    #[test]
    fn removal_and_ineligible_peers() {
        let (a, b) = (PeerId::random(), PeerId::random());
        let mut q = ServerQueue::new(1000, 10);
        q.push(a, cid(1), 1);
        q.push(a, cid(2), 1);
        q.push(b, cid(3), 1);
        assert!(q.remove(&a, &cid(1)));
        assert!(!q.remove(&a, &cid(1)));
        assert_eq!(q.len(), 2);
        assert_eq!(q.pop(|p| *p == b), Some((b, cid(3))));
        assert_eq!(q.pop(|p| *p == b), None);
        q.remove_peer(&a);
        assert!(q.is_empty());
        assert_eq!(q.pop(|_| true), None);
    }
}
