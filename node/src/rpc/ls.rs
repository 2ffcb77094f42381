//! `/api/v0/ls`, `/api/v0/refs` and `/api/v0/files/stat` (for `/ipfs/` paths).

use std::collections::HashSet;

use axum::extract::State;
use axum::response::Response;
use chorus_protocol::unixfs::{self, NodeKind};
use serde::Serialize;

use super::args::Args;
use super::error::ApiError;
use super::respond::{ndjson, resolve_arg};
use crate::context::NodeContext;
use crate::core::walk::{links, walk};
use crate::fetch::FetcherSource;

/// UnixFS type numbers as kubo's `ls` prints them.
fn type_number(kind: NodeKind) -> u8 {
    match kind {
        NodeKind::Directory | NodeKind::HamtShard => 1,
        NodeKind::File => 2,
        NodeKind::Symlink => 4,
        _ => 0,
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct LsLink {
    name: String,
    hash: String,
    size: u64,
    #[serde(rename = "Type")]
    kind: u8,
    target: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct LsObject {
    hash: String,
    links: Vec<LsLink>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct LsOut {
    objects: Vec<LsObject>,
}

pub(crate) async fn ls(State(ctx): State<NodeContext>, args: Args) -> Result<Response, ApiError> {
    if args.positional().is_empty() {
        return Err(ApiError::MissingArgument { name: "ipfs-path" });
    }
    let resolve_type = args.bool("resolve-type", true)?;
    let source = FetcherSource::new(ctx.fetcher());
    let mut objects = Vec::new();
    for arg in args.positional() {
        let cid = resolve_arg(&ctx, "ipfs-path", arg).await?;
        let stat = unixfs::stat(&source, &cid).await?;
        let mut out = Vec::new();
        if matches!(stat.kind, NodeKind::Directory | NodeKind::HamtShard) {
            for entry in unixfs::list_directory(&source, &cid, ctx.core().list_limits()).await? {
                let (kind, size) = if resolve_type {
                    let s = unixfs::stat(&source, &entry.cid).await?;
                    (type_number(s.kind), s.size)
                } else {
                    (0, entry.tsize)
                };
                out.push(LsLink {
                    name: entry.name,
                    hash: entry.cid.to_string(),
                    size,
                    kind,
                    target: String::new(),
                });
            }
        }
        objects.push(LsObject {
            hash: arg.clone(),
            links: out,
        });
    }
    ndjson(&[LsOut { objects }])
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(super) struct RefLine {
    #[serde(rename = "Ref")]
    pub(super) reference: String,
    pub(super) err: String,
}

pub(crate) async fn refs(State(ctx): State<NodeContext>, args: Args) -> Result<Response, ApiError> {
    if args.positional().is_empty() {
        return Err(ApiError::MissingArgument { name: "ipfs-path" });
    }
    let recursive = args.bool("recursive", false)?;
    let unique = args.bool("unique", false)?;
    let edges = args.bool("edges", false)?;
    // Blocks fetched for the walk are stored, protected from GC while it runs; nothing is
    // committed (a read pins nothing).
    let reading = ctx.core().writer();
    let store = reading.store().clone();
    let fetcher = ctx.fetcher();
    let mut lines = Vec::new();
    let mut printed = HashSet::new();
    for arg in args.positional() {
        let root = resolve_arg(&ctx, "ipfs-path", arg).await?;
        let pairs = if recursive {
            walk(&store, &fetcher, root).await?.edges
        } else {
            let block = crate::core::walk::get_protected(&store, &fetcher, root).await?;
            links(&block)?.into_iter().map(|c| (root, c)).collect()
        };
        for (from, to) in pairs {
            if unique && !printed.insert(to) {
                continue;
            }
            lines.push(RefLine {
                reference: if edges {
                    format!("{from} -> {to}")
                } else {
                    to.to_string()
                },
                err: String::new(),
            });
        }
    }
    ndjson(&lines)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
struct FilesStat {
    hash: String,
    size: u64,
    cumulative_size: u64,
    blocks: usize,
    #[serde(rename = "Type")]
    kind: &'static str,
    with_locality: bool,
}

pub(crate) async fn files_stat(
    State(ctx): State<NodeContext>,
    args: Args,
) -> Result<Response, ApiError> {
    let arg = args.required("path")?;
    if !arg.starts_with("/ipfs/") {
        return Err(ApiError::invalid(
            "path",
            arg,
            "only /ipfs/<cid>[/path] is supported (chorus has no MFS)",
        ));
    }
    let cid = resolve_arg(&ctx, "path", arg).await?;
    let source = FetcherSource::new(ctx.fetcher());
    let stat = unixfs::stat(&source, &cid).await?;
    // Blocks fetched for the walk are stored, protected from GC while it runs; nothing is
    // committed (a read pins nothing).
    let reading = ctx.core().writer();
    let store = reading.store().clone();
    let fetcher = ctx.fetcher();
    let root = crate::core::walk::get_protected(&store, &fetcher, cid).await?;
    let walked = walk(&store, &fetcher, cid).await?;
    let kind = match stat.kind {
        NodeKind::Directory | NodeKind::HamtShard => "directory",
        NodeKind::Symlink => "symlink",
        _ => "file",
    };
    ndjson(&[FilesStat {
        hash: cid.to_string(),
        size: stat.size,
        cumulative_size: walked.cumulative_size,
        blocks: links(&root)?.len(),
        kind,
        with_locality: false,
    }])
}
