//! The worker pool against real worker processes (`chorus-transcode-worker`), including ones
//! that crash or hang on purpose.

mod common;

use std::path::Path;
use std::time::Duration;

use chorus_transcoder::{
    FAULT_ENV, FailureKind, Job, JobError, Outcome, PoolConfig, PoolMetrics, Progress, TrackInfo,
    WorkerCommand, WorkerPool,
};
use prometheus_client::registry::Registry;
use tokio::sync::mpsc;

const WORKER: &str = env!("CARGO_BIN_EXE_chorus-transcode-worker");

fn pool(command: WorkerCommand, workers: usize, queue: usize, timeout: Duration) -> WorkerPool {
    let config = PoolConfig::new(command)
        .with_workers(workers)
        .with_queue(queue)
        .with_job_timeout(timeout);
    WorkerPool::new(config, PoolMetrics::default())
}

fn worker() -> WorkerCommand {
    WorkerCommand::new(WORKER, Vec::<String>::new())
}

fn faulty(fault: &str) -> WorkerCommand {
    worker().with_env(FAULT_ENV, fault)
}

/// A good job: a 7 s stereo WAV into `dir/<name>`.
fn job(dir: &Path, name: &str) -> Job {
    let source = dir.join("source.wav");
    if !source.exists() {
        common::sine(dir, "source.wav", 7.0, 44_100, 2, &[]);
    }
    Job::new(source, dir.join(name))
}

#[tokio::test]
async fn runs_a_job_in_a_worker_and_streams_progress() {
    let dir = tempfile::tempdir().unwrap();
    let mut registry = Registry::default();
    let metrics = PoolMetrics::register(&mut registry);
    let pool = WorkerPool::new(PoolConfig::new(worker()), metrics);
    let job = job(dir.path(), "out");
    let mut seen: Vec<Progress> = Vec::new();
    let done = pool.run(job.clone(), |p| seen.push(p)).await.unwrap();

    let percents: Vec<u8> = seen.iter().map(|p| p.percent).collect();
    assert_eq!(percents.first(), Some(&0));
    assert_eq!(percents.last(), Some(&100));
    assert!(percents.len() > 10, "{percents:?}");
    let on_disk = std::fs::read(job.output_dir.join("track.json")).unwrap();
    assert_eq!(TrackInfo::from_json(&on_disk).unwrap(), done.track);
    assert_eq!(done.track.renditions[0].segments.len(), 2);
    assert!(done.stats.realtime_factor > 0.0);

    // The worker process writes exactly what an in-process transcode writes.
    let local = dir.path().join("local");
    chorus_transcoder::transcode(&job.input, &local, &job.config, &mut |_| {}).unwrap();
    assert!(
        common::tree(&local) == common::tree(&job.output_dir),
        "outputs differ"
    );

    assert_eq!(pool.metrics().jobs(Outcome::Ok), 1);
    assert_eq!(pool.metrics().running(), 0);
    assert_eq!(pool.metrics().queued(), 0);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(
        text.contains("transcode_jobs_total{outcome=\"ok\"} 1"),
        "{text}"
    );
    assert!(text.contains("transcode_seconds_count 1"), "{text}");
}

#[tokio::test]
async fn bad_input_is_a_typed_failure_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty.flac");
    std::fs::write(&empty, b"").unwrap();
    let out = dir.path().join("out");
    let pool = pool(worker(), 2, 4, Duration::from_secs(60));
    let err = pool.run(Job::new(&empty, &out), |_| {}).await.unwrap_err();
    match err {
        JobError::Failed { kind, message } => {
            assert_eq!(kind, FailureKind::Empty);
            assert!(message.contains("empty.flac"), "{message}");
        }
        other => panic!("expected Failed, got {other}"),
    }
    assert!(!out.exists());
    assert_eq!(pool.metrics().jobs(Outcome::Failed), 1);
}

