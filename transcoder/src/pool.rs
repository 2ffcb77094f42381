//! Runs transcode jobs in worker processes: bounded concurrency, bounded queue, per-job
//! timeout, and a killed child whenever the job is dropped.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, Command};
use tokio::sync::Semaphore;
use tokio_util::codec::{FramedRead, LinesCodec};

use crate::error::FailureKind;
use crate::metrics::{Outcome, PoolMetrics};
use crate::pipeline::{Progress, Transcoded};
use crate::worker::{Job, WorkerMessage};

/// Concurrent workers: Audius's mediorum transcodes two files at a time, which keeps a small
/// node responsive while uploads are processed.
pub const DEFAULT_WORKERS: usize = 2;
/// Jobs allowed to wait for a worker before new ones are refused (back-pressure on uploads).
pub const DEFAULT_QUEUE: usize = 32;
/// Per-job time limit: a 4-hour input at a modest 20× realtime takes 12 minutes; 30 leaves
/// headroom for slow machines and two jobs sharing cores.
pub const DEFAULT_JOB_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Longest stdout line accepted from a worker; the final line carries `track.json`, about
/// 100 bytes per segment (a 4-hour track with two renditions is under 1 MiB).
const MAX_LINE_BYTES: usize = 16 * 1024 * 1024;
/// Bytes of worker stderr kept for error reports (libav prints its reasons there).
const STDERR_TAIL_BYTES: usize = 4096;

/// The worker program to run: the daemon passes `current_exe()` and `["transcode-worker"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerCommand {
    /// Executable path.
    pub program: PathBuf,
    /// Leading arguments (the subcommand).
    pub args: Vec<OsString>,
    /// Extra environment variables for the worker (tests set [`crate::FAULT_ENV`] here).
    pub env: Vec<(OsString, OsString)>,
}

impl WorkerCommand {
    /// Runs `program` with `args` and the inherited environment.
    pub fn new(
        program: impl Into<PathBuf>,
        args: impl IntoIterator<Item = impl Into<OsString>>,
    ) -> Self {
        Self {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            env: Vec::new(),
        }
    }

    /// Adds an environment variable for the worker.
    pub fn with_env(mut self, key: impl Into<OsString>, value: impl Into<OsString>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }
}

/// Pool settings.
#[derive(Debug, Clone)]
pub struct PoolConfig {
    /// How to start a worker.
    pub command: WorkerCommand,
    /// Workers running at once.
    pub workers: usize,
    /// Jobs allowed to wait for a worker; one more is refused with [`JobError::QueueFull`].
    pub queue: usize,
    /// Wall-clock limit per job, after which the worker is killed.
    pub job_timeout: Duration,
}

impl PoolConfig {
    /// Defaults ([`DEFAULT_WORKERS`], [`DEFAULT_QUEUE`], [`DEFAULT_JOB_TIMEOUT`]) for `command`.
    pub fn new(command: WorkerCommand) -> Self {
        Self {
            command,
            workers: DEFAULT_WORKERS,
            queue: DEFAULT_QUEUE,
            job_timeout: DEFAULT_JOB_TIMEOUT,
        }
    }

    /// Replaces the worker count (at least 1).
    pub fn with_workers(mut self, workers: usize) -> Self {
        self.workers = workers.max(1);
        self
    }

    /// Replaces the queue bound.
    pub fn with_queue(mut self, queue: usize) -> Self {
        self.queue = queue;
        self
    }

    /// Replaces the per-job timeout.
    pub fn with_job_timeout(mut self, timeout: Duration) -> Self {
        self.job_timeout = timeout;
        self
    }
}

