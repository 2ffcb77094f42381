//! `MemoryRepo`: a [`Repo`] held in memory, with the pin, session and GC rules of the sled
//! repo, for tests of everything above the store and for tools that must not touch disk.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

use crate::Multihash;
use crate::block::Block;
use crate::gc::{GcError, GcReport, Sweep};
use crate::guard::{Guard, SessionId};
use crate::memory::MemoryStore;
use crate::pins::Pins;
use crate::repo::Repo;
use crate::session::{GuardedStore, Session};
use crate::sled_store::verify_mh;
use crate::store::{Blockstore, PutReport, StoreError, StoreStat};
use crate::verify::VerifyReport;

/// A repository held entirely in memory: a [`MemoryStore`] for the blocks, an in-memory pin
/// set, and the same guard as [`crate::SledStore`] between writers, sessions and GC.
///
/// `flush` makes nothing durable (there is no disk); everything else behaves as on disk,
/// including GC running concurrently with puts and sessions. Cheap to clone (shared state).
#[derive(Debug, Clone, Default)]
pub struct MemoryRepo {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    blocks: MemoryStore,
    pins: Pins,
    guard: Arc<Guard>,
    gc_running: Mutex<()>,
}

impl Default for Inner {
    fn default() -> Self {
        let guard = Arc::new(Guard::default());
        Inner {
            blocks: MemoryStore::new(),
            pins: Pins::in_memory(guard.clone()),
            guard,
            gc_running: Mutex::new(()),
        }
    }
}

impl MemoryRepo {
    /// An empty repo.
    pub fn new() -> Self {
        Self::default()
    }
}

impl GuardedStore for MemoryRepo {
    fn guard(&self) -> &Guard {
        &self.inner.guard
    }

    fn pin_set(&self) -> &Pins {
        &self.inner.pins
    }

    fn write_blocks(
        &self,
        session: Option<SessionId>,
        blocks: &[Block],
    ) -> Result<PutReport, StoreError> {
        let mhs: Vec<&Multihash> = blocks.iter().map(|b| b.cid().hash()).collect();
        self.inner.guard.begin_puts(session, mhs.iter().copied());
        let result = self.inner.blocks.put_many(blocks);
        self.inner.guard.end_puts(mhs.iter().copied());
        result
    }
}

impl Repo for MemoryRepo {
    fn pins(&self) -> &Pins {
        &self.inner.pins
    }

    fn session(&self) -> Session {
        Session::new(Arc::new(self.clone()))
    }

    fn gc(&self) -> Result<GcReport, GcError> {
        let inner = &self.inner;
        let mut sweep = Sweep::start(
            &inner.gc_running,
            &inner.guard,
            &inner.pins,
            Arc::new(self.clone()),
        )?;
        let mut report = GcReport::default();
        for mh in inner.blocks.list() {
            let mh = mh?;
            let removed = sweep.collect(&mh, |mh| {
                let len = inner.blocks.size(mh)?;
                inner.blocks.delete(mh)?;
                Ok(len)
            })?;
            if let Some(len) = removed {
                report.removed.push(mh);
                report.freed_bytes += len;
            }
        }
        report.live_blocks = sweep.live_blocks();
        Ok(report)
    }

    fn verify(&self) -> Result<VerifyReport, StoreError> {
        let mut report = VerifyReport::default();
        for mh in self.inner.blocks.list() {
            let mh = mh?;
            let Some(data) = self.inner.blocks.get_data(&mh)? else {
                continue; // deleted meanwhile: not damage
            };
            report.checked += 1;
            if verify_mh(&mh, data).is_err() {
                report.corrupt.push(mh);
            }
        }
        Ok(report)
    }
}

impl Blockstore for MemoryRepo {
    fn get_data(&self, mh: &Multihash) -> Result<Option<Bytes>, StoreError> {
        self.inner.blocks.get_data(mh)
    }

    fn has(&self, mh: &Multihash) -> Result<bool, StoreError> {
        self.inner.blocks.has(mh)
    }

    fn size(&self, mh: &Multihash) -> Result<Option<u64>, StoreError> {
        self.inner.blocks.size(mh)
    }

    fn put(&self, block: &Block) -> Result<bool, StoreError> {
        Ok(self
            .write_blocks(None, std::slice::from_ref(block))?
            .new_blocks
            == 1)
    }

    fn put_many(&self, blocks: &[Block]) -> Result<PutReport, StoreError> {
        self.write_blocks(None, blocks)
    }

    /// Waits for puts of the same block in progress, then removes it (pin policy is the
    /// caller's, as on disk).
    fn delete(&self, mh: &Multihash) -> Result<bool, StoreError> {
        let _g = self.inner.guard.lock_when_idle(mh);
        self.inner.blocks.delete(mh)
    }

    fn list(&self) -> Box<dyn Iterator<Item = Result<Multihash, StoreError>> + Send + '_> {
        self.inner.blocks.list()
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn stat(&self) -> Result<StoreStat, StoreError> {
        self.inner.blocks.stat()
    }
}
