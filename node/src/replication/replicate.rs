//! The upload's write path after local durability: sign a log entry for the root, offer it to
//! the holders placement names, and return once W of them hold it durably (the uploader
//! counts only if it is a holder). Offers still running when the quorum is reached go on in
//! the background; holders that failed are left to repair.

use std::time::Instant;

use chorus_storage::{Cid, PinMode};
use libp2p::PeerId;
use tokio::task::JoinSet;

use super::entry::LogEntry;
use super::wire::{Request, Response};
use super::{Replication, unix_now};
use crate::core::{Core, CoreError};

/// Where an upload is held once acknowledged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replicas {
    /// The nodes holding it durably (pinned), this node first if it is one.
    pub holders: Vec<PeerId>,
    /// The nodes placement assigned it to.
    pub assigned: Vec<PeerId>,
}

/// Why an upload was not acknowledged by W nodes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplicateError {
    /// Fewer than W durable copies within the acknowledgement timeout; the content is kept
    /// and repair goes on.
    #[error(
        "replication: {have} of {need} durable copies within {timeout_secs} s (held by [{held}]; {reasons}); the content is kept and repair continues"
    )]
    Quorum {
        /// Copies made.
        have: usize,
        /// W.
        need: usize,
        /// The timeout.
        timeout_secs: u64,
        /// Who holds it, comma-separated.
        held: String,
        /// Why the others did not, `peer: reason` separated by `; `.
        reasons: String,
    },
    /// The local log or pin failed.
    #[error("replication: {0}")]
    Local(String),
}

impl Replication {
    /// Replicates `root` (durable locally already), `size` bytes.
    pub async fn replicate(
        &self,
        core: &Core,
        root: Cid,
        size: u64,
    ) -> Result<Replicas, ReplicateError> {
        let started = Instant::now();
        let config = &self.inner.config;
        let entry = LogEntry::sign(&self.inner.key, &root, size, unix_now(), false)
            .map_err(|e| ReplicateError::Local(e.to_string()))?;
        self.append(vec![entry.clone()])
            .await
            .map_err(|e| ReplicateError::Local(e.to_string()))?;
        let (_, assigned) = self.holders(&root);

        let mut held = Vec::new();
        let mut reasons = Vec::new();
        if assigned.contains(&self.inner.local) {
            match pin_local(core, root).await {
                Ok(()) => held.push(self.inner.local),
                Err(e) => reasons.push(format!("{}: {e}", self.inner.local)),
            }
        }
        let mut offers = JoinSet::new();
        for peer in assigned.iter().filter(|p| **p != self.inner.local) {
            let network = self.inner.network.clone();
            let request = Request::Offer {
                entry: entry.entry.clone(),
            };
            let peer = *peer;
            let metrics = self.inner.metrics.clone();
            offers.spawn(async move { (peer, offer(&network, &metrics, peer, request).await) });
        }
        let deadline = tokio::time::Instant::now() + config.ack_timeout;
        while held.len() < config.write_quorum && !offers.is_empty() {
            let next = tokio::time::timeout_at(deadline, offers.join_next()).await;
            let Ok(Some(done)) = next else {
                if next.is_err() {
                    reasons.push("the rest did not answer in time".to_owned());
                }
                break;
            };
            let Ok((peer, answer)) = done else {
                continue;
            };
            match answer {
                Ok(()) => held.push(peer),
                Err(reason) => reasons.push(format!("{peer}: {reason}")),
            }
        }
        // Offers still running (and retrying) finish in the background: the holders keep
        // what they fetch, and repair covers the rest.
        tokio::spawn(async move { while offers.join_next().await.is_some() {} });
        if held.len() >= config.write_quorum {
            self.inner
                .metrics
                .ack
                .observe(started.elapsed().as_secs_f64());
            return Ok(Replicas {
                holders: held,
                assigned,
            });
        }
        Err(ReplicateError::Quorum {
            have: held.len(),
            need: config.write_quorum,
            timeout_secs: config.ack_timeout.as_secs(),
            held: held
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            reasons: if reasons.is_empty() {
                format!("only {} nodes are up", assigned.len())
            } else {
                reasons.join("; ")
            },
        })
    }
}

