//! `chorus track add|info`: a track as IPFS content.
//!
//! `track add` transcodes in an isolated worker process (this binary's hidden
//! `transcode-worker` subcommand, so a codec crash cannot take the caller down), lays the
//! outputs and the source out as one directory, and adds it exactly as `chorus add -r -Q` would:
//! into the repo, or through the running daemon. Output is deterministic, so re-adding the same
//! file gives the same root CID and stores nothing twice. A failed transcode stores nothing.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chorus_transcoder::{
    Job, PoolConfig, PoolMetrics, Rendition, TranscodeConfig, WorkerCommand, WorkerPool,
};

use crate::cli::{AddArgs, Cli, Command, TrackCommand};
use crate::progress;
use crate::repo::RepoPaths;

/// Default HLS rendition (Audius's segmenter: 320 kbps).
const DEFAULT_RENDITION_KBPS: u32 = 320;

pub fn run(repo_flag: Option<PathBuf>, paths: &RepoPaths, cmd: TrackCommand) -> Result<()> {
    match cmd {
        TrackCommand::Add {
            file,
            renditions,
            progress: show,
        } => add(
            repo_flag,
            paths,
            &file,
            &renditions,
            progress::enabled(show),
        ),
        TrackCommand::Info { cid } => {
            let cid = cid.trim_start_matches("/ipfs/").trim_end_matches('/');
            let cli = Cli {
                repo: repo_flag,
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
    repo_flag: Option<PathBuf>,
    paths: &RepoPaths,
    file: &Path,
    extra: &[u32],
    show: bool,
) -> Result<()> {
    paths.ensure_initialized()?;
    let md = std::fs::metadata(file).with_context(|| format!("cannot read {}", file.display()))?;
    if !md.is_file() {
        bail!("{} is not a file", file.display());
    }
    let mut renditions = vec![Rendition::from_bitrate(DEFAULT_RENDITION_KBPS * 1000)];
    for kbps in extra {
        if *kbps == 0 || *kbps > DEFAULT_RENDITION_KBPS {
            bail!("rendition bitrate {kbps} kbps is out of range (1..={DEFAULT_RENDITION_KBPS})");
        }
        if *kbps != DEFAULT_RENDITION_KBPS {
            renditions.push(Rendition::from_bitrate(kbps * 1000));
        }
    }
    let config = TranscodeConfig::default().with_renditions(renditions);

    let work = tempfile::Builder::new()
        .prefix("chorus-track-")
        .tempdir()
        .context("cannot create a temporary directory")?;
    let out = work.path().join("track");
    let exe = std::env::current_exe().context("cannot find the chorus binary")?;
    let pool = WorkerPool::new(
        PoolConfig::new(WorkerCommand::new(exe, ["transcode-worker"])).with_workers(1),
        PoolMetrics::default(),
    );
    let bar = progress::bytes_bar(show, Some(100), "transcoding");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let job = Job::new(file.to_path_buf(), out.clone()).with_config(config);
    let done = rt
        .block_on(pool.run(job, |p| bar.set_position(u64::from(p.percent))))
        .with_context(|| format!("cannot transcode {}", file.display()))?;
    bar.finish_and_clear();

    // The source goes in as `source.<ext>`; track.json names its CID (computed as the add below
    // will store it, so the two agree).
    let ext = file
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .filter(|e| !e.is_empty() && e.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or_else(|| "bin".to_owned());
    let source = out.join(format!("source.{ext}"));
    std::fs::copy(file, &source).with_context(|| format!("cannot copy {}", file.display()))?;
    let source_cid = super::add::hash_file(paths, &source)?;
    done.track
        .with_source_cid(source_cid.to_string())
        .write_to(&out)
        .context("cannot write track.json")?;

    // Exactly `chorus add -r -Q <dir>`: prints the track's root CID, pins it.
    let add = AddArgs::for_directory(out);
    super::run(Cli {
        repo: repo_flag,
        command: Command::Add(add),
    })
}
