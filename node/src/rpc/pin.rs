//! `/api/v0/pin/{add,rm,ls}` with kubo's JSON shapes.

use std::collections::{BTreeMap, HashSet};

use axum::extract::State;
use axum::response::Response;
use chorus_storage::{Cid, PinMode};
use serde::Serialize;

use super::args::Args;
use super::error::ApiError;
use super::respond::{blocking, ndjson, resolve_arg};
use super::walk::{local_descendants, walk};
use crate::context::NodeContext;

#[derive(Debug, Serialize)]
struct PinsOut {
    #[serde(rename = "Pins")]
    pins: Vec<String>,
}

async fn args_cids(ctx: &NodeContext, args: &Args) -> Result<Vec<Cid>, ApiError> {
    if args.positional().is_empty() {
        return Err(ApiError::MissingArgument { name: "ipfs-path" });
    }
    let mut out = Vec::new();
    for a in args.positional() {
        out.push(resolve_arg(ctx, "ipfs-path", a).await?);
    }
    Ok(out)
}

pub(crate) async fn add(State(ctx): State<NodeContext>, args: Args) -> Result<Response, ApiError> {
    let recursive = args.bool("recursive", true)?;
    let cids = args_cids(&ctx, &args).await?;
    let (session, store) = ctx.session();
    let fetcher = ctx.fetcher();
    for cid in &cids {
        if recursive {
            // The whole DAG must be present (fetched if online) before the pin is recorded.
            walk(&store, &fetcher, *cid).await?;
        } else {
            super::walk::get_protected(&store, &fetcher, *cid).await?;
        }
    }
    let mode = if recursive {
        PinMode::Recursive
    } else {
        PinMode::Direct
    };
    let pins = cids.clone();
    blocking("pinning", move || {
        for cid in &pins {
            session.pin(cid, mode)?;
        }
        Ok(())
    })
    .await?;
    ctx.refresh_pin_metrics();
    ctx.announce(cids.clone()).await;
    ndjson(&[PinsOut {
        pins: cids.iter().map(Cid::to_string).collect(),
    }])
}

pub(crate) async fn rm(State(ctx): State<NodeContext>, args: Args) -> Result<Response, ApiError> {
    let recursive = args.bool("recursive", true)?;
    let cids = args_cids(&ctx, &args).await?;
    let repo = ctx.repo().clone();
    let removed = blocking("unpinning", move || {
        let pins = repo.pins();
        for cid in &cids {
            match pins.get(cid)? {
                None => {
                    return Err(ApiError::Failed(format!(
                        "{cid} is not pinned or pinned indirectly"
                    )));
                }
                Some(PinMode::Recursive) if !recursive => {
                    return Err(ApiError::Failed(format!("{cid} is pinned recursively")));
                }
                Some(_) => {}
            }
        }
        for cid in &cids {
            pins.rm(cid)?;
        }
        Ok(cids)
    })
    .await?;
    ctx.refresh_pin_metrics();
    ndjson(&[PinsOut {
        pins: removed.iter().map(Cid::to_string).collect(),
    }])
}

#[derive(Debug, Serialize)]
struct PinType {
    #[serde(rename = "Type")]
    kind: String,
}

#[derive(Debug, Serialize)]
struct KeysOut {
    #[serde(rename = "Keys")]
    keys: BTreeMap<String, PinType>,
}

#[derive(Debug, Serialize)]
struct StreamLine {
    #[serde(rename = "Cid")]
    cid: String,
    #[serde(rename = "Type")]
    kind: String,
}

pub(crate) async fn ls(State(ctx): State<NodeContext>, args: Args) -> Result<Response, ApiError> {
    let kind = args.option("type").unwrap_or("all").to_owned();
    if !matches!(kind.as_str(), "all" | "direct" | "recursive" | "indirect") {
        return Err(ApiError::invalid(
            "type",
            &kind,
            "use all, direct, recursive or indirect",
        ));
    }
    let stream = args.bool("stream", false)?;
    let mut wanted = Vec::new();
    for a in args.positional() {
        wanted.push((a.clone(), resolve_arg(&ctx, "ipfs-path", a).await?));
    }
    let repo = ctx.repo().clone();
    let store = ctx.store();
    let entries = blocking("listing pins", move || {
        let mut pins: Vec<(Cid, PinMode)> = Vec::new();
        for item in repo.pins().ls(None) {
            pins.push(item?);
        }
        let need_indirect = !wanted.is_empty() || kind == "all" || kind == "indirect";
        let mut indirect: BTreeMap<Cid, Cid> = BTreeMap::new();
        if need_indirect {
            for (root, mode) in &pins {
                if *mode == PinMode::Recursive {
                    let mut below = HashSet::new();
                    local_descendants(&*store, root, &mut below);
                    for c in below {
                        indirect.entry(c).or_insert(*root);
                    }
                }
            }
        }
        let direct_or_rec: BTreeMap<Cid, PinMode> = pins.iter().copied().collect();
        let mut out: Vec<(Cid, String)> = Vec::new();
        if !wanted.is_empty() {
            for (arg, cid) in wanted {
                let found = match direct_or_rec.get(&cid) {
                    Some(mode) if kind == "all" || kind == mode.name() => {
                        Some(mode.name().to_owned())
                    }
                    _ => match indirect.get(&cid) {
                        Some(root) if kind == "all" || kind == "indirect" => {
                            Some(format!("indirect through {root}"))
                        }
                        _ => None,
                    },
                };
                match found {
                    Some(t) => out.push((cid, t)),
                    None => {
                        return Err(ApiError::Failed(format!("path '{arg}' is not pinned")));
                    }
                }
            }
            return Ok(out);
        }
        for (cid, mode) in &pins {
            if kind == "all" || kind == mode.name() {
                out.push((*cid, mode.name().to_owned()));
            }
        }
        if kind == "all" || kind == "indirect" {
            for c in indirect.keys() {
                if !direct_or_rec.contains_key(c) {
                    out.push((*c, "indirect".to_owned()));
                }
            }
        }
        Ok(out)
    })
    .await?;
    if stream {
        let lines: Vec<StreamLine> = entries
            .into_iter()
            .map(|(c, k)| StreamLine {
                cid: c.to_string(),
                kind: k,
            })
            .collect();
        return ndjson(&lines);
    }
    ndjson(&[KeysOut {
        keys: entries
            .into_iter()
            .map(|(c, k)| (c.to_string(), PinType { kind: k }))
            .collect(),
    }])
}