impl Replication {
    /// Removes `root` from the content set: a signed tombstone in the log, which spreads by
    /// anti-entropy. No node repairs or counts the root any more; copies stay pinned where
    /// they are (each operator unpins its own; deciding removal for everyone is the chain's,
    /// issue 16). Adding the root again brings it back.
    pub async fn remove(&self, root: Cid) -> Result<(), ReplicateError> {
        let size = self.log().root(&root).map_or(0, |s| s.size);
        let entry = LogEntry::sign(&self.inner.key, &root, size, unix_now(), true)
            .map_err(|e| ReplicateError::Local(e.to_string()))?;
        self.append(vec![entry])
            .await
            .map_err(|e| ReplicateError::Local(e.to_string()))?;
        Ok(())
    }
}

impl Replication {
    /// Whether roots registered on chain join the content set (`content_from_chain`).
    pub fn takes_content_from_chain(&self) -> bool {
        self.inner.config.content_from_chain
    }

    /// Takes a root the chain registered into the content set: a node placement assigns it
    /// to logs it (a signed entry, as for an upload, which spreads by anti-entropy) and pins
    /// it, fetching the DAG over Bitswap; the others leave it to the assigned ones. A root the
    /// log knows already (logged, or removed by a tombstone) is left as it is. True when this
    /// node took it.
    pub async fn adopt(&self, core: &Core, root: Cid) -> Result<bool, ReplicateError> {
        if self.log().root(&root).is_some() {
            return Ok(false);
        }
        let (_, assigned) = self.holders(&root);
        if !assigned.contains(&self.inner.local) {
            return Ok(false);
        }
        let entry = LogEntry::sign(&self.inner.key, &root, 0, unix_now(), false)
            .map_err(|e| ReplicateError::Local(e.to_string()))?;
        self.append(vec![entry])
            .await
            .map_err(|e| ReplicateError::Local(e.to_string()))?;
        pin_local(core, root)
            .await
            .map_err(|e| ReplicateError::Local(e.to_string()))?;
        Ok(true)
    }
}

/// Attempts one offer makes before it is left to repair.
const OFFER_ATTEMPTS: u32 = 5;
/// Wait before the first retry; doubled after each (1, 2, 4, 8 s: 15 s in all).
const OFFER_FIRST_BACKOFF: std::time::Duration = std::time::Duration::from_secs(1);

/// Offers a root to `peer`, retrying with backoff a holder that fails to confirm; the last
/// reason when it never does.
async fn offer(
    network: &crate::network::NetworkHandle,
    metrics: &super::ReplicationMetrics,
    peer: PeerId,
    request: Request,
) -> Result<(), String> {
    let mut backoff = OFFER_FIRST_BACKOFF;
    let mut reason = String::new();
    for attempt in 1..=OFFER_ATTEMPTS {
        match network.replication_request(peer, request.clone()).await {
            Ok(Response::Held) => {
                metrics.request("offer", "outbound", "ok");
                return Ok(());
            }
            Ok(Response::Refused { reason: why }) => {
                metrics.request("offer", "outbound", "refused");
                reason = format!("refused: {why}");
            }
            Ok(other) => {
                metrics.request("offer", "outbound", "failed");
                reason = format!("unexpected answer {other:?}");
            }
            Err(e) => {
                metrics.request("offer", "outbound", "failed");
                reason = e.to_string();
            }
        }
        if attempt < OFFER_ATTEMPTS {
            tokio::time::sleep(backoff).await;
            backoff *= 2;
        }
    }
    Err(reason)
}

/// Pins `root` recursively here, unless it is already (its blocks are local when it was just
/// written; otherwise fetched over Bitswap).
pub(super) async fn pin_local(core: &Core, root: Cid) -> Result<(), CoreError> {
    if is_held(core, root).await? {
        return Ok(());
    }
    core.pin(&[root], true, &std::sync::atomic::AtomicU64::new(0))
        .await
}

/// Whether `root` is pinned recursively here (a durable copy).
pub(super) async fn is_held(core: &Core, root: Cid) -> Result<bool, CoreError> {
    let core = core.clone();
    crate::core::blocking("reading a pin", move || {
        Ok(core.repo().pins().get(&root).map_err(CoreError::from)? == Some(PinMode::Recursive))
    })
    .await
}
