//! Announcing content: `routing/provide` from callers, and the persistent background queue
//! (new roots the core commits) drained a few announcements at a time. Each announcement
//! records us as provider in every DHT that runs and pushes the record to those with peers.

use std::collections::HashMap;

use cid::Cid;
use tokio::sync::oneshot;
use tracing::debug;

use super::Actor;
use super::dht::{Dht, QueryKey, provider_key};
use crate::network::error::CommandError;
use crate::network::provide_queue::ProvideQueue;

/// Announcements from the background queue running at once: boxo's provider runs a small
/// fixed pool of workers; eight DHT queries in flight keep a node responsive on two cores.
const MAX_BACKGROUND_PROVIDES: usize = 8;

type ProvideReply = oneshot::Sender<Result<(), CommandError>>;

/// Who asked for an announcement.
enum Origin {
    /// A `provide` command, waiting for the result.
    Caller(ProvideReply),
    /// The background queue's entry with this sequence number.
    Queue(u64),
}

/// A `provide` in progress, over one announcement per DHT that has peers.
struct ProvideOp {
    cid: Cid,
    pending: usize,
    succeeded: bool,
    origin: Origin,
}

/// The providing part of the actor.
pub(super) struct Providing {
    ops: HashMap<u64, ProvideOp>,
    queries: HashMap<QueryKey, u64>,
    /// Roots waiting to be announced (on disk, survives restarts).
    pub(super) queue: ProvideQueue,
    /// Queue entries being announced.
    background: usize,
}

impl Providing {
    pub(super) fn new(queue: ProvideQueue) -> Self {
        Providing {
            ops: HashMap::new(),
            queries: HashMap::new(),
            queue,
            background: 0,
        }
    }
}

impl Actor {
    /// `routing/provide`: announce `cid` now and report the outcome.
    pub(super) fn provide_for(&mut self, cid: Cid, reply: ProvideReply) {
        if let Err((Origin::Caller(reply), error)) = self.provide(cid, Origin::Caller(reply)) {
            let _ = reply.send(Err(error));
        }
    }

    /// Queues `cids` for the background announcer; replies how many it took.
    pub(super) fn provide_later(&mut self, cids: Vec<Cid>, reply: oneshot::Sender<usize>) {
        let accepted = cids
            .into_iter()
            .take_while(|c| self.providing.queue.push(*c))
            .count();
        let _ = reply.send(accepted);
        self.pump_provides();
    }

    /// Starts announcements from the background queue up to the concurrency bound. Entries
    /// wait (in order) while no DHT has peers.
    pub(super) fn pump_provides(&mut self) {
        while self.providing.background < MAX_BACKGROUND_PROVIDES {
            let Some((seq, cid)) = self.providing.queue.pop() else {
                break;
            };
            match self.provide(cid, Origin::Queue(seq)) {
                Ok(()) => self.providing.background += 1,
                Err((_, CommandError::NoDhtPeers { .. })) => {
                    self.providing.queue.unpop(seq, cid);
                    break;
                }
                Err((_, error)) => {
                    debug!(%cid, %error, "background announcement dropped");
                    self.providing.queue.done(seq);
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
        for dht in Dht::ALL {
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
        let op = self.dht.op_id();
        for q in &queries {
            self.providing.queries.insert(*q, op);
        }
        self.providing.ops.insert(
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

    /// One DHT's announcement (query `key`) finished; the operation ends with its last.
    pub(super) fn on_provided(&mut self, key: QueryKey, ok: bool) {
        let Some(op_id) = self.providing.queries.remove(&key) else {
            return;
        };
        let Some(op) = self.providing.ops.get_mut(&op_id) else {
            return;
        };
        op.pending = op.pending.saturating_sub(1);
        op.succeeded |= ok;
        if op.pending > 0 {
            return;
        }
        let Some(op) = self.providing.ops.remove(&op_id) else {
            return;
        };
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
                self.providing.queue.done(seq);
                self.providing.background = self.providing.background.saturating_sub(1);
                self.pump_provides();
            }
        }
    }
}
