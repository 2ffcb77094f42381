//! `/api/v0/block/{put,get,stat,rm}`: raw blocks.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use chorus_storage::{Block, Cid, HashAlg, PinMode, codec};
use serde::Serialize;

use super::args::{Args, parse_cid_arg};
use super::error::ApiError;
use super::respond::{body_error, byte_stream, multipart, ndjson};
use crate::context::NodeContext;
use crate::core::Commit;

/// Largest block `block/put` accepts: kubo's 1 MiB soft limit plus headroom for its 2 MiB hard
/// limit (bitswap peers refuse larger blocks).
pub const MAX_BLOCK_SIZE: usize = 2 * 1024 * 1024;

/// dag-json (0x0129).
const DAG_JSON: u64 = 0x0129;
/// json (0x0200).
const JSON: u64 = 0x0200;

#[derive(Debug, Serialize)]
struct BlockStat {
    #[serde(rename = "Key")]
    key: String,
    #[serde(rename = "Size")]
    size: u64,
}

/// The codec and CID version asked for with `cid-codec`/`format`/`mhtype`.
fn put_target(args: &Args) -> Result<(u64, bool, HashAlg), ApiError> {
    let alg = match args.option("mhtype") {
        None | Some("") => HashAlg::Sha2_256,
        Some(name) => HashAlg::from_name(name).ok_or_else(|| {
            ApiError::invalid("mhtype", name, "supported: sha2-256, blake3, identity")
        })?,
    };
    let codec_name = args.option("cid-codec").or(args.option("format"));
    let (codec, v0) = match codec_name {
        None | Some("") | Some("raw") => (codec::RAW, false),
        // Legacy `format=v0` / `format=protobuf` meant a CIDv0 dag-pb block.
        Some("v0") | Some("protobuf") => (codec::DAG_PB, alg == HashAlg::Sha2_256),
        Some("dag-pb") => (codec::DAG_PB, false),
        Some("dag-cbor") | Some("cbor") => (codec::DAG_CBOR, false),
        Some("dag-json") => (DAG_JSON, false),
        Some("json") => (JSON, false),
        Some(other) => {
            return Err(ApiError::invalid(
                "cid-codec",
                other,
                "supported: raw, dag-pb, dag-cbor, dag-json, json",
            ));
        }
    };
    let v0 = v0 || (codec == codec::DAG_PB && args.parsed::<u8>("version")? == Some(0));
    Ok((codec, v0, alg))
}

pub(crate) async fn put(
    State(ctx): State<NodeContext>,
    args: Args,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let (codec, v0, alg) = put_target(&args)?;
    let pin = args.bool("pin", false)?;
    let (mut parts, rest) = multipart(&headers, body)?;
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
        let data = Bytes::from(data);
        let block = if v0 {
            Block::from_data_v0(data)
        } else {
            Block::from_data(codec, alg, data)
        }
        .map_err(|e| ApiError::Failed(e.to_string()))?;
        blocks.push(block);
    }
    drop(parts);
    rest.drain().await;
    if blocks.is_empty() {
        return Err(ApiError::InvalidBody {
            reason: "no block data in the request (expected a multipart file)".to_owned(),
        });
    }
    let out: Vec<BlockStat> = blocks
        .iter()
        .map(|b| BlockStat {
            key: b.cid().to_string(),
            size: b.len() as u64,
        })
        .collect();
    let writer = ctx.core().writer();
    let pins: Vec<(Cid, PinMode)> = if pin {
        blocks
            .iter()
            .map(|b| (*b.cid(), PinMode::Recursive))
            .collect()
    } else {
        Vec::new()
    };
    writer.put_many(blocks).await?;
    // The durability point: kubo's block/put announces nothing by itself.
    writer
        .commit(Commit {
            pins,
            announce: Vec::new(),
        })
        .await?;
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
