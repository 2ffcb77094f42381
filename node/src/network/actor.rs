//! The network actor: the one task that owns the libp2p `Swarm`, serves peers' wants, runs
//! the fetch session and the DHT queries, and answers [`Command`]s.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chorus_protocol::bitswap::{self, Action, Session, SessionConfig, Task, recent::RecentSet};
use chorus_storage::{Block, Blockstore, StoreError};
use cid::Cid;
use futures::StreamExt;
use libp2p::{
    Multiaddr, PeerId, Swarm,
    autonat::v1 as autonat,
    core::transport::ListenerId,
    identify, kad,
    multiaddr::Protocol,
    swarm::{
        ConnectionId, SwarmEvent,
        dial_opts::{DialOpts, PeerCondition},
    },
};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::task::JoinSet;
use tracing::{debug, info, trace, warn};

use super::autonat::{NatStatus, ProbeOutcome};
use super::behaviour::{ChorusBehaviour, ChorusBehaviourEvent, KAD_PROTOCOL, LAN_KAD_PROTOCOL};
use super::config::KadMode;
use super::error::{CommandError, StartError};
use super::event::NetworkEvent;
use super::handle::{Command, ConnectedPeer};
use super::metrics::NetworkMetrics;
use super::peering::Peering;
use super::provide_queue::ProvideQueue;
use super::reprovide::{self, ActorRequest, DhtKind};
use super::serve::{Answer, lookup};
use crate::context::SwarmInfo;
use crate::fetch::FetchError;

/// How often the fetch session is advanced (retries, provider searches, timeouts) and
/// abandoned fetches are swept: the session's documented cadence (every second).
const SESSION_TICK: Duration = Duration::from_secs(1);

type FetchReply = oneshot::Sender<Result<Block, FetchError>>;

/// One CID being fetched and everyone waiting for it.
struct Fetch {
    waiters: Vec<FetchReply>,
    /// The block arrived and is being stored; no want is outstanding.
    arrived: bool,
}

/// One of the two Kademlia instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Dht {
    /// The public DHT, `/ipfs/kad/1.0.0`.
    Wan,
    /// kubo's LAN DHT, `/ipfs/lan/kad/1.0.0`.
    Lan,
}

const DHTS: [Dht; 2] = [Dht::Wan, Dht::Lan];

/// A query of one of the DHTs (query ids are only unique per instance).
type QueryKey = (Dht, kad::QueryId);

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

/// A `provide` command in progress, over one announcement per DHT that has peers.
struct ProvideOp {
    cid: Cid,
    pending: usize,
    succeeded: bool,
    origin: Origin,
}

/// Who asked for an announcement.
enum Origin {
    /// A `provide` command, waiting for the result.
    Caller(ProvideReply),
    /// The background queue's entry with this sequence number.
    Queue(u64),
}

type ProvideReply = oneshot::Sender<Result<(), CommandError>>;

/// Announcements from the background queue running at once: boxo's provider runs a small
/// fixed pool of workers; eight DHT queries in flight keep a node responsive on two cores.
const MAX_BACKGROUND_PROVIDES: usize = 8;

/// Fetched blocks remembered as just stored. A reader checks the store before it asks the
/// network, so a block stored between its check and its request would otherwise be wanted
/// (and transferred) again; this only has to span those few moments for the blocks in
/// flight, of which the node's fetcher runs at most `MAX_PREFETCHES` (512) plus its
/// readers. Twice that, as CIDs (under 100 bytes each), is our own margin.
const RECENTLY_STORED_CAPACITY: usize = 1024;

/// The result of storing a fetched block.
struct Stored {
    block: Block,
    result: Result<(), StoreError>,
}

/// Start-up progress: which listeners have not reported yet.
struct Startup {
    pending: HashSet<ListenerId>,
    bound: usize,
    errors: Vec<String>,
    ready: oneshot::Sender<Result<(), StartError>>,
}

