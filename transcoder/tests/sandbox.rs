//! The worker's confinement, probed from inside a real worker process: the repo beside the
//! upload is out of reach, the input and the output directory are not, and memory past the
//! job's limit is refused instead of taken from the host.

use std::io::Write;
use std::process::{Command, Stdio};

use chorus_transcoder::{FAULT_ENV, Job, TranscodeConfig};

const WORKER: &str = env!("CARGO_BIN_EXE_chorus-transcode-worker");

/// Runs the worker on `job` with the probe `spec`; returns its last stdout line and stderr.
fn probe(job: &Job, spec: &str) -> (String, String) {
    let mut child = Command::new(WORKER)
        .env(FAULT_ENV, spec)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&serde_json::to_vec(job).unwrap())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let last = stdout.lines().last().unwrap_or_default().to_owned();
    (last, String::from_utf8_lossy(&out.stderr).into_owned())
}

fn landlock_missing(stderr: &str) -> bool {
    stderr.contains("sandbox None")
}

#[test]
fn the_repo_is_out_of_reach_and_the_job_is_not() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::write(repo.join("identity.key"), b"secret").unwrap();
    let uploads = dir.path().join("uploads");
    std::fs::create_dir_all(&uploads).unwrap();
    let input = uploads.join("upload.wav");
    std::fs::write(&input, b"RIFF....WAVE").unwrap();
    let job = Job::new(&input, uploads.join("out"));

    let key = repo.join("identity.key");
    let (answer, stderr) = probe(&job, &format!("read={}", key.display()));
    if landlock_missing(&stderr) {
        eprintln!("this kernel has no Landlock: only the resource limits were checked");
    } else {
        assert!(answer.contains("cannot read"), "{answer} / {stderr}");
        assert!(answer.contains("ermission denied"), "{answer}");
    }

    let (answer, _) = probe(&job, &format!("read={}", input.display()));
    assert!(answer.contains("probe: read 12 bytes"), "{answer}");
}

#[test]
fn memory_past_the_limit_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("upload.wav");
    std::fs::write(&input, b"RIFF").unwrap();
    let limit: u64 = 256 * 1024 * 1024;
    let job = Job::new(&input, dir.path().join("out"))
        .with_config(TranscodeConfig::default().with_max_memory_bytes(limit));
    let (answer, stderr) = probe(&job, &format!("alloc={}", 2 * limit));
    assert!(answer.contains("refused"), "{answer} / {stderr}");
    let (answer, _) = probe(&job, &format!("alloc={}", limit / 4));
    assert!(answer.contains("allocated"), "{answer}");
}
