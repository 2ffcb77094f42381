//! Prometheus metrics of a [`WorkerPool`](crate::WorkerPool).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

/// How a job ended, the label of `transcode_jobs_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// Outputs complete.
    Ok,
    /// The worker reported a failure (bad input or transcode error).
    Failed,
    /// The worker died without a result (signal, abort, garbage output).
    Crashed,
    /// The worker ran past the job timeout and was killed.
    TimedOut,
    /// Refused before running: queue full, unusable output directory, spawn failure.
    Rejected,
    /// The caller dropped the job future; the worker was killed.
    Cancelled,
}

impl Outcome {
    /// The label value (`ok`, `failed`, `crashed`, `timed_out`, `rejected`, `cancelled`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Failed => "failed",
            Self::Crashed => "crashed",
            Self::TimedOut => "timed_out",
            Self::Rejected => "rejected",
            Self::Cancelled => "cancelled",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabel {
    outcome: &'static str,
}

/// Counters and gauges of one pool. Cloning shares the same metrics.
///
/// [`PoolMetrics::default`] is unregistered (for tests or when metrics are off);
/// [`PoolMetrics::register`] adds them to the node's registry.
#[derive(Debug, Clone)]
pub struct PoolMetrics {
    jobs: Family<OutcomeLabel, Counter>,
    queued: Gauge,
    running: Gauge,
    seconds: Histogram,
    realtime: Histogram,
}

impl Default for PoolMetrics {
    fn default() -> Self {
        Self {
            jobs: Family::default(),
            queued: Gauge::default(),
            running: Gauge::default(),
            // 0.25 s .. ~68 min: short clips to multi-hour mixes.
            seconds: Histogram::new(exponential_buckets(0.25, 2.0, 15)),
            // 0.5× .. 512× realtime.
            realtime: Histogram::new(exponential_buckets(0.5, 2.0, 11)),
        }
    }
}

impl PoolMetrics {
    /// Creates the metrics and registers them (names prefixed `transcode_`) in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let metrics = Self::default();
        // Every outcome exported from the start (at 0), so rates and alerts see a series
        // before the first job of each kind.
        for outcome in [
            Outcome::Ok,
            Outcome::Failed,
            Outcome::Crashed,
            Outcome::TimedOut,
            Outcome::Rejected,
            Outcome::Cancelled,
        ] {
            let _created = metrics.jobs.get_or_create(&OutcomeLabel {
                outcome: outcome.as_str(),
            });
        }
        registry.register(
            "transcode_jobs",
            "Transcode jobs by outcome",
            metrics.jobs.clone(),
        );
        registry.register(
            "transcode_queue_length",
            "Transcode jobs waiting for a worker",
            metrics.queued.clone(),
        );
        registry.register(
            "transcode_running",
            "Transcode workers currently running",
            metrics.running.clone(),
        );
        registry.register(
            "transcode_seconds",
            "Wall-clock seconds per successful transcode",
            metrics.seconds.clone(),
        );
        registry.register(
            "transcode_realtime_factor",
            "Seconds of audio transcoded per wall-clock second",
            metrics.realtime.clone(),
        );
        metrics
    }

    /// Jobs that ended with `outcome` so far.
    pub fn jobs(&self, outcome: Outcome) -> u64 {
        self.jobs
            .get_or_create(&OutcomeLabel {
                outcome: outcome.as_str(),
            })
            .get()
    }

    /// Jobs currently waiting for a worker.
    pub fn queued(&self) -> i64 {
        self.queued.get()
    }

    /// Workers currently running.
    pub fn running(&self) -> i64 {
        self.running.get()
    }

    pub(crate) fn record(&self, outcome: Outcome) {
        self.jobs
            .get_or_create(&OutcomeLabel {
                outcome: outcome.as_str(),
            })
            .inc();
    }

    pub(crate) fn record_success(&self, wall_secs: f64, realtime_factor: f64) {
        self.seconds.observe(wall_secs);
        self.realtime.observe(realtime_factor);
    }

    pub(crate) fn queued_gauge(&self) -> &Gauge {
        &self.queued
    }

    pub(crate) fn running_gauge(&self) -> &Gauge {
        &self.running
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_metrics_are_exposed() {
        let mut registry = Registry::default();
        let metrics = PoolMetrics::register(&mut registry);
        metrics.record(Outcome::Crashed);
        metrics.record_success(2.0, 40.0);
        assert_eq!(metrics.jobs(Outcome::Crashed), 1);
        assert_eq!(metrics.jobs(Outcome::Ok), 0);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(
            text.contains("transcode_jobs_total{outcome=\"crashed\"} 1"),
            "{text}"
        );
        assert!(text.contains("transcode_realtime_factor_count 1"), "{text}");
        assert!(text.contains("transcode_queue_length 0"), "{text}");
    }
}
