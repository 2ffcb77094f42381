//! `/api/v0/dag/{export,import}`: CAR v1 out and in.

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chorus_protocol::car::export_car;
use futures::TryStreamExt;
use serde::Serialize;

use super::args::Args;
use super::error::ApiError;
use super::replication::replicate;
use super::respond::{body_error, byte_stream, multipart, ndjson, resolve_arg};
use super::upload_guard::UploadLimits;
use crate::context::NodeContext;
use crate::fetch::FetcherSource;

pub(crate) async fn export(
    State(ctx): State<NodeContext>,
    args: Args,
) -> Result<Response, ApiError> {
    let arg = args.required("root")?;
    let root = resolve_arg(&ctx, "root", arg).await?;
    // Fail before the 200 when the root itself is unavailable.
    ctx.fetcher().fetch(root).await?;
    let stream = export_car(FetcherSource::new(ctx.fetcher()), root)
        .map_err(|e| std::io::Error::other(e.to_string()));
    Ok(byte_stream(stream, "application/vnd.ipld.car", None))
}

#[derive(Debug, Serialize)]
struct CidLink {
    #[serde(rename = "/")]
    cid: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct RootOut {
    cid: CidLink,
    pin_error_msg: String,
    /// With replication on, the nodes holding the root durably (kubo clients ignore it).
    #[serde(skip_serializing_if = "Option::is_none")]
    holders: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct StatsOut {
    block_count: u64,
    block_bytes_count: u64,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
enum ImportLine {
    Root(RootOut),
    Stats(StatsOut),
}

pub(crate) async fn import(
    State(ctx): State<NodeContext>,
    args: Args,
    Extension(upload): Extension<UploadLimits>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let pin_roots = args.bool("pin-roots", true)?;
    let stats = args.bool("stats", false)?;
    let silent = args.bool("silent", false)?;
    let consent = super::chain::consent(&ctx, &args)?;
    let mut importer = ctx.core().car_importer();
    let (mut parts, rest) = multipart(&headers, body, upload)?;
    while let Some(field) = parts.next_field().await.map_err(body_error)? {
        importer
            .car(Box::pin(field))
            .await
            .map_err(|e| ApiError::Failed(format!("importing CAR: {e}")))?;
    }
    drop(parts);
    rest.drain().await;
    let imported = importer.finish_upload(pin_roots, Some(consent)).await?;
    // With replication on, nothing is answered before W nodes hold each pinned root.
    let pinned: Vec<(chorus_storage::Cid, u64)> = if pin_roots {
        imported
            .roots
            .iter()
            .filter(|r| r.pin_error.is_none())
            .map(|r| (r.cid, 0))
            .collect()
    } else {
        Vec::new()
    };
    let mut holders = replicate(&ctx, &pinned).await?;
    let mut lines: Vec<ImportLine> = imported
        .roots
        .iter()
        .map(|root| {
            ImportLine::Root(RootOut {
                cid: CidLink {
                    cid: root.cid.to_string(),
                },
                pin_error_msg: root.pin_error.clone().unwrap_or_default(),
                holders: holders.remove(&root.cid),
            })
        })
        .collect();
    let (blocks, bytes) = (imported.blocks, imported.bytes);
    if stats {
        lines.push(ImportLine::Stats(StatsOut {
            block_count: blocks,
            block_bytes_count: bytes,
        }));
    }
    if silent {
        lines.clear();
    }
    ndjson(&lines)
}
