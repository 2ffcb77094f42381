//! Configuration of the network actor and the documented defaults of its bounds.

use std::time::Duration;

use libp2p::Multiaddr;

use super::autonat::AutonatConfig;
use super::metrics::NetworkMetrics;
use super::reprovide::ReprovideConfig;

/// TCP listen address of kubo's default `Addresses.Swarm`.
pub const DEFAULT_TCP_LISTEN: &str = "/ip4/0.0.0.0/tcp/4001";

/// QUIC-v1 listen address of kubo's default `Addresses.Swarm`.
pub const DEFAULT_QUIC_LISTEN: &str = "/ip4/0.0.0.0/udp/4001/quic-v1";

/// How long a fetch may wait for the network: kubo's `Gateway.RetrievalTimeout` (30 s).
pub const DEFAULT_FETCH_TIMEOUT: Duration = Duration::from_secs(30);

/// Commands queued to the actor before senders wait: our own bound, enough for a gateway
/// burst of prefetches (a UnixFS node has at most 174 links) without unbounded growth.
pub const DEFAULT_COMMAND_CAPACITY: usize = 1024;

/// Blockstore lookups answering peers' wants that run at once. Our own bound: two per core
/// on a small (4-core) machine keeps the blocking pool responsive for the gateway.
pub const DEFAULT_MAX_CONCURRENT_LOOKUPS: usize = 8;

/// Established connections in total: kubo's `Swarm.ConnMgr.HighWater` (96) with head room
/// for the DHT's short-lived query connections.
pub const DEFAULT_MAX_CONNECTIONS: u32 = 512;

/// Established connections per peer: one per transport plus a simultaneous-dial duplicate.
pub const DEFAULT_MAX_CONNECTIONS_PER_PEER: u32 = 4;

/// Connections still in their handshake: go-libp2p's resource manager allows 64 inbound
/// connections in that state by default; we take the same number per direction.
pub const DEFAULT_MAX_PENDING_CONNECTIONS: u32 = 64;

/// How long a connection no protocol uses stays open: kubo's connection manager grace
/// period (20 s) is for trimming above its high water; below it kubo keeps connections,
/// so we keep idle ones for ten minutes (our own number).
pub const DEFAULT_IDLE_CONNECTION_TIMEOUT: Duration = Duration::from_secs(600);

/// CIDs waiting in the background provide queue: as many as one DHT's store may provide
/// ([`MAX_PROVIDED_KEYS`](super::MAX_PROVIDED_KEYS)).
pub const DEFAULT_PROVIDE_QUEUE_CAPACITY: usize = 65_536;

/// Events buffered per subscriber of [`NetworkHandle::subscribe`](super::NetworkHandle::subscribe)
/// before the slowest one starts missing events (it is told how many).
pub const DEFAULT_EVENT_CAPACITY: usize = 256;

/// Who serves the DHT: kubo's `Routing.Type` reduced to what a Kademlia node decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KadMode {
    /// Public DHT: server while an announced address is public, client otherwise (kubo's
    /// `auto`/`dht` decide by AutoNAT reachability). The LAN DHT always serves.
    #[default]
    Auto,
    /// Only query, never answer (kubo's `dhtclient`).
    Client,
    /// Answer queries from the start (kubo's `dhtserver`). Loopback networks need this: no
    /// external address is ever confirmed there.
    Server,
    /// No DHT at all (kubo's `none`): neither Kademlia instance runs, so nothing is queried,
    /// answered or announced; content moves only over Bitswap between connected peers.
    Disabled,
}

