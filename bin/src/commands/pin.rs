//! `chorus pin add|rm|ls` without a daemon: the core's pinning in process (the same code RPC
//! `pin/*` runs), printed by [`crate::report`].

use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, Result};
use chorus_node::FetcherSource;
use chorus_node::core::{Core, PinFilter};
use chorus_protocol::unixfs::resolve_path;
use chorus_storage::Cid;

use super::{parse_path, runtime};
use crate::cli::{PinCommand, PinTypeArg};
use crate::repo::RepoPaths;
use crate::report;

pub fn run(paths: &RepoPaths, cmd: PinCommand) -> Result<()> {
    let core = crate::store::offline_core(paths)?;
    let mut out = std::io::stdout().lock();
    runtime()?.block_on(async {
        match cmd {
            PinCommand::Add {
                paths: args,
                recursive,
                progress,
            } => {
                let cids = resolve_all(&core, &args).await?;
                let visited = AtomicU64::new(0);
                core.pin(&cids, recursive, &visited)
                    .await
                    .with_context(|| format!("cannot pin {}", args.join(" ")))?;
                if progress {
                    // Offline, every block is local: the walk is quick, so only its total shows.
                    let n = visited.load(Ordering::Relaxed);
                    eprintln!("Fetched/Processed {n} nodes");
                }
                report::pinned(&mut out, &strings(&cids), recursive)
            }
            PinCommand::Rm { paths: args } => {
                let cids = resolve_all(&core, &args).await?;
                let removed = core.unpin(cids, true).await?;
                report::unpinned(&mut out, &strings(&removed))
            }
            PinCommand::Ls {
                paths: args,
                pin_type,
                quiet,
            } => {
                let filter = match pin_type {
                    PinTypeArg::All => PinFilter::All,
                    PinTypeArg::Recursive => PinFilter::Recursive,
                    PinTypeArg::Direct => PinFilter::Direct,
                    PinTypeArg::Indirect => PinFilter::Indirect,
                };
                let mut wanted = Vec::new();
                for arg in &args {
                    wanted.push((arg.clone(), resolve(&core, arg).await?));
                }
                let rows = core.pins(filter, wanted).await?;
                let rows = rows.into_iter().map(|(c, t)| (c.to_string(), t)).collect();
                report::pin_rows(&mut out, rows, quiet)
            }
        }
    })
}

fn strings(cids: &[Cid]) -> Vec<String> {
    cids.iter().map(Cid::to_string).collect()
}

async fn resolve_all(core: &Core, args: &[String]) -> Result<Vec<Cid>> {
    let mut cids = Vec::with_capacity(args.len());
    for arg in args {
        cids.push(resolve(core, arg).await?);
    }
    Ok(cids)
}

/// A CID or `/ipfs/<cid>/path` argument, resolved through the local store.
pub(super) async fn resolve(core: &Core, arg: &str) -> Result<Cid> {
    let (root, segments) = parse_path(arg)?;
    if segments.is_empty() {
        return Ok(root);
    }
    let source = FetcherSource::new(core.fetcher());
    resolve_path(&source, &root, &segments)
        .await
        .with_context(|| format!("cannot resolve {arg}"))
}
