//! `chorus repo stat|gc|verify`.

use std::io::Write;

use anyhow::Result;

use crate::cli::RepoCommand;
use crate::repo::RepoPaths;

pub fn run(paths: &RepoPaths, cmd: RepoCommand) -> Result<()> {
    // Every command is the core's, as the RPC runs it.
    let core = crate::store::offline_core(paths)?;
    let mut out = std::io::stdout().lock();
    match cmd {
        RepoCommand::Stat { size_only } => {
            let storage_max = paths.load_config()?.datastore.storage_max_bytes;
            let stat = super::runtime()?.block_on(core.repo_stat(paths.root(), storage_max))?;
            crate::report::repo_stat(&mut out, &stat, size_only)?;
        }
        RepoCommand::Gc { quiet } => {
            // Durable and counted.
            let report = super::runtime()?.block_on(core.gc())?;
            if !quiet {
                for cid in report.removed_cids() {
                    writeln!(out, "removed {cid}")?;
                }
            }
            return Ok(out.flush()?);
        }
        RepoCommand::Verify => {
            let (lines, ok) = super::runtime()?.block_on(core.verify())?;
            return crate::report::verified(&mut out, &lines, ok);
        }
    }
    out.flush()?;
    Ok(())
}