/// The actor's state. See the [module docs](self).
pub(crate) struct Actor {
    swarm: Swarm<ChorusBehaviour>,
    store: Arc<dyn Blockstore>,
    commands: mpsc::Receiver<Command>,
    events: broadcast::Sender<NetworkEvent>,
    protocols: Vec<String>,
    fetch_timeout: Duration,
    max_lookups: usize,
    kad_mode: KadMode,
    /// AutoNAT's latest verdict (see [`update_wan_mode`](Self::update_wan_mode)).
    nat_status: NatStatus,
    announce_listen_addrs: bool,
    metrics: Option<NetworkMetrics>,
    peering: Peering,
    session: Session,
    fetches: HashMap<Cid, Fetch>,
    provider_searches: HashMap<QueryKey, Cid>,
    next_op: u64,
    find_ops: HashMap<u64, FindOp>,
    find_queries: HashMap<QueryKey, u64>,
    provide_ops: HashMap<u64, ProvideOp>,
    provide_queries: HashMap<QueryKey, u64>,
    find_peer_ops: HashMap<u64, FindPeerOp>,
    find_peer_queries: HashMap<QueryKey, u64>,
    queue: ProvideQueue,
    background_provides: usize,
    dials: HashMap<ConnectionId, oneshot::Sender<Result<PeerId, CommandError>>>,
    connections: HashMap<PeerId, Vec<(ConnectionId, Multiaddr, bool)>>,
    listen_addrs: Vec<Multiaddr>,
    lookups: JoinSet<(Task, Answer)>,
    stores: JoinSet<Stored>,
    /// Blocks fetched recently (see [`RECENTLY_STORED_CAPACITY`]).
    recently_stored: RecentSet<Cid>,
    /// Store reads answering fetches of recently stored blocks.
    rereads: JoinSet<(Cid, Option<Block>)>,
    startup: Option<Startup>,
    /// The reprovider's requests (see [`ActorRequest`]); closed when it does not run.
    reprovide: mpsc::Receiver<ActorRequest>,
    reprovide_open: bool,
    reprovide_lookups: HashMap<QueryKey, oneshot::Sender<Vec<kad::PeerInfo>>>,
    routing_waiters: Vec<oneshot::Sender<()>>,
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
}

/// The DHT key of `cid`: its multihash (provider records are keyed by multihash, so CIDv0
/// and CIDv1 of the same bytes share them, as in kubo).
pub(crate) fn provider_key(cid: &Cid) -> kad::RecordKey {
    kad::RecordKey::new(&cid.hash().to_bytes())
}

