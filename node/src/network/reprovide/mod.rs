//! The reprovider: announces every key of a strategy again each interval, as a keyspace
//! **sweep** so a store of millions of blocks finishes a cycle (kubo's old reprovider ran one
//! DHT lookup per key and could not; this follows the design of go-libp2p-kad-dht's sweeping
//! provider, written from its description).
//!
//! A cycle:
//! 1. **Build** the work list on disk ([`work_list`]): the strategy's keys ([`enumerate`]),
//!    sorted by their keyspace point (SHA-256 of the multihash) in an external sort, so
//!    iteration is in keyspace order, resumable ([`cycle_state`]) and memory-bounded.
//! 2. **Sweep** it in batches of [`DEFAULT_BATCH_KEYS`]. Each batch splits into runs of keys
//!    sharing a region prefix ([`keyspace`]; prefix length from the routing table: regions of
//!    about K peers). Per run and DHT, one closest-peers lookup (through the actor) toward the
//!    run's first key finds the region's peers — reused for the next runs while a DHT smaller
//!    than K is involved — then each key goes to its K closest peers among them, many
//!    ADD_PROVIDER messages per peer stream ([`add_provider`]). After each run the cursor is
//!    saved, so a restart resumes there.
//! 3. **Done**: the next cycle starts one interval after this one started.
//!
//! Both DHTs are swept: the public one and kubo's LAN DHT (whose routing table only holds
//! peers on private addresses). Records are not stored in our own kad store (only the
//! announce path of new roots does that), and kad's own 12 h republish is off: the sweep
//! owns republishing.

pub mod add_provider;
pub mod config;
pub mod cycle_state;
pub mod enumerate;
pub mod keyspace;
pub mod work_list;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use chorus_storage::Blockstore;
use futures::StreamExt;
use libp2p::{Multiaddr, PeerId, kad};
use libp2p_stream::Control;
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn};

pub use config::{
    DEFAULT_BATCH_KEYS, DEFAULT_INITIAL_DELAY, DEFAULT_REPROVIDE_INTERVAL, ReprovideConfig,
    ReprovideConfigError, ReprovideStrategy, format_interval, parse_interval,
};
pub use cycle_state::Phase as ReprovidePhase;

use super::metrics::NetworkMetrics;
use add_provider::{DEFAULT_SEND_TIMEOUT, ProviderInfo, encode_peer, send_batch};
use cycle_state::{CycleState, Phase, StateError};
use keyspace::{KadKey, REPLICATION, Region, closest, key_of_peer, prefix_bits, run_length};

/// Peer streams carrying ADD_PROVIDER batches at once: boxo's sweeping provider opens a
/// handful of connections per worker; 16 keeps two cores and the connection limits
/// comfortable while a region's 20–40 peers are served in two or three rounds.
pub const MAX_CONCURRENT_STREAMS: usize = 16;

/// Peers remembered for one region (the union of its lookups): a region holds about K peers,
/// its lookups also return neighbours; four times K bounds the per-key distance work.
pub const MAX_REGION_PEERS: usize = 4 * REPLICATION;

/// Requests queued from the reprovider to the actor: it has at most one lookup per DHT and
/// one query in flight, so a handful is plenty.
pub(crate) const ACTOR_REQUEST_CAPACITY: usize = 8;

/// The work list's directory, inside the provide queue's.
pub(crate) const WORK_DIR: &str = "reprovide-work";

/// How long to wait before retrying after the state database failed: our own number, long
/// enough not to spin on a broken disk.
const STATE_ERROR_BACKOFF: Duration = Duration::from_secs(60);

pub(crate) use super::kad_wire::Dht;

/// What the reprovider asks the actor (which owns the swarm and both routing tables).
pub(crate) enum ActorRequest {
    /// The routing tables' view and our announced addresses.
    Routing { reply: oneshot::Sender<RoutingView> },
    /// Answered once some DHT knows a peer (at once if one does).
    WaitForPeers { reply: oneshot::Sender<()> },
    /// The K closest peers to `key` (multihash bytes) on `dht`; the actor also dials the
    /// ones it is not connected to, with the addresses the lookup found.
    ClosestPeers {
        dht: Dht,
        key: Vec<u8>,
        reply: oneshot::Sender<Vec<kad::PeerInfo>>,
    },
}

