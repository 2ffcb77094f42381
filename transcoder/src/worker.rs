//! The worker process side: one job as JSON on stdin, JSON lines on stdout, an exit code.
//!
//! Protocol (one message per line on stdout, `type`-tagged, see [`WorkerMessage`]):
//! zero or more `progress` lines, then exactly one `done` or `failed` line. Exit code 0 after
//! `done`, 1 after `failed` for a bad input or failed transcode, 2 for an unreadable job.
//! Anything else (a signal, no final line) means the worker crashed.

use std::io::{Read, Write};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::config::TranscodeConfig;
use crate::error::FailureKind;
use crate::pipeline::{Progress, Transcoded, transcode};
use crate::sandbox;

/// Environment variable that makes a worker misbehave on purpose, for tests of the pool:
/// `crash` aborts the process after the first progress line, `hang` stops responding.
/// `crash:NEEDLE` / `hang:NEEDLE` (comma-separated, several allowed) apply only to jobs whose
/// input file name contains `NEEDLE`, so one daemon can fail some jobs and run others.
/// Ignored unless set; nothing in chorus sets it.
pub const FAULT_ENV: &str = "CHORUS_TRANSCODE_FAULT";
/// Exit code after a `done` line.
pub const EXIT_OK: i32 = 0;
/// Exit code after a `failed` line about the input or the transcode.
pub const EXIT_FAILED: i32 = 1;
/// Exit code when the job itself could not be read.
pub const EXIT_BAD_JOB: i32 = 2;
/// Exit code when stdout is gone (the pool dropped the job).
pub const EXIT_NO_OUTPUT: i32 = 3;
/// Largest job description accepted on stdin; a job is two paths and a small config.
const MAX_JOB_BYTES: u64 = 1024 * 1024;

/// One transcode job, as sent to the worker on stdin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    /// Source audio file.
    pub input: PathBuf,
    /// Directory to fill (created if missing, must be empty).
    pub output_dir: PathBuf,
    /// Output settings and input limits.
    #[serde(default)]
    pub config: TranscodeConfig,
}

impl Job {
    /// A job with the default settings.
    pub fn new(input: impl Into<PathBuf>, output_dir: impl Into<PathBuf>) -> Self {
        Self {
            input: input.into(),
            output_dir: output_dir.into(),
            config: TranscodeConfig::default(),
        }
    }

    /// Replaces the settings.
    pub fn with_config(mut self, config: TranscodeConfig) -> Self {
        self.config = config;
        self
    }
}

/// One line of worker output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WorkerMessage {
    /// The job advanced.
    Progress(Progress),
    /// The job finished; the outputs are complete.
    Done(Box<Transcoded>),
    /// The job failed; the output directory has been emptied.
    Failed {
        /// Error category.
        kind: FailureKind,
        /// Human-readable error with context.
        message: String,
    },
}

/// Runs one job from stdin and reports on stdout; returns the process exit code.
///
/// The `chorus` binary calls this for its hidden `transcode-worker` subcommand.
pub fn worker_main() -> i32 {
    ffmpeg_next::log::set_level(ffmpeg_next::log::Level::Error);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();

    let job = match read_job() {
        Ok(job) => job,
        Err(message) => {
            return internal_failure(&mut out, message, EXIT_BAD_JOB);
        }
    };

    // Confined before the input is opened or any thread started (see `sandbox`).
    let confined = std::fs::create_dir_all(&job.output_dir)
        .map_err(|e| format!("cannot create {}: {e}", job.output_dir.display()))
        .and_then(|()| {
            sandbox::confine(
                &sandbox::Limits::for_job(&job.config),
                &job.input,
                &job.output_dir,
            )
            .map_err(|e| e.to_string())
        });
    match confined {
        Ok(sandbox::FsConfinement::Full) => {}
        Ok(level) => eprintln!(
            "transcode worker: file-system sandbox {level:?} (this kernel's Landlock is missing \
             or older); resource limits apply"
        ),
        Err(message) => {
            return internal_failure(&mut out, message, EXIT_FAILED);
        }
    }

    let spec = std::env::var(FAULT_ENV).unwrap_or_default();
    if let Some(message) = probe(&spec) {
        return internal_failure(&mut out, message, EXIT_FAILED);
    }
    let fault = fault_for(&spec, &job.input);
    let mut stdout_ok = true;
    let mut report = |progress: Progress| {
        stdout_ok &= send(&mut out, &WorkerMessage::Progress(progress));
        match fault {
            Some(Fault::Crash) => std::process::abort(),
            Some(Fault::Hang) => loop {
                std::thread::park();
            },
            None => {}
        }
    };
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        transcode(&job.input, &job.output_dir, &job.config, &mut report)
    }));
    let (message, code) = match result {
        Ok(Ok(done)) => (WorkerMessage::Done(Box::new(done)), EXIT_OK),
        Ok(Err(e)) => (
            WorkerMessage::Failed {
                kind: e.kind(),
                message: e.to_string(),
            },
            EXIT_FAILED,
        ),
        Err(panic) => {
            let detail = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            (
                WorkerMessage::Failed {
                    kind: FailureKind::Internal,
                    message: format!("transcoder panicked: {detail}"),
                },
                EXIT_FAILED,
            )
        }
    };
    if send(&mut out, &message) && stdout_ok {
        code
    } else {
        EXIT_NO_OUTPUT
    }
}