/// Why a pooled job produced no track. In every case the output directory is removed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// Too many jobs are already waiting.
    #[error("transcode queue is full ({capacity} jobs waiting)")]
    QueueFull {
        /// Configured queue bound.
        capacity: usize,
    },
    /// The output directory exists and is not empty (or cannot be inspected).
    #[error("output directory {path} is unusable: {source}")]
    OutputDir {
        /// The directory.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The worker program could not be started or fed.
    #[error("cannot start transcode worker {program}: {source}")]
    Spawn {
        /// Worker executable.
        program: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The worker ran and reported a failure (usually the input's fault, see `kind`).
    #[error("transcode failed ({kind:?}): {message}")]
    Failed {
        /// Error category.
        kind: FailureKind,
        /// The worker's error message.
        message: String,
    },
    /// The worker died without reporting a result.
    #[error("transcode worker crashed ({status}); stderr: {stderr}")]
    Crashed {
        /// Exit status as the OS reported it.
        status: String,
        /// Last bytes of its stderr.
        stderr: String,
    },
    /// The worker spoke something other than the worker protocol.
    #[error("transcode worker protocol error: {message}")]
    Protocol {
        /// What was wrong.
        message: String,
    },
    /// The job ran past the timeout; the worker was killed.
    #[error("transcode timed out after {after:?}; worker killed")]
    TimedOut {
        /// The configured timeout.
        after: Duration,
    },
}

impl JobError {
    fn outcome(&self) -> Outcome {
        match self {
            Self::QueueFull { .. } | Self::OutputDir { .. } | Self::Spawn { .. } => {
                Outcome::Rejected
            }
            Self::Failed { .. } => Outcome::Failed,
            Self::Crashed { .. } | Self::Protocol { .. } => Outcome::Crashed,
            Self::TimedOut { .. } => Outcome::TimedOut,
        }
    }
}

/// Runs transcode jobs in worker processes. Cheap to clone; clones share the pool.
#[derive(Debug, Clone)]
pub struct WorkerPool {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: PoolConfig,
    permits: Semaphore,
    admitted: AtomicUsize,
    metrics: PoolMetrics,
}

impl WorkerPool {
    /// A pool running `config.command`, recording into `metrics`.
    pub fn new(config: PoolConfig, metrics: PoolMetrics) -> Self {
        let workers = config.workers.max(1);
        Self {
            inner: Arc::new(Inner {
                permits: Semaphore::new(workers),
                config,
                admitted: AtomicUsize::new(0),
                metrics,
            }),
        }
    }

    /// The pool's metrics.
    pub fn metrics(&self) -> &PoolMetrics {
        &self.inner.metrics
    }

    /// Runs `job` in a worker, calling `progress` for each report, and returns the result.
    ///
    /// Waits for a free worker (or fails at once with [`JobError::QueueFull`]). Cancel-safe:
    /// dropping the future kills the worker and removes the output directory.
    pub async fn run(
        &self,
        job: Job,
        mut progress: impl FnMut(Progress) + Send,
    ) -> Result<Transcoded, JobError> {
        let inner = &*self.inner;
        let mut outcome = OutcomeGuard {
            metrics: &inner.metrics,
            outcome: Outcome::Cancelled,
        };

        let _admission = Admission::enter(inner).map_err(|e| outcome.fail(e))?;
        let permit = {
            let _queued = Queued::enter(&inner.metrics);
            // The semaphore is never closed, so acquire only fails if it were.
            inner.permits.acquire().await.map_err(|_| {
                outcome.fail(JobError::QueueFull {
                    capacity: inner.config.queue,
                })
            })?
        };
        inner.metrics.running_gauge().inc();
        let _running = RunningGuard(&inner.metrics);

        let cleanup = prepare_output(&job.output_dir).map_err(|e| outcome.fail(e))?;
        let started = Instant::now();
        let result = run_worker(&inner.config, &job, &mut progress).await;
        drop(permit);
        match result {
            Ok(done) => {
                cleanup.keep();
                inner
                    .metrics
                    .record_success(started.elapsed().as_secs_f64(), done.stats.realtime_factor);
                outcome.outcome = Outcome::Ok;
                Ok(done)
            }
            Err(e) => Err(outcome.fail(e)),
        }
    }
}

/// Records the job's outcome exactly once, including when the future is dropped.
struct OutcomeGuard<'a> {
    metrics: &'a PoolMetrics,
    outcome: Outcome,
}

impl OutcomeGuard<'_> {
    fn fail(&mut self, error: JobError) -> JobError {
        self.outcome = error.outcome();
        error
    }
}

impl Drop for OutcomeGuard<'_> {
    fn drop(&mut self) {
        self.metrics.record(self.outcome);
    }
}

/// Holds one of the pool's `workers + queue` slots for the whole life of a job.
struct Admission<'a>(&'a Inner);

impl<'a> Admission<'a> {
    fn enter(inner: &'a Inner) -> Result<Self, JobError> {
        let before = inner.admitted.fetch_add(1, Ordering::SeqCst);
        let guard = Self(inner);
        if before >= inner.config.workers.max(1) + inner.config.queue {
            return Err(JobError::QueueFull {
                capacity: inner.config.queue,
            });
        }
        Ok(guard)
    }
}

impl Drop for Admission<'_> {
    fn drop(&mut self) {
        self.0.admitted.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Counts a job in the queue-length gauge while it waits for a worker.
struct Queued<'a>(&'a PoolMetrics);

impl<'a> Queued<'a> {
    fn enter(metrics: &'a PoolMetrics) -> Self {
        metrics.queued_gauge().inc();
        Self(metrics)
    }
}

impl Drop for Queued<'_> {
    fn drop(&mut self) {
        self.0.queued_gauge().dec();
    }
}

/// Keeps the running gauge in step with live workers.
struct RunningGuard<'a>(&'a PoolMetrics);