/// Configuration of the network; see the constants for where each default comes from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct NetworkConfig {
    /// Addresses to listen on (port 0 picks a free port).
    pub listen: Vec<Multiaddr>,
    /// Peers dialed and added to the DHT at start; each address must end in `/p2p/<id>`.
    /// Empty by default: the default configuration dials nobody.
    pub bootstrap: Vec<Multiaddr>,
    /// Peers kept connected and redialed with backoff when lost (kubo's `Peering.Peers`);
    /// each address must end in `/p2p/<id>`. Empty by default.
    pub peering: Vec<Multiaddr>,
    /// First redial delay of a lost peering peer (see
    /// [`DEFAULT_PEERING_INITIAL_BACKOFF`](super::peering::DEFAULT_PEERING_INITIAL_BACKOFF)).
    pub peering_backoff: Duration,
    /// See [`KadMode`].
    pub kad_mode: KadMode,
    /// Addresses announced to peers (identify, provider records), as kubo's
    /// `Addresses.Announce`: when empty (the default), every listen address is announced.
    pub announce: Vec<Multiaddr>,
    /// Also run kubo's LAN DHT (`/ipfs/lan/kad/1.0.0`), which is the only DHT kubo serves to
    /// peers on private and loopback addresses (default: on).
    pub lan_dht: bool,
    /// See [`DEFAULT_FETCH_TIMEOUT`].
    pub fetch_timeout: Duration,
    /// See [`DEFAULT_COMMAND_CAPACITY`].
    pub command_capacity: usize,
    /// See [`DEFAULT_MAX_CONCURRENT_LOOKUPS`].
    pub max_concurrent_lookups: usize,
    /// See [`DEFAULT_PROVIDE_QUEUE_CAPACITY`].
    pub provide_queue_capacity: usize,
    /// Where the provide queue persists (a sled database directory, e.g.
    /// `<repo>/provide-queue`), so a restart resumes unfinished announcements; `None` (the
    /// default) keeps it in memory.
    pub provide_queue_dir: Option<std::path::PathBuf>,
    /// See [`DEFAULT_MAX_CONNECTIONS`].
    pub max_connections: u32,
    /// See [`DEFAULT_MAX_CONNECTIONS_PER_PEER`].
    pub max_connections_per_peer: u32,
    /// See [`DEFAULT_MAX_PENDING_CONNECTIONS`].
    pub max_pending_connections: u32,
    /// See [`DEFAULT_IDLE_CONNECTION_TIMEOUT`].
    pub idle_connection_timeout: Duration,
    /// The identify agent version (default `chorus/<version>`).
    pub agent_version: String,
    /// Where to count (default: nowhere).
    pub metrics: Option<NetworkMetrics>,
    /// The reprovider: interval (default 22 h), strategy (default `all`), pins.
    pub reprovide: ReprovideConfig,
    /// AutoNAT client and server (default: on, global addresses only).
    pub autonat: AutonatConfig,
    /// The replication protocol and where its requests go (default: off).
    pub replication: Option<super::replication_wire::ReplicationWire>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            listen: vec![
                DEFAULT_TCP_LISTEN
                    .parse()
                    .unwrap_or_else(|_| Multiaddr::empty()),
                DEFAULT_QUIC_LISTEN
                    .parse()
                    .unwrap_or_else(|_| Multiaddr::empty()),
            ],
            bootstrap: Vec::new(),
            peering: Vec::new(),
            peering_backoff: super::peering::DEFAULT_PEERING_INITIAL_BACKOFF,
            kad_mode: KadMode::Auto,
            announce: Vec::new(),
            lan_dht: true,
            fetch_timeout: DEFAULT_FETCH_TIMEOUT,
            command_capacity: DEFAULT_COMMAND_CAPACITY,
            max_concurrent_lookups: DEFAULT_MAX_CONCURRENT_LOOKUPS,
            provide_queue_capacity: DEFAULT_PROVIDE_QUEUE_CAPACITY,
            provide_queue_dir: None,
            max_connections: DEFAULT_MAX_CONNECTIONS,
            max_connections_per_peer: DEFAULT_MAX_CONNECTIONS_PER_PEER,
            max_pending_connections: DEFAULT_MAX_PENDING_CONNECTIONS,
            idle_connection_timeout: DEFAULT_IDLE_CONNECTION_TIMEOUT,
            agent_version: concat!("chorus/", env!("CARGO_PKG_VERSION")).to_owned(),
            metrics: None,
            reprovide: ReprovideConfig::default(),
            autonat: AutonatConfig::default(),
            replication: None,
        }
    }
}

impl NetworkConfig {
    /// Speaks `/chorus/replicate/1.0.0`, handing inbound requests to `wire.inbound`.
    pub fn with_replication(mut self, wire: super::replication_wire::ReplicationWire) -> Self {
        self.replication = Some(wire);
        self
    }

    /// Listens on `addrs` instead of the defaults.
    pub fn with_listen(mut self, addrs: Vec<Multiaddr>) -> Self {
        self.listen = addrs;
        self
    }

    /// Dials and adds `addrs` (each ending in `/p2p/<id>`) to the DHT at start.
    pub fn with_bootstrap(mut self, addrs: Vec<Multiaddr>) -> Self {
        self.bootstrap = addrs;
        self
    }

    /// Keeps `addrs` (each ending in `/p2p/<id>`) connected, redialing after `backoff`
    /// (doubling up to ten minutes) when a connection is lost.
    pub fn with_peering(mut self, addrs: Vec<Multiaddr>, backoff: Duration) -> Self {
        self.peering = addrs;
        self.peering_backoff = backoff;
        self
    }

