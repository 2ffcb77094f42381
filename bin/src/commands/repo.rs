//! `chorus repo stat|gc|verify`.

use std::io::Write;
use std::path::Path;

use anyhow::Result;
use chorus_storage::Blockstore;

use crate::cli::RepoCommand;
use crate::repo::RepoPaths;

pub fn run(paths: &RepoPaths, cmd: RepoCommand) -> Result<()> {
    let store = crate::store::open_existing(paths)?;
    let mut out = std::io::stdout().lock();
    match cmd {
        RepoCommand::Stat { size_only: _ } => {
            let stat = store.stat()?;
            writeln!(out, "NumObjects: {}", stat.blocks)?;
            writeln!(out, "RepoSize:   {}", disk_usage(paths.root()))?;
            writeln!(out, "BlockBytes: {}", stat.bytes)?;
            writeln!(out, "NumPins:    {}", store.pins().len())?;
            writeln!(out, "RepoPath:   {}", paths.root().display())?;
            writeln!(out, "Version:    chorus-repo@1")?;
        }
        RepoCommand::Gc { quiet } => {
            // The core's GC, as RPC repo/gc runs it: durable and counted.
            drop(store);
            let core = crate::store::offline_core(paths)?;
            let report = super::runtime()?.block_on(core.gc())?;
            if !quiet {
                for cid in report.removed_cids() {
                    writeln!(out, "removed {cid}")?;
                }
            }
            return Ok(out.flush()?);
        }
        RepoCommand::Verify => {
            // The core's verify, as RPC repo/verify runs it.
            drop(store);
            let core = crate::store::offline_core(paths)?;
            let (lines, ok) = super::runtime()?.block_on(core.verify())?;
            return crate::report::verified(&mut out, &lines, ok);
        }
    }
    out.flush()?;
    Ok(())
}

/// Bytes the repo occupies on disk (allocated blocks, as `du` counts them).
fn disk_usage(dir: &Path) -> u64 {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(md) = e.metadata() else { continue };
            total += md.blocks() * 512;
            if md.is_dir() {
                stack.push(e.path());
            }
        }
    }
    total
}
