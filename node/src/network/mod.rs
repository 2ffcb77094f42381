//! The IPFS peer: one actor task owns the libp2p `Swarm` (TCP + QUIC-v1, noise, yamux,
//! identify with agent `chorus/<version>`, ping, Kademlia on `/ipfs/kad/1.0.0` and kubo's
//! LAN DHT `/ipfs/lan/kad/1.0.0`, connection limits, Bitswap) and everything else talks to
//! it through a cloneable [`NetworkHandle`] (bounded command queue, oneshot replies).
//!
//! - [`config`]: [`NetworkConfig`] and the documented defaults. The default dials nobody.
//! - `behaviour`: the composed libp2p behaviour.
//! - `actor`: the swarm task. Serves peers' wants from the blockstore on the blocking pool
//!   with bounded concurrency; runs the fetch session (WANT_HAVE to connected peers,
//!   WANT_BLOCK to those that have it, DHT provider lookups keyed by multihash when nobody
//!   does, dialing the providers found; timeout; CANCEL when the last caller drops); stores
//!   fetched blocks; provides (now, or through a bounded background queue) and finds
//!   providers and peers; keeps [`peering`] peers connected.
//! - [`reprovide`]: the keyspace-sweeping reprovider (strategy `all | pinned | roots`, every
//!   22 h by default), resumable across restarts.
//! - [`autonat`]: AutoNAT v1 client and server; its verdict drives the DHT mode.
//! - [`bandwidth`]: every connection's streams metered (TCP and QUIC), in total, per peer
//!   and per protocol, for `stats/bw` and Prometheus.
//! - [`NetworkHandle`]: commands and [`NetworkEvent`]s; [`BitswapFetcher`]: the gateway's
//!   block source (local store first); [`NetworkMetrics`]: Prometheus families.
//!
//! Wiring, as the daemon does it:
//! ```no_run
//! # async fn demo(keypair: libp2p::identity::Keypair, repo: chorus_storage::SledStore,
//! #     identity: chorus_node::NodeIdentity) -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use chorus_node::network::{Network, NetworkConfig, NetworkMetrics};
//! use chorus_node::core::CoreBuilder;
//! use chorus_node::{NodeContext, NodeMetrics};
//! let mut registry = prometheus_client::registry::Registry::default();
//! let node_metrics = NodeMetrics::register(&mut registry);
//! let net_metrics = NetworkMetrics::register(&mut registry);
//! let core = CoreBuilder::new(repo, node_metrics)?;
//! let config = NetworkConfig::default().with_metrics(net_metrics);
//! let network = Network::start(keypair, core.store(), config).await?;
//! let swarm = network.handle().swarm_info().await?;
//! let core = core.network(Arc::new(network.fetcher()), network.handle()).build();
//! let ctx = NodeContext::from_core(core, identity, Arc::new(registry), swarm);
//! // ... serve; the core announces what its writers commit ...
//! network.shutdown().await;
//! # Ok(()) }
//! ```

mod actor;
pub mod autonat;
pub mod bandwidth;
mod behaviour;
pub mod config;
mod error;
mod event;
mod fetcher;
mod handle;
mod kad_wire;
mod metrics;
pub mod peering;
mod prefetch_pump;
mod provide_queue;
pub mod replication_wire;
pub mod reprovide;
mod serve;

use std::sync::Arc;

use chorus_storage::Blockstore;
use libp2p::core::{Transport, muxing::StreamMuxerBox, transport::Boxed, upgrade::Version};
use libp2p::{Multiaddr, PeerId, identity::Keypair, multiaddr::Protocol, noise, quic, tcp, yamux};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

pub use autonat::{AutonatConfig, NatStatus, ProbeOutcome};
pub use bandwidth::{Bandwidth, BandwidthStats};
pub use behaviour::{IDENTIFY_PROTOCOL_VERSION, MAX_PROVIDED_KEYS};
pub use config::{DEFAULT_EVENT_CAPACITY, KadMode, NetworkConfig};
pub use error::{CommandError, StartError};
pub use event::NetworkEvent;
pub use fetcher::{BitswapFetcher, MAX_PREFETCHES};
pub use handle::{ConnectedPeer, NetworkHandle, SwarmInfo};
pub use kad_wire::{KAD_PROTOCOL, LAN_KAD_PROTOCOL};
pub use metrics::NetworkMetrics;
pub use provide_queue::QueueOpenError;
pub use reprovide::{ReprovideConfig, ReprovideStatus, ReprovideStrategy};