impl Drop for RunningGuard<'_> {
    fn drop(&mut self) {
        self.0.running_gauge().dec();
    }
}

/// Removes the output directory on drop unless the job succeeded.
struct OutputCleanup {
    dir: Option<PathBuf>,
}

impl OutputCleanup {
    fn keep(mut self) {
        self.dir = None;
    }
}

impl Drop for OutputCleanup {
    fn drop(&mut self) {
        if let Some(dir) = self.dir.take()
            && let Err(e) = std::fs::remove_dir_all(&dir)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot remove failed transcode output");
        }
    }
}

/// Checks the output directory is absent or empty, so removing it on failure loses nothing.
fn prepare_output(dir: &Path) -> Result<OutputCleanup, JobError> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            if entries.next().is_some() {
                return Err(JobError::OutputDir {
                    path: dir.to_path_buf(),
                    source: std::io::Error::new(
                        std::io::ErrorKind::AlreadyExists,
                        "directory is not empty",
                    ),
                });
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(JobError::OutputDir {
                path: dir.to_path_buf(),
                source,
            });
        }
    }
    Ok(OutputCleanup {
        dir: Some(dir.to_path_buf()),
    })
}

/// Starts one worker, feeds it `job`, relays progress and maps its end to a result.
async fn run_worker(
    config: &PoolConfig,
    job: &Job,
    progress: &mut (dyn FnMut(Progress) + Send),
) -> Result<Transcoded, JobError> {
    let spawn_err = |source| JobError::Spawn {
        program: config.command.program.clone(),
        source,
    };
    let mut command = Command::new(&config.command.program);
    command
        .args(&config.command.args)
        .envs(config.command.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let mut child = command.spawn().map_err(spawn_err)?;

    let request = serde_json::to_vec(job).map_err(|e| JobError::Protocol {
        message: format!("cannot encode the job: {e}"),
    })?;
    let (Some(mut stdin), Some(stdout), Some(stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(spawn_err(std::io::Error::other("worker pipes missing")));
    };
    // The stderr reader ends when the worker's stderr closes (exit or kill).
    let stderr_tail = tokio::spawn(read_tail(stderr));

    let conversation = async {
        // A worker that dies before reading its job closes stdin: that shows up as a crash
        // below, so a write error here is not fatal by itself.
        if let Err(e) = stdin.write_all(&request).await {
            tracing::debug!(error = %e, "worker stdin closed early");
        }
        drop(stdin);
        let mut lines = FramedRead::new(stdout, LinesCodec::new_with_max_length(MAX_LINE_BYTES));
        let mut last = None;
        while let Some(line) = lines.next().await {
            let line = line.map_err(|e| JobError::Protocol {
                message: format!("unreadable worker output: {e}"),
            })?;
            match serde_json::from_str::<WorkerMessage>(&line) {
                Ok(WorkerMessage::Progress(p)) => progress(p),
                Ok(message) => last = Some(message),
                Err(e) => {
                    return Err(JobError::Protocol {
                        message: format!("bad worker message {line:?}: {e}"),
                    });
                }
            }
        }
        let status = child.wait().await.map_err(spawn_err)?;
        Ok((status, last))
    };

    let ended = tokio::time::timeout(config.job_timeout, conversation).await;
    let (status, last) = match ended {
        Ok(Ok(ended)) => ended,
        Ok(Err(e)) => {
            kill(&mut child).await;
            return Err(e);
        }
        Err(_) => {
            kill(&mut child).await;
            return Err(JobError::TimedOut {
                after: config.job_timeout,
            });
        }
    };
    match last {
        Some(WorkerMessage::Done(done)) if status.success() => Ok(*done),
        Some(WorkerMessage::Failed { kind, message }) => Err(JobError::Failed { kind, message }),
        _ => Err(JobError::Crashed {
            status: status.to_string(),
            stderr: stderr_tail.await.unwrap_or_default(),
        }),
    }
}

/// Kills the worker and reaps it, so no zombie or stray writer outlives the job.
async fn kill(child: &mut Child) {
    if let Err(e) = child.kill().await {
        tracing::warn!(error = %e, "cannot kill transcode worker");
    }
}

/// Reads a pipe to its end, keeping only the last [`STDERR_TAIL_BYTES`].
async fn read_tail(mut pipe: impl tokio::io::AsyncRead + Unpin) -> String {
    let mut tail: Vec<u8> = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                tail.extend_from_slice(&buf[..n]);
                if tail.len() > STDERR_TAIL_BYTES {
                    tail.drain(..tail.len() - STDERR_TAIL_BYTES);
                }
            }
        }
    }
    String::from_utf8_lossy(&tail).trim().to_string()
}
