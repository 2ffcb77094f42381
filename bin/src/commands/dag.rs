//! `chorus dag export|import`: CAR files.

use std::io::{Read, Write};

use anyhow::{Context, Result};
use chorus_protocol::car::{export_car, import_car};
use chorus_protocol::unixfs::StoreSource;
use chorus_storage::{Blockstore, PinMode};
use futures::StreamExt;

use super::runtime;
use crate::cli::DagCommand;
use crate::progress;
use crate::repo::RepoPaths;

pub fn run(paths: &RepoPaths, cmd: DagCommand) -> Result<()> {
    let store = crate::store::open_existing(paths)?;
    match cmd {
        DagCommand::Export {
            cid,
            progress: show,
        } => {
            let root = cid
                .trim_start_matches("/ipfs/")
                .parse()
                .map_err(|e| anyhow::anyhow!("invalid CID {cid:?}: {e}"))?;
            let bar = progress::bytes_bar(progress::enabled(show), None, "exporting");
            let source = StoreSource::new(std::sync::Arc::new(store));
            runtime()?.block_on(async {
                let mut out = std::io::BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
                let mut chunks = std::pin::pin!(export_car(source, root));
                while let Some(chunk) = chunks.next().await {
                    let chunk = chunk.with_context(|| format!("cannot export {root}"))?;
                    out.write_all(&chunk)?;
                    bar.inc(chunk.len() as u64);
                }
                out.flush()?;
                anyhow::Ok(())
            })?;
            bar.finish_and_clear();
        }
        DagCommand::Import {
            files,
            pin_roots,
            progress: show,
        } => {
            let session = store.session();
            let mut roots = Vec::new();
            let stdin_only = files.is_empty() || files.iter().all(|f| f.as_os_str() == "-");
            let inputs: Vec<Option<std::path::PathBuf>> = if stdin_only {
                vec![None]
            } else {
                files.into_iter().map(Some).collect()
            };
            let show = progress::enabled(show);
            for input in inputs {
                let (reader, total, name): (Box<dyn Read>, Option<u64>, String) = match &input {
                    None => (Box::new(std::io::stdin().lock()), None, "stdin".into()),
                    Some(p) => {
                        let f = std::fs::File::open(p)
                            .with_context(|| format!("cannot open {}", p.display()))?;
                        let len = f.metadata().ok().map(|m| m.len());
                        (Box::new(f), len, p.display().to_string())
                    }
                };
                let bar = progress::bytes_bar(show, total, "importing");
                let reader = std::io::BufReader::with_capacity(1 << 20, bar.wrap_read(reader));
                let imported = import_car(&session, reader)
                    .with_context(|| format!("cannot import {name}"))?;
                bar.finish_and_clear();
                roots.extend(imported.roots);
            }
            if pin_roots {
                for root in &roots {
                    session
                        .pin(root, PinMode::Recursive)
                        .with_context(|| format!("cannot pin root {root}"))?;
                }
            }
            store.flush()?;
            let mut out = std::io::stdout().lock();
            for root in &roots {
                if pin_roots {
                    writeln!(out, "Pinned root\t{root}\tsuccess")?;
                } else {
                    writeln!(out, "Imported root\t{root}")?;
                }
            }
            out.flush()?;
        }
    }
    Ok(())
}
