//! The network actor: the one task that owns the libp2p `Swarm`. It routes swarm events and
//! [`Command`]s to the part of the node each concerns; every part owns its state in its own
//! module:
//! - [`fetching`]: the protocol's Bitswap client (fetches, wants, sessions) and storing what
//!   arrives;
//! - [`serving`]: answering peers' wants from the store with bounded concurrency;
//! - [`dht`]: provider and peer lookups on both Kademlia instances, inbound records, the
//!   reprovider's routing requests;
//! - [`providing`]: announcements, from callers and from the persistent background queue;
//! - [`connections`]: dials, the connection table, listeners and start-up, peering, identify;
//! - [`reachability`]: AutoNAT's verdict and the public DHT's client/server mode.

mod connections;
mod dht;
mod fetching;
mod providing;
mod reachability;
mod replicating;
mod serving;

use std::sync::Arc;
use std::time::{Duration, Instant};

use chorus_storage::Blockstore;
use futures::StreamExt;
use libp2p::{Multiaddr, Swarm, core::transport::ListenerId, swarm::SwarmEvent};
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::{info, trace, warn};

use super::behaviour::{ChorusBehaviour, ChorusBehaviourEvent};
use super::config::KadMode;
use super::error::StartError;
use super::event::NetworkEvent;
use super::handle::Command;
use super::metrics::NetworkMetrics;
use super::peering::Peering;
use super::provide_queue::ProvideQueue;
use super::reprovide::ActorRequest;

/// How often the fetch session is advanced (retries, provider searches, timeouts) and
/// abandoned fetches are swept: the session's documented cadence (every second).
const SESSION_TICK: Duration = Duration::from_secs(1);

/// The actor's state: the swarm, the channels, and one part per concern.
pub(crate) struct Actor {
    swarm: Swarm<ChorusBehaviour>,
    store: Arc<dyn Blockstore>,
    commands: mpsc::Receiver<Command>,
    events: broadcast::Sender<NetworkEvent>,
    protocols: Vec<String>,
    metrics: Option<NetworkMetrics>,
    fetching: fetching::Fetching,
    serving: serving::Serving,
    dht: dht::DhtQueries,
    providing: providing::Providing,
    connections: connections::Connections,
    reachability: reachability::Reachability,
    replicating: replicating::Replicating,
    /// The reprovider's requests (see [`ActorRequest`]); closed when it does not run.
    reprovide: mpsc::Receiver<ActorRequest>,
    reprovide_open: bool,
}

/// What the actor is built from.
pub(crate) struct ActorParts {
    pub(crate) swarm: Swarm<ChorusBehaviour>,
    pub(crate) store: Arc<dyn Blockstore>,
    pub(crate) commands: mpsc::Receiver<Command>,
    pub(crate) events: broadcast::Sender<NetworkEvent>,
    pub(crate) fetch_timeout: Duration,
    pub(crate) max_lookups: usize,
    pub(crate) kad_mode: KadMode,
    pub(crate) announce: Vec<Multiaddr>,
    pub(crate) metrics: Option<NetworkMetrics>,
    pub(crate) peering: Peering,
    pub(crate) queue: ProvideQueue,
    pub(crate) listeners: Vec<ListenerId>,
    pub(crate) ready: oneshot::Sender<Result<(), StartError>>,
    pub(crate) reprovide: mpsc::Receiver<ActorRequest>,
    pub(crate) replication: Option<mpsc::Sender<super::replication_wire::InboundRequest>>,
}

impl Actor {
    pub(crate) fn new(parts: ActorParts) -> Self {
        let protocols = parts.swarm.behaviour().protocols();
        let mut actor = Actor {
            swarm: parts.swarm,
            store: parts.store,
            commands: parts.commands,
            events: parts.events,
            protocols,
            metrics: parts.metrics,
            fetching: fetching::Fetching::new(parts.fetch_timeout),
            serving: serving::Serving::new(parts.max_lookups),
            dht: dht::DhtQueries::default(),
            providing: providing::Providing::new(parts.queue),
            connections: connections::Connections::new(
                parts.peering,
                parts.announce.is_empty(),
                parts.listeners,
                parts.ready,
            ),
            reachability: reachability::Reachability::new(parts.kad_mode),
            replicating: replicating::Replicating::new(parts.replication),
            reprovide: parts.reprovide,
            reprovide_open: true,
        };
        for addr in parts.announce {
            actor.swarm.add_external_address(addr);
        }
        actor.update_wan_mode();
        actor.dial_peering(false);
        actor.check_startup();
        actor
    }

