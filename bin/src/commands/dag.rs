//! `chorus dag export|import` without a daemon: CAR files through the core in process (the
//! same code RPC `dag/*` runs), printed by [`crate::report`].

use std::io::Write;

use anyhow::{Context, Result};
use chorus_node::FetcherSource;
use chorus_protocol::car::export_car;
use futures::StreamExt;
use tokio_util::io::ReaderStream;

use super::runtime;
use crate::cli::DagCommand;
use crate::progress;
use crate::repo::RepoPaths;
use crate::report;

pub fn run(paths: &RepoPaths, cmd: DagCommand) -> Result<()> {
    let core = crate::store::offline_core(paths)?;
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
            let source = FetcherSource::new(core.fetcher());
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
            let stdin_only = files.is_empty() || files.iter().all(|f| f.as_os_str() == "-");
            let inputs: Vec<Option<std::path::PathBuf>> = if stdin_only {
                vec![None]
            } else {
                files.into_iter().map(Some).collect()
            };
            let show = progress::enabled(show);
            let imported = runtime()?.block_on(async {
                let mut importer = core.car_importer();
                for input in inputs {
                    let (reader, total, name): (
                        Box<dyn tokio::io::AsyncRead + Send + Unpin>,
                        _,
                        _,
                    ) = match &input {
                        None => (Box::new(tokio::io::stdin()), None, "stdin".to_owned()),
                        Some(p) => {
                            let f = tokio::fs::File::open(p)
                                .await
                                .with_context(|| format!("cannot open {}", p.display()))?;
                            let len = f.metadata().await.ok().map(|m| m.len());
                            (Box::new(f), len, p.display().to_string())
                        }
                    };
                    let bar = progress::bytes_bar(show, total, "importing");
                    let chunks = ReaderStream::with_capacity(reader, 1 << 20).inspect(|c| {
                        if let Ok(c) = c {
                            bar.inc(c.len() as u64);
                        }
                    });
                    importer
                        .car(Box::pin(chunks))
                        .await
                        .with_context(|| format!("cannot import {name}"))?;
                    bar.finish_and_clear();
                }
                anyhow::Ok(importer.finish(pin_roots).await?)
            })?;
            let roots: Vec<(String, Option<String>)> = imported
                .roots
                .iter()
                .map(|r| (r.cid.to_string(), r.pin_error.clone()))
                .collect();
            let mut out = std::io::stdout().lock();
            report::car_roots(&mut out, &roots, pin_roots)?;
            out.flush()?;
        }
    }
    Ok(())
}