use actor::{Actor, ActorParts};
use behaviour::ChorusBehaviour;

/// A running network: the actor task and a handle to it.
///
/// Dropping it does not stop the actor while handles or fetchers remain; call
/// [`shutdown`](Self::shutdown).
pub struct Network {
    handle: NetworkHandle,
    /// The node's one fetcher: every clone shares its prefetch slots.
    fetcher: BitswapFetcher,
    task: JoinHandle<()>,
    reprovider: Option<JoinHandle<()>>,
    reprovide_status: watch::Receiver<ReprovideStatus>,
    /// Samples the bandwidth rates every [`bandwidth::SAMPLE_INTERVAL`].
    sampler: JoinHandle<()>,
}

impl Network {
    /// Builds the swarm for `keypair` (the repository's identity), binds every listen
    /// address of `config`, dials the bootstrap peers and spawns the actor on the current
    /// tokio runtime. Returns once every listener has bound (or failed; it is an error only
    /// if none bound). `store` serves peers' wants and receives fetched blocks.
    pub async fn start(
        keypair: Keypair,
        store: Arc<dyn Blockstore>,
        config: NetworkConfig,
    ) -> Result<Network, StartError> {
        let peer_id = keypair.public().to_peer_id();
        let behaviour = ChorusBehaviour::new(&keypair, &config);
        let stream_control = behaviour.stream.new_control();
        let idle = config.idle_connection_timeout;
        let bandwidth = config
            .metrics
            .as_ref()
            .map_or_else(|| Arc::new(Bandwidth::new()), |m| m.bandwidth.clone());
        let meter = bandwidth.clone();
        let mut swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
            .with_tokio()
            .with_other_transport(|key| {
                metered_transport(key, meter).map_err(|e| Box::new(e) as Box<_>)
            })
            .map_err(|e| StartError::Transport(e.to_string()))?
            .with_dns()
            .map_err(|e| StartError::Transport(e.to_string()))?
            .with_behaviour(|_| behaviour)
            .map_err(|e| StartError::Transport(e.to_string()))?
            .with_swarm_config(|c| c.with_idle_connection_timeout(idle))
            .build();

        let mut listeners = Vec::new();
        for addr in &config.listen {
            let id = swarm
                .listen_on(addr.clone())
                .map_err(|e| StartError::Listen {
                    addr: addr.clone(),
                    reason: e.to_string(),
                })?;
            listeners.push(id);
        }

        let mut bootstrap = Vec::new();
        for addr in &config.bootstrap {
            let Some(Protocol::P2p(peer)) = addr.iter().last() else {
                return Err(StartError::BootstrapAddress { addr: addr.clone() });
            };
            bootstrap.push((peer, addr.clone()));
        }
        for (peer, addr) in &bootstrap {
            let mut dial_addr = addr.clone();
            dial_addr.pop();
            if let Some(kad) = swarm.behaviour_mut().kad.as_mut() {
                kad.add_address(peer, dial_addr);
            }
            if let Err(e) = swarm.dial(addr.clone()) {
                tracing::warn!(%addr, error = %e, "cannot dial bootstrap peer");
            }
        }
        if !bootstrap.is_empty()
            && let Some(kad) = swarm.behaviour_mut().kad.as_mut()
            && let Err(e) = kad.bootstrap()
        {
            tracing::warn!(error = ?e, "DHT bootstrap not started");
        }

        let mut peering = Vec::new();
        for addr in &config.peering {
            let mut dial_addr = addr.clone();
            let Some(Protocol::P2p(peer)) = dial_addr.pop() else {
                return Err(StartError::PeeringAddress { addr: addr.clone() });
            };
            peering.push((peer, dial_addr));
        }
        let peering = peering::Peering::new(
            peering,
            config.peering_backoff,
            peering::DEFAULT_PEERING_MAX_BACKOFF,
        );

        let queue = match &config.provide_queue_dir {
            Some(dir) => provide_queue::ProvideQueue::open(dir, config.provide_queue_capacity)
                .map_err(StartError::ProvideQueue)?,
            None => provide_queue::ProvideQueue::in_memory(config.provide_queue_capacity),
        };

        // The reprovider keeps its state in the provide queue's database (a temporary one
        // when the queue is in memory: still on disk, so a large work list costs no RAM).
        let (reprovide_tx, reprovide_rx) = mpsc::channel(reprovide::ACTOR_REQUEST_CAPACITY);
        let (status_tx, reprovide_status) = watch::channel(reprovide::initial_status());
        let reprovide_db = match (config.reprovide.interval, queue.db()) {
            (None, _) => None,
            (Some(_), Some(db)) => Some(db),
            (Some(_), None) => match sled::Config::new().temporary(true).open() {
                Ok(db) => Some(db),
                Err(e) => {
                    tracing::warn!(error = %e, "reprovider disabled: no state database");
                    None
                }
            },
        };
        // Its work list is a file beside the queue's database, or in a temporary directory
        // (removed when the reprovider stops) when the queue is in memory.
        let reprovide_work = match &config.provide_queue_dir {
            Some(dir) => Ok((dir.join(reprovide::WORK_DIR), None)),
            None => tempfile::tempdir().map(|t| (t.path().to_path_buf(), Some(t))),
        };
        let reprovide_db = match reprovide_work {
            Ok(work) => reprovide_db.map(|db| (db, work)),
            Err(e) => {
                tracing::warn!(error = %e, "reprovider disabled: no directory for its work list");
                None
            }
        };
        let reprovider = reprovide_db.map(|(db, (work_dir, work_tmp))| reprovide::Reprovider {
            config: config.reprovide.clone(),
            store: store.clone(),
            db,
            work_dir,
            _work_tmp: work_tmp,
            actor: reprovide_tx,
            control: stream_control,
            local: peer_id,
            metrics: config.metrics.clone(),
            status: status_tx,
        });

        let (tx, commands) = mpsc::channel(config.command_capacity.max(1));
        let (events, _) = broadcast::channel(DEFAULT_EVENT_CAPACITY);
        let (ready, ready_rx) = oneshot::channel();
        let actor = Actor::new(ActorParts {
            swarm,
            store: store.clone(),
            commands,
            events: events.clone(),
            fetch_timeout: config.fetch_timeout,
            max_lookups: config.max_concurrent_lookups,
            kad_mode: config.kad_mode,
            announce: config.announce.clone(),
            metrics: config.metrics.clone(),
            peering,
            queue,
            listeners,
            ready,
            reprovide: reprovide_rx,
            replication: config.replication.as_ref().map(|r| r.inbound.clone()),
        });
        let task = tokio::spawn(actor.run());
        let sampler = tokio::spawn(sample_bandwidth(Arc::downgrade(&bandwidth)));
        let handle = NetworkHandle::new(tx, events, peer_id, bandwidth);
        match ready_rx.await {
            Ok(Ok(())) => Ok(Network {
                fetcher: BitswapFetcher::with_gauges(
                    store,
                    handle.clone(),
                    config
                        .metrics
                        .as_ref()
                        .map(NetworkMetrics::prefetch_gauges)
                        .unwrap_or_default(),
                ),
                handle,
                task,
                reprovider: reprovider.map(|r| tokio::spawn(r.run())),
                reprovide_status,
                sampler,
            }),
            Ok(Err(e)) => {
                sampler.abort();
                handle.shutdown().await;
                Err(e)
            }
            Err(_) => Err(StartError::NoListener(
                "the network task ended while binding".to_owned(),
            )),
        }
    }

