//! The track pipeline, shared by `chorus track add` (no daemon) and the daemon's RPC
//! `track/add`: transcode in an isolated worker process (this binary's hidden
//! `transcode-worker` subcommand, so a codec crash cannot take the caller down), lay the
//! outputs and the source out as one directory, and store it exactly as `chorus add -r` does.
//!
//! One code path means one CID: output is deterministic and the directory is imported with the
//! repo's `[import]` settings either way, so re-adding a file gives the same root, whoever
//! stores it. A failed transcode stores nothing; the caller pins the root through the same
//! GC session the blocks were written through.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use chorus_node::{
    TrackAdded, TrackError, TrackErrorKind, TrackProgress, TrackRequest, TrackService,
};
use chorus_storage::Blockstore;
use chorus_transcoder::{
    FailureKind, Job, JobError, PoolConfig, PoolMetrics, Rendition, WorkerCommand, WorkerPool,
};
use futures::future::BoxFuture;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::sync::mpsc;

use crate::config::{ImportConfig, TranscodeConfig};

/// The hidden subcommand a worker process runs.
const WORKER_SUBCOMMAND: &str = "transcode-worker";

/// A worker pool plus the settings every track gets.
#[derive(Debug, Clone)]
pub struct TrackPipeline {
    pool: WorkerPool,
    settings: TranscodeConfig,
    import: ImportConfig,
    /// Where temporary track directories (and, in the daemon, uploads) are made.
    work_root: PathBuf,
}

impl TrackPipeline {
    /// A pool of `settings.workers` workers running this binary, recording into `metrics`;
    /// temporary files go under `work_root`.
    pub fn new(
        settings: TranscodeConfig,
        import: ImportConfig,
        metrics: PoolMetrics,
        work_root: PathBuf,
    ) -> Result<Self> {
        let exe = std::env::current_exe().context("cannot find the chorus binary")?;
        let pool = WorkerPool::new(
            PoolConfig::new(WorkerCommand::new(exe, [WORKER_SUBCOMMAND]))
                .with_workers(settings.workers)
                .with_queue(settings.queue)
                .with_job_timeout(Duration::from_secs(settings.job_timeout_secs.max(1))),
            metrics,
        );
        Ok(Self {
            pool,
            settings,
            import,
            work_root,
        })
    }

    /// The configured upload limit.
    pub fn max_input_bytes(&self) -> u64 {
        self.settings.max_input_bytes
    }

    /// The transcoder settings for one track: the configured renditions plus `extra_kbps`.
    fn transcode_config(
        &self,
        extra_kbps: &[u32],
    ) -> Result<chorus_transcoder::TranscodeConfig, TrackError> {
        let mut renditions: Vec<Rendition> = Vec::new();
        for kbps in self.settings.renditions.iter().chain(extra_kbps) {
            let rendition = Rendition::from_bitrate(kbps.saturating_mul(1000));
            if !renditions.contains(&rendition) {
                renditions.push(rendition);
            }
        }
        let config = chorus_transcoder::TranscodeConfig::default()
            .with_renditions(renditions)
            .with_max_input_bytes(self.settings.max_input_bytes)
            .with_max_duration_secs(self.settings.max_duration_secs)
            .with_max_memory_bytes(self.settings.max_memory_bytes);
        config
            .validate()
            .map_err(|e| TrackError::new(TrackErrorKind::InvalidOptions, e.to_string()))?;
        Ok(config)
    }

    /// Transcodes `source` (shown to users as `name`), writes the track directory's blocks to
    /// `store` and returns its root. Nothing is pinned here.
    ///
    /// Cancel-safe: dropping the future kills the worker and removes the temporary directory.
    pub async fn add(
        &self,
        source: &Path,
        name: &str,
        extra_kbps: &[u32],
        store: Arc<dyn Blockstore>,
        mut progress: impl FnMut(TrackProgress) + Send,
    ) -> Result<TrackAdded, TrackError> {
        let config = self.transcode_config(extra_kbps)?;
        let internal = |what: &str, e: &dyn std::fmt::Display| {
            TrackError::new(TrackErrorKind::Internal, format!("{what}: {e}"))
        };
        std::fs::create_dir_all(&self.work_root)
            .map_err(|e| internal("cannot create the transcode directory", &e))?;
        let work = tempfile::Builder::new()
            .prefix("track-")
            .tempdir_in(&self.work_root)
            .map_err(|e| internal("cannot create a temporary directory", &e))?;
        let out = work.path().join("track");
        let job = Job::new(source.to_path_buf(), out.clone()).with_config(config);
        let done = self
            .pool
            .run(job, |p| {
                progress(TrackProgress::Transcoding {
                    percent: p.percent,
                    decoded_secs: p.decoded_secs,
                })
            })
            .await
            .map_err(|e| job_error(e, source, name))?;
        progress(TrackProgress::Storing);
        let duration = done.track.duration;

        let import = self.import.clone();
        let source = source.to_path_buf();
        let name = name.to_owned();
        // Reading and hashing the files blocks: the whole step runs on the blocking pool.
        let runtime = tokio::runtime::Handle::current();
        let stored = tokio::task::spawn_blocking(
            move || -> Result<(chorus_storage::Cid, u64, chorus_storage::Cid)> {
                // The source goes in as `source.<ext>`; track.json names its CID, computed as the
                // directory import below stores it, so the two agree.
                let copy = out.join(format!("source.{}", source_extension(&name)));
                if std::fs::hard_link(&source, &copy).is_err() {
                    std::fs::copy(&source, &copy)
                        .with_context(|| format!("cannot copy {name} into the track"))?;
                }
                runtime.block_on(async {
                    let source_cid = crate::commands::hash_file(&import, &copy).await?;
                    done.track
                        .with_source_cid(source_cid.to_string())
                        .write_to(&out)
                        .context("cannot write track.json")?;
                    let (root, tsize) =
                        crate::commands::add_directory(&import, &out, store).await?;
                    Ok((root, tsize, source_cid))
                })
            },
        )
        .await
        .map_err(|e| internal("the storing task failed", &e))?
        .map_err(|e| internal("cannot store the track", &format!("{e:#}")))?;
        drop(work);
        Ok(TrackAdded {
            root: stored.0,
            tsize: stored.1,
            duration,
            source: Some(stored.2),
        })
    }
}

