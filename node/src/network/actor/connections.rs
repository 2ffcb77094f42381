//! Connections: dials (commanded, to providers, to reprovide targets, to peering peers), the
//! connection table behind `swarm/peers`, our listeners and start-up, and identify, which
//! feeds the DHTs' routing tables.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use libp2p::{
    Multiaddr, PeerId,
    core::{ConnectedPoint, transport::ListenerId},
    identify, kad,
    multiaddr::Protocol,
    swarm::{
        ConnectionId, DialError,
        dial_opts::{DialOpts, PeerCondition},
    },
};
use tokio::sync::oneshot;
use tracing::{debug, info};

use super::Actor;
use crate::network::error::{CommandError, StartError};
use crate::network::event::NetworkEvent;
use crate::network::handle::{ConnectedPeer, SwarmInfo};
use crate::network::kad_wire::{KAD_PROTOCOL, LAN_KAD_PROTOCOL};
use crate::network::peering::Peering;

type DialReply = oneshot::Sender<Result<PeerId, CommandError>>;

/// Start-up progress: which listeners have not reported yet.
struct Startup {
    pending: HashSet<ListenerId>,
    bound: usize,
    errors: Vec<String>,
    ready: oneshot::Sender<Result<(), StartError>>,
}

/// The connections part of the actor.
pub(super) struct Connections {
    /// `swarm/connect` dials waiting for their outcome.
    dials: HashMap<ConnectionId, DialReply>,
    /// Open connections per peer: id, remote address, whether we dialed.
    by_peer: HashMap<PeerId, Vec<(ConnectionId, Multiaddr, bool)>>,
    pub(super) listen_addrs: Vec<Multiaddr>,
    /// Announce our listen addresses as external ones (no `announce` list configured).
    announce_listen_addrs: bool,
    peering: Peering,
    startup: Option<Startup>,
}

impl Connections {
    pub(super) fn new(
        peering: Peering,
        announce_listen_addrs: bool,
        listeners: Vec<ListenerId>,
        ready: oneshot::Sender<Result<(), StartError>>,
    ) -> Self {
        Connections {
            dials: HashMap::new(),
            by_peer: HashMap::new(),
            listen_addrs: Vec::new(),
            announce_listen_addrs,
            peering,
            startup: Some(Startup {
                pending: listeners.into_iter().collect(),
                bound: 0,
                errors: Vec::new(),
                ready,
            }),
        }
    }

    /// Peers with at least one connection.
    pub(super) fn peer_count(&self) -> usize {
        self.by_peer.len()
    }

    /// Every connection, by peer (`swarm/peers`).
    pub(super) fn peers(&self) -> Vec<ConnectedPeer> {
        let mut peers: Vec<ConnectedPeer> = self
            .by_peer
            .iter()
            .flat_map(|(peer, conns)| {
                conns.iter().map(|(_, address, outbound)| ConnectedPeer {
                    peer: *peer,
                    address: address.clone(),
                    outbound: *outbound,
                })
            })
            .collect();
        peers.sort_by_key(|p| p.peer);
        peers
    }

    /// The addresses of a connected `peer`.
    pub(super) fn addresses_of(&self, peer: &PeerId) -> Option<Vec<Multiaddr>> {
        let conns = self.by_peer.get(peer)?;
        let mut addrs: Vec<Multiaddr> = conns.iter().map(|(_, a, _)| a.clone()).collect();
        addrs.dedup();
        Some(addrs)
    }

    /// A peering peer's addresses, to dial it for another protocol's request.
    pub(super) fn peering_addresses(&self, peer: &PeerId) -> Option<Vec<Multiaddr>> {
        self.peering.addresses(peer)
    }
}

impl Actor {
    /// Where we listen and what we speak (`/api/v0/id`).
    pub(super) fn swarm_info(&self) -> SwarmInfo {
        let mut addresses = self.connections.listen_addrs.clone();
        for a in self.swarm.external_addresses() {
            if !addresses.contains(a) {
                addresses.push(a.clone());
            }
        }
        SwarmInfo {
            addresses,
            protocols: self.protocols.clone(),
        }
    }

