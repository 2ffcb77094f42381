//! Drains one request's [`PrefetchHints`] into wants: in order, at most a per-request number
//! running, each holding one of the node's prefetch slots, the rest waiting their turn.
//!
//! The node's slots are a fair (first come, first served) semaphore, so concurrent requests
//! take turns as slots free up instead of the first large read keeping them all. When the
//! request ends its hints stop coming; the pump then drops its running wants (withdrawing
//! them) and returns.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use chorus_storage::Cid;
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore, TryAcquireError};

use crate::prefetch_queue::{MAX_QUEUED_HINTS, PrefetchHints};

/// Where the pump's wants go: the network (see `BitswapFetcher`), or a test double.
pub(crate) trait Wants: Send + 'static {
    /// Which of `cids` the node holds already (they need no want), in the same order.
    fn stored(&self, cids: Vec<Cid>) -> BoxFuture<'static, Vec<bool>>;

    /// Makes a want for `cid`. Resolves once it is made, to a future that ends with the want
    /// (block arrived, or the fetch failed); dropping that future withdraws the want. `None`
    /// when wants can no longer be made (the network stopped).
    fn start(&self, cid: Cid) -> BoxFuture<'static, Option<BoxFuture<'static, ()>>>;
}

/// Where the pumps report how much they do (unregistered gauges when there are no metrics).
#[derive(Clone, Debug, Default)]
pub(crate) struct PrefetchGauges {
    /// Wants running, over all requests.
    pub(crate) running: Gauge,
    /// Hints waiting for a slot, over all requests.
    pub(crate) queued: Gauge,
}

/// Counts one running want until dropped (ended or withdrawn).
struct RunningWant(Gauge);

impl RunningWant {
    fn new(gauge: &Gauge) -> Self {
        gauge.inc();
        RunningWant(gauge.clone())
    }
}

impl Drop for RunningWant {
    fn drop(&mut self) {
        self.0.dec();
    }
}

/// A pending acquisition of one node slot, kept across loop turns so it keeps its place in
/// the semaphore's queue.
type SlotWait = Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send>>;

/// Runs one request's prefetches until its hints end (see the module docs).
pub(crate) async fn run(
    wants: impl Wants,
    mut hints: PrefetchHints,
    node_slots: Arc<Semaphore>,
    per_request: usize,
    gauges: PrefetchGauges,
) {
    let mut queued = Queued {
        cids: VecDeque::new(),
        gauge: gauges.queued.clone(),
    };
    // Queued or running: a hint repeated meanwhile needs no second slot.
    let mut known: HashSet<Cid> = HashSet::new();
    let mut running = FuturesUnordered::new();
    let mut slot: Option<OwnedSemaphorePermit> = None;
    let mut slot_wait: Option<SlotWait> = None;
    loop {
        while running.len() < per_request && !queued.cids.is_empty() {
            let permit = match slot.take() {
                Some(p) => p,
                None => match node_slots.clone().try_acquire_owned() {
                    Ok(p) => p,
                    Err(TryAcquireError::NoPermits) => break,
                    Err(TryAcquireError::Closed) => return,
                },
            };
            let Some(cid) = queued.pop() else {
                break;
            };
            let Some(want) = wants.start(cid).await else {
                return;
            };
            let counted = RunningWant::new(&gauges.running);
            running.push(async move {
                want.await;
                drop((permit, counted));
                cid
            });
        }
        if running.len() < per_request && !queued.cids.is_empty() && slot.is_none() {
            slot_wait.get_or_insert_with(|| Box::pin(node_slots.clone().acquire_owned()));
        }
        tokio::select! {
            batch = hints.next() => {
                let Some(cids) = batch else {
                    return;
                };
                let fresh: Vec<Cid> = cids.into_iter().filter(|c| known.insert(*c)).collect();
                if fresh.is_empty() {
                    continue;
                }
                let stored = wants.stored(fresh.clone()).await;
                for (i, cid) in fresh.into_iter().enumerate() {
                    if stored.get(i).copied().unwrap_or(false) || queued.is_full() {
                        known.remove(&cid);
                    } else {
                        queued.push(cid);
                    }
                }
            }
            Some(cid) = running.next(), if !running.is_empty() => {
                known.remove(&cid);
            }
            permit = async {
                match slot_wait.as_mut() {
                    Some(wait) => wait.await,
                    None => std::future::pending().await,
                }
            }, if slot_wait.is_some() => {
                slot_wait = None;
                match permit {
                    Ok(p) => slot = Some(p),
                    Err(_) => return,
                }
            }
        }
    }
}

/// A request's waiting hints, counted on the queued gauge while they wait.
struct Queued {
    cids: VecDeque<Cid>,
    gauge: Gauge,
}

impl Queued {
    fn push(&mut self, cid: Cid) {
        self.cids.push_back(cid);
        self.gauge.inc();
    }

