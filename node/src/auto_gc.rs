//! Automatic garbage collection, as kubo's `--enable-gc`: a GC run every `period`, and one as
//! soon as the blocks stored pass `watermark` of `storage_max` (checked every
//! [`WATERMARK_CHECK`]). Runs through the core, like `repo gc`: durable and counted
//! (`chorus_gc_runs_total`, `chorus_gc_failures_total`).

use std::time::Duration;

use tokio::time::MissedTickBehavior;

use crate::core::Core;

/// How often the repo size is compared with the watermark: a repo takes at most this much
/// time's worth of writes past its watermark before a GC starts. The check is an O(1) read of
/// the store's counters.
pub const WATERMARK_CHECK: Duration = Duration::from_secs(10);

/// When automatic GC runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoGc {
    /// A GC every `period` (kubo's `Datastore.GCPeriod`, 1 h).
    pub period: Duration,
    /// The storage bound (kubo's `Datastore.StorageMax`).
    pub storage_max: u64,
    /// Percent of `storage_max` past which a GC starts at once (kubo's `StorageGCWatermark`).
    pub watermark_percent: u64,
}

impl AutoGc {
    /// The stored-bytes level that triggers a GC.
    pub fn threshold(&self) -> u64 {
        self.storage_max / 100 * self.watermark_percent.min(100)
    }
}

/// Runs automatic GC on `core` until the task is dropped.
pub async fn run(core: Core, config: AutoGc) {
    let mut periodic = tokio::time::interval(config.period.max(Duration::from_secs(1)));
    periodic.set_missed_tick_behavior(MissedTickBehavior::Delay);
    periodic.tick().await; // the first tick is immediate: not at start-up
    let mut check = tokio::time::interval(WATERMARK_CHECK.min(config.period));
    check.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        let why = tokio::select! {
            _ = periodic.tick() => "period",
            _ = check.tick() => {
                let stored = core.store().stat().map(|s| s.bytes).unwrap_or(0);
                if stored <= config.threshold() {
                    continue;
                }
                "watermark"
            }
        };
        match core.gc().await {
            Ok(report) => tracing::info!(
                trigger = why,
                removed = report.removed.len(),
                freed = report.freed_bytes,
                "automatic garbage collection"
            ),
            Err(e) => {
                tracing::warn!(trigger = why, error = %e, "automatic garbage collection failed")
            }
        }
    }
}