/// The daemon's service: spools uploads into `spool`, runs them through the pipeline.
pub struct DaemonTracks {
    pipeline: TrackPipeline,
    spool: PathBuf,
}

impl DaemonTracks {
    /// Serves `track/add` with `pipeline`, spooling uploads under `spool`.
    pub fn new(pipeline: TrackPipeline, spool: PathBuf) -> Self {
        Self { pipeline, spool }
    }
}

impl TrackService for DaemonTracks {
    fn max_input_bytes(&self) -> u64 {
        self.pipeline.max_input_bytes()
    }

    fn spool_dir(&self) -> &Path {
        &self.spool
    }

    fn import(
        &self,
        request: TrackRequest,
        progress: mpsc::Sender<TrackProgress>,
    ) -> BoxFuture<'_, Result<TrackAdded, TrackError>> {
        Box::pin(async move {
            self.pipeline
                .add(
                    &request.source,
                    &request.name,
                    &request.extra_renditions_kbps,
                    request.store,
                    |p| {
                        // A slow client loses progress reports, never the job.
                        let _ = progress.try_send(p);
                    },
                )
                .await
        })
    }
}

/// `source.<ext>`'s extension: the upload's, lower-cased, when it is plain alphanumerics.
fn source_extension(name: &str) -> String {
    Path::new(name)
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .filter(|e| !e.is_empty() && e.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or_else(|| "bin".to_owned())
}

/// A pool failure as a categorised, one-line error naming `name` (never the spool path).
fn job_error(error: JobError, source: &Path, name: &str) -> TrackError {
    let (kind, message) = match error {
        JobError::QueueFull { capacity } => (
            TrackErrorKind::Busy,
            format!("the transcoder is busy ({capacity} jobs waiting); try again later"),
        ),
        JobError::Failed { kind, message } => {
            let message = message.replace(&source.display().to_string(), name);
            let kind = match kind {
                FailureKind::Empty => TrackErrorKind::Empty,
                FailureKind::TooLarge => TrackErrorKind::TooLarge,
                FailureKind::TooLong => TrackErrorKind::TooLong,
                FailureKind::Unrecognized
                | FailureKind::NoAudioStream
                | FailureKind::Unsupported
                | FailureKind::NoAudio => TrackErrorKind::NotAudio,
                FailureKind::Corrupt | FailureKind::Truncated => TrackErrorKind::Corrupt,
                FailureKind::Config => TrackErrorKind::InvalidOptions,
                _ => TrackErrorKind::Internal,
            };
            (kind, message)
        }
        JobError::Crashed { status, stderr } => {
            tracing::warn!(name, %status, stderr, "transcode worker crashed");
            (
                TrackErrorKind::WorkerCrashed,
                format!("the transcode worker crashed ({status})"),
            )
        }
        JobError::Protocol { message } => {
            tracing::warn!(name, message, "transcode worker protocol error");
            (
                TrackErrorKind::WorkerCrashed,
                "the transcode worker broke its protocol".to_owned(),
            )
        }
        JobError::TimedOut { after } => (
            TrackErrorKind::TimedOut,
            format!(
                "timed out after {} s; the worker was killed",
                after.as_secs_f64()
            ),
        ),
        other => (TrackErrorKind::Internal, other.to_string()),
    };
    // One line, whatever libav said.
    let message = message.split_whitespace().collect::<Vec<_>>().join(" ");
    TrackError::new(kind, format!("cannot transcode {name}: {message}"))
}

/// A 0..100 % bar on stderr for transcode progress; hidden when `show` is false.
pub fn percent_bar(show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(100).with_style(
        ProgressStyle::with_template("{msg} {wide_bar} {pos:>3}% {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_draw_target(ProgressDrawTarget::stderr());
    bar.set_message("transcoding");
    bar
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_are_categorised_one_liners_naming_the_upload() {
        let e = job_error(
            JobError::Failed {
                kind: FailureKind::Unrecognized,
                message: "input /repo/tmp/u-1/x.wav is not a recognised audio file:\nInvalid data"
                    .into(),
            },
            Path::new("/repo/tmp/u-1/x.wav"),
            "noise.wav",
        );
        assert_eq!(e.kind, TrackErrorKind::NotAudio);
        assert_eq!(
            e.message,
            "cannot transcode noise.wav: input noise.wav is not a recognised audio file: Invalid data"
        );
        let e = job_error(
            JobError::TimedOut {
                after: Duration::from_secs(3),
            },
            Path::new("/x"),
            "a.mp3",
        );
        assert_eq!(e.kind, TrackErrorKind::TimedOut);
        assert!(e.message.contains("timed out after 3 s"), "{}", e.message);
    }

    #[test]
    fn source_extensions() {
        assert_eq!(source_extension("a.WAV"), "wav");
        assert_eq!(source_extension("noext"), "bin");
        assert_eq!(source_extension("a.t-r"), "bin");
    }
}
