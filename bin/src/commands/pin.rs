//! `chorus pin add|rm|ls`.

use std::collections::HashSet;
use std::io::Write;

use anyhow::{Context, Result, bail};
use chorus_protocol::car::block_links;
use chorus_protocol::unixfs::{StoreSource, resolve_path};
use chorus_storage::{Blockstore, Cid, PinMode, Session, SledStore};

use super::{parse_path, runtime};
use crate::cli::{PinCommand, PinTypeArg};
use crate::repo::RepoPaths;

pub fn run(paths: &RepoPaths, cmd: PinCommand) -> Result<()> {
    let store = crate::store::open_existing(paths)?;
    let mut out = std::io::stdout().lock();
    match cmd {
        PinCommand::Add {
            paths: args,
            recursive,
            progress,
        } => {
            let session = store.session();
            let mode = if recursive {
                PinMode::Recursive
            } else {
                PinMode::Direct
            };
            let mut done = Vec::new();
            let mut walked = 0;
            for arg in &args {
                let cid = resolve(&store, arg)?;
                if recursive {
                    walked += walk_complete(&session, cid)
                        .with_context(|| format!("cannot pin {arg}: the DAG is incomplete"))?;
                } else if session.get(&cid)?.is_none() {
                    bail!("cannot pin {arg}: block {cid} not found in the local store");
                } else {
                    walked += 1;
                }
                session.pin(&cid, mode)?;
                done.push(cid);
            }
            store.flush()?;
            if progress {
                // Offline, every block is local: the walk is quick, so only its total is shown.
                eprintln!("Fetched/Processed {walked} nodes");
            }
            for cid in done {
                let how = if recursive { "recursively" } else { "directly" };
                writeln!(out, "pinned {cid} {how}")?;
            }
        }
        PinCommand::Rm { paths: args } => {
            let mut done = Vec::new();
            for arg in &args {
                let cid = resolve(&store, arg)?;
                if store.pins().rm(&cid)?.is_none() {
                    bail!("{cid} is not pinned or pinned indirectly");
                }
                done.push(cid);
            }
            store.flush()?;
            for cid in done {
                writeln!(out, "unpinned {cid}")?;
            }
        }
        PinCommand::Ls {
            paths: args,
            pin_type,
            quiet,
        } => {
            let pins: Vec<(Cid, PinMode)> = store
                .pins()
                .ls(None)
                .collect::<Result<_, _>>()
                .context("cannot read pins")?;
            let mut rows: Vec<(Cid, &'static str)> = Vec::new();
            let want = |t: PinTypeArg| pin_type == PinTypeArg::All || pin_type == t;
            for (cid, mode) in &pins {
                let t = match mode {
                    PinMode::Recursive => PinTypeArg::Recursive,
                    PinMode::Direct => PinTypeArg::Direct,
                };
                if want(t) {
                    rows.push((*cid, mode.name()));
                }
            }
            if want(PinTypeArg::Indirect) {
                let roots: HashSet<_> = pins.iter().map(|(c, _)| *c).collect();
                for cid in indirect(&store, &pins)? {
                    if !roots.contains(&cid) {
                        rows.push((cid, "indirect"));
                    }
                }
            }
            if !args.is_empty() {
                let wanted = args
                    .iter()
                    .map(|a| resolve(&store, a))
                    .collect::<Result<HashSet<_>>>()?;
                for w in &wanted {
                    if !rows.iter().any(|(c, _)| c == w) {
                        bail!("path {w} is not pinned");
                    }
                }
                rows.retain(|(c, _)| wanted.contains(c));
            }
            for (cid, name) in rows {
                if quiet {
                    writeln!(out, "{cid}")?;
                } else {
                    writeln!(out, "{cid} {name}")?;
                }
            }
        }
    }
    out.flush()?;
    Ok(())
}

fn resolve(store: &SledStore, arg: &str) -> Result<Cid> {
    let (root, segments) = parse_path(arg)?;
    if segments.is_empty() {
        return Ok(root);
    }
    let source = StoreSource::new(std::sync::Arc::new(store.clone()));
    runtime()?
        .block_on(resolve_path(&source, &root, &segments))
        .with_context(|| format!("cannot resolve {arg}"))
}

/// Visits every block under `root` through the session (which protects each from GC until the
/// pin is written); fails on the first missing block.
fn walk_complete(session: &Session, root: Cid) -> Result<u64> {
    let mut seen = HashSet::new();
    let mut stack = vec![root];
    while let Some(cid) = stack.pop() {
        if !seen.insert(*cid.hash()) {
            continue;
        }
        let block = session
            .get(&cid)?
            .with_context(|| format!("block {cid} not found in the local store"))?;
        stack.extend(links_or_leaf(&block));
    }
    Ok(seen.len() as u64)
}

/// Links of dag-pb blocks; other codecs are leaves here (GC keeps them without descending).
fn links_or_leaf(block: &chorus_storage::Block) -> Vec<Cid> {
    block_links(block).unwrap_or_default()
}

/// Every CID reachable from the recursive pins (present blocks only).
fn indirect(store: &SledStore, pins: &[(Cid, PinMode)]) -> Result<Vec<Cid>> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    let mut stack: Vec<Cid> = pins
        .iter()
        .filter(|(_, m)| *m == PinMode::Recursive)
        .map(|(c, _)| *c)
        .collect();
    while let Some(cid) = stack.pop() {
        if !seen.insert(cid) {
            continue;
        }
        out.push(cid);
        if let Some(block) = store.get(&cid)? {
            stack.extend(links_or_leaf(&block));
        }
    }
    Ok(out)
}