/// The actor's answer to [`ActorRequest::Routing`].
#[derive(Debug, Clone, Default)]
pub(crate) struct RoutingView {
    /// Each running DHT.
    pub(crate) dhts: Vec<DhtView>,
    /// Addresses we announce.
    pub(crate) addrs: Vec<Multiaddr>,
}

/// One DHT's routing table, reduced to the network-size estimate.
#[derive(Debug, Clone)]
pub(crate) struct DhtView {
    pub(crate) kind: Dht,
    /// Peers in the routing table.
    pub(crate) known: usize,
    /// XOR distance from us to our K-th closest known peer (when K are known).
    pub(crate) kth_distance: Option<KadKey>,
}

impl DhtView {
    fn prefix_bits(&self) -> u32 {
        prefix_bits(self.known, self.kth_distance.as_ref())
    }
}

/// The reprovider's progress, for status reports and tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReprovideStatus {
    /// Start of the current (or last) cycle.
    pub cycle_started: Option<SystemTime>,
    /// Where it is; `None` before the first cycle.
    pub phase: Option<ReprovidePhase>,
    /// Keys in the current cycle's work list.
    pub cycle_keys: u64,
    /// Keys of the current cycle announced to at least one peer (since this process started
    /// or resumed it).
    pub cycle_reprovided: u64,
    /// End of the last finished cycle.
    pub last_completed: Option<SystemTime>,
    /// Cycles finished by this process.
    pub cycles_completed: u64,
}

/// The task. See the [module docs](self).
pub(crate) struct Reprovider {
    pub(crate) config: ReprovideConfig,
    pub(crate) store: Arc<dyn Blockstore>,
    pub(crate) db: sled::Db,
    /// Where the work list is kept.
    pub(crate) work_dir: std::path::PathBuf,
    /// Removes a temporary work directory when the reprovider stops.
    pub(crate) _work_tmp: Option<tempfile::TempDir>,
    pub(crate) actor: mpsc::Sender<ActorRequest>,
    pub(crate) control: Control,
    pub(crate) local: PeerId,
    pub(crate) metrics: Option<NetworkMetrics>,
    pub(crate) status: watch::Sender<ReprovideStatus>,
}

