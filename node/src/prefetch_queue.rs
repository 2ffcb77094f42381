//! One request's prefetch hints, queued in order and withdrawn when the request ends.
//!
//! A reader hints the blocks it will visit next (each node's children, the next subtree's
//! root) so a network fetcher can ask for them ahead of time. The fetcher bounds how many
//! run at once, per request and for the whole node; hints past those bounds wait in the
//! request's queue rather than being dropped, so a reader never falls back to one round trip
//! per block because others were busy, and requests share the node's slots first come,
//! first served. When the request ends (every clone of its [`PrefetchQueue`] dropped), what
//! is still queued is forgotten and what is running is withdrawn: a listener who stops
//! halfway does not leave the node downloading the rest.

use std::sync::{Arc, OnceLock};

use chorus_storage::Cid;
use tokio::sync::mpsc;

/// Prefetches one request may have running at once. A UnixFS node links at most 174 children
/// (kubo's default) and readers look ahead at most 64 visits into the next subtree, so a
/// reader's whole window runs at once.
pub const PREFETCHES_PER_REQUEST: usize = 256;

/// Hints one request may have waiting; past this, further hints are ignored (a request
/// hinting more than this is walking a huge directory, not streaming a file).
pub const MAX_QUEUED_HINTS: usize = 4096;

/// Batches of hints one request may have in flight between its reader and its pump. The pump
/// takes batches as they come (it never waits on the network to read the next), so this only
/// fills when a reader hints far faster than the pump runs; further batches are then dropped,
/// as hints are best effort. One batch is at most one node's links (174 in kubo's DAGs).
pub const MAX_HINT_BATCHES: usize = 256;

/// The prefetch hints of one request (a gateway read, a `cat`, a `pin add` walk, a CAR
/// export). Clones share the queue; dropping the last one ends the request's prefetches.
///
/// The queue is fed by [`BlockFetcher::prefetch`](crate::BlockFetcher::prefetch) and drained
/// by whatever the fetcher starts on first use ([`PrefetchQueue::push`]), so one request uses
/// one fetcher.
#[derive(Clone, Debug, Default)]
pub struct PrefetchQueue {
    sender: Arc<OnceLock<mpsc::Sender<Vec<Cid>>>>,
}

impl PrefetchQueue {
    /// An empty queue; nothing runs until the first hint.
    pub fn new() -> Self {
        Self::default()
    }

    /// Queues `cids`, in order. On the first push `start` is given the receiving end (a
    /// fetcher spawns its worker with it). Returns false when that worker has stopped; a
    /// batch past [`MAX_HINT_BATCHES`] waiting is dropped (and true returned).
    pub fn push(&self, cids: &[Cid], start: impl FnOnce(PrefetchHints)) -> bool {
        if cids.is_empty() {
            return true;
        }
        let sender = self.sender.get_or_init(|| {
            let (tx, rx) = mpsc::channel(MAX_HINT_BATCHES);
            start(PrefetchHints { rx });
            tx
        });
        match sender.try_send(cids.to_vec()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(dropped)) => {
                tracing::debug!(hints = dropped.len(), "prefetch hints dropped: queue full");
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

/// The receiving end of a [`PrefetchQueue`]: batches of hints in the order they were pushed,
/// until the request ends.
#[derive(Debug)]
pub struct PrefetchHints {
    rx: mpsc::Receiver<Vec<Cid>>,
}

impl PrefetchHints {
    /// The next batch; `None` once every clone of the queue is gone and the batches before
    /// were taken.
    pub async fn next(&mut self) -> Option<Vec<Cid>> {
        self.rx.recv().await
    }
}

#[cfg(test)]
mod tests {
    use chorus_storage::{Block, HashAlg, codec};

    use super::*;

    fn cid(n: u8) -> Cid {
        *Block::from_data(codec::RAW, HashAlg::Sha2_256, vec![n])
            .unwrap()
            .cid()
    }

    #[tokio::test]
    async fn batches_arrive_in_order_and_end_with_the_last_clone() {
        let queue = PrefetchQueue::new();
        let mut started = None;
        assert!(queue.push(&[cid(1), cid(2)], |hints| started = Some(hints)));
        let mut hints = started.expect("the first push starts the worker");
        let clone = queue.clone();
        assert!(clone.push(&[cid(3)], |_| panic!("started twice")));
        assert!(queue.push(&[], |_| panic!("an empty push starts nothing")));
        assert_eq!(hints.next().await, Some(vec![cid(1), cid(2)]));
        assert_eq!(hints.next().await, Some(vec![cid(3)]));
        drop(queue);
        assert!(clone.push(&[cid(4)], |_| unreachable!()));
        drop(clone);
        assert_eq!(hints.next().await, Some(vec![cid(4)]));
        assert_eq!(hints.next().await, None);
    }

    #[tokio::test]
    async fn batches_past_the_bound_are_dropped_not_queued() {
        let queue = PrefetchQueue::new();
        let mut started = None;
        for n in 0..MAX_HINT_BATCHES + 5 {
            assert!(queue.push(&[cid((n % 250) as u8)], |hints| started = Some(hints)));
        }
        let mut hints = started.unwrap();
        drop(queue);
        let mut received = 0;
        while hints.next().await.is_some() {
            received += 1;
        }
        assert_eq!(received, MAX_HINT_BATCHES);
    }

    #[test]
    fn a_push_to_a_stopped_worker_says_so() {
        let queue = PrefetchQueue::new();
        assert!(!queue.push(&[cid(1)], drop));
        assert!(!queue.push(&[cid(2)], |_| unreachable!()));
    }
}