    /// Sets the DHT mode.
    pub fn with_kad_mode(mut self, mode: KadMode) -> Self {
        self.kad_mode = mode;
        self
    }

    /// Announces only `addrs` instead of the listen addresses.
    pub fn with_announce(mut self, addrs: Vec<Multiaddr>) -> Self {
        self.announce = addrs;
        self
    }

    /// Runs the LAN DHT too, or not.
    pub fn with_lan_dht(mut self, on: bool) -> Self {
        self.lan_dht = on;
        self
    }

    /// Sets how long a fetch waits for the network.
    pub fn with_fetch_timeout(mut self, timeout: Duration) -> Self {
        self.fetch_timeout = timeout;
        self
    }

    /// Sets the command queue bound.
    pub fn with_command_capacity(mut self, n: usize) -> Self {
        self.command_capacity = n;
        self
    }

    /// Sets how many blockstore lookups for peers run at once.
    pub fn with_max_concurrent_lookups(mut self, n: usize) -> Self {
        self.max_concurrent_lookups = n;
        self
    }

    /// Sets how many CIDs the background provide queue holds.
    pub fn with_provide_queue_capacity(mut self, n: usize) -> Self {
        self.provide_queue_capacity = n;
        self
    }

    /// Persists the provide queue in the sled database at `dir`.
    pub fn with_provide_queue_dir(mut self, dir: impl Into<std::path::PathBuf>) -> Self {
        self.provide_queue_dir = Some(dir.into());
        self
    }

    /// Sets the connection limits: in total, per peer, and pending per direction.
    pub fn with_connection_limits(mut self, total: u32, per_peer: u32, pending: u32) -> Self {
        self.max_connections = total;
        self.max_connections_per_peer = per_peer;
        self.max_pending_connections = pending;
        self
    }

    /// Sets how long unused connections stay open.
    pub fn with_idle_connection_timeout(mut self, timeout: Duration) -> Self {
        self.idle_connection_timeout = timeout;
        self
    }

    /// Counts into `metrics` (see [`NetworkMetrics::register`]).
    pub fn with_metrics(mut self, metrics: NetworkMetrics) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Sets up AutoNAT (see [`AutonatConfig`]).
    pub fn with_autonat(mut self, autonat: AutonatConfig) -> Self {
        self.autonat = autonat;
        self
    }

    /// Reprovides as `reprovide` says (see [`ReprovideConfig`]; its state lives in the
    /// provide queue's database, so set [`with_provide_queue_dir`](Self::with_provide_queue_dir)
    /// for cycles that survive a restart).
    pub fn with_reprovide(mut self, reprovide: ReprovideConfig) -> Self {
        self.reprovide = reprovide;
        self
    }

    /// Gives the reprovider the pin set its `pinned` and `roots` strategies read.
    pub fn with_reprovide_pins(mut self, pins: chorus_storage::Pins) -> Self {
        self.reprovide.pins = Some(pins);
        self
    }

    /// Sets the identify agent version.
    pub fn with_agent_version(mut self, agent: impl Into<String>) -> Self {
        self.agent_version = agent.into();
        self
    }

    /// A configuration for tests and local clusters: TCP and QUIC on `127.0.0.1` with free
    /// ports, DHT in server mode, nobody dialed.
    pub fn loopback() -> Self {
        let listen = ["/ip4/127.0.0.1/tcp/0", "/ip4/127.0.0.1/udp/0/quic-v1"]
            .iter()
            .filter_map(|a| a.parse().ok())
            .collect();
        NetworkConfig::default()
            .with_listen(listen)
            .with_kad_mode(KadMode::Server)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_configuration_dials_nobody_and_listens_like_kubo() {
        let c = NetworkConfig::default();
        assert!(c.bootstrap.is_empty());
        assert!(c.peering.is_empty());
        let listen: Vec<String> = c.listen.iter().map(|a| a.to_string()).collect();
        assert_eq!(listen, vec![DEFAULT_TCP_LISTEN, DEFAULT_QUIC_LISTEN]);
        assert_eq!(c.kad_mode, KadMode::Auto);
        assert!(c.agent_version.starts_with("chorus/"));
    }

    #[test]
    fn loopback_stays_on_127_0_0_1() {
        let c = NetworkConfig::loopback();
        assert_eq!(c.kad_mode, KadMode::Server);
        assert!(c.bootstrap.is_empty());
        assert!(
            c.listen
                .iter()
                .all(|a| a.to_string().starts_with("/ip4/127.0.0.1/"))
        );
    }
}