    /// `swarm/connect`.
    pub(super) fn connect(&mut self, addr: Multiaddr, reply: DialReply) {
        let target = addr.to_string();
        let opts = match addr.iter().last() {
            Some(Protocol::P2p(peer)) => {
                if self.swarm.is_connected(&peer) {
                    let _ = reply.send(Ok(peer));
                    return;
                }
                DialOpts::peer_id(peer)
                    .addresses(vec![addr])
                    .condition(PeerCondition::DisconnectedAndNotDialing)
                    .build()
            }
            _ => DialOpts::unknown_peer_id().address(addr).build(),
        };
        let id = opts.connection_id();
        match self.swarm.dial(opts) {
            Ok(()) => {
                self.connections.dials.insert(id, reply);
            }
            Err(e) => {
                let _ = reply.send(Err(CommandError::Dial {
                    target,
                    reason: e.to_string(),
                }));
            }
        }
    }

    /// `swarm/disconnect`.
    pub(super) fn disconnect(
        &mut self,
        peer: PeerId,
        reply: oneshot::Sender<Result<(), CommandError>>,
    ) {
        let result = self
            .swarm
            .disconnect_peer_id(peer)
            .map_err(|()| CommandError::NotConnected { peer });
        let _ = reply.send(result);
    }

    /// Dials the peers a lookup found that we are not connected to, with the addresses it
    /// found (the reprovider's streams then go over these connections).
    pub(super) fn dial_found(&mut self, peers: &[kad::PeerInfo]) {
        for info in peers {
            if self.swarm.is_connected(&info.peer_id) || info.addrs.is_empty() {
                continue;
            }
            let opts = DialOpts::peer_id(info.peer_id)
                .addresses(info.addrs.clone())
                .condition(PeerCondition::DisconnectedAndNotDialing)
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                debug!(peer = %info.peer_id, error = %e, "cannot dial a reprovide target");
            }
        }
    }

    /// Dials the peering peers: all of them (at start-up), or those whose redial is due and
    /// that are not connected (`due_only`, every tick).
    pub(super) fn dial_peering(&mut self, due_only: bool) {
        let peers = if due_only {
            self.connections.peering.due(Instant::now())
        } else {
            self.connections.peering.all()
        };
        for (peer, addrs) in peers {
            if due_only && self.swarm.is_connected(&peer) {
                continue;
            }
            self.dial_sticky(peer, addrs);
        }
    }

    /// Dials a peering peer; a failure schedules the next attempt.
    fn dial_sticky(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        let opts = DialOpts::peer_id(peer)
            .addresses(addrs)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .build();
        if let Err(e) = self.swarm.dial(opts) {
            debug!(%peer, error = %e, "peering dial not started");
            if !self.swarm.is_connected(&peer) {
                self.connections.peering.lost(&peer, Instant::now());
            }
        }
    }

    pub(super) fn on_new_listen_addr(&mut self, listener_id: ListenerId, address: Multiaddr) {
        info!(%address, "listening");
        if self.connections.announce_listen_addrs {
            self.swarm.add_external_address(address.clone());
            self.update_wan_mode();
        }
        if !self.connections.listen_addrs.contains(&address) {
            self.connections.listen_addrs.push(address);
        }
        if let Some(s) = &mut self.connections.startup
            && s.pending.remove(&listener_id)
        {
            s.bound += 1;
        }
        self.check_startup();
    }

    pub(super) fn on_expired_listen_addr(&mut self, address: Multiaddr) {
        if self.connections.announce_listen_addrs {
            self.swarm.remove_external_address(&address);
            self.update_wan_mode();
        }
        self.connections.listen_addrs.retain(|a| *a != address);
    }

    pub(super) fn listener_failed(&mut self, listener_id: ListenerId, reason: String) {
        if let Some(s) = &mut self.connections.startup
            && s.pending.remove(&listener_id)
        {
            s.errors.push(reason);
        }
        self.check_startup();
    }

    /// Reports start-up once every listener bound or failed.
    pub(super) fn check_startup(&mut self) {
        let startup = &mut self.connections.startup;
        if startup.as_ref().is_some_and(|s| s.pending.is_empty())
            && let Some(s) = startup.take()
        {
            let result = if s.bound == 0 && !s.errors.is_empty() {
                Err(StartError::NoListener(s.errors.join("; ")))
            } else {
                Ok(())
            };
            let _ = s.ready.send(result);
        }
    }

    pub(super) fn on_connected(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        endpoint: &ConnectedPoint,
        established: u32,
    ) {
        debug!(%peer, addr = %endpoint.get_remote_address(), "connected");
        self.connections.by_peer.entry(peer).or_default().push((
            connection,
            endpoint.get_remote_address().clone(),
            endpoint.is_dialer(),
        ));
        if let Some(reply) = self.connections.dials.remove(&connection) {
            let _ = reply.send(Ok(peer));
        }
        if established == 1 {
            self.connections.peering.connected(&peer);
            self.emit(NetworkEvent::PeerConnected { peer });
            let steps = self.fetching.client.add_peer(peer);
            self.apply(steps);
        }
    }

    pub(super) fn on_disconnected(&mut self, peer: PeerId, connection: ConnectionId, left: u32) {
        if let Some(conns) = self.connections.by_peer.get_mut(&peer) {
            conns.retain(|(id, _, _)| *id != connection);
            if conns.is_empty() {
                self.connections.by_peer.remove(&peer);
            }
        }
        if left == 0 {
            debug!(%peer, "disconnected");
            self.connections.peering.lost(&peer, Instant::now());
            self.emit(NetworkEvent::PeerDisconnected { peer });
            let steps = self.fetching.client.remove_peer(&peer, Instant::now());
            self.apply(steps);
        }
    }

    pub(super) fn on_dial_failed(
        &mut self,
        connection: ConnectionId,
        peer: Option<PeerId>,
        error: &DialError,
    ) {
        debug!(?peer, %error, "dial failed");
        if let Some(peer) = peer
            && !self.swarm.is_connected(&peer)
        {
            self.connections.peering.lost(&peer, Instant::now());
        }
        if let Some(reply) = self.connections.dials.remove(&connection) {
            let target = peer.map_or_else(|| "peer".to_owned(), |p| p.to_string());
            let _ = reply.send(Err(CommandError::Dial {
                target,
                reason: error.to_string(),
            }));
        }
    }

    /// Adds identified peers to the routing tables of the DHTs they speak.
    pub(super) fn on_identify(&mut self, event: identify::Event) {
        if let Some(m) = &self.metrics {
            m.record(&event);
        }
        if let identify::Event::Received { peer_id, info, .. } = event {
            if info.protocols.contains(&KAD_PROTOCOL)
                && let Some(kad) = self.swarm.behaviour_mut().kad.as_mut()
            {
                for addr in &info.listen_addrs {
                    kad.add_address(&peer_id, addr.clone());
                }
            }
            if info.protocols.contains(&LAN_KAD_PROTOCOL)
                && let Some(lan) = self.swarm.behaviour_mut().lan_kad.as_mut()
            {
                // As kubo's LAN DHT: only peers reachable on private addresses.
                for addr in info.listen_addrs.iter().filter(|a| is_lan_addr(a)) {
                    lan.add_address(&peer_id, addr.clone());
                }
            }
            self.emit(NetworkEvent::PeerIdentified {
                peer: peer_id,
                agent_version: info.agent_version,
            });
        }
    }
}

/// Whether `addr` is on a private network (what kubo's LAN DHT accepts): loopback, RFC 1918,
/// link-local, or IPv6 unique-local.
pub(super) fn is_lan_addr(addr: &Multiaddr) -> bool {
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => ip.is_loopback() || ip.is_private() || ip.is_link_local(),
        Some(Protocol::Ip6(ip)) => {
            ip.is_loopback() || ip.is_unique_local() || ip.is_unicast_link_local()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lan_addresses_are_private_ones() {
        for (addr, lan) in [
            ("/ip4/127.0.0.1/tcp/4001", true),
            ("/ip4/192.168.1.5/udp/4001/quic-v1", true),
            ("/ip4/10.0.0.1/tcp/4001", true),
            ("/ip6/fd00::1/tcp/4001", true),
            ("/ip4/8.8.8.8/tcp/4001", false),
            ("/ip6/2001:db8::1/tcp/4001", false),
            ("/dns4/example.com/tcp/4001", false),
        ] {
            let addr: Multiaddr = addr.parse().unwrap();
            assert_eq!(is_lan_addr(&addr), lan, "{addr}");
        }
    }
}
