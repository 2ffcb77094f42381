//! `/api/v0/block/{put,get,stat,rm}`: raw blocks.

use axum::body::{Body, Bytes};
use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chorus_storage::{Block, Cid, PinMode};
use serde::Serialize;

use super::args::{Args, parse_cid_arg};
use super::error::ApiError;
use super::replication::replicate;
use super::respond::{body_error, byte_stream, multipart, ndjson};
use super::upload_guard::UploadLimits;
use crate::context::NodeContext;
use crate::core::{BlockFormat, BlockFormatError};

pub use crate::core::MAX_BLOCK_SIZE;

#[derive(Debug, Serialize)]
struct BlockStat {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "Size")]
    size: u64,
    /// With replication on, the nodes holding a pinned block durably (kubo clients ignore it).
    #[serde(rename = "Holders", skip_serializing_if = "Option::is_none")]
    holders: Option<Vec<String>>,
}

/// The codec and CID version asked for with `cid-codec`/`format`/`mhtype`/`version`.
fn put_target(args: &Args) -> Result<BlockFormat, ApiError> {
    let codec = args.option("cid-codec").or(args.option("format"));
    let version = args.parsed::<u8>("version")?;
    BlockFormat::parse(codec, args.option("mhtype"), version).map_err(|e| match &e {
        BlockFormatError::Hash(name) => ApiError::invalid("mhtype", name, e.to_string()),
        BlockFormatError::Codec(name) => ApiError::invalid("cid-codec", name, e.to_string()),
    })
}

pub(crate) async fn put(
    State(ctx): State<NodeContext>,
    args: Args,
    Extension(upload): Extension<UploadLimits>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let format = put_target(&args)?;
    let pin = args.bool("pin", false)?;
    // Raw blocks carry no signature: refused up front where the node requires them.
    ctx.core().precheck_upload(None)?;
    let (mut parts, rest) = multipart(&headers, body, upload)?;
    let mut blocks = Vec::new();
    while let Some(mut field) = parts.next_field().await.map_err(body_error)? {
        let mut data = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(body_error)? {
            if data.len() + chunk.len() > MAX_BLOCK_SIZE {
                return Err(ApiError::InvalidBody {
                    reason: format!("block larger than {MAX_BLOCK_SIZE} bytes"),
                });
            }
            data.extend_from_slice(&chunk);
        }
        blocks.push(format.block(Bytes::from(data))?);
    }
    drop(parts);
    rest.drain().await;
    if blocks.is_empty() {
        return Err(ApiError::InvalidBody {
            reason: "no block data in the request (expected a multipart file)".to_owned(),
        });
    }
    let mut out: Vec<BlockStat> = blocks
        .iter()
        .map(|b| BlockStat {
            key: b.cid().to_string(),
            size: b.len() as u64,
            holders: None,
        })
        .collect();
    // Durable when it returns; kubo's block/put announces nothing by itself.
    let pinned: Vec<(Cid, u64)> = if pin {
        blocks.iter().map(|b| (*b.cid(), b.len() as u64)).collect()
    } else {
        Vec::new()
    };
    let pin = pin.then_some(PinMode::Recursive);
    ctx.core().put_blocks(blocks, pin).await?;
    // With replication on, a pinned block is answered once W nodes hold it.
    let mut holders = replicate(&ctx, &pinned).await?;
    for (line, (cid, _)) in out.iter_mut().zip(&pinned) {
        line.holders = holders.remove(cid);
    }
    ndjson(&out)
}

async fn fetch(ctx: &NodeContext, args: &Args) -> Result<Block, ApiError> {
    let arg = args.required("cid")?;
    let cid = parse_cid_arg("cid", arg)?;
    Ok(ctx.fetcher().fetch(cid).await?)
}

pub(crate) async fn get(State(ctx): State<NodeContext>, args: Args) -> Result<Response, ApiError> {
    let block = fetch(&ctx, &args).await?;
    let len = block.len() as u64;
    let data = block.data().clone();
    let stream = futures::stream::once(async move { Ok::<_, std::io::Error>(data) });
    Ok(byte_stream(stream, "text/plain", Some(len)))
}

pub(crate) async fn stat(State(ctx): State<NodeContext>, args: Args) -> Result<Response, ApiError> {
    let block = fetch(&ctx, &args).await?;
    ndjson(&[BlockStat {
        key: block.cid().to_string(),
        size: block.len() as u64,
        holders: None,
    }])
}

#[derive(Debug, Serialize)]
struct RmLine {
    #[serde(rename = "Hash")]
    hash: String,
    #[serde(rename = "Error", skip_serializing_if = "String::is_empty")]
    error: String,
}

pub(crate) async fn rm(State(ctx): State<NodeContext>, args: Args) -> Result<Response, ApiError> {
    if args.positional().is_empty() {
        return Err(ApiError::MissingArgument { name: "cid" });
    }
    let force = args.bool("force", false)?;
    let quiet = args.bool("quiet", false)?;
    let cids = args
        .positional()
        .iter()
        .map(|a| parse_cid_arg("cid", a))
        .collect::<Result<Vec<Cid>, _>>()?;
    let outcomes = ctx.core().remove_blocks(cids).await?;
    let lines: Vec<RmLine> = outcomes
        .into_iter()
        .filter_map(|(cid, outcome)| {
            let error = match outcome {
                Ok(true) => String::new(),
                Ok(false) if force => String::new(),
                Ok(false) => "blockstore: block not found".to_owned(),
                Err(e) => e.to_string(),
            };
            (!quiet || !error.is_empty()).then(|| RmLine {
                hash: cid.to_string(),
                error,
            })
        })
        .collect();
    ndjson(&lines)
}
