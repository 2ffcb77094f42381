//! Drains one request's [`PrefetchHints`] into wants: in order, at most a per-request number
//! running, each holding one of the node's prefetch slots, the rest waiting their turn.
//!
//! The node's slots are a fair (first come, first served) semaphore, so concurrent requests
//! take turns as slots free up instead of the first large read keeping them all; and while
//! several requests have wants to make, each keeps at most an equal share of the slots
//! running ([`NodeSlots::share`]), so a read that started first does not keep a lead of a
//! whole window over the others (measured with four reads at once: 43 to 166 MB/s before
//! the share, see the README's benchmarks). When the request ends its hints stop coming; the
//! pump then drops its running wants (withdrawing them) and returns.

use std::collections::{HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

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

/// The fewest wants a request may keep running while others share the slots: 16 blocks of
/// 256 KiB, 4 MiB in flight, keep one read at 100 MB/s across a 40 ms round trip, so even
/// [`MAX_PREFETCHES`](super::fetcher::MAX_PREFETCHES) / 16 = 32 readers at once each stream
/// far above an audio rate.
pub(crate) const MIN_SHARE: usize = 16;

/// The node's prefetch slots, shared by every request's pump, and how many pumps have wants
/// to make (queued or running) at the moment.
#[derive(Clone, Debug)]
pub(crate) struct NodeSlots {
    permits: Arc<Semaphore>,
    total: usize,
    busy: Arc<AtomicUsize>,
    min_share: usize,
}

impl NodeSlots {
    /// `total` slots, with [`MIN_SHARE`] as the least share.
    pub(crate) fn new(total: usize) -> Self {
        Self::with_min_share(total, MIN_SHARE)
    }

    fn with_min_share(total: usize, min_share: usize) -> Self {
        NodeSlots {
            permits: Arc::new(Semaphore::new(total)),
            total,
            busy: Arc::new(AtomicUsize::new(0)),
            min_share,
        }
    }

    /// How many wants one busy request may keep running: an equal share of the slots among
    /// the busy requests, at least the minimum share.
    fn share(&self) -> usize {
        let busy = self.busy.load(Ordering::Relaxed).max(1);
        self.total.div_ceil(busy).max(self.min_share)
    }

    #[cfg(test)]
    fn available_permits(&self) -> usize {
        self.permits.available_permits()
    }
}

/// Counts its pump among the busy ones while it has wants queued or running.
struct Busy {
    slots: NodeSlots,
    counted: bool,
}

impl Busy {
    fn set(&mut self, busy: bool) {
        if busy != self.counted {
            if busy {
                self.slots.busy.fetch_add(1, Ordering::Relaxed);
            } else {
                self.slots.busy.fetch_sub(1, Ordering::Relaxed);
            }
            self.counted = busy;
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.set(false);
    }
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
    node: NodeSlots,
    per_request: usize,
    gauges: PrefetchGauges,
) {
    let node_slots = node.permits.clone();
    let mut busy = Busy {
        slots: node.clone(),
        counted: false,
    };
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
        busy.set(!running.is_empty() || !queued.cids.is_empty());
        let cap = per_request.min(node.share());
        while running.len() < cap && !queued.cids.is_empty() {
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
        if running.len() < cap && !queued.cids.is_empty() && slot.is_none() {
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
                    // Kept for the next want, unless the share shrank meanwhile (then
                    // dropped: it goes to the next request waiting).
                    Ok(p) if running.len() < per_request.min(node.share()) => slot = Some(p),
                    Ok(_) => {}
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
        node_slots: NodeSlots,
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
                node_slots: NodeSlots::with_min_share(node_slots, 1),
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
        // The first request runs more than its share (2 of 3): a freed slot goes to the
        // second, which has waited.
        h.end(a[0]);
        assert_eq!(h.settled().await, wants(&b[..1]));
        // Both within their share: each freed slot goes to the request that has waited
        // longest.
        h.end(a[1]);
        assert_eq!(h.settled().await, wants(&b[1..2]));
        h.end(b[0]);
        assert_eq!(h.settled().await, wants(&a[3..4]));
        h.end(a[2]);
        assert_eq!(h.settled().await, wants(&b[2..3]));
    }

    #[tokio::test(start_paused = true)]
    async fn busy_requests_share_the_node_slots_equally() {
        let mut h = Harness::new(4, &[]);
        let (first, second) = (PrefetchQueue::new(), PrefetchQueue::new());
        let (a, b) = (cids(1, 8), cids(2, 8));
        h.hint(&first, &a, 10);
        assert_eq!(h.settled().await, wants(&a[..4]));
        h.hint(&second, &b, 10);
        assert!(h.settled().await.is_empty());
        // The first request is over its share of 2: the slots it frees go to the second
        // until both run 2.
        h.end(a[0]);
        h.end(a[1]);
        assert_eq!(h.settled().await, wants(&b[..2]));
        // Below its share again, the first takes the next free slot.
        h.end(a[2]);
        assert_eq!(h.settled().await, wants(&a[4..5]));
        // Once the second has nothing left to ask for, the first may run them all.
        for c in &b[..2] {
            h.end(*c);
        }
        assert_eq!(h.settled().await, wants(&b[2..4]));
        drop(second);
        h.settled().await;
        h.end(a[3]);
        assert_eq!(h.settled().await, wants(&a[5..8]));
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
