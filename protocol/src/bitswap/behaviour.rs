//! The Bitswap `NetworkBehaviour`: network-wide state of both roles.
//!
//! Client: our wantlist, which peer was asked what, and matching of arriving blocks and
//! presences. Server: each remote peer's ledger (its wantlist) and the fair queue of lookups.
//! The behaviour never touches storage: it reports wants as [`Event::Wants`] and the node
//! answers through [`Behaviour::send_block`] and [`Behaviour::send_presence`].
//!
//! Everything queued for a peer between two polls is batched into one message, sent on the
//! peer's first connection that speaks Bitswap.

use std::{
    collections::{HashMap, HashSet, VecDeque},
    task::{Context, Poll, Waker},
};

use chorus_storage::{Block, Multihash};
use cid::Cid;
use libp2p::{
    Multiaddr, PeerId,
    core::{Endpoint, transport::PortUse},
    swarm::{
        CloseConnection, ConnectionClosed, ConnectionDenied, ConnectionId, FromSwarm,
        NetworkBehaviour, NotifyHandler, THandler, THandlerInEvent, THandlerOutEvent, ToSwarm,
    },
};
use tracing::{debug, trace};

use super::config::Config;
use super::event::{Event, Misbehaviour, Task};
use super::handler::{Handler, HandlerIn, HandlerOut};
use super::message::{Message, Presence, WantEntry, WantType, as_v0};
use super::protocol::{MAX_BLOCK_SIZE, MAX_BLOCK_SIZE_REPLACE_HAVE, MAX_MESSAGE_SIZE, Version};
use super::recent::RecentSet;
use super::server_queue::ServerQueue;
use super::stats::Stats;

/// Score added for a block nobody asked for (including corrupt blocks).
pub const PENALTY_UNREQUESTED_BLOCK: u32 = 10;
/// Score added for an oversized or undecodable frame.
pub const PENALTY_MALFORMED_FRAME: u32 = 25;
/// Score added per invalid item in an otherwise readable message.
pub const PENALTY_INVALID_ITEM: u32 = 5;
/// Score added for one message whose new wants overflow the per-peer bound by more than the
/// bound itself. Wants over the bound are ignored either way (boxo truncates too); only a
/// message that alone carries more than twice what is kept is a flood rather than a busy
/// client, so ten of them get a peer banned.
pub const PENALTY_WANTLIST_FLOOD: u32 = 10;

/// Multihashes of recently satisfied or cancelled wants remembered, so late duplicates from
/// slower peers are dropped quietly instead of counted as unrequested. Our own bound: a few
/// seconds of traffic at full speed with 256 KiB blocks.
const RECENT_WANTS_CAPACITY: usize = 4096;

/// Peers whose misbehaviour score is remembered (also after they disconnect).
const SCORE_TABLE_CAPACITY: usize = 4096;

/// Estimated wire bytes of a non-block item, for batching (CID plus framing).
const ITEM_SIZE_ESTIMATE: usize = 200;

/// One of our wants.
#[derive(Debug)]
struct ClientWant {
    priority: i32,
    /// Who was asked, and for what.
    peers: HashMap<PeerId, WantType>,
}

/// A remote peer's want, as recorded in its ledger.
#[derive(Debug, Clone, Copy)]
struct LedgerEntry {
    want_type: WantType,
    send_dont_have: bool,
}

#[derive(Debug)]
struct Connection {
    id: ConnectionId,
    /// Block bytes handed to the handler and not yet reported written or dropped.
    outstanding: usize,
    version: Option<Version>,
    unsupported: bool,
}

#[derive(Debug, Default)]
struct PeerState {
    connections: Vec<Connection>,
    ledger: HashMap<Cid, LedgerEntry>,
    /// Messages not yet handed to a handler; the last one is still being filled.
    outbox: VecDeque<Message>,
    /// Tasks handed out by `next_task` and not yet answered.
    in_lookup: HashSet<Cid>,
}

impl PeerState {
    fn primary(&self) -> Option<&Connection> {
        self.connections.iter().find(|c| !c.unsupported)
    }

    fn version(&self) -> Option<Version> {
        self.primary().and_then(|c| c.version)
    }