/// A misbehaviour requested through [`FAULT_ENV`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fault {
    Crash,
    Hang,
}

/// Tests of the confinement requested through [`FAULT_ENV`], run once confined instead of the
/// job: `read=<path>` reads a file, `alloc=<bytes>` allocates and touches memory. The answer
/// says what happened.
fn probe(spec: &str) -> Option<String> {
    spec.split(',').find_map(|item| {
        let (what, arg) = item.trim().split_once('=')?;
        Some(match what {
            "read" => match std::fs::read(arg) {
                Ok(data) => format!("probe: read {} bytes of {arg}", data.len()),
                Err(e) => format!("probe: cannot read {arg}: {e}"),
            },
            "alloc" => {
                let bytes: usize = arg.parse().ok()?;
                let mut v: Vec<u8> = Vec::new();
                match v.try_reserve_exact(bytes) {
                    Ok(()) => {
                        v.resize(bytes, 1);
                        format!("probe: allocated {} bytes", v.len())
                    }
                    Err(e) => format!("probe: allocation of {bytes} bytes refused: {e}"),
                }
            }
            _ => return None,
        })
    })
}

/// The fault `spec` asks for on a job reading `input`, if any.
fn fault_for(spec: &str, input: &std::path::Path) -> Option<Fault> {
    let name = input
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    spec.split(',').find_map(|item| {
        let (what, needle) = match item.trim().split_once(':') {
            Some((what, needle)) => (what, Some(needle)),
            None => (item.trim(), None),
        };
        let fault = match what {
            "crash" => Fault::Crash,
            "hang" => Fault::Hang,
            _ => return None,
        };
        needle
            .is_none_or(|n| !n.is_empty() && name.contains(n))
            .then_some(fault)
    })
}

fn read_job() -> Result<Job, String> {
    let mut text = Vec::new();
    std::io::stdin()
        .take(MAX_JOB_BYTES + 1)
        .read_to_end(&mut text)
        .map_err(|e| format!("cannot read the job from stdin: {e}"))?;
    if text.len() as u64 > MAX_JOB_BYTES {
        return Err(format!("job larger than {MAX_JOB_BYTES} bytes"));
    }
    serde_json::from_slice(&text).map_err(|e| format!("invalid job JSON: {e}"))
}

/// Reports an internal failure (`message`) and returns `code`, or [`EXIT_NO_OUTPUT`] when
/// stdout is gone.
fn internal_failure(out: &mut impl Write, message: String, code: i32) -> i32 {
    let failed = WorkerMessage::Failed {
        kind: FailureKind::Internal,
        message,
    };
    if send(out, &failed) {
        code
    } else {
        EXIT_NO_OUTPUT
    }
}

/// Writes one message line and flushes; false when stdout is gone.
fn send(out: &mut impl Write, message: &WorkerMessage) -> bool {
    let Ok(mut line) = serde_json::to_vec(message) else {
        return false;
    };
    line.push(b'\n');
    out.write_all(&line).and_then(|()| out.flush()).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_tagged_json_lines() {
        let progress = WorkerMessage::Progress(Progress {
            percent: 42,
            decoded_secs: 1.5,
        });
        let text = serde_json::to_string(&progress).unwrap();
        assert_eq!(
            text,
            r#"{"type":"progress","percent":42,"decoded_secs":1.5}"#
        );
        assert_eq!(
            serde_json::from_str::<WorkerMessage>(&text).unwrap(),
            progress
        );

        let failed: WorkerMessage =
            serde_json::from_str(r#"{"type":"failed","kind":"too_long","message":"x"}"#).unwrap();
        assert_eq!(
            failed,
            WorkerMessage::Failed {
                kind: FailureKind::TooLong,
                message: "x".into()
            }
        );
    }

    #[test]
    fn faults_apply_to_matching_inputs() {
        let p = std::path::Path::new("/tmp/x/crash-me.wav");
        assert_eq!(fault_for("crash", p), Some(Fault::Crash));
        assert_eq!(fault_for("hang", p), Some(Fault::Hang));
        assert_eq!(
            fault_for("hang:other,crash:crash-me", p),
            Some(Fault::Crash)
        );
        assert_eq!(fault_for("hang:other", p), None);
        assert_eq!(fault_for("crash:", p), None);
        assert_eq!(fault_for("", p), None);
    }

    #[test]
    fn job_config_defaults_when_absent() {
        let job: Job = serde_json::from_str(r#"{"input":"/a.wav","output_dir":"/out"}"#).unwrap();
        assert_eq!(job, Job::new("/a.wav", "/out"));
    }
}
