//! `Session`: a temporary pin on everything an import or a fetch touches.

use std::sync::Arc;

use bytes::Bytes;
use cid::Cid;

use crate::Multihash;
use crate::block::Block;
use crate::guard::{Guard, SessionId};
use crate::pins::{PinError, PinMode, Pins};
use crate::store::{Blockstore, PutReport, StoreError, StoreStat};

/// What a session runs over: a store whose writers, deleters and GC share one [`Guard`].
pub(crate) trait GuardedStore: Blockstore + std::fmt::Debug {
    /// The guard its GC consults.
    fn guard(&self) -> &Guard;
    /// Its pin set.
    fn pin_set(&self) -> &Pins;
    /// Stores `blocks`, registered in flight (and protected for `session`) while written.
    fn write_blocks(
        &self,
        session: Option<SessionId>,
        blocks: &[Block],
    ) -> Result<PutReport, StoreError>;
}

/// A view of a [`crate::Repo`] that protects from GC every block put or read through it, from
/// the moment the call starts until the session drops.
///
/// This closes the race between an import and a concurrent GC: the importer writes its blocks
/// through the session, pins the root (with [`Session::pin`] or the store's
/// [`crate::Pins`]), then drops the session; at no point is a block of the DAG unprotected.
/// Dropping the session releases its protections (and nothing else). Protections are
/// per-multihash and kept in memory: a session over N blocks holds N multihashes.
#[derive(Debug)]
pub struct Session {
    store: Arc<dyn GuardedStore>,
    id: SessionId,
}

impl Session {
    pub(crate) fn new(store: Arc<dyn GuardedStore>) -> Self {
        let id = store.guard().open_session();
        Session { store, id }
    }

    /// Pins `cid` while this session still protects its blocks.
    pub fn pin(&self, cid: &Cid, mode: PinMode) -> Result<bool, PinError> {
        self.store.pin_set().add(cid, mode)
    }

    /// Protects `mh` for this session without reading it (e.g. a block known to be present
    /// that an import links to).
    pub fn protect(&self, mh: &Multihash) {
        self.store.guard().protect(self.id, mh);
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        self.store.guard().close_session(self.id);
    }
}

impl Blockstore for Session {
    fn get_data(&self, mh: &Multihash) -> Result<Option<Bytes>, StoreError> {
        self.protect(mh);
        self.store.get_data(mh)
    }

    fn get(&self, cid: &Cid) -> Result<Option<Block>, StoreError> {
        self.protect(cid.hash());
        self.store.get(cid)
    }

    fn has(&self, mh: &Multihash) -> Result<bool, StoreError> {
        self.protect(mh);
        self.store.has(mh)
    }

    fn size(&self, mh: &Multihash) -> Result<Option<u64>, StoreError> {
        self.protect(mh);
        self.store.size(mh)
    }

    fn put(&self, block: &Block) -> Result<bool, StoreError> {
        Ok(self
            .store
            .write_blocks(Some(self.id), std::slice::from_ref(block))?
            .new_blocks
            == 1)
    }

    fn put_many(&self, blocks: &[Block]) -> Result<PutReport, StoreError> {
        self.store.write_blocks(Some(self.id), blocks)
    }

    fn delete(&self, mh: &Multihash) -> Result<bool, StoreError> {
        self.store.delete(mh)
    }

    fn list(&self) -> Box<dyn Iterator<Item = Result<Multihash, StoreError>> + Send + '_> {
        self.store.list()
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.store.flush()
    }

    fn stat(&self) -> Result<StoreStat, StoreError> {
        self.store.stat()
    }
}