    fn outstanding(&self) -> usize {
        let queued: usize = self.outbox.iter().map(Message::block_bytes).sum();
        self.primary()
            .map_or(usize::MAX, |c| c.outstanding.saturating_add(queued))
    }

    /// The message to append an item of `size` bytes to.
    fn open_message(&mut self, size: usize) -> &mut Message {
        let fits = self
            .outbox
            .back()
            .is_some_and(|m| m.estimated_size().saturating_add(size) <= MAX_MESSAGE_SIZE);
        if !fits {
            self.outbox.push_back(Message::default());
        }
        let len = self.outbox.len();
        &mut self.outbox[len - 1]
    }
}

/// The Bitswap network behaviour. See the [module docs](super).
pub struct Behaviour {
    config: Config,
    peers: HashMap<PeerId, PeerState>,
    wants: HashMap<Cid, ClientWant>,
    by_hash: HashMap<Multihash, Vec<Cid>>,
    recent: RecentSet<Multihash>,
    next_priority: i32,
    queue: ServerQueue,
    scores: HashMap<PeerId, u32>,
    banned: HashSet<PeerId>,
    dirty: HashSet<PeerId>,
    actions: VecDeque<ToSwarm<Event, HandlerIn>>,
    waker: Option<Waker>,
    stats: Stats,
}

impl Behaviour {
    /// A behaviour with `config`.
    pub fn new(config: Config) -> Self {
        let queue = ServerQueue::new(config.round_quantum, config.task_cost_estimate);
        Behaviour {
            config,
            peers: HashMap::new(),
            wants: HashMap::new(),
            by_hash: HashMap::new(),
            recent: RecentSet::new(RECENT_WANTS_CAPACITY),
            next_priority: i32::MAX,
            queue,
            scores: HashMap::new(),
            banned: HashSet::new(),
            dirty: HashSet::new(),
            actions: VecDeque::new(),
            waker: None,
            stats: Stats::default(),
        }
    }

    fn wake(&mut self) {
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }

    fn emit(&mut self, event: Event) {
        self.actions.push_back(ToSwarm::GenerateEvent(event));
        self.wake();
    }

    // ----- client side -----

    /// Asks `peers` for `cid`; returns how many were asked now.
    ///
    /// Peers that are not connected, do not speak Bitswap, or cannot express the CID (1.0.0
    /// peers take only CIDv0-compatible CIDs) are skipped. Asking a peer again with the same
    /// type, or for a presence after the block, sends nothing. The want stays until the block
    /// arrives or [`cancel`](Self::cancel) is called; newly connected peers get it as
    /// WANT_HAVE (see [`Config::send_wantlist_to_new_peers`]).
    pub fn want(
        &mut self,
        cid: Cid,
        peers: impl IntoIterator<Item = PeerId>,
        want_type: WantType,
    ) -> usize {
        self.want_with(cid, peers, want_type, true)
    }

    /// [`want`](Self::want) with an explicit `sendDontHave` flag: `false` keeps peers silent
    /// when they lack the block (go-bitswap does this for broadcast WANT_HAVEs, to save
    /// traffic when asking many peers).
    pub fn want_with(
        &mut self,
        cid: Cid,
        peers: impl IntoIterator<Item = PeerId>,
        want_type: WantType,
        send_dont_have: bool,
    ) -> usize {
        self.ask(cid, peers, want_type, send_dont_have, false)
    }

    /// Sends WANT_HAVE (with `sendDontHave`) for `cid` to `peers` again, also to those
    /// already asked: for peers that never answered, whose copy of the want may have been
    /// lost with a reset stream (go-bitswap rebroadcasts its wantlist for the same reason).
    /// Peers asked for the block are left alone. Returns how many were asked now.
    pub fn rewant(&mut self, cid: Cid, peers: impl IntoIterator<Item = PeerId>) -> usize {
        self.ask(cid, peers, WantType::Have, true, true)
    }

