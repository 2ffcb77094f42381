//! Identity-hash CIDs, handled once: a wrapper that answers them from the CID itself and
//! passes everything else to the store it wraps (boxo's `idstore`).
//!
//! An identity "hash" is the data itself, so such a block needs no storage: reading it
//! decodes the digest, writing it does nothing, it is always present and never listed. The
//! stores (`MemoryStore`, `SledStore`) know nothing of it; the node reads and writes through
//! this wrapper (the core's store, every writer's session, GC's walk, the offline readers).

use std::sync::Arc;

use bytes::Bytes;
use cid::Cid;

use crate::Multihash;
use crate::block::Block;
use crate::hash::HashAlg;
use crate::store::{Blockstore, PutReport, StoreError, StoreStat};

/// True for identity multihashes, whose digest is the data.
pub fn is_identity(mh: &Multihash) -> bool {
    mh.code() == HashAlg::Identity.code()
}

/// `inner` with identity CIDs answered from the CID.
#[derive(Debug)]
pub struct IdStore<S: ?Sized> {
    inner: Arc<S>,
}

impl<S: ?Sized> Clone for IdStore<S> {
    fn clone(&self) -> Self {
        IdStore {
            inner: self.inner.clone(),
        }
    }
}

impl<S: Blockstore + ?Sized> IdStore<S> {
    /// Wraps `inner`.
    pub fn new(inner: Arc<S>) -> Self {
        IdStore { inner }
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<S> {
        &self.inner
    }
}

impl<S: Blockstore + ?Sized> Blockstore for IdStore<S> {
    fn get_data(&self, mh: &Multihash) -> Result<Option<Bytes>, StoreError> {
        if is_identity(mh) {
            return Ok(Some(Bytes::copy_from_slice(mh.digest())));
        }
        self.inner.get_data(mh)
    }

    fn get(&self, cid: &Cid) -> Result<Option<Block>, StoreError> {
        if is_identity(cid.hash()) {
            let data = Bytes::copy_from_slice(cid.hash().digest());
            return Block::new(*cid, data)
                .map(Some)
                .map_err(|source| StoreError::Corrupt { cid: *cid, source });
        }
        self.inner.get(cid)
    }

    fn has(&self, mh: &Multihash) -> Result<bool, StoreError> {
        Ok(is_identity(mh) || self.inner.has(mh)?)
    }

    fn size(&self, mh: &Multihash) -> Result<Option<u64>, StoreError> {
        if is_identity(mh) {
            return Ok(Some(mh.digest().len() as u64));
        }
        self.inner.size(mh)
    }

    fn put(&self, block: &Block) -> Result<bool, StoreError> {
        if is_identity(block.cid().hash()) {
            return Ok(false);
        }
        self.inner.put(block)
    }

    fn put_many(&self, blocks: &[Block]) -> Result<PutReport, StoreError> {
        if !blocks.iter().any(|b| is_identity(b.cid().hash())) {
            return self.inner.put_many(blocks);
        }
        let stored: Vec<Block> = blocks
            .iter()
            .filter(|b| !is_identity(b.cid().hash()))
            .cloned()
            .collect();
        self.inner.put_many(&stored)
    }

    fn delete(&self, mh: &Multihash) -> Result<bool, StoreError> {
        if is_identity(mh) {
            return Ok(false);
        }
        self.inner.delete(mh)
    }

    fn list(&self) -> Box<dyn Iterator<Item = Result<Multihash, StoreError>> + Send + '_> {
        self.inner.list()
    }

    fn flush(&self) -> Result<(), StoreError> {
        self.inner.flush()
    }

    fn stat(&self) -> Result<StoreStat, StoreError> {
        self.inner.stat()
    }
}
