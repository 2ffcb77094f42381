//! The replication worker: answers peers' requests and runs the repair pass.
//!
//! - Requests from peers outside the community are refused and counted. An offer's entry must
//!   verify and name a community node; the offered DAG is fetched over Bitswap and pinned
//!   (at most `max_concurrent_offers` at once, `offer_queue` more waiting, the rest refused
//!   as busy), and only then confirmed.
//! - Health: every second the connected set updates [`super::health`]; a node that just went
//!   down starts a repair pass at once.
//! - A repair pass (every `repair_interval`, one at a time): pull every connected node's log
//!   since its cursor; pin every root this node is now assigned and lacks, at most
//!   `repair_bytes_per_sec`; unpin a copy this node is no longer assigned once it has been
//!   extra for `cleanup_grace` and every assigned holder confirms its copy.

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use chorus_storage::Cid;
use libp2p::PeerId;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use super::entry::VerifiedEntry;
use super::replicate::{is_held, pin_local};
use super::wire::{MAX_HOLDS_QUERY, Request, Response};
use super::{Inbound, Replication, gauge, unix_now};
use crate::core::Core;
use crate::network::replication_wire::InboundRequest;

/// How often the connected set is read for the health view.
const HEALTH_TICK: Duration = Duration::from_secs(1);

/// Log pages pulled from one peer in one pass (× `log_batch` entries each); the rest comes
/// in the next pass.
const MAX_PAGES_PER_PULL: usize = 1000;

impl Replication {
    /// Starts the worker on the current runtime: it answers `inbound` and repairs through
    /// `core` until `inbound` closes (the network stopped).
    pub fn spawn_worker(&self, core: Core, inbound: Inbound) -> JoinHandle<()> {
        tokio::spawn(run(self.clone(), core, inbound))
    }
}

async fn run(r: Replication, core: Core, mut inbound: Inbound) {
    let offers = Offers {
        slots: Arc::new(Semaphore::new(r.inner.config.max_concurrent_offers.max(1))),
        waiting: Arc::new(AtomicUsize::new(0)),
    };
    let mut health = tokio::time::interval(HEALTH_TICK);
    health.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first pass soon after start: a node that was down catches up at once.
    let interval = r
        .inner
        .config
        .repair_interval
        .max(Duration::from_millis(100));
    let mut repair =
        tokio::time::interval_at(tokio::time::Instant::now() + HEALTH_TICK * 2, interval);
    repair.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pass: Option<JoinHandle<()>> = None;
    let start_pass = |pass: &mut Option<JoinHandle<()>>| {
        if pass.as_ref().is_none_or(|p| p.is_finished()) {
            *pass = Some(tokio::spawn(repair_pass(r.clone(), core.clone())));
        }
    };
    loop {
        tokio::select! {
            request = inbound.recv() => match request {
                Some(request) => handle(&r, &core, &offers, request),
                None => break,
            },
            _ = health.tick() => {
                let Ok(peers) = r.inner.network.peers().await else { break };
                let connected: HashSet<PeerId> = peers.iter().map(|c| c.peer).collect();
                let went_down = r.update_health(&connected);
                if !went_down.is_empty() {
                    info!(nodes = ?went_down, "community nodes down; repairing their share");
                    start_pass(&mut pass);
                }
            }
            _ = repair.tick() => start_pass(&mut pass),
        }
    }
    if let Some(p) = pass {
        p.abort();
    }
}

struct Offers {
    slots: Arc<Semaphore>,
    waiting: Arc<AtomicUsize>,
}

fn handle(r: &Replication, core: &Core, offers: &Offers, request: InboundRequest) {
    let InboundRequest {
        peer,
        request,
        responder,
    } = request;
    let kind = match &request {
        Request::Offer { .. } => "offer",
        Request::Holds { .. } => "holds",
        Request::Log { .. } => "log",
    };
    let r = r.clone();
    let core = core.clone();
    if !r.is_member(&peer) {
        r.inner.metrics.request(kind, "inbound", "unknown_node");
        warn!(%peer, kind, "replication request from a node outside the community refused");
        tokio::spawn(async move {
            r.inner
                .network
                .respond(responder, Response::refused("not a community node"))
                .await
        });
        return;
    }
    let slots = offers.slots.clone();
    let waiting = offers.waiting.clone();
    let queue = r.inner.config.offer_queue;
    tokio::spawn(async move {
        let (response, outcome) = match request {
            Request::Offer { entry } => {
                if waiting.load(Ordering::Relaxed) >= queue {
                    (Response::refused("busy"), "busy")
                } else {
                    waiting.fetch_add(1, Ordering::Relaxed);
                    let answer = offer(&r, &core, &slots, entry).await;
                    waiting.fetch_sub(1, Ordering::Relaxed);
                    answer
                }
            }
            Request::Holds { roots } => holds(&core, roots).await,
            Request::Log { since } => log_page(&r, since).await,
        };
        r.inner.metrics.request(kind, "inbound", outcome);
        r.inner.network.respond(responder, response).await;
    });
}