    /// [`want_with`](Self::want_with); `again` re-sends WANT_HAVEs already sent.
    fn ask(
        &mut self,
        cid: Cid,
        peers: impl IntoIterator<Item = PeerId>,
        want_type: WantType,
        send_dont_have: bool,
        again: bool,
    ) -> usize {
        let priority = match self.wants.get(&cid) {
            Some(w) => w.priority,
            None => {
                let p = self.next_priority;
                self.next_priority = self.next_priority.saturating_sub(1).max(1);
                self.wants.insert(
                    cid,
                    ClientWant {
                        priority: p,
                        peers: HashMap::new(),
                    },
                );
                self.by_hash.entry(*cid.hash()).or_default().push(cid);
                p
            }
        };
        let mut asked = 0;
        for peer in peers {
            let Some(state) = self.peers.get_mut(&peer) else {
                continue;
            };
            if state.primary().is_none() {
                continue;
            }
            let version = state.version();
            if version.is_some_and(|v| !v.supports_cid_v1()) && as_v0(&cid).is_none() {
                continue;
            }
            // Older peers read WANT_HAVE as WANT_BLOCK; record what they will actually do.
            let effective = if version.is_some_and(|v| !v.supports_have()) {
                WantType::Block
            } else {
                want_type
            };
            let Some(want) = self.wants.get_mut(&cid) else {
                continue;
            };
            match want.peers.get(&peer) {
                Some(WantType::Block) => continue,
                Some(WantType::Have) if effective == WantType::Have && !again => continue,
                _ => {}
            }
            want.peers.insert(peer, effective);
            let msg = state.open_message(ITEM_SIZE_ESTIMATE);
            msg.cancels.retain(|c| *c != cid);
            msg.wants.retain(|w| w.cid != cid);
            msg.wants.push(WantEntry {
                cid,
                priority,
                want_type: effective,
                send_dont_have,
            });
            self.dirty.insert(peer);
            asked += 1;
        }
        self.wake();
        asked
    }

    /// Withdraws our want for `cid`, sending CANCEL to every peer asked. Returns whether it
    /// was wanted.
    pub fn cancel(&mut self, cid: &Cid) -> bool {
        self.finish_want(cid, None)
    }

    /// Removes a want and cancels it at every peer asked except `except`.
    fn finish_want(&mut self, cid: &Cid, except: Option<PeerId>) -> bool {
        let Some(want) = self.wants.remove(cid) else {
            return false;
        };
        let mh = *cid.hash();
        if let Some(list) = self.by_hash.get_mut(&mh) {
            list.retain(|c| c != cid);
            if list.is_empty() {
                self.by_hash.remove(&mh);
            }
        }
        self.recent.insert(mh);
        for peer in want.peers.into_keys() {
            if Some(peer) == except {
                continue;
            }
            let Some(state) = self.peers.get_mut(&peer) else {
                continue;
            };
            let msg = state.open_message(ITEM_SIZE_ESTIMATE);
            msg.wants.retain(|w| w.cid != *cid);
            msg.cancels.push(*cid);
            self.dirty.insert(peer);
        }
        self.wake();
        true
    }

    /// Whether `cid` is on our wantlist.
    pub fn is_wanted(&self, cid: &Cid) -> bool {
        self.wants.contains_key(cid)
    }

    /// Our current wantlist.
    pub fn wantlist(&self) -> impl Iterator<Item = &Cid> {
        self.wants.keys()
    }

    /// The peers asked for `cid`, and with which type.
    pub fn asked(&self, cid: &Cid) -> impl Iterator<Item = (&PeerId, &WantType)> {
        self.wants.get(cid).into_iter().flat_map(|w| w.peers.iter())
    }

    /// Peers with a connection that (as far as known) speaks Bitswap.
    pub fn connected_peers(&self) -> impl Iterator<Item = &PeerId> {
        self.peers
            .iter()
            .filter(|(_, s)| s.primary().is_some())
            .map(|(p, _)| p)
    }

    /// The version negotiated on our stream to `peer`, once known.
    pub fn peer_version(&self, peer: &PeerId) -> Option<Version> {
        self.peers.get(peer).and_then(PeerState::version)
    }

    // ----- server side -----

    /// The wantlist `peer` has sent us (its ledger).
    pub fn ledger(&self, peer: &PeerId) -> impl Iterator<Item = (&Cid, WantType)> {
        self.peers
            .get(peer)
            .into_iter()
            .flat_map(|s| s.ledger.iter().map(|(c, e)| (c, e.want_type)))
    }