impl Actor {
    pub(crate) fn new(parts: ActorParts) -> Self {
        let protocols = parts.swarm.behaviour().protocols();
        let session = Session::new(SessionConfig::default().with_want_timeout(parts.fetch_timeout));
        let mut actor = Actor {
            swarm: parts.swarm,
            store: parts.store,
            commands: parts.commands,
            events: parts.events,
            protocols,
            fetch_timeout: parts.fetch_timeout,
            max_lookups: parts.max_lookups.max(1),
            kad_mode: parts.kad_mode,
            nat_status: NatStatus::Unknown,
            announce_listen_addrs: parts.announce.is_empty(),
            metrics: parts.metrics,
            peering: parts.peering,
            session,
            fetches: HashMap::new(),
            provider_searches: HashMap::new(),
            next_op: 0,
            find_ops: HashMap::new(),
            find_queries: HashMap::new(),
            provide_ops: HashMap::new(),
            provide_queries: HashMap::new(),
            find_peer_ops: HashMap::new(),
            find_peer_queries: HashMap::new(),
            queue: parts.queue,
            background_provides: 0,
            dials: HashMap::new(),
            connections: HashMap::new(),
            listen_addrs: Vec::new(),
            lookups: JoinSet::new(),
            stores: JoinSet::new(),
            recently_stored: RecentSet::new(RECENTLY_STORED_CAPACITY),
            rereads: JoinSet::new(),
            startup: Some(Startup {
                pending: parts.listeners.into_iter().collect(),
                bound: 0,
                errors: Vec::new(),
                ready: parts.ready,
            }),
            reprovide: parts.reprovide,
            reprovide_open: true,
            reprovide_lookups: HashMap::new(),
            routing_waiters: Vec::new(),
        };
        for addr in parts.announce {
            actor.swarm.add_external_address(addr);
        }
        actor.update_wan_mode();
        for (peer, addrs) in actor.peering.all() {
            actor.dial_sticky(peer, addrs);
        }
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
                Some(done) = self.lookups.join_next(), if !self.lookups.is_empty() => {
                    match done {
                        Ok((task, answer)) => self.answer(task, answer),
                        Err(e) => warn!(error = %e, "blockstore lookup task failed"),
                    }
                    self.pump_lookups();
                }
                Some(done) = self.stores.join_next(), if !self.stores.is_empty() => {
                    match done {
                        Ok(stored) => self.on_stored(stored),
                        Err(e) => warn!(error = %e, "block store task failed"),
                    }
                }
                Some(done) = self.rereads.join_next(), if !self.rereads.is_empty() => {
                    match done {
                        Ok((cid, block)) => self.on_reread(cid, block),
                        Err(e) => warn!(error = %e, "block reread task failed"),
                    }
                }
                _ = tick.tick() => {
                    let actions = self.session.tick(Instant::now());
                    self.apply(actions);
                    self.sweep_abandoned();
                    for (peer, addrs) in self.peering.due(Instant::now()) {
                        if !self.swarm.is_connected(&peer) {
                            self.dial_sticky(peer, addrs);
                        }
                    }
                }
            }
            if let Some(m) = &self.metrics {
                m.peers
                    .set(i64::try_from(self.connections.len()).unwrap_or(i64::MAX));
                m.fetches_in_flight
                    .set(i64::try_from(self.fetches.len()).unwrap_or(i64::MAX));
                m.provide_queue
                    .set(i64::try_from(self.queue.len()).unwrap_or(i64::MAX));
            }
        }
        self.queue.flush();
        info!("network stopped");
        // Pending replies are dropped here: callers see the network as stopped.
    }

    fn emit(&self, event: NetworkEvent) {
        // No subscriber is not an error.
        let _ = self.events.send(event);
    }

    // ----- commands -----

    fn on_command(&mut self, command: Command) {
        match command {
            Command::SwarmInfo { reply } => {
                let mut addresses = self.listen_addrs.clone();
                for a in self.swarm.external_addresses() {
                    if !addresses.contains(a) {
                        addresses.push(a.clone());
                    }
                }
                let _ = reply.send(SwarmInfo {
                    addresses,
                    protocols: self.protocols.clone(),
                });
            }
            Command::Connect { addr, reply } => self.connect(addr, reply),
            Command::Disconnect { peer, reply } => {
                let result = self
                    .swarm
                    .disconnect_peer_id(peer)
                    .map_err(|()| CommandError::NotConnected { peer });
                let _ = reply.send(result);
            }
            Command::Peers { reply } => {
                let mut peers: Vec<ConnectedPeer> = self
                    .connections
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
                let _ = reply.send(peers);
            }
            Command::FindProviders { cid, limit, reply } => {
                let queries = self.get_providers(&cid);
                if queries.is_empty() {
                    // No DHT runs: nobody to ask.
                    let _ = reply.send(Vec::new());
                    return;
                }
                let op = self.op_id();
                for q in &queries {
                    self.find_queries.insert(*q, op);
                }
                self.find_ops.insert(
                    op,
                    FindOp {
                        limit: limit.max(1),
                        found: Vec::new(),
                        queries,
                        reply,
                    },
                );
            }
            Command::Provide { cid, reply } => {
                if let Err((Origin::Caller(reply), error)) =
                    self.provide(cid, Origin::Caller(reply))
                {
                    let _ = reply.send(Err(error));
                }
            }
            Command::ProvideLater { cids, reply } => {
                let accepted = cids.into_iter().take_while(|c| self.queue.push(*c)).count();
                let _ = reply.send(accepted);
                self.pump_provides();
            }
            Command::FindPeer { peer, reply } => self.find_peer(peer, reply),
            Command::Fetch { cid, reply } => self.fetch(cid, reply),
            Command::Release { cid } => self.release(&cid),
            Command::Wantlist { peer, reply } => {
                let bitswap = &self.swarm.behaviour().bitswap;
                let mut cids: Vec<Cid> = match peer {
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

    fn connect(&mut self, addr: Multiaddr, reply: oneshot::Sender<Result<PeerId, CommandError>>) {
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
                self.dials.insert(id, reply);
            }
            Err(e) => {
                let _ = reply.send(Err(CommandError::Dial {
                    target,
                    reason: e.to_string(),
                }));
            }
        }
    }

    fn op_id(&mut self) -> u64 {
        self.next_op = self.next_op.wrapping_add(1);
        self.next_op
    }

    /// The Kademlia instance `dht`, if it runs.
    fn kad_mut(&mut self, dht: Dht) -> Option<&mut kad::Behaviour<kad::store::MemoryStore>> {
        let behaviour = self.swarm.behaviour_mut();
        match dht {
            Dht::Wan => behaviour.kad.as_mut(),
            Dht::Lan => behaviour.lan_kad.as_mut(),
        }
    }

    /// Whether any DHT runs (not with routing `none`).
    fn dht_runs(&self) -> bool {
        let behaviour = self.swarm.behaviour();
        behaviour.kad.is_enabled() || behaviour.lan_kad.is_enabled()
    }

    /// Peers in the routing tables of every DHT that runs.
    fn dht_peers(&mut self) -> usize {
        DHTS.iter()
            .filter_map(|dht| {
                let kad = self.kad_mut(*dht)?;
                Some(kad.kbuckets().map(|b| b.num_entries()).sum::<usize>())
            })
            .sum()
    }

    /// Starts a provider lookup of `cid` on every DHT.
    fn get_providers(&mut self, cid: &Cid) -> Vec<QueryKey> {
        if let Some(m) = &self.metrics {
            m.provider_lookups.inc();
        }
        DHTS.iter()
            .filter_map(|dht| {
                let kad = self.kad_mut(*dht)?;
                Some((*dht, kad.get_providers(provider_key(cid))))
            })
            .collect()
    }

    /// Records us as a provider of `cid` in every DHT and announces it in those with peers.
    /// Starts announcements from the background queue up to the concurrency bound. Entries
    /// wait (in order) while no DHT has peers.
    fn pump_provides(&mut self) {
        while self.background_provides < MAX_BACKGROUND_PROVIDES {
            let Some((seq, cid)) = self.queue.pop() else {
                break;
            };
            match self.provide(cid, Origin::Queue(seq)) {
                Ok(()) => self.background_provides += 1,
                Err((_, CommandError::NoDhtPeers { .. })) => {
                    self.queue.unpop(seq, cid);
                    break;
                }
                Err((_, error)) => {
                    debug!(%cid, %error, "background announcement dropped");
                    self.queue.done(seq);
                }
            }
        }
    }

    /// Records us as a provider of `cid` in every DHT and announces it in those with peers.
    /// On failure nothing is under way and `origin` comes back with the error.
    fn provide(&mut self, cid: Cid, origin: Origin) -> Result<(), (Origin, CommandError)> {
        if !self.dht_runs() {
            let what = format!("provide {cid}");
            return Err((origin, CommandError::RoutingDisabled { what }));
        }
        let mut queries = Vec::new();
        for dht in DHTS {
            let Some(kad) = self.kad_mut(dht) else {
                continue;
            };
            let known: usize = kad.kbuckets().map(|b| b.num_entries()).sum();
            match kad.start_providing(provider_key(&cid)) {
                Ok(id) if known > 0 => queries.push((dht, id)),
                Ok(_) => {}
                Err(e) => {
                    let error = CommandError::ProviderStore {
                        cid,
                        reason: e.to_string(),
                    };
                    return Err((origin, error));
                }
            }
        }
        if queries.is_empty() {
            return Err((origin, CommandError::NoDhtPeers { cid }));
        }
        if let Some(m) = &self.metrics {
            m.provides.inc();
        }
        let op = self.op_id();
        for q in &queries {
            self.provide_queries.insert(*q, op);
        }
        self.provide_ops.insert(
            op,
            ProvideOp {
                cid,
                pending: queries.len(),
                succeeded: false,
                origin,
            },
        );
        Ok(())
    }

    /// Answers the reprovider (see [`ActorRequest`]).
    fn on_reprovide(&mut self, request: ActorRequest) {
        match request {
            ActorRequest::Routing { reply } => {
                let local = *self.swarm.local_peer_id();
                let mut dhts = Vec::new();
                for (dht, kind) in [(Dht::Wan, DhtKind::Wan), (Dht::Lan, DhtKind::Lan)] {
                    if let Some(kad) = self.kad_mut(dht) {
                        dhts.push(reprovide::dht_view(kind, kad, &local));
                    }
                }
                let addrs = self.swarm.external_addresses().cloned().collect();
                let _ = reply.send(reprovide::RoutingView { dhts, addrs });
            }
            ActorRequest::WaitForPeers { reply } => {
                let known: usize = DHTS
                    .iter()
                    .filter_map(|dht| {
                        let kad = self.kad_mut(*dht)?;
                        Some(kad.kbuckets().map(|b| b.num_entries()).sum::<usize>())
                    })
                    .sum();
                if known > 0 {
                    let _ = reply.send(());
                } else {
                    self.routing_waiters.retain(|w| !w.is_closed());
                    self.routing_waiters.push(reply);
                }
            }
            ActorRequest::ClosestPeers { dht, key, reply } => {
                let dht = match dht {
                    DhtKind::Wan => Dht::Wan,
                    DhtKind::Lan => Dht::Lan,
                };
                if let Some(kad) = self.kad_mut(dht) {
                    let id = kad.get_closest_peers(key);
                    self.reprovide_lookups.insert((dht, id), reply);
                } else {
                    let _ = reply.send(Vec::new());
                }
            }
        }
    }

    /// Dials the peers a lookup found that we are not connected to, with the addresses it
    /// found (the reprovider's streams then go over these connections).
    fn dial_found(&mut self, peers: &[kad::PeerInfo]) {
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

    /// Dials a peering peer; a failure schedules the next attempt.
    fn dial_sticky(&mut self, peer: PeerId, addrs: Vec<Multiaddr>) {
        let opts = DialOpts::peer_id(peer)
            .addresses(addrs)
            .condition(PeerCondition::DisconnectedAndNotDialing)
            .build();
        if let Err(e) = self.swarm.dial(opts) {
            debug!(%peer, error = %e, "peering dial not started");
            if !self.swarm.is_connected(&peer) {
                self.peering.lost(&peer, Instant::now());
            }
        }
    }

    fn find_peer(
        &mut self,
        peer: PeerId,
        reply: oneshot::Sender<Result<Vec<Multiaddr>, CommandError>>,
    ) {
        if let Some(conns) = self.connections.get(&peer) {
            let mut addrs: Vec<Multiaddr> = conns.iter().map(|(_, a, _)| a.clone()).collect();
            addrs.dedup();
            let _ = reply.send(Ok(addrs));
            return;
        }
        let queries: Vec<QueryKey> = DHTS
            .iter()
            .filter_map(|dht| {
                let kad = self.kad_mut(*dht)?;
                Some((*dht, kad.get_closest_peers(peer)))
            })
            .collect();
        if queries.is_empty() {
            let _ = reply.send(Err(CommandError::RoutingDisabled {
                what: format!("find peer {peer}"),
            }));
            return;
        }
        let op = self.op_id();
        for q in &queries {
            self.find_peer_queries.insert(*q, op);
        }
        self.find_peer_ops.insert(
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
        let Some(op_id) = self.find_peer_queries.remove(&key) else {
            return;
        };
        let Some(op) = self.find_peer_ops.get_mut(&op_id) else {
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
            && let Some(op) = self.find_peer_ops.remove(&op_id)
        {
            let _ = op.reply.send(if op.addrs.is_empty() {
                Err(CommandError::PeerNotFound { peer: op.peer })
            } else {
                Ok(op.addrs)
            });
        }
    }

    fn fetch(&mut self, cid: Cid, reply: FetchReply) {
        if let Some(fetch) = self.fetches.get_mut(&cid) {
            fetch.waiters.push(reply);
            return;
        }
        // Stored since the caller looked: read it back instead of fetching it again.
        let stored = self.recently_stored.contains(&cid);
        self.fetches.insert(
            cid,
            Fetch {
                waiters: vec![reply],
                arrived: stored,
            },
        );
        if stored {
            let store = self.store.clone();
            self.rereads
                .spawn_blocking(move || (cid, store.get(&cid).ok().flatten()));
            return;
        }
        let actions = self.session.want(cid, Instant::now());
        self.apply(actions);
    }

    /// A recently stored block was read back for a fetch; if it is gone after all (removed
    /// meanwhile, or the read failed), the fetch goes to the network.
    fn on_reread(&mut self, cid: Cid, block: Option<Block>) {
        match block {
            Some(block) => {
                if let Some(fetch) = self.fetches.remove(&cid) {
                    for waiter in fetch.waiters {
                        let _ = waiter.send(Ok(block.clone()));
                    }
                }
            }
            None => {
                let Some(fetch) = self.fetches.get_mut(&cid) else {
                    return;
                };
                fetch.arrived = false;
                let actions = self.session.want(cid, Instant::now());
                self.apply(actions);
            }
        }
    }

    /// Drops waiters that went away; withdraws the want when none is left.
    fn release(&mut self, cid: &Cid) {
        let Some(fetch) = self.fetches.get_mut(cid) else {
            return;
        };
        fetch.waiters.retain(|w| !w.is_closed());
        if fetch.waiters.is_empty() && !fetch.arrived {
            self.fetches.remove(cid);
            self.session.cancel(cid);
            self.swarm.behaviour_mut().bitswap.cancel(cid);
            debug!(%cid, "fetch abandoned; want cancelled");
        }
    }

    fn sweep_abandoned(&mut self) {
        let abandoned: Vec<Cid> = self
            .fetches
            .iter()
            .filter(|(_, f)| f.waiters.iter().any(|w| w.is_closed()))
            .map(|(c, _)| *c)
            .collect();
        for cid in abandoned {
            self.release(&cid);
        }
    }

    /// Performs what the fetch session asks for.
    fn apply(&mut self, actions: Vec<Action>) {
        for action in actions {
            match action {
                Action::Want {
                    cid,
                    peers,
                    want_type,
                } => {
                    let asked = self
                        .swarm
                        .behaviour_mut()
                        .bitswap
                        .want(cid, peers, want_type);
                    trace!(%cid, asked, ?want_type, "want sent");
                }
                Action::Rewant { cid, peers } => {
                    let asked = self.swarm.behaviour_mut().bitswap.rewant(cid, peers);
                    trace!(%cid, asked, "want sent again to silent peers");
                }
                Action::FindProviders { cid } => {
                    if !self.dht_runs() {
                        continue;
                    }
                    debug!(%cid, "looking up providers");
                    if self.dht_peers() == 0 {
                        // Nobody to ask: retried when the DHT gains a peer.
                        self.session.search_unrouted(&cid);
                    }
                    for q in self.get_providers(&cid) {
                        self.provider_searches.insert(q, cid);
                    }
                }
                Action::Failed { cid } => {
                    self.swarm.behaviour_mut().bitswap.cancel(&cid);
                    if let Some(fetch) = self.fetches.remove(&cid) {
                        for waiter in fetch.waiters {
                            let _ = waiter.send(Err(FetchError::Timeout {
                                cid,
                                timeout: self.fetch_timeout,
                            }));
                        }
                    }
                    debug!(%cid, "fetch timed out");
                    if let Some(m) = &self.metrics {
                        m.fetch_timeouts.inc();
                    }
                }
            }
        }
    }

    // ----- serving -----

    /// Starts lookups for queued wants up to the concurrency bound.
    fn pump_lookups(&mut self) {
        while self.lookups.len() < self.max_lookups {
            let Some(task) = self.swarm.behaviour_mut().bitswap.next_task() else {
                break;
            };
            let store = self.store.clone();
            self.lookups.spawn_blocking(move || {
                let answer = lookup(&store, &task);
                (task, answer)
            });
        }
    }

    fn answer(&mut self, task: Task, answer: Answer) {
        let bitswap = &mut self.swarm.behaviour_mut().bitswap;
        let (blocks, presences) = match answer {
            Answer::Block(block) => (u64::from(bitswap.send_block(&task.peer, block)), 0),
            Answer::Presence(presence) => (
                0,
                u64::from(bitswap.send_presence(&task.peer, &task.cid, presence)),
            ),
        };
        if let Some(m) = &self.metrics {
            m.blocks_served.inc_by(blocks);
            m.presences_served.inc_by(presences);
        }
    }

    fn on_stored(&mut self, stored: Stored) {
        let cid = *stored.block.cid();
        match &stored.result {
            Ok(()) => self.recently_stored.insert(cid),
            Err(e) => warn!(%cid, error = %e, "storing a fetched block failed"),
        }
        self.swarm
            .behaviour_mut()
            .bitswap
            .notify_new_block(&stored.block);
        if let Some(fetch) = self.fetches.remove(&cid) {
            for waiter in fetch.waiters {
                let _ = waiter.send(Ok(stored.block.clone()));
            }
        }
    }

    // ----- swarm events -----

    fn on_swarm_event(&mut self, event: SwarmEvent<ChorusBehaviourEvent>) {
        if let Some(m) = &self.metrics {
            m.record(&event);
        }
        match event {
            SwarmEvent::Behaviour(ChorusBehaviourEvent::Bitswap(e)) => self.on_bitswap(e),
            SwarmEvent::Behaviour(ChorusBehaviourEvent::Kad(e)) => self.on_kad(Dht::Wan, e),
            SwarmEvent::Behaviour(ChorusBehaviourEvent::LanKad(e)) => self.on_kad(Dht::Lan, e),
            SwarmEvent::Behaviour(ChorusBehaviourEvent::Identify(e)) => self.on_identify(e),
            SwarmEvent::Behaviour(ChorusBehaviourEvent::Ping(e)) => {
                if let Some(m) = &self.metrics {
                    m.record(&e);
                }
            }
            SwarmEvent::Behaviour(ChorusBehaviourEvent::Limits(never)) => match never {},
            SwarmEvent::Behaviour(ChorusBehaviourEvent::Autonat(e)) => self.on_autonat(e),
            SwarmEvent::NewListenAddr {
                listener_id,
                address,
            } => {
                info!(%address, "listening");
                if self.announce_listen_addrs {
                    self.swarm.add_external_address(address.clone());
                    self.update_wan_mode();
                }
                if !self.listen_addrs.contains(&address) {
                    self.listen_addrs.push(address);
                }
                if let Some(s) = &mut self.startup
                    && s.pending.remove(&listener_id)
                {
                    s.bound += 1;
                }
                self.check_startup();
            }
            SwarmEvent::ExpiredListenAddr { address, .. } => {
                if self.announce_listen_addrs {
                    self.swarm.remove_external_address(&address);
                    self.update_wan_mode();
                }
                self.listen_addrs.retain(|a| *a != address);
            }
            SwarmEvent::ListenerClosed {
                listener_id,
                addresses,
                reason,
            } => {
                self.listen_addrs.retain(|a| !addresses.contains(a));
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
            } => {
                debug!(peer = %peer_id, addr = %endpoint.get_remote_address(), "connected");
                self.connections.entry(peer_id).or_default().push((
                    connection_id,
                    endpoint.get_remote_address().clone(),
                    endpoint.is_dialer(),
                ));
                if let Some(reply) = self.dials.remove(&connection_id) {
                    let _ = reply.send(Ok(peer_id));
                }
                if num_established.get() == 1 {
                    self.peering.connected(&peer_id);
                    self.emit(NetworkEvent::PeerConnected { peer: peer_id });
                    let actions = self.session.add_peer(peer_id);
                    self.apply(actions);
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                ..
            } => {
                if let Some(conns) = self.connections.get_mut(&peer_id) {
                    conns.retain(|(id, _, _)| *id != connection_id);
                    if conns.is_empty() {
                        self.connections.remove(&peer_id);
                    }
                }
                if num_established == 0 {
                    debug!(peer = %peer_id, "disconnected");
                    self.peering.lost(&peer_id, Instant::now());
                    self.emit(NetworkEvent::PeerDisconnected { peer: peer_id });
                    let actions = self.session.remove_peer(&peer_id, Instant::now());
                    self.apply(actions);
                }
            }
            SwarmEvent::OutgoingConnectionError {
                connection_id,
                peer_id,
                error,
            } => {
                debug!(peer = ?peer_id, error = %error, "dial failed");
                if let Some(peer) = peer_id
                    && !self.swarm.is_connected(&peer)
                {
                    self.peering.lost(&peer, Instant::now());
                }
                if let Some(reply) = self.dials.remove(&connection_id) {
                    let target = peer_id.map_or_else(|| "peer".to_owned(), |p| p.to_string());
                    let _ = reply.send(Err(CommandError::Dial {
                        target,
                        reason: error.to_string(),
                    }));
                }
            }
            other => trace!(event = ?other, "swarm event"),
        }
    }

    /// In [`KadMode::Auto`], serves the public DHT only while this node is reachable, as
    /// kubo: AutoNAT's verdict when it has one, else whether an announced address is public.
    /// Announced addresses also go into our provider records: kubo ignores records without
    /// addresses.
    fn update_wan_mode(&mut self) {
        if self.kad_mode != KadMode::Auto {
            return;
        }
        let public = match &self.nat_status {
            NatStatus::Public(_) => true,
            NatStatus::Private => false,
            NatStatus::Unknown => self.swarm.external_addresses().any(|a| !is_lan_addr(a)),
        };
        let mode = if public {
            kad::Mode::Server
        } else {
            kad::Mode::Client
        };
        if let Some(kad) = self.swarm.behaviour_mut().kad.as_mut() {
            kad.set_mode(Some(mode));
        }
    }

    fn listener_failed(&mut self, listener_id: ListenerId, reason: String) {
        if let Some(s) = &mut self.startup
            && s.pending.remove(&listener_id)
        {
            s.errors.push(reason);
        }
        self.check_startup();
    }

    /// Reports start-up once every listener bound or failed.
    fn check_startup(&mut self) {
        if self.startup.as_ref().is_some_and(|s| s.pending.is_empty())
            && let Some(s) = self.startup.take()
        {
            let result = if s.bound == 0 && !s.errors.is_empty() {
                Err(StartError::NoListener(s.errors.join("; ")))
            } else {
                Ok(())
            };
            let _ = s.ready.send(result);
        }
    }

    fn on_bitswap(&mut self, event: bitswap::Event) {
        let now = Instant::now();
        match event {
            bitswap::Event::Wants { peer, wants } => {
                self.emit(NetworkEvent::WantsReceived {
                    peer,
                    cids: wants.iter().map(|w| w.cid).collect(),
                });
                self.pump_lookups();
            }
            bitswap::Event::TasksAvailable { .. } => self.pump_lookups(),
            bitswap::Event::Cancelled { peer, cids } => {
                self.emit(NetworkEvent::WantsCancelled { peer, cids });
            }
            bitswap::Event::Block { peer, block } => {
                let cid = *block.cid();
                if let Some(m) = &self.metrics {
                    m.blocks_received.inc();
                }
                self.session.on_block(&cid);
                self.emit(NetworkEvent::BlockReceived { peer, cid });
                if let Some(fetch) = self.fetches.get_mut(&cid) {
                    fetch.arrived = true;
                }
                let store = self.store.clone();
                self.stores.spawn_blocking(move || {
                    let result = store.put(&block).map(|_| ());
                    Stored { block, result }
                });
            }
            bitswap::Event::Have { peer, cid } => {
                let actions = self.session.on_have(peer, &cid, now);
                self.apply(actions);
            }
            bitswap::Event::DontHave { peer, cid } => {
                let actions = self.session.on_dont_have(peer, &cid, now);
                self.apply(actions);
            }
            bitswap::Event::PeerUnsupported { peer } => {
                let actions = self.session.remove_peer(&peer, now);
                self.apply(actions);
            }
            bitswap::Event::PeerBanned { peer } => {
                warn!(%peer, "bitswap banned a misbehaving peer");
            }
            other => trace!(event = ?other, "bitswap event"),
        }
    }

    fn on_autonat(&mut self, event: autonat::Event) {
        let (peer, asked_by_us, outcome) = match event {
            autonat::Event::StatusChanged { old, new } => {
                let status = NatStatus::from(new);
                info!(old = ?old, new = ?status, "AutoNAT reachability changed");
                if let Some(m) = &self.metrics {
                    m.nat_status.set(status.gauge());
                }
                self.nat_status = status.clone();
                self.update_wan_mode();
                self.emit(NetworkEvent::NatStatusChanged { status });
                return;
            }
            autonat::Event::OutboundProbe(autonat::OutboundProbeEvent::Response {
                peer,
                address,
                ..
            }) => (Some(peer), true, ProbeOutcome::Reachable(address)),
            autonat::Event::OutboundProbe(autonat::OutboundProbeEvent::Error {
                peer,
                error,
                ..
            }) => (peer, true, ProbeOutcome::Failed(format!("{error:?}"))),
            autonat::Event::InboundProbe(autonat::InboundProbeEvent::Response {
                peer,
                address,
                ..
            }) => (Some(peer), false, ProbeOutcome::Reachable(address)),
            autonat::Event::InboundProbe(autonat::InboundProbeEvent::Error {
                peer, error, ..
            }) => (
                Some(peer),
                false,
                ProbeOutcome::Failed(format!("{error:?}")),
            ),
            other => {
                trace!(event = ?other, "autonat event");
                return;
            }
        };
        debug!(?peer, asked_by_us, ?outcome, "AutoNAT probe finished");
        if let Some(m) = &self.metrics {
            let role = if asked_by_us { "client" } else { "server" };
            let result = match outcome {
                ProbeOutcome::Reachable(_) => "reachable",
                ProbeOutcome::Failed(_) => "failed",
            };
            m.autonat_probes
                .get_or_create(&vec![
                    ("role".to_owned(), role.to_owned()),
                    ("result".to_owned(), result.to_owned()),
                ])
                .inc();
        }
        self.emit(NetworkEvent::AutonatProbe {
            peer,
            asked_by_us,
            outcome,
        });
    }

    fn on_identify(&mut self, event: identify::Event) {
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

    fn on_kad(&mut self, dht: Dht, event: kad::Event) {
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
                for waiter in self.routing_waiters.drain(..) {
                    let _ = waiter.send(());
                }
                // Announcements and provider searches waiting for a DHT peer may go now.
                self.pump_provides();
                let actions = self.session.dht_peer_added(Instant::now());
                self.apply(actions);
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
            kad::QueryResult::StartProviding(result) => {
                let Some(op_id) = self.provide_queries.remove(&key) else {
                    return;
                };
                let Some(op) = self.provide_ops.get_mut(&op_id) else {
                    return;
                };
                op.pending = op.pending.saturating_sub(1);
                op.succeeded |= result.is_ok();
                if op.pending == 0
                    && let Some(op) = self.provide_ops.remove(&op_id)
                {
                    let cid = op.cid;
                    match op.origin {
                        Origin::Caller(reply) => {
                            let _ = reply.send(if op.succeeded {
                                Ok(())
                            } else {
                                Err(CommandError::ProvideTimeout { cid })
                            });
                        }
                        Origin::Queue(seq) => {
                            if !op.succeeded {
                                debug!(%cid, "background announcement timed out");
                            }
                            self.queue.done(seq);
                            self.background_provides = self.background_provides.saturating_sub(1);
                            self.pump_provides();
                        }
                    }
                }
            }
            kad::QueryResult::GetClosestPeers(result) => {
                let peers = match result {
                    Ok(ok) => ok.peers,
                    Err(kad::GetClosestPeersError::Timeout { peers, .. }) => peers,
                };
                if step.last
                    && let Some(reply) = self.reprovide_lookups.remove(&key)
                {
                    self.dial_found(&peers);
                    let _ = reply.send(peers);
                } else if step.last {
                    self.on_closest_peers(key, peers);
                } else if let Some(op) = self
                    .find_peer_queries
                    .get(&key)
                    .and_then(|id| self.find_peer_ops.get_mut(id))
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
        if let Some(cid) = self.provider_searches.get(&key).copied() {
            for peer in providers.iter().copied().filter(|p| *p != local) {
                if self.swarm.is_connected(&peer) {
                    let actions = self.session.add_provider(&cid, peer, Instant::now());
                    self.apply(actions);
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
                self.provider_searches.remove(&key);
            }
        }
        let Some(op_id) = self.find_queries.get(&key).copied() else {
            return;
        };
        if last {
            self.find_queries.remove(&key);
        }
        let Some(op) = self.find_ops.get_mut(&op_id) else {
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
            && let Some(mut op) = self.find_ops.remove(&op_id)
        {
            for (dht, id) in std::mem::take(&mut op.queries) {
                self.find_queries.remove(&(dht, id));
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

/// Whether `addr` is on a private network (what kubo's LAN DHT accepts): loopback, RFC 1918,
/// link-local, or IPv6 unique-local.
fn is_lan_addr(addr: &Multiaddr) -> bool {
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
