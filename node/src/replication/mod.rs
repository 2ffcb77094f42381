//! Replication among community nodes: every root uploaded to any node is held by R nodes
//! chosen by rendezvous hashing ([`placement`]), acknowledged after W durable copies, and
//! repaired when nodes die; the community's content set is a signed, append-only log
//! ([`entry`], [`content_log`]) exchanged by anti-entropy.
//!
//! - [`Replication`] is the handle the core holds: [`Replication::replicate`] is the upload's
//!   write path after local durability (log entry, offers to the holders, wait for W).
//! - [`worker`] is the task that answers peers' requests (offers, holdings, log pages) and
//!   runs the repair pass (pull logs, fetch what this node is assigned and lacks, clean up
//!   extra copies after the grace once the assigned holders confirm theirs).
//! - [`health`] says which nodes are up; [`wire`] is the protocol.
//!
//! Modelled on Audius's mediorum (rendezvous ranking, replicated upload log, hourly repair,
//! cleanup after a week), over libp2p and Bitswap instead of HTTP and Postgres.

pub mod config;
pub mod content_log;
pub mod entry;
pub mod health;
pub mod metrics;
pub mod placement;
mod replicate;
mod status;
pub mod wire;
mod worker;

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use libp2p::PeerId;
use libp2p::identity::Keypair;
use tokio::sync::mpsc;

pub use config::{ReplicationConfig, ReplicationConfigError};
pub use content_log::{ContentLog, LogError, RootState};
pub use entry::{EntryError, LogEntry, VerifiedEntry};
pub use metrics::ReplicationMetrics;
pub use replicate::{Replicas, ReplicateError};
pub use status::{CidStatus, NodeStatus, Overview};

use crate::network::NetworkHandle;
use crate::network::replication_wire::{INBOUND_CAPACITY, InboundRequest, ReplicationWire};
use health::Health;

/// The requests peers sent, for [`Replication::spawn_worker`].
pub type Inbound = mpsc::Receiver<InboundRequest>;

/// The network side of replication for `config`: what [`crate::network::NetworkConfig`]
/// takes, and the receiving end for the worker.
pub fn wire(config: &ReplicationConfig) -> (ReplicationWire, Inbound) {
    let (tx, rx) = mpsc::channel(INBOUND_CAPACITY);
    (
        ReplicationWire {
            inbound: tx,
            request_timeout: config.ack_timeout,
        },
        rx,
    )
}

/// Why replication could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The settings do not fit together.
    #[error(transparent)]
    Config(#[from] ReplicationConfigError),
    /// The content log could not be opened.
    #[error(transparent)]
    Log(#[from] LogError),
}

/// The replication handle: cheap to clone.
#[derive(Clone)]
pub struct Replication {
    inner: Arc<Shared>,
}

impl std::fmt::Debug for Replication {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replication")
            .field("local", &self.inner.local)
            .field("factor", &self.inner.config.factor)
            .finish_non_exhaustive()
    }
}

struct Shared {
    config: ReplicationConfig,
    local: PeerId,
    key: Keypair,
    network: NetworkHandle,
    log: Mutex<ContentLog>,
    health: Mutex<Health>,
    metrics: ReplicationMetrics,
    repair: Mutex<status::RepairProgress>,
}

impl Replication {
    /// Opens the content log at `log_dir` for the node with identity `key`, on `network`.
    pub fn open(
        config: ReplicationConfig,
        key: Keypair,
        log_dir: &Path,
        network: NetworkHandle,
        metrics: ReplicationMetrics,
    ) -> Result<Self, OpenError> {
        config.validate()?;
        let log = ContentLog::open(log_dir)?;
        Ok(Self::with_log(config, key, log, network, metrics))
    }

    /// The same over an already opened log (tests use a temporary one).
    pub fn with_log(
        config: ReplicationConfig,
        key: Keypair,
        log: ContentLog,
        network: NetworkHandle,
        metrics: ReplicationMetrics,
    ) -> Self {
        let local = key.public().to_peer_id();
        let nodes = config.node_ids(local);
        let health = Health::new(local, nodes, config.down_after, Instant::now());
        metrics.log_entries.set(gauge(log.len()));
        metrics
            .content_roots
            .set(gauge(log.live_roots().count() as u64));
        Replication {
            inner: Arc::new(Shared {
                config,
                local,
                key,
                network,
                log: Mutex::new(log),
                health: Mutex::new(health),
                metrics,
                repair: Mutex::new(status::RepairProgress::default()),
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &ReplicationConfig {
        &self.inner.config
    }

    /// This node.
    pub fn local(&self) -> PeerId {
        self.inner.local
    }

    /// The community, this node included, sorted.
    pub fn nodes(&self) -> Vec<PeerId> {
        self.health().nodes().to_vec()
    }

    /// Whether `peer` is a community node.
    pub fn is_member(&self, peer: &PeerId) -> bool {
        self.health().nodes().contains(peer)
    }

    /// The nodes that hold `root` by placement now: the first R of its ranking that are up.
    pub fn holders(&self, root: &chorus_storage::Cid) -> (Vec<PeerId>, Vec<PeerId>) {
        let health = self.health();
        let ranked = placement::rank(health.nodes(), root.hash());
        let now = Instant::now();
        let holders =
            placement::holders(&ranked, self.inner.config.factor, |p| health.is_up(p, now));
        (ranked, holders)
    }

    fn health(&self) -> MutexGuard<'_, Health> {
        // A panic while holding the lock cannot leave the state half-updated in a way that
        // matters (each update is a set of independent inserts); keep going.
        self.inner
            .health
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn log(&self) -> MutexGuard<'_, ContentLog> {
        self.inner
            .log
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The metric families.
    pub fn metrics(&self) -> &ReplicationMetrics {
        &self.inner.metrics
    }

    /// Feeds the connected set to the health view; returns the nodes that just went down.
    fn update_health(&self, connected: &HashSet<PeerId>) -> Vec<PeerId> {
        let now = Instant::now();
        let mut health = self.health();
        let went_down = health.update(connected, now);
        let up = health
            .nodes()
            .iter()
            .filter(|p| health.is_up(p, now))
            .count();
        let total = health.nodes().len();
        drop(health);
        let m = &self.inner.metrics;
        m.nodes
            .get_or_create(&metrics::StateLabels { state: "up" })
            .set(gauge(up as u64));
        m.nodes
            .get_or_create(&metrics::StateLabels { state: "down" })
            .set(gauge((total - up) as u64));
        went_down
    }

    /// Appends verified entries durably (on the blocking pool); returns how many were new.
    async fn append(&self, entries: Vec<VerifiedEntry>) -> Result<usize, LogError> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let mut log = this.log();
            let added = log.append(entries)?.len();
            this.inner.metrics.log_entries.set(gauge(log.len()));
            this.inner
                .metrics
                .content_roots
                .set(gauge(log.live_roots().count() as u64));
            Ok(added)
        })
        .await
        .map_err(|_| LogError::TaskFailed)?
    }
}

/// Unix seconds now.
fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn gauge(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}