    /// Hands out the next want to look up, round-robin across peers with bounded bytes per
    /// round; peers whose connection still has [`Config::max_outstanding_bytes`] to write are
    /// skipped until it drains. Answer each task with [`send_block`](Self::send_block) or
    /// [`send_presence`](Self::send_presence); an unanswered task only costs its ledger slot.
    pub fn next_task(&mut self) -> Option<Task> {
        let max = self.config.max_outstanding_bytes;
        loop {
            let peers = &self.peers;
            let (peer, cid) = self
                .queue
                .pop(|p| peers.get(p).is_some_and(|s| s.outstanding() < max))?;
            let Some(state) = self.peers.get_mut(&peer) else {
                continue;
            };
            let Some(entry) = state.ledger.get(&cid).copied() else {
                continue;
            };
            state.in_lookup.insert(cid);
            return Some(Task {
                peer,
                cid,
                want_type: entry.want_type,
                send_dont_have: entry.send_dont_have,
            });
        }
    }

    /// Number of wants waiting in the fair queue.
    pub fn queued_tasks(&self) -> usize {
        self.queue.len()
    }

    /// Answers `peer`'s want for `block` (matched by CID, or by multihash for the other CID
    /// version): the block for WANT_BLOCK; for WANT_HAVE the block if it is at most
    /// [`MAX_BLOCK_SIZE_REPLACE_HAVE`] bytes, else HAVE. The entry leaves the ledger.
    /// Returns `false` (sending nothing) if the peer no longer wants it — e.g. it cancelled
    /// while the node was looking it up — or the block is over [`MAX_BLOCK_SIZE`].
    ///
    /// Accepted blocks are held until written; pull work through
    /// [`next_task`](Self::next_task) so a slow peer's backlog stays within
    /// [`Config::max_outstanding_bytes`].
    pub fn send_block(&mut self, peer: &PeerId, block: Block) -> bool {
        if block.data().len() > MAX_BLOCK_SIZE {
            return false;
        }
        let Some(state) = self.peers.get_mut(peer) else {
            return false;
        };
        let cid = if state.ledger.contains_key(block.cid()) {
            *block.cid()
        } else {
            match state.ledger.keys().find(|c| c.hash() == block.cid().hash()) {
                Some(c) => *c,
                None => return false,
            }
        };
        let Some(entry) = state.ledger.remove(&cid) else {
            return false;
        };
        let block = if cid == *block.cid() {
            block
        } else {
            match block.with_cid(cid) {
                Ok(b) => b,
                Err(_) => return false,
            }
        };
        let popped = state.in_lookup.remove(&cid);
        let send_whole =
            entry.want_type == WantType::Block || block.data().len() <= MAX_BLOCK_SIZE_REPLACE_HAVE;
        let cost = if send_whole {
            let len = block.data().len();
            self.stats.blocks_sent += 1;
            self.stats.block_bytes_sent += len as u64;
            state
                .open_message(len + ITEM_SIZE_ESTIMATE)
                .blocks
                .push(block);
            len
        } else {
            self.stats.haves_sent += 1;
            state
                .open_message(ITEM_SIZE_ESTIMATE)
                .presences
                .push((cid, Presence::Have));
            ITEM_SIZE_ESTIMATE
        };
        self.queue.remove(peer, &cid);
        if popped {
            self.queue.settle(peer, cost);
        } else {
            self.queue.charge(peer, cost);
        }
        self.dirty.insert(*peer);
        self.wake();
        true
    }

    /// Answers `peer`'s want for `cid` with a presence. HAVE settles a WANT_HAVE (the entry
    /// leaves the ledger); DONT_HAVE is sent only if the peer asked for it with
    /// `sendDontHave`, and the entry stays (go-bitswap keeps it, so a block that arrives
    /// later can still be sent via [`notify_new_block`](Self::notify_new_block)). Returns
    /// whether anything was queued.
    pub fn send_presence(&mut self, peer: &PeerId, cid: &Cid, presence: Presence) -> bool {
        let Some(state) = self.peers.get_mut(peer) else {
            return false;
        };
        let Some(entry) = state.ledger.get(cid).copied() else {
            return false;
        };
        let popped = state.in_lookup.remove(cid);
        let send = match presence {
            Presence::Have => {
                if entry.want_type == WantType::Have {
                    state.ledger.remove(cid);
                }
                true
            }
            Presence::DontHave => entry.send_dont_have,
        };
        if send {
            match presence {
                Presence::Have => self.stats.haves_sent += 1,
                Presence::DontHave => self.stats.dont_haves_sent += 1,
            }
            state
                .open_message(ITEM_SIZE_ESTIMATE)
                .presences
                .push((*cid, presence));
            self.dirty.insert(*peer);
        }
        self.queue.remove(peer, cid);
        if popped {
            self.queue.settle(peer, ITEM_SIZE_ESTIMATE);
        } else {
            self.queue.charge(peer, ITEM_SIZE_ESTIMATE);
        }
        self.wake();
        send
    }

