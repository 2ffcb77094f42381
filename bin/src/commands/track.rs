//! `chorus track add|info`: a track as IPFS content.
//!
//! `track add` goes through the daemon's RPC `track/add` when a daemon runs (its worker pool,
//! limits and metrics do the work; progress comes back as NDJSON), and otherwise runs the same
//! [`TrackPipeline`] here: transcode in a worker process, store the directory as
//! `chorus add -r -Q` would, pin it, print the root CID. Either way the CID is the same, and a
//! failed transcode stores nothing.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chorus_node::core::Commit;
use chorus_transcoder::PoolMetrics;

use crate::cli::{Cli, Command, TrackCommand};
use crate::progress;
use crate::repo::RepoPaths;
use crate::track::{TrackPipeline, percent_bar};

pub fn run(repo_flag: Option<PathBuf>, paths: &RepoPaths, cmd: TrackCommand) -> Result<()> {
    match cmd {
        TrackCommand::Add {
            file,
            renditions,
            progress: show,
            sign,
        } => add(
            paths,
            &file,
            &renditions,
            progress::enabled(show),
            sign.as_deref(),
        ),
        TrackCommand::Info { cid } => {
            // `cat <cid>/track.json`: through the daemon when one runs, else from the repo.
            let cid = cid.trim_start_matches("/ipfs/").trim_end_matches('/');
            let cli = Cli {
                repo: repo_flag,
                log_format: None,
                command: Command::Cat(crate::cli::CatArgs {
                    path: format!("{cid}/track.json"),
                    offset: 0,
                    length: None,
                }),
            };
            super::run(cli)
        }
    }
}

fn add(
    paths: &RepoPaths,
    file: &Path,
    extra: &[u32],
    show: bool,
    sign: Option<&Path>,
) -> Result<()> {
    paths.ensure_initialized()?;
    let md = std::fs::metadata(file).with_context(|| format!("cannot read {}", file.display()))?;
    if !md.is_file() {
        bail!("{} is not a file", file.display());
    }
    let name = file
        .file_name()
        .and_then(|n| n.to_str())
        .with_context(|| format!("{} has no UTF-8 file name", file.display()))?
        .to_owned();
    let config = paths.load_config()?;
    if md.len() > config.transcode.max_input_bytes {
        bail!(
            "cannot transcode {name}: {} bytes is above the limit of {} bytes",
            md.len(),
            config.transcode.max_input_bytes
        );
    }
    if let Some(remote) = crate::remote::Remote::connect(paths)? {
        return crate::remote::track_add(&remote, file, &name, extra, show, sign);
    }
    if sign.is_some() {
        bail!(
            "a signed upload goes through a running daemon (it verifies and registers it on chain): start `chorus daemon`"
        );
    }

    // The same writer and commit as the daemon's `track/add`: blocks through a GC session,
    // then pinned and durable before the CID is printed.
    let core = crate::store::offline_core(paths)?;
    let writer = core.writer();
    let pipeline = TrackPipeline::new(
        config.transcode,
        config.import,
        PoolMetrics::default(),
        std::env::temp_dir(),
    )?;
    let bar = percent_bar(show);
    let rt = super::runtime()?;
    let added = rt.block_on(
        pipeline.add(file, &name, extra, writer.store().clone(), |p| {
            if let chorus_node::TrackProgress::Transcoding { percent, .. } = p {
                bar.set_position(u64::from(percent));
            }
        }),
    );
    bar.finish_and_clear();
    let added = added?;
    rt.block_on(writer.commit(Commit::pin_and_announce(&[added.root])))
        .context("cannot store the track")?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", added.root)?;
    Ok(out.flush()?)
}
