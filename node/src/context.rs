//! The state every HTTP handler shares: stores, block source, identity, metrics, start time.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chorus_storage::{Blockstore, Cid, PinMode, Session, SledStore, StoreError};
use libp2p::identity::PublicKey;
use libp2p::{Multiaddr, PeerId};
use prometheus_client::registry::Registry;

use crate::fetch::{BlockFetcher, LocalFetcher};
use crate::metered_store::MeteredBlockstore;
use crate::metrics::NodeMetrics;
use crate::network::NetworkHandle;
use crate::track::TrackService;

/// The version `/api/v0/version` reports by default. Old clients check it against a window
/// (ipfshttpclient 0.7.0 wants 0.4.23 ≤ v < 0.8.0), so the binary makes it configurable.
pub const DEFAULT_REPORTED_VERSION: &str = concat!("chorus-", env!("CARGO_PKG_VERSION"));

/// kubo's default `Datastore.StorageMax` (10 GB), reported by `repo/stat` unless configured.
pub const DEFAULT_STORAGE_MAX: u64 = 10_000_000_000;

/// The `ProtocolVersion` kubo reports in `/api/v0/id`.
pub const PROTOCOL_VERSION: &str = "ipfs/0.1.0";

/// Who this node is, as reported by `/api/v0/id`, `/api/v0/version` and `/health`.
#[derive(Debug, Clone)]
pub struct NodeIdentity {
    /// The node's libp2p public key (its peer id derives from it).
    pub public_key: PublicKey,
    /// `AgentVersion` of `/api/v0/id`, e.g. `chorus/0.1.0`.
    pub agent_version: String,
    /// `Version` of `/api/v0/version`.
    pub reported_version: String,
    /// Repository path reported by `/api/v0/repo/stat`.
    pub repo_path: PathBuf,
    /// `StorageMax` reported by `/api/v0/repo/stat` (bytes).
    pub storage_max: u64,
}

impl NodeIdentity {
    /// An identity with the default version strings.
    pub fn new(public_key: PublicKey, repo_path: PathBuf) -> Self {
        NodeIdentity {
            public_key,
            agent_version: concat!("chorus/", env!("CARGO_PKG_VERSION")).to_owned(),
            reported_version: DEFAULT_REPORTED_VERSION.to_owned(),
            repo_path,
            storage_max: DEFAULT_STORAGE_MAX,
        }
    }

    /// Overrides the `StorageMax` reported by `repo/stat`.
    pub fn with_storage_max(mut self, bytes: u64) -> Self {
        self.storage_max = bytes;
        self
    }

    /// Overrides the version string `/api/v0/version` reports.
    pub fn with_reported_version(mut self, version: impl Into<String>) -> Self {
        self.reported_version = version.into();
        self
    }

    /// Overrides the agent version `/api/v0/id` reports.
    pub fn with_agent_version(mut self, agent: impl Into<String>) -> Self {
        self.agent_version = agent.into();
        self
    }

    /// The peer id.
    pub fn peer_id(&self) -> PeerId {
        self.public_key.to_peer_id()
    }
}

/// Shared, cheaply cloneable state of a running node's HTTP faces.
///
/// Built once by the daemon after every metric family (ours and libp2p's) has been registered,
/// so the registry can be shared read-only.
#[derive(Clone)]
pub struct NodeContext {
    inner: Arc<Inner>,
}

struct Inner {
    repo: SledStore,
    store: Arc<MeteredBlockstore>,
    fetcher: std::sync::RwLock<Arc<dyn BlockFetcher>>,
    identity: NodeIdentity,
    metrics: NodeMetrics,
    registry: Arc<Registry>,
    started: Instant,
    ready: AtomicBool,
    swarm: std::sync::RwLock<SwarmInfo>,
    network: std::sync::RwLock<Option<NetworkHandle>>,
    track: std::sync::RwLock<Option<Arc<dyn TrackService>>>,
}

/// What the network reports about itself through `/api/v0/id` (empty while offline).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SwarmInfo {
    /// Addresses other peers can dial (without the `/p2p/<id>` suffix).
    pub addresses: Vec<Multiaddr>,
    /// Protocols the swarm speaks, e.g. `/ipfs/bitswap/1.2.0`.
    pub protocols: Vec<String>,
}

impl NodeContext {
    /// Assembles an offline context over `repo`: reads and writes go through a
    /// [`MeteredBlockstore`], blocks come from the local store only until
    /// [`NodeContext::set_fetcher`] installs the network.
    pub fn new(
        repo: SledStore,
        identity: NodeIdentity,
        metrics: NodeMetrics,
        registry: Arc<Registry>,
    ) -> Result<Self, StoreError> {
        let store = Arc::new(MeteredBlockstore::new(
            Arc::new(repo.clone()),
            metrics.blockstore.clone(),
        )?);
        let fetcher: Arc<dyn BlockFetcher> = Arc::new(LocalFetcher::new(store.clone()));
        let ctx = NodeContext {
            inner: Arc::new(Inner {
                repo,
                store,
                fetcher: std::sync::RwLock::new(fetcher),
                identity,
                metrics,
                registry,
                started: Instant::now(),
                ready: AtomicBool::new(false),
                swarm: std::sync::RwLock::new(SwarmInfo::default()),
                network: std::sync::RwLock::new(None),
                track: std::sync::RwLock::new(None),
            }),
        };
        ctx.refresh_pin_metrics();
        Ok(ctx)
    }