    /// Sends a block that just became available to every peer whose ledger wants it; returns
    /// how many.
    pub fn notify_new_block(&mut self, block: &Block) -> usize {
        let wanting: Vec<PeerId> = self
            .peers
            .iter()
            .filter(|(_, s)| s.ledger.keys().any(|c| c.hash() == block.cid().hash()))
            .map(|(p, _)| *p)
            .collect();
        wanting
            .into_iter()
            .filter(|p| self.send_block(p, block.clone()))
            .count()
    }

    /// Counters since creation, for metrics.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    // ----- misbehaviour -----

    /// A peer's misbehaviour score.
    pub fn score(&self, peer: &PeerId) -> u32 {
        self.scores.get(peer).copied().unwrap_or(0)
    }

    /// Whether a peer is banned.
    pub fn is_banned(&self, peer: &PeerId) -> bool {
        self.banned.contains(peer)
    }

    /// Resets a peer's score and lifts its ban.
    pub fn forgive(&mut self, peer: &PeerId) {
        self.scores.remove(peer);
        self.banned.remove(peer);
    }

    fn penalise(&mut self, peer: PeerId, reason: Misbehaviour, points: u32) {
        if !self.scores.contains_key(&peer) && self.scores.len() >= SCORE_TABLE_CAPACITY {
            let gone = self
                .scores
                .keys()
                .find(|p| !self.peers.contains_key(*p) && !self.banned.contains(*p))
                .copied();
            if let Some(gone) = gone {
                self.scores.remove(&gone);
            }
        }
        let score = self.scores.entry(peer).or_insert(0);
        *score = score.saturating_add(points);
        let score = *score;
        debug!(%peer, %reason, score, "bitswap peer misbehaved");
        self.emit(Event::PeerMisbehaved {
            peer,
            reason,
            score,
        });
        if score >= self.config.ban_threshold && self.banned.insert(peer) {
            debug!(%peer, score, "banning bitswap peer");
            self.emit(Event::PeerBanned { peer });
            self.actions.push_back(ToSwarm::CloseConnection {
                peer_id: peer,
                connection: CloseConnection::All,
            });
        }
    }

    // ----- inbound processing -----

    fn on_message(&mut self, peer: PeerId, message: Message) {
        let Message {
            full,
            wants,
            cancels,
            blocks,
            presences,
            ..
        } = message;
        self.on_wantlist(peer, full, wants, cancels);
        for block in blocks {
            self.on_block(peer, block);
        }
        for (cid, presence) in presences {
            match presence {
                Presence::Have => self.stats.haves_received += 1,
                Presence::DontHave => self.stats.dont_haves_received += 1,
            }
            if self.wants.contains_key(&cid) {
                self.emit(match presence {
                    Presence::Have => Event::Have { peer, cid },
                    Presence::DontHave => Event::DontHave { peer, cid },
                });
            } else {
                trace!(%peer, %cid, "presence for a CID we do not want");
            }
        }
    }

