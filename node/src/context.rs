//! The state every HTTP handler shares: stores, block source, identity, metrics, start time.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chorus_storage::Blockstore;
use libp2p::identity::PublicKey;
use libp2p::{Multiaddr, PeerId};
use prometheus_client::registry::Registry;

use crate::fetch::BlockFetcher;
use crate::metrics::NodeMetrics;

/// The version `/api/v0/version` reports by default. Old clients check it against a window
/// (ipfshttpclient 0.7.0 wants 0.4.23 ≤ v < 0.8.0), so the binary makes it configurable.
pub const DEFAULT_REPORTED_VERSION: &str = concat!("chorus-", env!("CARGO_PKG_VERSION"));

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
}

impl NodeIdentity {
    /// An identity with the default version strings.
    pub fn new(public_key: PublicKey, repo_path: PathBuf) -> Self {
        NodeIdentity {
            public_key,
            agent_version: concat!("chorus/", env!("CARGO_PKG_VERSION")).to_owned(),
            reported_version: DEFAULT_REPORTED_VERSION.to_owned(),
            repo_path,
        }
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
    store: Arc<dyn Blockstore>,
    fetcher: Arc<dyn BlockFetcher>,
    identity: NodeIdentity,
    metrics: NodeMetrics,
    registry: Arc<Registry>,
    started: Instant,
    ready: AtomicBool,
    swarm: std::sync::RwLock<SwarmInfo>,
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
    /// Assembles the context. `store` should be the [`crate::MeteredBlockstore`] so writes
    /// through the API are counted; `fetcher` is [`crate::LocalFetcher`] while offline.
    pub fn new(
        store: Arc<dyn Blockstore>,
        fetcher: Arc<dyn BlockFetcher>,
        identity: NodeIdentity,
        metrics: NodeMetrics,
        registry: Arc<Registry>,
    ) -> Self {
        NodeContext {
            inner: Arc::new(Inner {
                store,
                fetcher,
                identity,
                metrics,
                registry,
                started: Instant::now(),
                ready: AtomicBool::new(false),
                swarm: std::sync::RwLock::new(SwarmInfo::default()),
            }),
        }
    }

    /// The block store.
    pub fn store(&self) -> &Arc<dyn Blockstore> {
        &self.inner.store
    }

    /// The block source (local or network).
    pub fn fetcher(&self) -> &Arc<dyn BlockFetcher> {
        &self.inner.fetcher
    }

    /// Whether network actions are possible.
    pub fn is_online(&self) -> bool {
        self.inner.fetcher.is_online()
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
}