    /// The repository (pins, GC, sessions).
    pub fn repo(&self) -> &SledStore {
        &self.inner.repo
    }

    /// The metered block store for reads and unprotected writes.
    pub fn store(&self) -> Arc<dyn Blockstore> {
        self.inner.store.clone()
    }

    /// A GC-protecting session over the repo, and a metered store writing through it. Keep the
    /// session alive until the imported root is pinned (or the import is abandoned).
    pub fn session(&self) -> (Arc<Session>, Arc<dyn Blockstore>) {
        let session = Arc::new(self.inner.repo.session());
        let store: Arc<dyn Blockstore> = Arc::new(MeteredBlockstore::without_refresh(
            session.clone(),
            self.inner.metrics.blockstore.clone(),
        ));
        (session, store)
    }

    /// Re-reads the block gauges from the store (after GC or external changes).
    pub fn refresh_store_metrics(&self) -> Result<chorus_storage::StoreStat, StoreError> {
        self.inner.store.refresh_gauges()
    }

    /// Publishes the pin counts (after pin changes).
    pub fn refresh_pin_metrics(&self) {
        let (mut recursive, mut direct) = (0u64, 0u64);
        for (_, mode) in self.inner.repo.pins().ls(None).flatten() {
            match mode {
                PinMode::Recursive => recursive += 1,
                PinMode::Direct => direct += 1,
            }
        }
        self.inner.metrics.pins.set(recursive, direct);
    }

    /// The block source (local or network).
    pub fn fetcher(&self) -> Arc<dyn BlockFetcher> {
        match self.inner.fetcher.read() {
            Ok(f) => f.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the block source (the network installs its Bitswap-backed fetcher here).
    pub fn set_fetcher(&self, fetcher: Arc<dyn BlockFetcher>) {
        match self.inner.fetcher.write() {
            Ok(mut f) => *f = fetcher,
            Err(poisoned) => *poisoned.into_inner() = fetcher,
        }
    }

    /// Whether network actions are possible.
    pub fn is_online(&self) -> bool {
        self.fetcher().is_online()
    }

    /// Identity and version strings.
    pub fn identity(&self) -> &NodeIdentity {
        &self.inner.identity
    }

    /// Metric families.
    pub fn metrics(&self) -> &NodeMetrics {
        &self.inner.metrics
    }

    /// The registry rendered by `/metrics`.
    pub fn registry(&self) -> &Registry {
        &self.inner.registry
    }

    /// Time since the context was created.
    pub fn uptime(&self) -> Duration {
        self.inner.started.elapsed()
    }

    /// Whether the daemon finished starting (every listener bound).
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::Acquire)
    }

    /// Marks the daemon ready (or not, while shutting down); `/health` reports it.
    pub fn set_ready(&self, ready: bool) {
        self.inner.ready.store(ready, Ordering::Release);
    }

    /// Addresses and protocols of the swarm (empty while offline).
    pub fn swarm_info(&self) -> SwarmInfo {
        match self.inner.swarm.read() {
            Ok(info) => info.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Replaces the swarm information (the network calls this as listeners come and go).
    pub fn set_swarm_info(&self, info: SwarmInfo) {
        match self.inner.swarm.write() {
            Ok(mut guard) => *guard = info,
            Err(poisoned) => *poisoned.into_inner() = info,
        }
    }

    /// The libp2p network, if one was installed with [`set_network`](Self::set_network); the
    /// `swarm/*`, `routing/*` and `dht/*` RPC commands answer kubo's offline error without it.
    pub fn network(&self) -> Option<NetworkHandle> {
        match self.inner.network.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Announces new content (added, pinned or imported roots) to the DHT in the background
    /// when online; a no-op offline. Never fails the caller: a full provide queue or a
    /// stopped network is logged, and the reprovider announces pinned roots again later.
    pub async fn announce(&self, cids: Vec<Cid>) {
        let Some(network) = self.network() else {
            return;
        };
        if cids.is_empty() {
            return;
        }
        let wanted = cids.len();
        match network.provide_later(cids).await {
            Ok(accepted) if accepted < wanted => {
                tracing::warn!(
                    wanted,
                    accepted,
                    "provide queue full; the rest waits for the reprovider"
                )
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "cannot queue provider records"),
        }
    }

    /// Installs the running network for the RPC commands that need it (the daemon calls
    /// this once the swarm is up, next to [`set_fetcher`](Self::set_fetcher)).
    pub fn set_network(&self, handle: NetworkHandle) {
        match self.inner.network.write() {
            Ok(mut guard) => *guard = Some(handle),
            Err(poisoned) => *poisoned.into_inner() = Some(handle),
        }
    }

    /// The transcoder behind `/api/v0/track/add`, if the binary installed one with
    /// [`set_track_service`](Self::set_track_service); the command fails clearly without it.
    pub fn track_service(&self) -> Option<Arc<dyn TrackService>> {
        match self.inner.track.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Installs the transcoder (the daemon's worker pool) for `/api/v0/track/add`.
    pub fn set_track_service(&self, service: Arc<dyn TrackService>) {
        match self.inner.track.write() {
            Ok(mut guard) => *guard = Some(service),
            Err(poisoned) => *poisoned.into_inner() = Some(service),
        }
    }
}