    fn on_wantlist(&mut self, peer: PeerId, full: bool, wants: Vec<WantEntry>, cancels: Vec<Cid>) {
        let max = self.config.max_wantlist_entries_per_peer;
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        let mut cancelled = Vec::new();
        if full {
            let keep: HashSet<Cid> = wants.iter().map(|w| w.cid).collect();
            let gone: Vec<Cid> = state
                .ledger
                .keys()
                .filter(|c| !keep.contains(*c))
                .copied()
                .collect();
            for cid in gone {
                state.ledger.remove(&cid);
                state.in_lookup.remove(&cid);
                self.queue.remove(&peer, &cid);
                cancelled.push(cid);
            }
        }
        for cid in cancels {
            if state.ledger.remove(&cid).is_some() {
                state.in_lookup.remove(&cid);
                self.queue.remove(&peer, &cid);
                cancelled.push(cid);
            }
        }
        let mut added = Vec::new();
        let mut ignored = 0usize;
        for want in wants {
            if !state.ledger.contains_key(&want.cid) && state.ledger.len() >= max {
                ignored += 1;
                continue;
            }
            state.ledger.insert(
                want.cid,
                LedgerEntry {
                    want_type: want.want_type,
                    send_dont_have: want.send_dont_have,
                },
            );
            if !state.in_lookup.contains(&want.cid) {
                self.queue.push(peer, want.cid, want.priority);
            }
            added.push(want);
        }
        if ignored > 0 {
            debug!(%peer, ignored, max, "bitswap wantlist over the per-peer bound");
            self.stats.wants_ignored += ignored as u64;
        }
        let flood = ignored > max;
        self.stats.wants_received += added.len() as u64;
        self.stats.cancels_received += cancelled.len() as u64;
        if !cancelled.is_empty() {
            self.emit(Event::Cancelled {
                peer,
                cids: cancelled,
            });
        }
        if !added.is_empty() {
            self.emit(Event::Wants { peer, wants: added });
        }
        if flood {
            self.penalise(
                peer,
                Misbehaviour::WantlistFlood { ignored, max },
                PENALTY_WANTLIST_FLOOD,
            );
        }
    }

    fn on_block(&mut self, peer: PeerId, block: Block) {
        let mh = *block.cid().hash();
        let Some(cids) = self.by_hash.get(&mh).cloned() else {
            if self.recent.contains(&mh) {
                self.stats.duplicate_blocks += 1;
                trace!(%peer, cid = %block.cid(), "duplicate block");
            } else {
                self.stats.unrequested_blocks += 1;
                self.penalise(
                    peer,
                    Misbehaviour::UnrequestedBlock { cid: *block.cid() },
                    PENALTY_UNREQUESTED_BLOCK,
                );
            }
            return;
        };
        self.stats.blocks_received += 1;
        self.stats.block_bytes_received += block.data().len() as u64;
        for cid in cids {
            let labelled = if cid == *block.cid() {
                Ok(block.clone())
            } else {
                block.clone().with_cid(cid)
            };
            let Ok(labelled) = labelled else {
                continue;
            };
            self.finish_want(&cid, Some(peer));
            self.emit(Event::Block {
                peer,
                block: labelled,
            });
        }
    }

    fn on_peer_connected(&mut self, peer: PeerId) {
        if !self.config.send_wantlist_to_new_peers || self.wants.is_empty() {
            return;
        }
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        let mut first = true;
        for (cid, want) in self.wants.iter_mut() {
            let msg = state.open_message(ITEM_SIZE_ESTIMATE);
            if first {
                msg.full = true;
                first = false;
            }
            msg.wants.push(WantEntry {
                cid: *cid,
                priority: want.priority,
                want_type: WantType::Have,
                send_dont_have: false,
            });
            want.peers.insert(peer, WantType::Have);
        }
        self.dirty.insert(peer);
        self.wake();
    }

    fn on_peer_gone(&mut self, peer: &PeerId) {
        for want in self.wants.values_mut() {
            want.peers.remove(peer);
        }
    }

    /// Moves batched messages to the handlers.
    fn flush(&mut self) {
        for peer in std::mem::take(&mut self.dirty) {
            let Some(state) = self.peers.get_mut(&peer) else {
                continue;
            };
            let outbox = std::mem::take(&mut state.outbox);
            let Some(conn) = state.connections.iter_mut().find(|c| !c.unsupported) else {
                continue;
            };
            for message in outbox {
                if message.is_empty() {
                    continue;
                }
                conn.outstanding = conn.outstanding.saturating_add(message.block_bytes());
                self.actions.push_back(ToSwarm::NotifyHandler {
                    peer_id: peer,
                    handler: NotifyHandler::One(conn.id),
                    event: HandlerIn::Send(message),
                });
            }
        }
    }

