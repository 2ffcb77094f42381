//! The DHT part of the actor: provider lookups (for fetches and for `routing/findprovs`),
//! peer lookups, records peers push to us, and the reprovider's routing requests, on both
//! Kademlia instances (the public `/ipfs/kad/1.0.0` and kubo's LAN DHT).

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use cid::Cid;
use libp2p::{
    Multiaddr, PeerId, kad,
    swarm::dial_opts::{DialOpts, PeerCondition},
};
use tokio::sync::oneshot;
use tracing::{debug, trace};

use super::Actor;
use crate::network::error::CommandError;
use crate::network::event::NetworkEvent;
pub(super) use crate::network::kad_wire::Dht;
use crate::network::reprovide::{self, ActorRequest};

const DHTS: [Dht; 2] = Dht::ALL;

/// A query of one of the DHTs (query ids are only unique per instance).
pub(super) type QueryKey = (Dht, kad::QueryId);

/// The DHT key of `cid`: its multihash (provider records are keyed by multihash, so CIDv0
/// and CIDv1 of the same bytes share them, as in kubo).
pub(super) fn provider_key(cid: &Cid) -> kad::RecordKey {
    kad::RecordKey::new(&cid.hash().to_bytes())
}

/// A `find_providers` command in progress, over one query per DHT.
struct FindOp {
    limit: usize,
    found: Vec<PeerId>,
    queries: Vec<QueryKey>,
    reply: oneshot::Sender<Vec<PeerId>>,
}

/// A `find_peer` command in progress, over one closest-peers query per DHT.
struct FindPeerOp {
    peer: PeerId,
    pending: usize,
    addrs: Vec<Multiaddr>,
    reply: oneshot::Sender<Result<Vec<Multiaddr>, CommandError>>,
}

/// The DHT queries in flight and who waits for them.
#[derive(Default)]
pub(super) struct DhtQueries {
    next_op: u64,
    /// Provider searches made for a fetch (the session's `FindProviders`).
    provider_searches: HashMap<QueryKey, Cid>,
    find_ops: HashMap<u64, FindOp>,
    find_queries: HashMap<QueryKey, u64>,
    find_peer_ops: HashMap<u64, FindPeerOp>,
    find_peer_queries: HashMap<QueryKey, u64>,
    /// The reprovider's closest-peers lookups.
    reprovide_lookups: HashMap<QueryKey, oneshot::Sender<Vec<kad::PeerInfo>>>,
    /// The reprovider waiting for the routing table to gain a peer.
    routing_waiters: Vec<oneshot::Sender<()>>,
}

impl DhtQueries {
    pub(super) fn op_id(&mut self) -> u64 {
        self.next_op = self.next_op.wrapping_add(1);
        self.next_op
    }
}

impl Actor {
    /// The Kademlia instance `dht`, if it runs.
    pub(super) fn kad_mut(
        &mut self,
        dht: Dht,
    ) -> Option<&mut kad::Behaviour<kad::store::MemoryStore>> {
        let behaviour = self.swarm.behaviour_mut();
        match dht {
            Dht::Wan => behaviour.kad.as_mut(),
            Dht::Lan => behaviour.lan_kad.as_mut(),
        }
    }

    /// Whether any DHT runs (not with routing `none`).
    pub(super) fn dht_runs(&self) -> bool {
        let behaviour = self.swarm.behaviour();
        behaviour.kad.is_enabled() || behaviour.lan_kad.is_enabled()
    }

    /// Peers in the routing tables of every DHT that runs.
    pub(super) fn dht_peers(&mut self) -> usize {
        DHTS.iter()
            .filter_map(|dht| {
                let kad = self.kad_mut(*dht)?;
                Some(kad.kbuckets().map(|b| b.num_entries()).sum::<usize>())
            })
            .sum()
    }

    /// Runs `start` on every DHT that runs, returning the queries it started.
    pub(super) fn on_each_dht(
        &mut self,
        mut start: impl FnMut(&mut kad::Behaviour<kad::store::MemoryStore>) -> kad::QueryId,
    ) -> Vec<QueryKey> {
        DHTS.iter()
            .filter_map(|dht| Some((*dht, start(self.kad_mut(*dht)?))))
            .collect()
    }

    /// Starts a provider lookup of `cid` on every DHT.
    fn get_providers(&mut self, cid: &Cid) -> Vec<QueryKey> {
        if let Some(m) = &self.metrics {
            m.provider_lookups.inc();
        }
        self.on_each_dht(|kad| kad.get_providers(provider_key(cid)))
    }

    /// The fetch session wants providers of `cid`: look them up (and dial what is found).
    pub(super) fn search_providers(&mut self, cid: Cid) {
        if !self.dht_runs() {
            return;
        }
        debug!(%cid, "looking up providers");
        if self.dht_peers() == 0 {
            // Nobody to ask: retried when the DHT gains a peer.
            self.fetching.client.search_unrouted(&cid);
        }
        for q in self.get_providers(&cid) {
            self.dht.provider_searches.insert(q, cid);
        }
    }

