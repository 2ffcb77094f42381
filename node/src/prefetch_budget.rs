//! One request's share of the prefetches a node runs at once.
//!
//! A fetcher's pool of prefetch slots is node-wide (it bounds the wants the node keeps out).
//! Without a per-request share, one large read would fill it with its window of upcoming
//! blocks and every concurrent read's hints would be dropped, leaving those reads one round
//! trip per block. Each request therefore takes slots from its own [`PrefetchBudget`] as
//! well as from the node's pool.

use std::sync::Arc;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Prefetches one request may have running at once. A UnixFS node links at most 174 children
/// (kubo's default) and readers look ahead at most 64 visits into the next subtree, so a
/// reader's whole window fits.
pub const PREFETCHES_PER_REQUEST: usize = 256;

/// The prefetch slots of one request (a gateway read, a `cat`, a `pin add` walk, a CAR
/// export). Clones share the slots.
#[derive(Clone, Debug)]
pub struct PrefetchBudget {
    slots: Arc<Semaphore>,
}

impl PrefetchBudget {
    /// [`PREFETCHES_PER_REQUEST`] slots.
    pub fn per_request() -> Self {
        Self::with_slots(PREFETCHES_PER_REQUEST)
    }

    /// `slots` slots.
    pub fn with_slots(slots: usize) -> Self {
        PrefetchBudget {
            slots: Arc::new(Semaphore::new(slots)),
        }
    }

    /// A slot, held until the prefetch it was taken for ends; `None` when all are in use.
    pub fn try_take(&self) -> Option<PrefetchSlot> {
        self.slots
            .clone()
            .try_acquire_owned()
            .ok()
            .map(|_permit| PrefetchSlot { _permit })
    }

    /// Slots free now.
    pub fn available(&self) -> usize {
        self.slots.available_permits()
    }
}

impl Default for PrefetchBudget {
    fn default() -> Self {
        Self::per_request()
    }
}

/// A slot taken from a [`PrefetchBudget`]; dropping it gives it back.
#[derive(Debug)]
pub struct PrefetchSlot {
    _permit: OwnedSemaphorePermit,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_run_out_and_come_back_when_dropped() {
        let budget = PrefetchBudget::with_slots(2);
        let a = budget.try_take().expect("first slot");
        let _b = budget.clone().try_take().expect("clones share the slots");
        assert!(budget.try_take().is_none());
        drop(a);
        assert_eq!(budget.available(), 1);
        assert!(budget.try_take().is_some());
    }

    #[test]
    fn each_request_has_its_own_slots() {
        let first = PrefetchBudget::per_request();
        let taken: Vec<_> = (0..PREFETCHES_PER_REQUEST)
            .map(|_| first.try_take().expect("a free slot"))
            .collect();
        assert!(first.try_take().is_none());
        assert!(PrefetchBudget::per_request().try_take().is_some());
        drop(taken);
    }
}
