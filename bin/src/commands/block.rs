//! `chorus block put|get|stat|rm` without a daemon: the core in process (the same code RPC
//! `block/*` runs), printed as the daemon path prints.

use std::io::{Read, Write};

use anyhow::{Context, Result, bail};
use chorus_node::core::{BlockFormat, MAX_BLOCK_SIZE};
use chorus_storage::{Cid, PinMode};

use super::runtime;
use crate::cli::BlockCommand;
use crate::repo::RepoPaths;
use crate::report;

fn parse_cid(arg: &str) -> Result<Cid> {
    let s = arg.trim_start_matches("/ipfs/");
    s.parse()
        .map_err(|e| anyhow::anyhow!("invalid CID {arg:?}: {e}"))
}

pub fn run(paths: &RepoPaths, cmd: BlockCommand) -> Result<()> {
    let core = crate::store::offline_core(paths)?;
    let rt = runtime()?;
    let mut out = std::io::stdout().lock();
    match cmd {
        BlockCommand::Put {
            file,
            cid_codec,
            mhtype,
            pin,
        } => {
            let mut data = Vec::new();
            let limit = MAX_BLOCK_SIZE as u64 + 1;
            match file.as_deref().filter(|p| p.as_os_str() != "-") {
                None => std::io::stdin()
                    .lock()
                    .take(limit)
                    .read_to_end(&mut data)
                    .context("cannot read the block from standard input")?,
                Some(p) => std::fs::File::open(p)
                    .and_then(|f| f.take(limit).read_to_end(&mut data))
                    .with_context(|| format!("cannot read {}", p.display()))?,
            };
            if data.len() > MAX_BLOCK_SIZE {
                bail!("block is larger than the {MAX_BLOCK_SIZE}-byte limit");
            }
            let format = BlockFormat::parse(Some(&cid_codec), Some(&mhtype), None)?;
            let block = format.block(data.into())?;
            let cid = *block.cid();
            // `--pin` pins the block directly (as documented), the same through a daemon.
            let pin = pin.then_some(PinMode::Direct);
            rt.block_on(core.put_blocks(vec![block], pin))?;
            writeln!(out, "{cid}")?;
        }
        BlockCommand::Get { cid } => {
            let c = parse_cid(&cid)?;
            let block = rt.block_on(core.fetcher().fetch(c))?;
            out.write_all(block.data())?;
        }
        BlockCommand::Stat { cid } => {
            let c = parse_cid(&cid)?;
            let block = rt.block_on(core.fetcher().fetch(c))?;
            writeln!(out, "Key: {}\nSize: {}", block.cid(), block.len())?;
        }
        BlockCommand::Rm { cids, force } => {
            let parsed = cids
                .iter()
                .map(|c| parse_cid(c))
                .collect::<Result<Vec<_>>>()?;
            let outcomes = rt.block_on(core.remove_blocks(parsed))?;
            let lines: Vec<(String, Option<String>)> = outcomes
                .into_iter()
                .filter_map(|(cid, outcome)| {
                    let error = match outcome {
                        Ok(true) => None,
                        Ok(false) if force => return None,
                        Ok(false) => Some("blockstore: block not found".to_owned()),
                        Err(e) => Some(e.to_string()),
                    };
                    Some((cid.to_string(), error))
                })
                .collect();
            report::removed_blocks(&mut out, &lines)?;
        }
    }
    out.flush()?;
    Ok(())
}