    /// Runs until [`Command::Shutdown`] or until every handle is dropped.
    pub(crate) async fn run(mut self) {
        let mut tick = tokio::time::interval(SESSION_TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                command = self.commands.recv() => match command {
                    None | Some(Command::Shutdown) => break,
                    Some(command) => self.on_command(command),
                },
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                request = self.reprovide.recv(), if self.reprovide_open => match request {
                    Some(request) => self.on_reprovide(request),
                    None => self.reprovide_open = false,
                },
                Some(done) = self.serving.lookups.join_next(), if !self.serving.lookups.is_empty() => {
                    match done {
                        Ok((task, answer)) => self.answer(task, answer),
                        Err(e) => warn!(error = %e, "blockstore lookup task failed"),
                    }
                    self.pump_lookups();
                }
                Some(done) = self.fetching.stores.join_next(), if !self.fetching.stores.is_empty() => {
                    match done {
                        Ok(stored) => self.on_stored(stored),
                        Err(e) => warn!(error = %e, "block store task failed"),
                    }
                }
                Some(done) = self.fetching.rereads.join_next(), if !self.fetching.rereads.is_empty() => {
                    match done {
                        Ok((cid, block)) => self.on_reread(cid, block),
                        Err(e) => warn!(error = %e, "block reread task failed"),
                    }
                }
                _ = tick.tick() => {
                    let steps = self.fetching.client.tick(Instant::now());
                    self.apply(steps);
                    self.sweep_abandoned();
                    self.dial_peering(true);
                }
            }
            if let Some(m) = &self.metrics {
                let gauge = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
                m.peers.set(gauge(self.connections.peer_count()));
                m.fetches_in_flight
                    .set(gauge(self.fetching.client.in_flight()));
                m.provide_queue.set(gauge(self.providing.queue.len()));
            }
        }
        self.providing.queue.flush();
        info!("network stopped");
        // Pending replies are dropped here: callers see the network as stopped.
    }

    fn emit(&self, event: NetworkEvent) {
        // No subscriber is not an error.
        let _ = self.events.send(event);
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::SwarmInfo { reply } => {
                let _ = reply.send(self.swarm_info());
            }
            Command::Connect { addr, reply } => self.connect(addr, reply),
            Command::Disconnect { peer, reply } => self.disconnect(peer, reply),
            Command::Peers { reply } => {
                let _ = reply.send(self.connections.peers());
            }
            Command::FindProviders { cid, limit, reply } => self.find_providers(cid, limit, reply),
            Command::Provide { cid, reply } => self.provide_for(cid, reply),
            Command::ProvideLater { cids, reply } => self.provide_later(cids, reply),
            Command::FindPeer { peer, reply } => self.find_peer(peer, reply),
            Command::Fetch { cid, reply } => self.fetch(cid, reply),
            Command::Release { cid } => self.release(&cid),
            Command::ReplicationRequest {
                peer,
                request,
                reply,
            } => self.replication_request(peer, request, reply),
            Command::ReplicationRespond { channel, response } => {
                self.replication_respond(channel, response)
            }
            Command::Wantlist { peer, reply } => {
                let bitswap = &self.swarm.behaviour().bitswap;
                let mut cids: Vec<cid::Cid> = match peer {
                    None => bitswap.wantlist().copied().collect(),
                    Some(p) => bitswap.ledger(&p).map(|(c, _)| *c).collect(),
                };
                cids.sort();
                let _ = reply.send(cids);
            }
            // Handled by the run loop.
            Command::Shutdown => {}
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<ChorusBehaviourEvent>) {
        if let Some(m) = &self.metrics {
            m.record(&event);
        }
        match event {
            SwarmEvent::Behaviour(ChorusBehaviourEvent::Bitswap(e)) => self.on_bitswap(e),
            SwarmEvent::Behaviour(ChorusBehaviourEvent::Kad(e)) => self.on_kad(dht::Dht::Wan, e),
            SwarmEvent::Behaviour(ChorusBehaviourEvent::LanKad(e)) => self.on_kad(dht::Dht::Lan, e),
            SwarmEvent::Behaviour(ChorusBehaviourEvent::Identify(e)) => self.on_identify(e),
            SwarmEvent::Behaviour(ChorusBehaviourEvent::Ping(e)) => {
                if let Some(m) = &self.metrics {
                    m.record(&e);
                }
            }
            SwarmEvent::Behaviour(ChorusBehaviourEvent::Limits(never)) => match never {},
            SwarmEvent::Behaviour(ChorusBehaviourEvent::Autonat(e)) => self.on_autonat(e),
            SwarmEvent::Behaviour(ChorusBehaviourEvent::Replication(e)) => self.on_replication(e),
            SwarmEvent::NewListenAddr {
                listener_id,
                address,
            } => self.on_new_listen_addr(listener_id, address),
            SwarmEvent::ExpiredListenAddr { address, .. } => self.on_expired_listen_addr(address),
            SwarmEvent::ListenerClosed {
                listener_id,
                addresses,
                reason,
            } => {
                self.connections
                    .listen_addrs
                    .retain(|a| !addresses.contains(a));
                self.listener_failed(listener_id, format!("{reason:?}"));
            }
            SwarmEvent::ListenerError { listener_id, error } => {
                warn!(error = %error, "listener error");
                self.listener_failed(listener_id, error.to_string());
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                num_established,
                ..
            } => self.on_connected(peer_id, connection_id, &endpoint, num_established.get()),
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                ..
            } => self.on_disconnected(peer_id, connection_id, num_established),
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => self.on_dial_failed(connection_id, peer_id, &error),
            other => trace!(event = ?other, "swarm event"),
        }
    }
}
