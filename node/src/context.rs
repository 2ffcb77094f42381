//! The state every HTTP handler shares: the core, identity, metrics registry, start time.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chorus_storage::{Blockstore, Repo, StoreError};
use libp2p::PeerId;
use libp2p::identity::PublicKey;
use prometheus_client::registry::Registry;

use crate::core::{Core, CoreBuilder};
use crate::fetch::BlockFetcher;
use crate::metrics::NodeMetrics;
use crate::network::{NetworkHandle, SwarmInfo};
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

/// Shared, cheaply cloneable state of a running node's HTTP faces: the [`Core`] they adapt,
/// and what they report about the node (identity, metrics registry, swarm addresses,
/// readiness).
///
/// Built once, complete, by the daemon after every metric family (ours and libp2p's) has been
/// registered, so the registry can be shared read-only.
#[derive(Clone)]
pub struct NodeContext {
    inner: Arc<Inner>,
}

struct Inner {
    core: Core,
    identity: NodeIdentity,
    registry: Arc<Registry>,
    started: Instant,
    ready: AtomicBool,
    swarm: SwarmInfo,
}

impl NodeContext {
    /// The faces' state over `core`, with the swarm's addresses and protocols as the network
    /// reported them at start-up (empty offline).
    pub fn from_core(
        core: Core,
        identity: NodeIdentity,
        registry: Arc<Registry>,
        swarm: SwarmInfo,
    ) -> Self {
        NodeContext {
            inner: Arc::new(Inner {
                core,
                identity,
                registry,
                started: Instant::now(),
                ready: AtomicBool::new(false),
                swarm,
            }),
        }
    }

    /// An offline context over `repo` (the local store only, no transcoder): a [`Core`] built
    /// with nothing but the store, for tools and tests.
    pub fn new(
        repo: impl Repo,
        identity: NodeIdentity,
        metrics: NodeMetrics,
        registry: Arc<Registry>,
    ) -> Result<Self, StoreError> {
        let core = CoreBuilder::new(repo, metrics)?.build();
        Ok(Self::from_core(
            core,
            identity,
            registry,
            SwarmInfo::default(),
        ))
    }

    /// The core every command runs on.
    pub fn core(&self) -> &Core {
        &self.inner.core
    }

    /// The repository (pins, GC, sessions).
    pub fn repo(&self) -> &dyn Repo {
        self.inner.core.repo()
    }

    /// The metered block store for reads and unprotected writes.
    pub fn store(&self) -> Arc<dyn Blockstore> {
        self.inner.core.store()
    }

    /// The block source (local or network).
    pub fn fetcher(&self) -> Arc<dyn BlockFetcher> {
        self.inner.core.fetcher()
    }

    /// Whether network actions are possible.
    pub fn is_online(&self) -> bool {
        self.inner.core.is_online()
    }

    /// Identity and version strings.
    pub fn identity(&self) -> &NodeIdentity {
        &self.inner.identity
    }

    /// Metric families.
    pub fn metrics(&self) -> &NodeMetrics {
        self.inner.core.metrics()
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
        self.inner.swarm.clone()
    }

    /// The libp2p network; the `swarm/*`, `routing/*` and `dht/*` RPC commands answer kubo's
    /// offline error without it.
    pub fn network(&self) -> Option<NetworkHandle> {
        self.inner.core.network().cloned()
    }

    /// The transcoder behind `/api/v0/track/add`; the command fails clearly without it.
    pub fn track_service(&self) -> Option<Arc<dyn TrackService>> {
        self.inner.core.track_service()
    }
}