    fn pop(&mut self) -> Option<Cid> {
        let cid = self.cids.pop_front()?;
        self.gauge.dec();
        Some(cid)
    }

    fn is_full(&self) -> bool {
        self.cids.len() >= MAX_QUEUED_HINTS
    }
}

impl Drop for Queued {
    fn drop(&mut self) {
        self.gauge
            .dec_by(i64::try_from(self.cids.len()).unwrap_or(i64::MAX));
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::Duration;

    use chorus_storage::{Block, HashAlg, codec};
    use tokio::sync::{mpsc, oneshot};

    use super::*;
    use crate::prefetch_queue::PrefetchQueue;

    fn cid(request: u8, n: u16) -> Cid {
        let data = [&[request][..], &n.to_be_bytes()].concat();
        *Block::from_data(codec::RAW, HashAlg::Sha2_256, data)
            .unwrap()
            .cid()
    }

    fn cids(request: u8, n: u16) -> Vec<Cid> {
        (0..n).map(|i| cid(request, i)).collect()
    }

    /// What the test network saw.
    #[derive(Debug, PartialEq)]
    enum Seen {
        Want(Cid),
        Withdrawn(Cid),
    }

    /// Wants that end when the test says so; starts and withdrawals are recorded.
    #[derive(Clone)]
    struct TestWants {
        stored: Arc<HashSet<Cid>>,
        seen: mpsc::UnboundedSender<Seen>,
        enders: Arc<Mutex<HashMap<Cid, oneshot::Sender<()>>>>,
    }

    /// Records a want's withdrawal: dropped before the want ended.
    struct Withdraw {
        cid: Cid,
        seen: mpsc::UnboundedSender<Seen>,
        armed: bool,
    }

    impl Withdraw {
        fn disarm(&mut self) {
            self.armed = false;
        }
    }

    impl Drop for Withdraw {
        fn drop(&mut self) {
            if self.armed {
                let _ = self.seen.send(Seen::Withdrawn(self.cid));
            }
        }
    }

    impl Wants for TestWants {
        fn stored(&self, cids: Vec<Cid>) -> BoxFuture<'static, Vec<bool>> {
            let stored = self.stored.clone();
            Box::pin(async move { cids.iter().map(|c| stored.contains(c)).collect() })
        }

        fn start(&self, cid: Cid) -> BoxFuture<'static, Option<BoxFuture<'static, ()>>> {
            let (end, ended) = oneshot::channel::<()>();
            self.enders.lock().unwrap().insert(cid, end);
            let _ = self.seen.send(Seen::Want(cid));
            let mut withdraw = Withdraw {
                cid,
                seen: self.seen.clone(),
                armed: true,
            };
            let want: BoxFuture<'static, ()> = Box::pin(async move {
                let _ = ended.await;
                withdraw.disarm();
            });
            Box::pin(std::future::ready(Some(want)))
        }
    }

    /// A test network and the node's slots. The tests run on a paused clock, so
    /// [`Harness::settled`] returns once every task is idle (the clock only advances then).
    struct Harness {
        wants: TestWants,
        seen: mpsc::UnboundedReceiver<Seen>,
        node_slots: Arc<Semaphore>,
        gauges: PrefetchGauges,
    }

    impl Harness {
        fn new(node_slots: usize, stored: &[Cid]) -> Self {
            // The test's own record of what the network saw, drained by each check.
            #[allow(clippy::disallowed_methods)]
            let (tx, seen) = mpsc::unbounded_channel();
            Harness {
                wants: TestWants {
                    stored: Arc::new(stored.iter().copied().collect()),
                    seen: tx,
                    enders: Default::default(),
                },
                seen,
                node_slots: Arc::new(Semaphore::new(node_slots)),
                gauges: PrefetchGauges::default(),
            }
        }

        /// Hints `cids` on `queue`, whose pump (started on its first hint) may run
        /// `per_request` wants.
        fn hint(&self, queue: &PrefetchQueue, cids: &[Cid], per_request: usize) {
            let (wants, slots) = (self.wants.clone(), self.node_slots.clone());
            let gauges = self.gauges.clone();
            queue.push(cids, move |hints| {
                tokio::spawn(run(wants, hints, slots, per_request, gauges));
            });
        }

        /// Everything the network saw until all tasks went idle.
        async fn settled(&mut self) -> Vec<Seen> {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let mut out = Vec::new();
            while let Ok(s) = self.seen.try_recv() {
                out.push(s);
            }
            out
        }

        fn end(&self, cid: Cid) {
            let end = self.wants.enders.lock().unwrap().remove(&cid);
            end.expect("a running want").send(()).unwrap();
        }
    }

    fn wants(cids: &[Cid]) -> Vec<Seen> {
        cids.iter().map(|c| Seen::Want(*c)).collect()
    }

    #[tokio::test(start_paused = true)]
    async fn hints_past_the_request_slots_wait_their_turn_in_order() {
        let mut h = Harness::new(100, &[]);
        let queue = PrefetchQueue::new();
        let c = cids(1, 6);
        h.hint(&queue, &c[..4], 2);
        h.hint(&queue, &c[4..], 2);
        assert_eq!(h.settled().await, wants(&c[..2]));
        assert_eq!((h.gauges.running.get(), h.gauges.queued.get()), (2, 4));
        h.end(c[1]);
        assert_eq!(h.settled().await, wants(&c[2..3]));
        h.end(c[0]);
        h.end(c[2]);
        assert_eq!(h.settled().await, wants(&c[3..5]));
        h.end(c[3]);
        h.end(c[4]);
        assert_eq!(h.settled().await, wants(&c[5..]));
        assert_eq!(h.node_slots.available_permits(), 99);
        assert_eq!((h.gauges.running.get(), h.gauges.queued.get()), (1, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn stored_and_repeated_hints_take_no_slot() {
        let c = cids(1, 4);
        let mut h = Harness::new(100, &c[1..2]);
        let queue = PrefetchQueue::new();
        h.hint(&queue, &c[..3], 10);
        h.hint(&queue, &[c[0], c[3], c[2]], 10);
        assert_eq!(h.settled().await, wants(&[c[0], c[2], c[3]]));
        assert_eq!(h.node_slots.available_permits(), 97);
        // Once a want ended, its CID may be hinted again (the block may have been lost).
        h.end(c[0]);
        h.settled().await;
        h.hint(&queue, &c[..1], 10);
        assert_eq!(h.settled().await, wants(&c[..1]));
    }

    #[tokio::test(start_paused = true)]
    async fn requests_take_turns_at_the_node_slots() {
        let mut h = Harness::new(3, &[]);
        let (first, second) = (PrefetchQueue::new(), PrefetchQueue::new());
        let (a, b) = (cids(1, 5), cids(2, 5));
        h.hint(&first, &a, 10);
        assert_eq!(h.settled().await, wants(&a[..3]));
        // The node's slots are all taken: the second request waits.
        h.hint(&second, &b, 10);
        assert!(h.settled().await.is_empty());
        // Each freed slot goes to the request that has waited longest.
        h.end(a[0]);
        assert_eq!(h.settled().await, wants(&a[3..4]));
        h.end(a[1]);
        assert_eq!(h.settled().await, wants(&b[..1]));
        h.end(a[2]);
        assert_eq!(h.settled().await, wants(&a[4..5]));
        h.end(a[3]);
        assert_eq!(h.settled().await, wants(&b[1..2]));
    }

    #[tokio::test(start_paused = true)]
    async fn ending_the_request_withdraws_its_wants_and_frees_the_slots() {
        let mut h = Harness::new(4, &[]);
        let (first, second) = (PrefetchQueue::new(), PrefetchQueue::new());
        let (a, b) = (cids(1, 6), cids(2, 2));
        h.hint(&first, &a, 10);
        assert_eq!(h.settled().await, wants(&a[..4]));
        h.hint(&second, &b, 10);
        assert!(h.settled().await.is_empty());
        drop(first);
        let seen = h.settled().await;
        let withdrawn: HashSet<Cid> = seen
            .iter()
            .filter_map(|s| match s {
                Seen::Withdrawn(c) => Some(*c),
                Seen::Want(_) => None,
            })
            .collect();
        assert_eq!(withdrawn, a[..4].iter().copied().collect());
        let started: Vec<&Seen> = seen.iter().filter(|s| matches!(s, Seen::Want(_))).collect();
        assert_eq!(started, wants(&b).iter().collect::<Vec<_>>());
        assert_eq!(h.node_slots.available_permits(), 2);
        // The first request's running and waiting hints are no longer counted.
        assert_eq!((h.gauges.running.get(), h.gauges.queued.get()), (2, 0));
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_queues_a_bounded_number_of_hints() {
        let mut h = Harness::new(1, &[]);
        let queue = PrefetchQueue::new();
        let many = cids(1, (MAX_QUEUED_HINTS + 10) as u16);
        h.hint(&queue, &many, 1);
        assert_eq!(h.settled().await, wants(&many[..1]));
        // The batch arrived whole: MAX_QUEUED_HINTS were queued (the first of them now
        // runs), the rest ignored.
        for (i, c) in many.iter().enumerate().take(MAX_QUEUED_HINTS - 1) {
            h.end(*c);
            assert_eq!(h.settled().await, wants(&many[i + 1..i + 2]), "hint {i}");
        }
        h.end(many[MAX_QUEUED_HINTS - 1]);
        assert!(h.settled().await.is_empty());
    }
}