    /// A handle for commands.
    pub fn handle(&self) -> NetworkHandle {
        self.handle.clone()
    }

    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.handle.peer_id()
    }

    /// A block source reading the local store first, then the network; for
    /// [`CoreBuilder::network`](crate::core::CoreBuilder::network). Every call returns the
    /// same fetcher (clones sharing the node's prefetch slots).
    pub fn fetcher(&self) -> BitswapFetcher {
        self.fetcher.clone()
    }

    /// The addresses the node listens on, each with `/p2p/<id>` appended (to give to peers).
    pub async fn dial_addrs(&self) -> Result<Vec<Multiaddr>, CommandError> {
        let peer = self.peer_id();
        Ok(self
            .handle
            .listen_addrs()
            .await?
            .into_iter()
            .map(|a| a.with(Protocol::P2p(peer)))
            .collect())
    }

    /// The reprovider's progress, updated as it goes (initial values forever when
    /// reproviding is disabled).
    pub fn reprovide_status(&self) -> watch::Receiver<ReprovideStatus> {
        self.reprovide_status.clone()
    }

    /// Stops the reprovider (its progress is saved after every run of keys) and the actor,
    /// and waits for both tasks to end (connections are closed as the swarm is dropped).
    pub async fn shutdown(self) {
        self.sampler.abort();
        if let Some(r) = self.reprovider {
            r.abort();
            // Wait until the task dropped its handles to the state database.
            let _ = r.await;
        }
        self.handle.shutdown().await;
        if let Err(e) = self.task.await {
            tracing::warn!(error = %e, "network task ended abnormally");
        }
    }
}