/// An offer: verify, record, fetch and pin, then confirm.
async fn offer(
    r: &Replication,
    core: &Core,
    slots: &Semaphore,
    entry: super::entry::LogEntry,
) -> (Response, &'static str) {
    let verified = match entry.verify() {
        Ok(v) => v,
        Err(e) => return (Response::refused(e.to_string()), "bad_entry"),
    };
    if !r.is_member(&verified.node) {
        return (
            Response::refused("the entry's node is not a community node"),
            "unknown_node",
        );
    }
    let root = verified.root;
    if let Err(e) = r.append(vec![verified]).await {
        return (Response::refused(e.to_string()), "failed");
    }
    let Ok(_slot) = slots.acquire().await else {
        return (Response::refused("shutting down"), "failed");
    };
    match pin_local(core, root).await {
        Ok(()) => {
            debug!(%root, "offered root pinned");
            (Response::Held, "ok")
        }
        Err(e) => (Response::refused(e.to_string()), "failed"),
    }
}

async fn holds(core: &Core, roots: Vec<Vec<u8>>) -> (Response, &'static str) {
    if roots.len() > MAX_HOLDS_QUERY {
        return (Response::refused("too many roots in one query"), "oversize");
    }
    let mut held = Vec::with_capacity(roots.len());
    for bytes in roots {
        let answer = match Cid::try_from(bytes.as_slice()) {
            Ok(cid) => is_held(core, cid).await.unwrap_or(false),
            Err(_) => false,
        };
        held.push(answer);
    }
    (Response::Holding { held }, "ok")
}

async fn log_page(r: &Replication, since: u64) -> (Response, &'static str) {
    let this = r.clone();
    let batch = r.inner.config.log_batch.max(1);
    let page = tokio::task::spawn_blocking(move || this.log().since(since, batch)).await;
    match page {
        Ok(Ok((entries, next))) => (Response::Entries { entries, next }, "ok"),
        Ok(Err(e)) => (Response::refused(e.to_string()), "failed"),
        Err(_) => (Response::refused("log task failed"), "failed"),
    }
}

