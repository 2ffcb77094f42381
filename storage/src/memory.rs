//! `MemoryStore`: the reference model of the [`Blockstore`] contract, used by tests and by
//! `--only-hash` style work that must not touch disk.

use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLock};

use bytes::Bytes;

use crate::Multihash;
use crate::block::Block;
use crate::store::{Blockstore, StoreError, StoreStat};

/// A blockstore held entirely in memory.
///
/// Every write is visible at once and nothing is ever durable; `flush` is a no-op. Listing is in
/// multihash byte order (the same order as the sled store's index).
#[derive(Debug, Default)]
pub struct MemoryStore {
    blocks: RwLock<BTreeMap<Vec<u8>, (Multihash, Bytes)>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<Vec<u8>, (Multihash, Bytes)>> {
        self.blocks.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<Vec<u8>, (Multihash, Bytes)>> {
        self.blocks.write().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Blockstore for MemoryStore {
    fn get_data(&self, mh: &Multihash) -> Result<Option<Bytes>, StoreError> {
        Ok(self.read().get(&mh.to_bytes()).map(|(_, d)| d.clone()))
    }

    fn has(&self, mh: &Multihash) -> Result<bool, StoreError> {
        Ok(self.read().contains_key(&mh.to_bytes()))
    }

    fn size(&self, mh: &Multihash) -> Result<Option<u64>, StoreError> {
        Ok(self.read().get(&mh.to_bytes()).map(|(_, d)| d.len() as u64))
    }

    fn put(&self, block: &Block) -> Result<bool, StoreError> {
        let mh = block.cid().hash();
        let mut map = self.write();
        let key = mh.to_bytes();
        if map.contains_key(&key) {
            return Ok(false);
        }
        map.insert(key, (*mh, block.data().clone()));
        Ok(true)
    }

    fn delete(&self, mh: &Multihash) -> Result<bool, StoreError> {
        Ok(self.write().remove(&mh.to_bytes()).is_some())
    }

    fn list(&self) -> Box<dyn Iterator<Item = Result<Multihash, StoreError>> + Send + '_> {
        // A snapshot: the listing must not hold the lock while the caller iterates.
        let keys: Vec<Multihash> = self.read().values().map(|(mh, _)| *mh).collect();
        Box::new(keys.into_iter().map(Ok))
    }

    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }

    fn stat(&self) -> Result<StoreStat, StoreError> {
        let map = self.read();
        Ok(StoreStat {
            blocks: map.len() as u64,
            bytes: map.values().map(|(_, d)| d.len() as u64).sum(),
        })
    }
}