#[tokio::test]
async fn crashing_worker_is_reported_and_the_pool_carries_on() {
    let dir = tempfile::tempdir().unwrap();
    let crashing = pool(faulty("crash"), 1, 4, Duration::from_secs(60));
    let job1 = job(dir.path(), "crash");
    let mut progress = 0;
    let err = crashing
        .run(job1.clone(), |_| progress += 1)
        .await
        .unwrap_err();
    assert!(matches!(err, JobError::Crashed { .. }), "{err}");
    assert!(err.to_string().contains("signal"), "{err}");
    assert_eq!(progress, 1, "the worker reported once, then aborted");
    assert!(!job1.output_dir.exists(), "partial output removed");
    assert_eq!(crashing.metrics().jobs(Outcome::Crashed), 1);
    assert_eq!(crashing.metrics().running(), 0);

    // The same process (the "daemon") keeps transcoding with healthy workers.
    let healthy = pool(worker(), 1, 4, Duration::from_secs(60));
    healthy.run(job(dir.path(), "after"), |_| {}).await.unwrap();
}

#[tokio::test]
async fn hanging_worker_is_killed_at_the_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let pool = pool(faulty("hang"), 1, 4, Duration::from_secs(2));
    let job1 = job(dir.path(), "hang");
    let err = pool.run(job1.clone(), |_| {}).await.unwrap_err();
    assert!(matches!(err, JobError::TimedOut { .. }), "{err}");
    assert!(!job1.output_dir.exists());
    assert_eq!(pool.metrics().jobs(Outcome::TimedOut), 1);
    // The only worker slot is free again: a second hanging job also gets its turn.
    let err = pool
        .run(job(dir.path(), "again"), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, JobError::TimedOut { .. }), "{err}");
    assert_eq!(pool.metrics().running(), 0);
}

#[tokio::test]
async fn full_queue_refuses_and_dropping_a_job_kills_its_worker() {
    let dir = tempfile::tempdir().unwrap();
    let pool = pool(faulty("hang"), 1, 0, Duration::from_secs(600));
    let hung = job(dir.path(), "hung");
    let (started_tx, mut started) = mpsc::channel::<()>(1);
    let runner = pool.clone();
    let hung_job = hung.clone();
    let task = tokio::spawn(async move {
        runner
            .run(hung_job, move |_| {
                let _ = started_tx.try_send(());
            })
            .await
    });
    // The worker has reported progress: it holds the only slot.
    started.recv().await.unwrap();
    assert_eq!(pool.metrics().running(), 1);
    assert!(hung.output_dir.exists());

    let err = pool
        .run(job(dir.path(), "refused"), |_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, JobError::QueueFull { capacity: 0 }), "{err}");
    assert_eq!(pool.metrics().jobs(Outcome::Rejected), 1);

    // Cancelling the hung job kills its worker and removes its output.
    task.abort();
    assert!(task.await.unwrap_err().is_cancelled());
    assert_eq!(pool.metrics().jobs(Outcome::Cancelled), 1);
    assert_eq!(pool.metrics().running(), 0);
    assert!(!hung.output_dir.exists());
}

#[tokio::test]
async fn missing_worker_program_is_a_spawn_error() {
    let dir = tempfile::tempdir().unwrap();
    let command = WorkerCommand::new(dir.path().join("no-such-worker"), ["transcode-worker"]);
    let pool = pool(command, 1, 1, Duration::from_secs(5));
    let err = pool.run(job(dir.path(), "out"), |_| {}).await.unwrap_err();
    assert!(matches!(err, JobError::Spawn { .. }), "{err}");
}

#[tokio::test]
async fn non_empty_output_dir_is_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let job = job(dir.path(), "busy");
    std::fs::create_dir_all(&job.output_dir).unwrap();
    std::fs::write(job.output_dir.join("keep"), b"x").unwrap();
    let pool = pool(worker(), 1, 1, Duration::from_secs(5));
    let err = pool.run(job.clone(), |_| {}).await.unwrap_err();
    assert!(matches!(err, JobError::OutputDir { .. }), "{err}");
    assert!(job.output_dir.join("keep").exists());
}