/// One repair pass.
async fn repair_pass(r: Replication, core: Core) {
    let started = Instant::now();
    let nodes = r.nodes();
    for peer in nodes.iter().filter(|p| **p != r.inner.local) {
        let connected = r.health().state(peer, Instant::now()).connected;
        if connected {
            pull(&r, *peer).await;
        }
    }

    // What this node must hold, and what it holds beyond that.
    let roots: Vec<(Cid, u64)> = r.log().live_roots().map(|(c, s)| (*c, s.size)).collect();
    let factor = r.inner.config.factor;
    let mut lacking = Vec::new();
    let mut extra = Vec::new();
    let mut thin = 0u64;
    for (root, size) in roots {
        let (_, holders) = r.holders(&root);
        if holders.len() < factor {
            thin += 1;
        }
        let held = is_held(&core, root).await.unwrap_or(false);
        if holders.contains(&r.inner.local) {
            if let Err(e) = r.log().clear_unassigned(&root) {
                warn!(error = %e, "cannot clear a cleanup clock");
            }
            if !held {
                lacking.push((root, size));
            }
        } else if held {
            extra.push((root, holders));
        }
    }
    set_progress(&r, |p| {
        p.pending = lacking.len() as u64;
        p.repaired = 0;
        p.cleaned = 0;
        p.failed = 0;
    });
    r.inner
        .metrics
        .under_replicated
        .set(gauge(thin + lacking.len() as u64));

    let rate = r.inner.config.repair_bytes_per_sec;
    let mut remaining = lacking.len() as u64;
    for (root, size) in lacking {
        let fetched = Instant::now();
        match pin_local(&core, root).await {
            Ok(()) => {
                r.inner.metrics.repair_roots.inc();
                r.inner.metrics.repair_bytes.inc_by(size);
                set_progress(&r, |p| p.repaired += 1);
                remaining -= 1;
                r.inner
                    .metrics
                    .under_replicated
                    .set(gauge(thin + remaining));
                if rate > 0 {
                    let budget = Duration::from_secs_f64(size as f64 / rate as f64);
                    if let Some(wait) = budget.checked_sub(fetched.elapsed()) {
                        tokio::time::sleep(wait).await;
                    }
                }
            }
            Err(e) => {
                warn!(%root, error = %e, "repair could not fetch a root; next pass retries");
                set_progress(&r, |p| p.failed += 1);
            }
        }
    }

    let grace = r.inner.config.cleanup_grace.as_secs();
    for (root, holders) in extra {
        let since = match r.log().unassigned_since(&root, unix_now()) {
            Ok(s) => s,
            Err(e) => {
                warn!(error = %e, "cannot read a cleanup clock");
                continue;
            }
        };
        if unix_now().saturating_sub(since) < grace || holders.len() < factor {
            continue;
        }
        if confirmed_by_all(&r, &root, &holders).await {
            match core.unpin(vec![root], true).await {
                Ok(_) => {
                    info!(%root, "extra copy unpinned: every assigned holder confirmed its copy");
                    r.inner.metrics.cleaned_roots.inc();
                    set_progress(&r, |p| p.cleaned += 1);
                    let _ = r.log().clear_unassigned(&root);
                }
                Err(e) => warn!(%root, error = %e, "cannot unpin an extra copy"),
            }
        }
    }
    set_progress(&r, |p| {
        p.passes += 1;
        p.last_finished = Some(Instant::now());
    });
    r.inner
        .metrics
        .repair_pass
        .observe(started.elapsed().as_secs_f64());
}

/// Pulls `peer`'s log since its cursor, keeping what verifies and names a community node.
async fn pull(r: &Replication, peer: PeerId) {
    for _ in 0..MAX_PAGES_PER_PULL {
        let cursor = match r.log().cursor(&peer) {
            Ok(c) => c,
            Err(e) => {
                warn!(error = %e, "cannot read a log cursor");
                return;
            }
        };
        let answer = r
            .inner
            .network
            .replication_request(peer, Request::Log { since: cursor })
            .await;
        let (entries, next) = match answer {
            Ok(Response::Entries { entries, next }) => {
                r.inner.metrics.request("log", "outbound", "ok");
                (entries, next)
            }
            Ok(_) => {
                r.inner.metrics.request("log", "outbound", "refused");
                return;
            }
            Err(e) => {
                r.inner.metrics.request("log", "outbound", "failed");
                debug!(%peer, error = %e, "log pull failed");
                return;
            }
        };
        if entries.is_empty() {
            return;
        }
        let mut good: Vec<VerifiedEntry> = Vec::with_capacity(entries.len());
        for entry in entries {
            match entry.verify() {
                Ok(v) if r.is_member(&v.node) => good.push(v),
                Ok(v) => {
                    r.inner.metrics.request("log", "outbound", "unknown_node");
                    warn!(%peer, node = %v.node, "log entry of a node outside the community dropped");
                }
                Err(e) => {
                    r.inner.metrics.request("log", "outbound", "bad_entry");
                    warn!(%peer, error = %e, "log entry refused");
                }
            }
        }
        if let Err(e) = r.append(good).await {
            warn!(error = %e, "cannot store pulled log entries");
            return;
        }
        if next <= cursor {
            return;
        }
        if let Err(e) = r.log().set_cursor(&peer, next) {
            warn!(error = %e, "cannot store a log cursor");
            return;
        }
    }
}

/// Whether every node of `holders` says it holds `root` durably.
async fn confirmed_by_all(r: &Replication, root: &Cid, holders: &[PeerId]) -> bool {
    for peer in holders {
        if !r.peer_holds(*peer, root).await {
            return false;
        }
    }
    true
}

fn set_progress(r: &Replication, f: impl FnOnce(&mut super::status::RepairProgress)) {
    let mut p = r
        .inner
        .repair
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    f(&mut p);
}