    /// `routing/findprovs`: up to `limit` providers of `cid`.
    pub(super) fn find_providers(
        &mut self,
        cid: Cid,
        limit: usize,
        reply: oneshot::Sender<Vec<PeerId>>,
    ) {
        let queries = self.get_providers(&cid);
        if queries.is_empty() {
            // No DHT runs: nobody to ask.
            let _ = reply.send(Vec::new());
            return;
        }
        let op = self.dht.op_id();
        for q in &queries {
            self.dht.find_queries.insert(*q, op);
        }
        self.dht.find_ops.insert(
            op,
            FindOp {
                limit: limit.max(1),
                found: Vec::new(),
                queries,
                reply,
            },
        );
    }

    /// `routing/findpeer`: the addresses of `peer`, from our connections or the DHTs.
    pub(super) fn find_peer(
        &mut self,
        peer: PeerId,
        reply: oneshot::Sender<Result<Vec<Multiaddr>, CommandError>>,
    ) {
        if let Some(addrs) = self.connections.addresses_of(&peer) {
            let _ = reply.send(Ok(addrs));
            return;
        }
        let queries = self.on_each_dht(|kad| kad.get_closest_peers(peer));
        if queries.is_empty() {
            let _ = reply.send(Err(CommandError::RoutingDisabled {
                what: format!("find peer {peer}"),
            }));
            return;
        }
        let op = self.dht.op_id();
        for q in &queries {
            self.dht.find_peer_queries.insert(*q, op);
        }
        self.dht.find_peer_ops.insert(
            op,
            FindPeerOp {
                peer,
                pending: queries.len(),
                addrs: Vec::new(),
                reply,
            },
        );
    }

    fn on_closest_peers(&mut self, key: QueryKey, peers: Vec<kad::PeerInfo>) {
        let Some(op_id) = self.dht.find_peer_queries.remove(&key) else {
            return;
        };
        let Some(op) = self.dht.find_peer_ops.get_mut(&op_id) else {
            return;
        };
        op.pending = op.pending.saturating_sub(1);
        for info in peers.into_iter().filter(|i| i.peer_id == op.peer) {
            for addr in info.addrs {
                if !op.addrs.contains(&addr) {
                    op.addrs.push(addr);
                }
            }
        }
        if op.pending == 0
            && let Some(op) = self.dht.find_peer_ops.remove(&op_id)
        {
            let _ = op.reply.send(if op.addrs.is_empty() {
                Err(CommandError::PeerNotFound { peer: op.peer })
            } else {
                Ok(op.addrs)
            });
        }
    }

    /// Answers the reprovider (see [`ActorRequest`]).
    pub(super) fn on_reprovide(&mut self, request: ActorRequest) {
        match request {
            ActorRequest::Routing { reply } => {
                let local = *self.swarm.local_peer_id();
                let mut dhts = Vec::new();
                for dht in DHTS {
                    if let Some(kad) = self.kad_mut(dht) {
                        dhts.push(reprovide::dht_view(dht, kad, &local));
                    }
                }
                let addrs = self.swarm.external_addresses().cloned().collect();
                let _ = reply.send(reprovide::RoutingView { dhts, addrs });
            }
            ActorRequest::WaitForPeers { reply } => {
                if self.dht_peers() > 0 {
                    let _ = reply.send(());
                } else {
                    self.dht.routing_waiters.retain(|w| !w.is_closed());
                    self.dht.routing_waiters.push(reply);
                }
            }
            ActorRequest::ClosestPeers { dht, key, reply } => {
                if let Some(kad) = self.kad_mut(dht) {
                    let id = kad.get_closest_peers(key);
                    self.dht.reprovide_lookups.insert((dht, id), reply);
                } else {
                    let _ = reply.send(Vec::new());
                }
            }
        }
    }

