//! Fetching for the node's readers: the protocol's Bitswap [`Client`] (one fetch per CID, its
//! waiters, the session deciding whom to ask) driven with the swarm's Bitswap events and the
//! time; blocks that arrive are stored off the actor's task, then handed to their waiters.

use std::time::{Duration, Instant};

use chorus_protocol::bitswap::{self, Action, Client, SessionConfig, Step};
use chorus_storage::{Block, StoreError};
use cid::Cid;
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tracing::{debug, trace, warn};

use super::Actor;
use crate::fetch::FetchError;
use crate::network::event::NetworkEvent;

/// How a fetch is answered.
pub(super) type FetchReply = oneshot::Sender<Result<Block, FetchError>>;

/// The result of storing a fetched block.
pub(super) struct Stored {
    block: Block,
    result: Result<(), StoreError>,
}

/// The fetching part of the actor.
pub(super) struct Fetching {
    pub(super) client: Client<FetchReply>,
    fetch_timeout: Duration,
    /// Fetched blocks being stored.
    pub(super) stores: JoinSet<Stored>,
    /// Store reads answering fetches of blocks stored moments ago.
    pub(super) rereads: JoinSet<(Cid, Option<Block>)>,
}

impl Fetching {
    pub(super) fn new(fetch_timeout: Duration) -> Self {
        Fetching {
            client: Client::new(SessionConfig::default().with_want_timeout(fetch_timeout)),
            fetch_timeout,
            stores: JoinSet::new(),
            rereads: JoinSet::new(),
        }
    }
}

/// A waiter that went away (its reader dropped the fetch).
fn gone(reply: &FetchReply) -> bool {
    reply.is_closed()
}

impl Actor {
    pub(super) fn fetch(&mut self, cid: Cid, reply: FetchReply) {
        let steps = self.fetching.client.fetch(cid, reply, Instant::now());
        self.apply(steps);
    }

    /// A block stored moments ago was read back for a fetch (`None`: gone after all, and the
    /// fetch goes to the network).
    pub(super) fn on_reread(&mut self, cid: Cid, block: Option<Block>) {
        let (waiters, steps) = self
            .fetching
            .client
            .read_back(cid, block.is_some(), Instant::now());
        if let Some(block) = block {
            for waiter in waiters {
                let _ = waiter.send(Ok(block.clone()));
            }
        }
        self.apply(steps);
    }

    /// Drops waiters of `cid` that went away; withdraws the want when none is left.
    pub(super) fn release(&mut self, cid: &Cid) {
        let steps = self.fetching.client.release(cid, gone);
        self.apply(steps);
    }

    pub(super) fn sweep_abandoned(&mut self) {
        let steps = self.fetching.client.sweep(gone);
        self.apply(steps);
    }

    /// Performs what the client asks for.
    pub(super) fn apply(&mut self, steps: Vec<Step<FetchReply>>) {
        for step in steps {
            match step {
                Step::Session(Action::Want {
                    cid,
                    peers,
                    want_type,
                }) => {
                    let asked = self
                        .swarm
                        .behaviour_mut()
                        .bitswap
                        .want(cid, peers, want_type);
                    trace!(%cid, asked, ?want_type, "want sent");
                }
                Step::Session(Action::Rewant { cid, peers }) => {
                    let asked = self.swarm.behaviour_mut().bitswap.rewant(cid, peers);
                    trace!(%cid, asked, "want sent again to silent peers");
                }
                Step::Session(Action::FindProviders { cid }) => self.search_providers(cid),
                // The client turns the session's failures into `TimedOut`.
                Step::Session(Action::Failed { cid }) | Step::Cancel(cid) => {
                    self.swarm.behaviour_mut().bitswap.cancel(&cid);
                    debug!(%cid, "fetch abandoned; want cancelled");
                }
                Step::ReadBack(cid) => {
                    let store = self.store.clone();
                    self.fetching
                        .rereads
                        .spawn_blocking(move || (cid, store.get(&cid).ok().flatten()));
                }
                Step::TimedOut { cid, waiters } => {
                    self.swarm.behaviour_mut().bitswap.cancel(&cid);
                    for waiter in waiters {
                        let _ = waiter.send(Err(FetchError::Timeout {
                            cid,
                            timeout: self.fetching.fetch_timeout,
                        }));
                    }
                    debug!(%cid, "fetch timed out");
                    if let Some(m) = &self.metrics {
                        m.fetch_timeouts.inc();
                    }
                }
            }
        }
    }

    pub(super) fn on_stored(&mut self, stored: Stored) {
        let cid = *stored.block.cid();
        if let Err(e) = &stored.result {
            warn!(%cid, error = %e, "storing a fetched block failed");
        }
        self.swarm
            .behaviour_mut()
            .bitswap
            .notify_new_block(&stored.block);
        for waiter in self.fetching.client.on_stored(&cid, stored.result.is_ok()) {
            let _ = waiter.send(Ok(stored.block.clone()));
        }
    }

    pub(super) fn on_bitswap(&mut self, event: bitswap::Event) {
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
                self.fetching.client.on_block(&cid);
                self.emit(NetworkEvent::BlockReceived { peer, cid });
                let store = self.store.clone();
                self.fetching.stores.spawn_blocking(move || {
                    let result = store.put(&block).map(|_| ());
                    Stored { block, result }
                });
            }
            bitswap::Event::Have { peer, cid } => {
                let steps = self.fetching.client.on_have(peer, &cid, now);
                self.apply(steps);
            }
            bitswap::Event::DontHave { peer, cid } => {
                let steps = self.fetching.client.on_dont_have(peer, &cid, now);
                self.apply(steps);
            }
            bitswap::Event::PeerUnsupported { peer } => {
                let steps = self.fetching.client.remove_peer(&peer, now);
                self.apply(steps);
            }
            bitswap::Event::PeerBanned { peer } => {
                warn!(%peer, "bitswap banned a misbehaving peer");
            }
            other => trace!(event = ?other, "bitswap event"),
        }
    }
}
