//! `replication/status`: where one root is held, or this node's view of the community.

use std::time::{Duration, Instant};

use chorus_storage::Cid;
use libp2p::PeerId;
use tokio::task::JoinSet;

use super::Replication;
use super::replicate::is_held;
use super::wire::{Request, Response};
use crate::core::Core;

/// One root's placement and copies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CidStatus {
    /// The root.
    pub cid: Cid,
    /// Every community node, best-placed first.
    pub ranked: Vec<PeerId>,
    /// The nodes that hold it durably (pinned recursively), in rank order; nodes that did
    /// not answer are not counted.
    pub holders: Vec<PeerId>,
    /// R.
    pub factor: usize,
    /// Fewer holders than R.
    pub under_replicated: bool,
    /// In the content set (logged and not removed), as this node's log says.
    pub in_content_set: bool,
}

/// One community node as this node sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeStatus {
    /// The node.
    pub peer: PeerId,
    /// This node.
    pub local: bool,
    /// Connected now.
    pub connected: bool,
    /// Up (connected, or lost for less than `down_after`).
    pub up: bool,
    /// How long it has been unreachable.
    pub unreachable_for: Option<Duration>,
}

/// What the last repair passes did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RepairProgress {
    /// Passes finished since start.
    pub passes: u64,
    /// Roots this node was assigned and lacked at the last pass's start.
    pub pending: u64,
    /// Roots pinned by the running (or last) pass.
    pub repaired: u64,
    /// Extra copies cleaned by the running (or last) pass.
    pub cleaned: u64,
    /// Roots that failed to repair in the last pass.
    pub failed: u64,
    /// When the last pass finished.
    pub last_finished: Option<Instant>,
}

/// This node's view of the community.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Overview {
    /// Every node with its health.
    pub nodes: Vec<NodeStatus>,
    /// R and W.
    pub factor: usize,
    /// W.
    pub write_quorum: usize,
    /// Roots in the content set.
    pub content_roots: u64,
    /// Entries in the content log.
    pub log_entries: u64,
    /// Roots under-replicated in this node's view (see the metric).
    pub under_replicated: u64,
    /// Repair.
    pub repair: RepairProgress,
}

impl Replication {
    /// Whether `peer` answers that it holds `root` durably (no answer counts as no).
    pub(super) async fn peer_holds(&self, peer: PeerId, root: &Cid) -> bool {
        let answer = self
            .inner
            .network
            .replication_request(
                peer,
                Request::Holds {
                    roots: vec![root.to_bytes()],
                },
            )
            .await;
        matches!(answer, Ok(Response::Holding { held }) if held == [true])
    }

    /// Whether `cid` is in the content set (logged and not removed), from this node's log.
    pub fn in_content_set(&self, cid: &Cid) -> bool {
        self.log().root(cid).is_some_and(|s| !s.removed)
    }

    /// Where `cid` is held: this node's pins and each connected node's answer to a holdings
    /// query (a node not connected, or not answering within the request timeout, is not
    /// counted: it cannot confirm a copy).
    pub async fn status(&self, core: &Core, cid: Cid) -> CidStatus {
        let (ranked, _) = self.holders(&cid);
        let connected: Vec<PeerId> = {
            let health = self.health();
            let now = Instant::now();
            ranked
                .iter()
                .filter(|p| **p != self.inner.local && health.state(p, now).connected)
                .copied()
                .collect()
        };
        let mut asks = JoinSet::new();
        for peer in connected {
            let this = self.clone();
            asks.spawn(async move { (peer, this.peer_holds(peer, &cid).await) });
        }
        let mut holding = Vec::new();
        if is_held(core, cid).await.unwrap_or(false) {
            holding.push(self.inner.local);
        }
        while let Some(done) = asks.join_next().await {
            if let Ok((peer, true)) = done {
                holding.push(peer);
            }
        }
        let holders: Vec<PeerId> = ranked
            .iter()
            .filter(|p| holding.contains(p))
            .copied()
            .collect();
        let factor = self.inner.config.factor;
        let in_content_set = self.in_content_set(&cid);
        CidStatus {
            cid,
            in_content_set,
            under_replicated: holders.len() < factor,
            ranked,
            holders,
            factor,
        }
    }

    /// This node's view: node health, content set, repair.
    pub fn overview(&self) -> Overview {
        let now = Instant::now();
        let nodes = {
            let health = self.health();
            health
                .nodes()
                .iter()
                .map(|p| {
                    let s = health.state(p, now);
                    NodeStatus {
                        peer: *p,
                        local: *p == self.inner.local,
                        connected: s.connected,
                        up: s.up,
                        unreachable_for: s.unreachable_for,
                    }
                })
                .collect()
        };
        let (content_roots, log_entries) = {
            let log = self.log();
            (log.live_roots().count() as u64, log.len())
        };
        let repair = self
            .inner
            .repair
            .lock()
            .map(|r| r.clone())
            .unwrap_or_default();
        Overview {
            nodes,
            factor: self.inner.config.factor,
            write_quorum: self.inner.config.write_quorum,
            content_roots,
            log_entries,
            under_replicated: u64::try_from(self.inner.metrics.under_replicated.get()).unwrap_or(0),
            repair,
        }
    }
}