    fn new_handler(&self, peer: PeerId) -> Result<Handler, ConnectionDenied> {
        if self.banned.contains(&peer) {
            return Err(ConnectionDenied::new(BannedPeer(peer)));
        }
        Ok(Handler::new(
            self.config.protocols.clone(),
            self.config.max_inbound_streams,
            self.config.send_queue_capacity,
        ))
    }
}

/// Why a connection was refused: the peer's misbehaviour score reached the ban threshold.
#[derive(Debug, thiserror::Error)]
#[error("peer {0} is banned by bitswap for misbehaviour")]
pub struct BannedPeer(pub PeerId);

impl NetworkBehaviour for Behaviour {
    type ConnectionHandler = Handler;
    type ToSwarm = Event;

    fn handle_established_inbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        peer: PeerId,
        _local_addr: &Multiaddr,
        _remote_addr: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.new_handler(peer)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _connection_id: ConnectionId,
        peer: PeerId,
        _addr: &Multiaddr,
        _role_override: Endpoint,
        _port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.new_handler(peer)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(e) => {
                let state = self.peers.entry(e.peer_id).or_default();
                state.connections.push(Connection {
                    id: e.connection_id,
                    outstanding: 0,
                    version: None,
                    unsupported: false,
                });
                if e.other_established == 0 {
                    self.on_peer_connected(e.peer_id);
                }
            }
            FromSwarm::ConnectionClosed(ConnectionClosed {
                peer_id,
                connection_id,
                remaining_established,
                ..
            }) => {
                if remaining_established == 0 {
                    self.peers.remove(&peer_id);
                    self.queue.remove_peer(&peer_id);
                    self.dirty.remove(&peer_id);
                    self.on_peer_gone(&peer_id);
                } else if let Some(state) = self.peers.get_mut(&peer_id) {
                    state.connections.retain(|c| c.id != connection_id);
                    if !state.outbox.is_empty() {
                        self.dirty.insert(peer_id);
                    }
                }
            }
            _ => {}
        }
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        connection_id: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        let conn = self
            .peers
            .get_mut(&peer)
            .and_then(|s| s.connections.iter_mut().find(|c| c.id == connection_id));
        match event {
            HandlerOut::Received { message, invalid } => {
                self.stats.invalid_items += invalid.len() as u64;
                for item in invalid {
                    self.penalise(peer, Misbehaviour::InvalidItem(item), PENALTY_INVALID_ITEM);
                }
                self.on_message(peer, message);
            }
            HandlerOut::Malformed { reason } => {
                self.stats.malformed_frames += 1;
                self.penalise(
                    peer,
                    Misbehaviour::MalformedFrame { reason },
                    PENALTY_MALFORMED_FRAME,
                );
            }
            HandlerOut::OutboundNegotiated(version) => {
                if let Some(conn) = conn {
                    conn.version = Some(version);
                }
                self.emit(Event::PeerReady { peer, version });
            }
            HandlerOut::Sent { block_bytes } | HandlerOut::Dropped { block_bytes } => {
                if let Some(conn) = conn {
                    conn.outstanding = conn.outstanding.saturating_sub(block_bytes);
                }
                // If this freed a backed-up peer that has work waiting, tell the node to pull.
                let max = self.config.max_outstanding_bytes;
                let ready = self.peers.get(&peer).is_some_and(|s| {
                    let now = s.outstanding();
                    now < max && now.saturating_add(block_bytes) >= max
                });
                if ready && self.queue.len_of(&peer) > 0 {
                    self.emit(Event::TasksAvailable { peer });
                }
            }
            HandlerOut::Unsupported => {
                if let Some(conn) = conn {
                    conn.unsupported = true;
                }
                let none_left = self.peers.get(&peer).is_none_or(|s| s.primary().is_none());
                if none_left {
                    self.on_peer_gone(&peer);
                    self.emit(Event::PeerUnsupported { peer });
                }
            }
            HandlerOut::QueueOverflow => {
                debug!(%peer, "bitswap send queue overflowed; closing the connection");
                self.actions.push_back(ToSwarm::CloseConnection {
                    peer_id: peer,
                    connection: CloseConnection::One(connection_id),
                });
            }
        }
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        self.flush();
        if let Some(action) = self.actions.pop_front() {
            return Poll::Ready(action);
        }
        self.waker = Some(cx.waker().clone());
        Poll::Pending
    }
}
