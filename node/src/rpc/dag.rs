//! `/api/v0/dag/{export,import}`: CAR v1 out and in.

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use chorus_protocol::car::{export_car, import_car_stream};
use chorus_storage::PinMode;
use futures::TryStreamExt;
use serde::Serialize;

use super::args::Args;
use super::error::ApiError;
use super::respond::{body_error, byte_stream, multipart, ndjson, resolve_arg};
use super::walk::walk;
use crate::context::NodeContext;
use crate::core::Commit;
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
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let pin_roots = args.bool("pin-roots", true)?;
    let stats = args.bool("stats", false)?;
    let silent = args.bool("silent", false)?;
    let writer = ctx.core().writer();
    let store = writer.store().clone();
    let (mut parts, rest) = multipart(&headers, body)?;
    let mut roots = Vec::new();
    let (mut blocks, mut bytes) = (0u64, 0u64);
    while let Some(field) = parts.next_field().await.map_err(body_error)? {
        let imported = import_car_stream(&*store, Box::pin(field))
            .await
            .map_err(|e| ApiError::Failed(format!("importing CAR: {e}")))?;
        blocks += imported.blocks;
        bytes += imported.bytes;
        roots.extend(imported.roots);
    }
    drop(parts);
    rest.drain().await;
    let mut lines = Vec::new();
    let fetcher = ctx.fetcher();
    let mut commit = Commit::announce_only(&roots);
    for root in roots {
        let mut pin_error_msg = String::new();
        if pin_roots {
            // Only a complete DAG is pinned; otherwise kubo reports why in PinErrorMsg.
            match walk(&store, &fetcher, root).await {
                Ok(_) => commit.pins.push((root, PinMode::Recursive)),
                Err(e) => pin_error_msg = e.to_string(),
            }
        }
        lines.push(ImportLine::Root(RootOut {
            cid: CidLink {
                cid: root.to_string(),
            },
            pin_error_msg,
        }));
    }
    // The durability point: the blocks and the pins are on disk before any line goes out.
    writer.commit(commit).await?;
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