/// TCP (noise + yamux, as the swarm builder's `with_tcp` sets it up) and QUIC-v1, with every
/// connection's muxer wrapped by `meter` so `stats/bw` sees all streams.
fn metered_transport(
    key: &Keypair,
    meter: Arc<Bandwidth>,
) -> Result<Boxed<(PeerId, StreamMuxerBox)>, noise::Error> {
    let tcp_meter = meter.clone();
    let tcp = tcp::tokio::Transport::new(tcp::Config::default().nodelay(true))
        .upgrade(Version::V1Lazy)
        .authenticate(noise::Config::new(key)?)
        .multiplex(yamux_config())
        .map(move |(peer, muxer), _| (peer, StreamMuxerBox::new(tcp_meter.wrap(peer, muxer))));
    let quic = quic::tokio::Transport::new(quic::Config::new(key))
        .map(move |(peer, conn), _| (peer, StreamMuxerBox::new(meter.wrap(peer, conn))));
    Ok(quic
        .or_transport(tcp)
        .map(|either, _| either.into_inner())
        .boxed())
}

/// Streams per yamux connection, chosen to cap each stream's receive window at 1 MiB.
///
/// rust-yamux grows a stream's window (from 256 KiB, doubling) up to the connection budget
/// (1 GiB, not configurable through libp2p-yamux) minus 256 KiB per allowed stream, but
/// rejects any frame over 1 MiB (`FrameTooLarge`, closing the connection), while js-yamux
/// (Helia) sends frames as large as the window it was granted: a window past 1 MiB killed
/// Helia -> chorus transfers of tens of MB. With 4093 streams the budget left over is
/// 768 KiB, so a stream tops out at 256 + 256 + 512 KiB = 1 MiB; the worst case buffered per
/// connection stays the 1 GiB it was. On loopback 1 MiB is far above the bandwidth-delay
/// product, so throughput is unchanged (see scripts/bench-network.sh).
const YAMUX_MAX_STREAMS: usize = 4093;

/// The yamux settings of every TCP connection: defaults but [`YAMUX_MAX_STREAMS`].
fn yamux_config() -> yamux::Config {
    let mut config = yamux::Config::default();
    config.set_max_num_streams(YAMUX_MAX_STREAMS);
    config
}

/// Updates the bandwidth rates every [`bandwidth::SAMPLE_INTERVAL`] while the meter exists.
async fn sample_bandwidth(meter: std::sync::Weak<Bandwidth>) {
    let mut tick = tokio::time::interval(bandwidth::SAMPLE_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(meter) = meter.upgrade() else {
            return;
        };
        meter.sample(std::time::Instant::now());
    }
}
