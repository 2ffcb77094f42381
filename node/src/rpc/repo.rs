//! `/api/v0/repo/{stat,gc}`.

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;

use super::args::Args;
use super::error::ApiError;
use super::respond::{blocking, ndjson};
use crate::context::NodeContext;

/// The repo format chorus reports as `Version` (kubo prints `fs-repo@<n>`).
const REPO_FORMAT: &str = "fs-repo@chorus-1";

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct RepoStat {
    repo_size: u64,
    storage_max: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    num_objects: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    repo_path: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
}

pub(crate) async fn stat(State(ctx): State<NodeContext>, args: Args) -> Result<Response, ApiError> {
    let size_only = args.bool("size-only", false)?;
    let store = ctx.store();
    let stat = blocking("reading store statistics", move || {
        store.stat().map_err(|source| ApiError::Store {
            context: "repo/stat".to_owned(),
            source,
        })
    })
    .await?;
    let identity = ctx.identity();
    let full = !size_only;
    ndjson(&[RepoStat {
        repo_size: stat.bytes,
        storage_max: identity.storage_max,
        num_objects: full.then_some(stat.blocks),
        repo_path: full.then(|| identity.repo_path.display().to_string()),
        version: full.then(|| REPO_FORMAT.to_owned()),
    }])
}

/// One line of `repo/verify`: kubo's `{"Msg","Progress"}`, plus whether the repo is intact
/// on the last line.
#[derive(Debug, Serialize)]
struct VerifyLine {
    #[serde(rename = "Msg")]
    msg: String,
    #[serde(rename = "Progress")]
    progress: u64,
    #[serde(rename = "Ok", skip_serializing_if = "Option::is_none")]
    ok: Option<bool>,
}

/// `repo/verify`: re-hashes every block (kubo's command); one `Msg` per damaged block, then
/// the totals with `Ok`.
pub(crate) async fn verify(State(ctx): State<NodeContext>) -> Result<Response, ApiError> {
    let (lines, ok) = ctx.core().verify().await?;
    let last = lines.len().saturating_sub(1);
    let out: Vec<VerifyLine> = lines
        .into_iter()
        .enumerate()
        .map(|(i, msg)| VerifyLine {
            msg,
            progress: 0,
            ok: (i == last).then_some(ok),
        })
        .collect();
    ndjson(&out)
}

#[derive(Debug, Serialize)]
struct CidLink {
    #[serde(rename = "/")]
    cid: String,
}

#[derive(Debug, Serialize)]
struct GcLine {
    #[serde(rename = "Key")]
    key: CidLink,
}

pub(crate) async fn gc(State(ctx): State<NodeContext>, args: Args) -> Result<Response, ApiError> {
    let quiet = args.bool("quiet", false)?;
    let report = ctx.core().gc().await?;
    let lines: Vec<GcLine> = if quiet {
        Vec::new()
    } else {
        report
            .removed_cids()
            .map(|c| GcLine {
                key: CidLink { cid: c.to_string() },
            })
            .collect()
    };
    ndjson(&lines)
}
