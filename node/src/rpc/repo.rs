//! `/api/v0/repo/{stat,gc}`.

use axum::extract::State;
use axum::response::Response;
use serde::Serialize;

use super::args::Args;
use super::error::ApiError;
use super::respond::ndjson;
use crate::context::NodeContext;

/// kubo's `repo/stat` answer: every field, or `RepoSize` and `StorageMax` with `size-only`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct StatAnswer {
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
    let identity = ctx.identity();
    let stat = ctx
        .core()
        .repo_stat(&identity.repo_path, identity.storage_max)
        .await?;
    let full = !size_only;
    ndjson(&[StatAnswer {
        repo_size: stat.repo_size,
        storage_max: stat.storage_max,
        num_objects: full.then_some(stat.num_objects),
        repo_path: full.then_some(stat.repo_path),
        version: full.then_some(stat.version),
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
