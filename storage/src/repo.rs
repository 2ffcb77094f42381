//! `Repo`: a blockstore together with what the node keeps beside its blocks (pins, GC
//! sessions, garbage collection, verification), so the layers above run on any of them.

use std::sync::Arc;

use crate::gc::{GcError, GcReport};
use crate::pins::Pins;
use crate::session::{GuardedStore, Session};
use crate::sled_store::SledStore;
use crate::store::{Blockstore, StoreError};
use crate::verify::VerifyReport;

/// A repository: blocks, the pins that keep them, and the collector that removes the rest.
///
/// [`SledStore`] is the one on disk; [`crate::MemoryRepo`] holds everything in memory with the
/// same pin, session and GC rules (its `flush` makes nothing durable), so the node's core and
/// its HTTP faces run, and are tested, on either.
pub trait Repo: Blockstore + std::fmt::Debug {
    /// The pin set.
    fn pins(&self) -> &Pins;

    /// Opens a session: every block put or read through it is protected from GC until it
    /// drops. Use one around an import, and pin the root before dropping it.
    fn session(&self) -> Session;

    /// Removes every block no pin reaches and nothing protects (see [`SledStore::gc`]).
    fn gc(&self) -> Result<GcReport, GcError>;

    /// Reads and re-hashes every block.
    fn verify(&self) -> Result<VerifyReport, StoreError>;
}

impl GuardedStore for SledStore {
    fn guard(&self) -> &crate::guard::Guard {
        &self.inner.guard
    }

    fn pin_set(&self) -> &Pins {
        SledStore::pins(self)
    }

    fn write_blocks(
        &self,
        session: Option<crate::guard::SessionId>,
        blocks: &[crate::Block],
    ) -> Result<crate::PutReport, StoreError> {
        SledStore::write_blocks(self, session, blocks)
    }
}

impl Repo for SledStore {
    fn pins(&self) -> &Pins {
        SledStore::pins(self)
    }

    fn session(&self) -> Session {
        Session::new(Arc::new(self.clone()))
    }

    fn gc(&self) -> Result<GcReport, GcError> {
        SledStore::gc(self)
    }

    fn verify(&self) -> Result<VerifyReport, StoreError> {
        SledStore::verify(self)
    }
}