    pub(super) fn on_kad(&mut self, dht: Dht, event: kad::Event) {
        if let Some(m) = &self.metrics {
            m.record(&event);
        }
        let (id, result, step) = match event {
            kad::Event::OutboundQueryProgressed {
                id, result, step, ..
            } => (id, result, step),
            kad::Event::InboundRequest { request } => {
                self.on_kad_inbound(dht, request);
                return;
            }
            kad::Event::RoutingUpdated { .. } => {
                for waiter in self.dht.routing_waiters.drain(..) {
                    let _ = waiter.send(());
                }
                // Announcements and provider searches waiting for a DHT peer may go now.
                self.pump_provides();
                let steps = self.fetching.client.dht_peer_added(Instant::now());
                self.apply(steps);
                return;
            }
            other => {
                trace!(?dht, event = ?other, "kad event");
                return;
            }
        };
        let key = (dht, id);
        match result {
            kad::QueryResult::GetProviders(result) => {
                let providers = match result {
                    Ok(kad::GetProvidersOk::FoundProviders { providers, .. }) => providers,
                    Ok(kad::GetProvidersOk::FinishedWithNoAdditionalRecord { .. }) => {
                        HashSet::new()
                    }
                    Err(e) => {
                        debug!(?dht, error = %e, "provider lookup ended with an error");
                        HashSet::new()
                    }
                };
                self.on_providers(key, providers, step.last);
            }
            kad::QueryResult::StartProviding(result) => self.on_provided(key, result.is_ok()),
            kad::QueryResult::GetClosestPeers(result) => {
                let peers = match result {
                    Ok(ok) => ok.peers,
                    Err(kad::GetClosestPeersError::Timeout { peers, .. }) => peers,
                };
                if step.last
                    && let Some(reply) = self.dht.reprovide_lookups.remove(&key)
                {
                    self.dial_found(&peers);
                    let _ = reply.send(peers);
                } else if step.last {
                    self.on_closest_peers(key, peers);
                } else if let Some(op) = self
                    .dht
                    .find_peer_queries
                    .get(&key)
                    .and_then(|id| self.dht.find_peer_ops.get_mut(id))
                {
                    for info in peers.into_iter().filter(|i| i.peer_id == op.peer) {
                        op.addrs.extend(info.addrs);
                    }
                }
            }
            other => trace!(?dht, result = ?other, "kad query progressed"),
        }
    }

    /// Stores records peers push to us (inbound records are filtered, see `behaviour`) and
    /// reports provider announcements.
    fn on_kad_inbound(&mut self, dht: Dht, request: kad::InboundRequest) {
        use kad::store::RecordStore;
        match request {
            kad::InboundRequest::AddProvider {
                record: Some(record),
            } => {
                let provider = record.provider;
                let multihash = chorus_storage::Multihash::from_bytes(record.key.as_ref()).ok();
                let Some(kad) = self.kad_mut(dht) else {
                    return;
                };
                if let Err(e) = kad.store_mut().add_provider(record) {
                    debug!(?dht, %provider, error = %e, "provider record not stored");
                    return;
                }
                if let Some(multihash) = multihash {
                    self.emit(NetworkEvent::ProviderAnnounced {
                        provider,
                        multihash,
                    });
                }
            }
            kad::InboundRequest::PutRecord {
                record: Some(record),
                ..
            } => {
                if let Some(kad) = self.kad_mut(dht)
                    && let Err(e) = kad.store_mut().put(record)
                {
                    debug!(?dht, error = %e, "DHT record not stored");
                }
            }
            other => trace!(?dht, request = ?other, "kad inbound request"),
        }
    }

    fn on_providers(&mut self, key: QueryKey, providers: HashSet<PeerId>, last: bool) {
        let local = *self.swarm.local_peer_id();
        if let Some(cid) = self.dht.provider_searches.get(&key).copied() {
            for peer in providers.iter().copied().filter(|p| *p != local) {
                if self.swarm.is_connected(&peer) {
                    let steps = self
                        .fetching
                        .client
                        .add_provider(&cid, peer, Instant::now());
                    self.apply(steps);
                } else {
                    // Dial now, while the query still holds the provider's addresses.
                    let opts = DialOpts::peer_id(peer)
                        .condition(PeerCondition::DisconnectedAndNotDialing)
                        .build();
                    if let Err(e) = self.swarm.dial(opts) {
                        debug!(%cid, %peer, error = %e, "cannot dial provider");
                    }
                }
            }
            if last {
                self.dht.provider_searches.remove(&key);
            }
        }
        let Some(op_id) = self.dht.find_queries.get(&key).copied() else {
            return;
        };
        if last {
            self.dht.find_queries.remove(&key);
        }
        let Some(op) = self.dht.find_ops.get_mut(&op_id) else {
            return;
        };
        for peer in providers {
            if !op.found.contains(&peer) {
                op.found.push(peer);
            }
        }
        if last {
            op.queries.retain(|q| *q != key);
        }
        if (op.found.len() >= op.limit || op.queries.is_empty())
            && let Some(mut op) = self.dht.find_ops.remove(&op_id)
        {
            for (dht, id) in std::mem::take(&mut op.queries) {
                self.dht.find_queries.remove(&(dht, id));
                if let Some(kad) = self.kad_mut(dht)
                    && let Some(mut q) = kad.query_mut(&id)
                {
                    q.finish();
                }
            }
            op.found.truncate(op.limit);
            let _ = op.reply.send(op.found);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_keys_are_multihashes() {
        let cid: Cid = "QmNfsTVAdh5ZMDcAJsLQbVwnPo6ucAuuXmXDvKKmEQDVCi"
            .parse()
            .unwrap();
        let v1 = Cid::new_v1(0x70, *cid.hash());
        assert_eq!(provider_key(&cid), provider_key(&v1));
        assert_eq!(
            provider_key(&cid).as_ref(),
            cid.hash().to_bytes().as_slice()
        );
    }
}
