//! The `chorus_pins{type}` gauges, kept by the pin operations themselves: one scan of the pin
//! set when the core is built, then a step per change (no rescan of every pin per request).

use std::sync::atomic::{AtomicI64, Ordering};

use chorus_storage::{PinError, PinMode, Pins};

use crate::metrics::PinMetrics;

/// Recursive and direct pin counts, published on every change.
#[derive(Debug)]
pub(crate) struct PinCounts {
    recursive: AtomicI64,
    direct: AtomicI64,
    metrics: PinMetrics,
}

impl PinCounts {
    /// Counts `pins` once and publishes the result. A damaged entry is skipped (and left to
    /// `repo verify` to report), as `pin ls` does.
    pub(crate) fn scan(pins: &Pins, metrics: PinMetrics) -> Self {
        let (mut recursive, mut direct) = (0i64, 0i64);
        for (_, mode) in pins.ls(None).flatten() {
            match mode {
                PinMode::Recursive => recursive += 1,
                PinMode::Direct => direct += 1,
            }
        }
        let counts = PinCounts {
            recursive: AtomicI64::new(recursive),
            direct: AtomicI64::new(direct),
            metrics,
        };
        counts.publish();
        counts
    }

    /// Pins `cid` with `mode` through `pins` and follows the change.
    pub(crate) fn pin(
        &self,
        pins: &Pins,
        cid: &chorus_storage::Cid,
        mode: PinMode,
    ) -> Result<(), PinError> {
        let before = pins.set(cid, mode)?;
        if before != Some(mode) {
            self.step(before, -1);
            self.step(Some(mode), 1);
            self.publish();
        }
        Ok(())
    }

    /// Unpins `cid` through `pins`; returns the mode it had.
    pub(crate) fn unpin(
        &self,
        pins: &Pins,
        cid: &chorus_storage::Cid,
    ) -> Result<Option<PinMode>, PinError> {
        let before = pins.rm(cid)?;
        if before.is_some() {
            self.step(before, -1);
            self.publish();
        }
        Ok(before)
    }

    fn step(&self, mode: Option<PinMode>, by: i64) {
        match mode {
            Some(PinMode::Recursive) => self.recursive.fetch_add(by, Ordering::Relaxed),
            Some(PinMode::Direct) => self.direct.fetch_add(by, Ordering::Relaxed),
            None => 0,
        };
    }

    fn publish(&self) {
        let load = |c: &AtomicI64| c.load(Ordering::Relaxed).max(0) as u64;
        self.metrics.set(load(&self.recursive), load(&self.direct));
    }
}