/// Why a cycle step ended early.
#[derive(Debug, thiserror::Error)]
enum CycleError {
    /// The actor went away: the network stopped.
    #[error("the network stopped")]
    Stopped,
    /// The state database failed.
    #[error(transparent)]
    State(#[from] StateError),
    /// A blocking task panicked.
    #[error("reprovider task failed: {0}")]
    Task(String),
}

/// Peers found for one DHT region.
struct RegionPeers {
    region: Region,
    peers: Vec<(PeerId, KadKey)>,
    /// The lookup returned fewer than K peers: the DHT has no others to find.
    complete: bool,
}

impl Reprovider {
    /// Runs cycles until the network stops (or the task is aborted, which is safe: progress
    /// is saved after every run of keys).
    pub(crate) async fn run(mut self) {
        let Some(interval) = self.config.interval else {
            return;
        };
        let state = match CycleState::open(&self.db, &self.work_dir) {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "reprovider disabled: cannot open its state");
                return;
            }
        };
        loop {
            match self.step(&state, interval).await {
                Ok(()) => {}
                Err(CycleError::Stopped) => return,
                Err(e) => {
                    warn!(error = %e, "reprovide cycle interrupted");
                    self.count_error();
                    if self.sleep(STATE_ERROR_BACKOFF).await.is_err() {
                        return;
                    }
                }
            }
        }
    }

    /// Does the next thing the saved progress calls for.
    async fn step(&mut self, state: &CycleState, interval: Duration) -> Result<(), CycleError> {
        let progress = state.progress().map_err(CycleError::State)?;
        let strategy = self.config.strategy.name();
        match progress {
            None => {
                self.publish(state, None, None);
                self.sleep(self.config.initial_delay).await?;
                self.begin(state).await
            }
            Some(p) if p.phase != Phase::Done && p.strategy != strategy => {
                info!(from = %p.strategy, to = strategy, "reprovide strategy changed: new cycle");
                self.begin(state).await
            }
            Some(p) => match p.phase {
                Phase::Building => {
                    state.rebuild().map_err(CycleError::State)?;
                    self.build(state).await?;
                    self.sweep(state).await
                }
                Phase::Sweeping => {
                    info!(cursor = ?p.cursor.map(hex_prefix), "resuming the reprovide cycle");
                    self.sweep(state).await
                }
                Phase::Done => {
                    self.publish(state, None, None);
                    let due = p.started + interval;
                    if let Ok(wait) = due.duration_since(SystemTime::now()) {
                        self.sleep(wait).await?;
                    }
                    self.begin(state).await
                }
            },
        }
    }

    async fn begin(&mut self, state: &CycleState) -> Result<(), CycleError> {
        state
            .begin(SystemTime::now(), self.config.strategy.name())
            .map_err(CycleError::State)?;
        self.build(state).await?;
        self.sweep(state).await
    }

    /// Fills the work list on the blocking pool.
    async fn build(&mut self, state: &CycleState) -> Result<(), CycleError> {
        self.publish(state, None, None);
        let (strategy, store, pins, s) = (
            self.config.strategy,
            self.store.clone(),
            self.config.pins.clone(),
            state.clone(),
        );
        let found = tokio::task::spawn_blocking(move || {
            enumerate::build_work_list(strategy, &store, pins.as_ref(), &s)
        })
        .await
        .map_err(|e| CycleError::Task(e.to_string()))?
        .map_err(CycleError::State)?;
        if found.errors > 0 {
            warn!(errors = found.errors, "some keys could not be enumerated");
            if let Some(m) = &self.metrics {
                m.reprovide_errors.inc_by(found.errors);
            }
        }
        info!(keys = found.keys, %strategy, "reprovide cycle: work list built");
        state.built(found.keys).map_err(CycleError::State)?;
        Ok(())
    }

    /// Announces the work list from the cursor on, then marks the cycle done.
    async fn sweep(&mut self, state: &CycleState) -> Result<(), CycleError> {
        let progress = state.progress().map_err(CycleError::State)?;
        let Some(progress) = progress else {
            return Ok(());
        };
        let mut cursor = progress.cursor;
        let mut reprovided = 0u64;
        self.publish(state, None, Some(reprovided));
        let (tx, rx) = oneshot::channel();
        self.request(ActorRequest::WaitForPeers { reply: tx })
            .await?;
        rx.await.map_err(|_| CycleError::Stopped)?;

        let mut regions: HashMap<Dht, RegionPeers> = HashMap::new();
        let mut last_region: Option<Region> = None;
        loop {
            let s = state.clone();
            let after = cursor;
            let batch_keys = self.config.batch_keys;
            let batch =
                tokio::task::spawn_blocking(move || s.batch_after(after.as_ref(), batch_keys))
                    .await
                    .map_err(|e| CycleError::Task(e.to_string()))?
                    .map_err(CycleError::State)?;
            if batch.is_empty() {
                break;
            }
            let view = self.routing().await?;
            let bits = view
                .dhts
                .iter()
                .map(DhtView::prefix_bits)
                .max()
                .unwrap_or(0);
            let provider = encode_peer(&ProviderInfo {
                peer: self.local,
                addrs: view.addrs.clone(),
            });
            let mut at = 0;
            while at < batch.len() {
                let region = Region::of(&batch[at].0, bits);
                let n = run_length(batch[at..].iter().map(|(k, _)| k), &region).max(1);
                let run = &batch[at..at + n];
                if last_region != Some(region) {
                    last_region = Some(region);
                    if let Some(m) = &self.metrics {
                        m.reprovide_regions.inc();
                    }
                }
                reprovided += self
                    .announce_run(run, &view, &provider, &mut regions)
                    .await?;
                at += n;
                if let Some((last, _)) = run.last() {
                    state.advance(last).map_err(CycleError::State)?;
                    cursor = Some(*last);
                }
                self.publish(state, None, Some(reprovided));
            }
            state.flush().map_err(CycleError::State)?;
        }
        let now = SystemTime::now();
        state.complete(now).map_err(CycleError::State)?;
        let took = now.duration_since(progress.started).unwrap_or_default();
        info!(
            keys = reprovided,
            seconds = took.as_secs(),
            "reprovide cycle done"
        );
        if let Some(m) = &self.metrics {
            m.reprovide_cycle_seconds.set(took.as_secs_f64());
            let unix = now
                .duration_since(SystemTime::UNIX_EPOCH)
                .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
                .unwrap_or(0);
            m.reprovide_last_completed.set(unix);
        }
        self.publish(state, Some(()), Some(reprovided));
        Ok(())
    }

    /// Announces one run of keys (all in one region) on every DHT; returns how many reached
    /// at least one peer.
    async fn announce_run(
        &mut self,
        run: &[(KadKey, Vec<u8>)],
        view: &RoutingView,
        provider: &[u8],
        regions: &mut HashMap<Dht, RegionPeers>,
    ) -> Result<u64, CycleError> {
        let Some((first_point, first_key)) = run.first() else {
            return Ok(0);
        };
        // Lookups: one per DHT whose known peers for this region are not already complete.
        let mut lookups = Vec::new();
        for dht in &view.dhts {
            let region = Region::of(first_point, dht.prefix_bits());
            let reuse = regions
                .get(&dht.kind)
                .is_some_and(|r| r.region == region && r.complete);
            if !reuse {
                let (tx, rx) = oneshot::channel();
                self.request(ActorRequest::ClosestPeers {
                    dht: dht.kind,
                    key: first_key.clone(),
                    reply: tx,
                })
                .await?;
                lookups.push((dht.kind, region, rx));
            }
        }
        for (kind, region, rx) in lookups {
            let found = rx.await.map_err(|_| CycleError::Stopped)?;
            let complete = found.len() < REPLICATION;
            let fresh: Vec<(PeerId, KadKey)> = found
                .into_iter()
                .map(|i| i.peer_id)
                .filter(|p| *p != self.local)
                .map(|p| (p, key_of_peer(&p)))
                .collect();
            let entry = regions.entry(kind).or_insert_with(|| RegionPeers {
                region,
                peers: Vec::new(),
                complete,
            });
            if entry.region != region {
                entry.region = region;
                entry.peers.clear();
            }
            entry.complete = complete;
            for (p, k) in fresh {
                if !entry.peers.iter().any(|(q, _)| *q == p) {
                    entry.peers.push((p, k));
                }
            }
            if entry.peers.len() > MAX_REGION_PEERS {
                // Keep the ones closest to where the sweep is going.
                let points: Vec<KadKey> = entry.peers.iter().map(|(_, k)| *k).collect();
                let keep = closest(first_point, &points, MAX_REGION_PEERS);
                entry.peers = keep.into_iter().map(|i| entry.peers[i]).collect();
            }
        }

        // Assign each key to its K closest peers, per DHT, and send per-peer batches.
        let mut reached = vec![false; run.len()];
        let mut sends = Vec::new();
        for dht in &view.dhts {
            let Some(rp) = regions.get(&dht.kind) else {
                continue;
            };
            if rp.peers.is_empty() {
                continue;
            }
            let points: Vec<KadKey> = rp.peers.iter().map(|(_, k)| *k).collect();
            let mut per_peer: Vec<Vec<usize>> = vec![Vec::new(); rp.peers.len()];
            for (i, (point, _)) in run.iter().enumerate() {
                for p in closest(point, &points, REPLICATION) {
                    per_peer[p].push(i);
                }
            }
            for (p, keys) in per_peer.into_iter().enumerate() {
                if !keys.is_empty() {
                    sends.push((rp.peers[p].0, dht.kind.protocol(), keys));
                }
            }
        }
        let control = self.control.clone();
        let results: Vec<(Vec<usize>, Result<(), add_provider::SendError>)> =
            futures::stream::iter(sends)
                .map(|(peer, protocol, keys)| {
                    let mut control = control.clone();
                    let bytes: Vec<Vec<u8>> = keys.iter().map(|i| run[*i].1.clone()).collect();
                    async move {
                        let r = send_batch(
                            &mut control,
                            peer,
                            protocol,
                            &bytes,
                            provider,
                            DEFAULT_SEND_TIMEOUT,
                        )
                        .await;
                        (keys, r)
                    }
                })
                .buffer_unordered(MAX_CONCURRENT_STREAMS)
                .collect()
                .await;
        for (keys, result) in results {
            match result {
                Ok(()) => {
                    for i in keys {
                        reached[i] = true;
                    }
                }
                Err(e) => {
                    debug!(error = %e, "reprovide batch not delivered");
                    self.count_error();
                }
            }
        }
        let n = reached.iter().filter(|r| **r).count() as u64;
        if let Some(m) = &self.metrics {
            m.reprovide_keys.inc_by(n);
        }
        Ok(n)
    }

    /// Waits `duration`, or ends early with [`CycleError::Stopped`] when the actor stops (so a
    /// dropped network does not leave this task holding the store and the database).
    async fn sleep(&self, duration: Duration) -> Result<(), CycleError> {
        tokio::select! {
            () = tokio::time::sleep(duration) => Ok(()),
            () = self.actor.closed() => Err(CycleError::Stopped),
        }
    }

    async fn request(&self, request: ActorRequest) -> Result<(), CycleError> {
        self.actor
            .send(request)
            .await
            .map_err(|_| CycleError::Stopped)
    }

    async fn routing(&self) -> Result<RoutingView, CycleError> {
        let (tx, rx) = oneshot::channel();
        self.request(ActorRequest::Routing { reply: tx }).await?;
        rx.await.map_err(|_| CycleError::Stopped)
    }

    fn count_error(&self) {
        if let Some(m) = &self.metrics {
            m.reprovide_errors.inc();
        }
    }

    /// Publishes the saved progress (plus this process's counters) to status watchers.
    /// `reprovided: None` keeps the last count (between cycles it describes the last one).
    fn publish(&self, state: &CycleState, completed_now: Option<()>, reprovided: Option<u64>) {
        let progress = state.progress().ok().flatten();
        self.status.send_modify(|s| {
            s.cycle_started = progress.as_ref().map(|p| p.started);
            s.phase = progress.as_ref().map(|p| p.phase);
            s.last_completed = progress.as_ref().and_then(|p| p.completed);
            if let Some(p) = progress.as_ref().filter(|p| p.phase != Phase::Done) {
                s.cycle_keys = p.keys;
            }
            if let Some(n) = reprovided {
                s.cycle_reprovided = n;
            }
            if completed_now.is_some() {
                s.cycles_completed += 1;
            }
        });
    }
}

/// The first bytes of a keyspace point, for logs.
fn hex_prefix(k: KadKey) -> String {
    k[..4].iter().map(|b| format!("{b:02x}")).collect()
}

/// The routing view of one kad instance (used by the actor).
pub(crate) fn dht_view<S: kad::store::RecordStore + Send + 'static>(
    kind: Dht,
    kad: &mut kad::Behaviour<S>,
    local: &PeerId,
) -> DhtView {
    let known: usize = kad.kbuckets().map(|b| b.num_entries()).sum();
    let me = kad::KBucketKey::from(*local);
    let kth_distance = kad
        .get_closest_local_peers(&me)
        .nth(REPLICATION - 1)
        .map(|k| keyspace::distance(&key_of_peer(k.preimage()), &key_of_peer(local)));
    DhtView {
        kind,
        known,
        kth_distance,
    }
}

/// A fresh status before the task reports.
pub(crate) fn initial_status() -> ReprovideStatus {
    ReprovideStatus {
        cycle_started: None,
        phase: None,
        cycle_keys: 0,
        cycle_reprovided: 0,
        last_completed: None,
        cycles_completed: 0,
    }
}
