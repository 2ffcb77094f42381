//! Replication in the RPC: the write quorum after an upload's local commit (for `add`,
//! `dag/import`, `block/put`, `pin/add`, `track/add`) and `replication/status`.

use std::collections::HashMap;
use std::time::Duration;

use axum::extract::State;
use axum::response::Response;
use chorus_storage::Cid;
use serde::Serialize;

use super::args::Args;
use super::error::ApiError;
use super::respond::{ndjson, resolve_arg};
use crate::context::NodeContext;
use crate::replication::{CidStatus, Overview};

/// Waits for W copies of each root (`(cid, size in bytes)`, 0 when unknown) and returns, per
/// root, the peer ids holding it; empty when replication is off. Fails with the replication
/// error (which names the copies that exist) when the quorum is not reached in time.
pub(crate) async fn replicate(
    ctx: &NodeContext,
    roots: &[(Cid, u64)],
) -> Result<HashMap<Cid, Vec<String>>, ApiError> {
    let mut holders = HashMap::new();
    for (cid, size) in roots {
        match ctx.core().replicate(*cid, *size).await {
            Ok(Some(replicas)) => {
                holders.insert(
                    *cid,
                    replicas.holders.iter().map(|p| p.to_string()).collect(),
                );
            }
            Ok(None) => {}
            Err(e) => return Err(ApiError::Failed(e.to_string())),
        }
    }
    Ok(holders)
}

#[derive(Debug, Serialize)]
struct StatusOut {
    #[serde(rename = "Cid")]
    cid: String,
    #[serde(rename = "Ranked")]
    ranked: Vec<String>,
    #[serde(rename = "Holders")]
    holders: Vec<String>,
    #[serde(rename = "Factor")]
    factor: usize,
    #[serde(rename = "UnderReplicated")]
    under_replicated: bool,
    #[serde(rename = "InContentSet")]
    in_content_set: bool,
}

impl From<CidStatus> for StatusOut {
    fn from(s: CidStatus) -> Self {
        StatusOut {
            cid: s.cid.to_string(),
            ranked: s.ranked.iter().map(|p| p.to_string()).collect(),
            holders: s.holders.iter().map(|p| p.to_string()).collect(),
            factor: s.factor,
            under_replicated: s.under_replicated,
            in_content_set: s.in_content_set,
        }
    }
}

#[derive(Debug, Serialize)]
struct NodeOut {
    #[serde(rename = "Peer")]
    peer: String,
    #[serde(rename = "Self")]
    local: bool,
    #[serde(rename = "Connected")]
    connected: bool,
    #[serde(rename = "Up")]
    up: bool,
    #[serde(rename = "UnreachableSecs", skip_serializing_if = "Option::is_none")]
    unreachable_secs: Option<u64>,
}

#[derive(Debug, Serialize)]
struct RepairOut {
    #[serde(rename = "Passes")]
    passes: u64,
    #[serde(rename = "Pending")]
    pending: u64,
    #[serde(rename = "Repaired")]
    repaired: u64,
    #[serde(rename = "Cleaned")]
    cleaned: u64,
    #[serde(rename = "Failed")]
    failed: u64,
    #[serde(rename = "LastPassSecsAgo", skip_serializing_if = "Option::is_none")]
    last_pass_secs_ago: Option<u64>,
}

#[derive(Debug, Serialize)]
struct OverviewOut {
    #[serde(rename = "Nodes")]
    nodes: Vec<NodeOut>,
    #[serde(rename = "Factor")]
    factor: usize,
    #[serde(rename = "WriteQuorum")]
    write_quorum: usize,
    #[serde(rename = "ContentRoots")]
    content_roots: u64,
    #[serde(rename = "LogEntries")]
    log_entries: u64,
    #[serde(rename = "UnderReplicated")]
    under_replicated: u64,
    #[serde(rename = "Repair")]
    repair: RepairOut,
}

impl From<Overview> for OverviewOut {
    fn from(o: Overview) -> Self {
        let secs = |d: Duration| d.as_secs();
        OverviewOut {
            nodes: o
                .nodes
                .iter()
                .map(|n| NodeOut {
                    peer: n.peer.to_string(),
                    local: n.local,
                    connected: n.connected,
                    up: n.up,
                    unreachable_secs: n.unreachable_for.map(secs),
                })
                .collect(),
            factor: o.factor,
            write_quorum: o.write_quorum,
            content_roots: o.content_roots,
            log_entries: o.log_entries,
            under_replicated: o.under_replicated,
            repair: RepairOut {
                passes: o.repair.passes,
                pending: o.repair.pending,
                repaired: o.repair.repaired,
                cleaned: o.repair.cleaned,
                failed: o.repair.failed,
                last_pass_secs_ago: o.repair.last_finished.map(|t| t.elapsed().as_secs()),
            },
        }
    }
}

#[derive(Debug, Serialize)]
struct RemovedOut {
    #[serde(rename = "Removed")]
    removed: String,
}

/// `replication/remove?arg=<cid>`: a signed tombstone for the root in the content log.
pub(crate) async fn remove(
    State(ctx): State<NodeContext>,
    args: Args,
) -> Result<Response, ApiError> {
    let Some(replication) = ctx.core().replication() else {
        return Err(ApiError::Failed(NOT_ENABLED.to_owned()));
    };
    let arg = args.required("cid")?;
    let cid = resolve_arg(&ctx, "cid", arg).await?;
    replication
        .remove(cid)
        .await
        .map_err(|e| ApiError::Failed(e.to_string()))?;
    ndjson(&[RemovedOut {
        removed: cid.to_string(),
    }])
}

/// What the replication commands answer on a node that does not replicate.
const NOT_ENABLED: &str = "replication is not enabled on this node (replication.enabled)";

/// `replication/status[?arg=<cid>]`: one root's placement and holders, or this node's view.
pub(crate) async fn status(
    State(ctx): State<NodeContext>,
    args: Args,
) -> Result<Response, ApiError> {
    let Some(replication) = ctx.core().replication() else {
        return Err(ApiError::Failed(NOT_ENABLED.to_owned()));
    };
    match args.positional().first() {
        Some(arg) => {
            let cid = resolve_arg(&ctx, "cid", arg).await?;
            let status = replication.status(ctx.core(), cid).await;
            ndjson(&[StatusOut::from(status)])
        }
        None => ndjson(&[OverviewOut::from(replication.overview())]),
    }
}
