//! A [`Blockstore`] wrapper that keeps the blockstore metrics current, so every write path of
//! the node (RPC, gateway, Bitswap) is counted without the storage crate knowing about
//! Prometheus.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use chorus_storage::{Block, Blockstore, Multihash, PutReport, StoreError, StoreStat};

use crate::metrics::{BlockstoreMetrics, GetLabels, saturating_i64};

/// Wraps a store and records reads, writes, deletes and the resulting content gauges.
///
/// The gauges start from the wrapped store's [`Blockstore::stat`] and then follow the writes
/// and deletes made through this wrapper; writes that bypass it are not seen until
/// [`MeteredBlockstore::refresh_gauges`] runs (e.g. after GC).
pub struct MeteredBlockstore {
    inner: Arc<dyn Blockstore>,
    metrics: BlockstoreMetrics,
}

impl MeteredBlockstore {
    /// Wraps `inner` and initialises the gauges from its current content.
    pub fn new(inner: Arc<dyn Blockstore>, metrics: BlockstoreMetrics) -> Result<Self, StoreError> {
        let this = MeteredBlockstore { inner, metrics };
        this.refresh_gauges()?;
        Ok(this)
    }

    /// Wraps `inner` without touching the gauges: for a view of a store that is already
    /// counted (a GC-protecting session over the same repo).
    pub fn without_refresh(inner: Arc<dyn Blockstore>, metrics: BlockstoreMetrics) -> Self {
        MeteredBlockstore { inner, metrics }
    }

    /// Re-reads block count and size from the wrapped store.
    pub fn refresh_gauges(&self) -> Result<StoreStat, StoreError> {
        let stat = self.inner.stat()?;
        self.metrics.blocks.set(saturating_i64(stat.blocks));
        self.metrics.size.set(saturating_i64(stat.bytes));
        Ok(stat)
    }

    fn count_get<T>(&self, result: &Result<Option<T>, StoreError>, started: Instant) {
        self.metrics
            .get_duration
            .observe(started.elapsed().as_secs_f64());
        let label = match result {
            Ok(Some(_)) => "hit",
            Ok(None) => "miss",
            Err(_) => "error",
        };
        self.metrics
            .gets
            .get_or_create(&GetLabels { result: label })
            .inc();
    }

    fn count_new(&self, report: PutReport) {
        self.metrics.puts.inc_by(report.new_blocks);
        self.metrics.put_bytes.inc_by(report.new_bytes);
        self.metrics
            .blocks
            .inc_by(saturating_i64(report.new_blocks));
        self.metrics.size.inc_by(saturating_i64(report.new_bytes));
    }
}

impl Blockstore for MeteredBlockstore {
    fn get_data(&self, mh: &Multihash) -> Result<Option<Bytes>, StoreError> {
        let started = Instant::now();
        let result = self.inner.get_data(mh);
        self.count_get(&result, started);
        result
    }

    fn get(&self, cid: &cid::Cid) -> Result<Option<Block>, StoreError> {
        // The inner store's `get` verifies the bytes against the CID exactly once (going
        // through `get_data` and then `Block::new` hashed every block twice).
        let started = Instant::now();
        let result = self.inner.get(cid);
        self.count_get(&result, started);
        result
    }

    fn has(&self, mh: &Multihash) -> Result<bool, StoreError> {
        self.inner.has(mh)
    }

    fn size(&self, mh: &Multihash) -> Result<Option<u64>, StoreError> {
        self.inner.size(mh)
    }

    fn put(&self, block: &Block) -> Result<bool, StoreError> {
        let started = Instant::now();
        let result = self.inner.put(block);
        self.metrics
            .put_duration
            .observe(started.elapsed().as_secs_f64());
        if let Ok(true) = result {
            self.count_new(PutReport {
                new_blocks: 1,
                new_bytes: block.len() as u64,
            });
        }
        result
    }

    /// One batched write of the wrapped store (its pack appends and index inserts in one
    /// pass); the store reports which blocks were new, so the gauges count only those.
    fn put_many(&self, blocks: &[Block]) -> Result<PutReport, StoreError> {
        let started = Instant::now();
        let result = self.inner.put_many(blocks);
        self.metrics
            .put_duration
            .observe(started.elapsed().as_secs_f64());
        if let Ok(report) = result {
            self.count_new(report);
        }
        result
    }

    fn delete(&self, mh: &Multihash) -> Result<bool, StoreError> {
        let size = self.inner.size(mh)?;
        let removed = self.inner.delete(mh)?;
        if removed {
            self.metrics.deletes.inc();
            self.metrics.blocks.dec();
            self.metrics
                .size
                .dec_by(saturating_i64(size.unwrap_or_default()));
        }
        Ok(removed)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::NodeMetrics;
    use chorus_storage::{HashAlg, MemoryStore, codec};
    use prometheus_client::registry::Registry;

    #[test]
    fn gauges_follow_writes_and_deletes() {
        let mut registry = Registry::default();
        let metrics = NodeMetrics::register(&mut registry).blockstore;
        let inner = Arc::new(MemoryStore::new());
        let pre = Block::from_data(codec::RAW, HashAlg::Sha2_256, &b"already"[..]).unwrap();
        inner.put(&pre).unwrap();
        let store = MeteredBlockstore::new(inner, metrics.clone()).unwrap();
        assert_eq!(metrics.blocks.get(), 1);
        assert_eq!(metrics.size.get(), 7);

        let b = Block::from_data(codec::RAW, HashAlg::Sha2_256, &b"hello"[..]).unwrap();
        assert!(store.put(&b).unwrap());
        assert!(!store.put(&b).unwrap(), "a second put is not new");
        assert_eq!(metrics.blocks.get(), 2);
        assert_eq!(metrics.size.get(), 12);
        assert_eq!(metrics.puts.get(), 1);
        assert_eq!(metrics.put_bytes.get(), 5);

        assert!(store.get(b.cid()).unwrap().is_some());
        assert!(store.delete(b.cid().hash()).unwrap());
        assert!(store.get(b.cid()).unwrap().is_none());
        assert_eq!(metrics.blocks.get(), 1);
        assert_eq!(metrics.size.get(), 7);
        assert_eq!(metrics.deletes.get(), 1);
        let hits = metrics
            .gets
            .get_or_create(&GetLabels { result: "hit" })
            .get();
        let misses = metrics
            .gets
            .get_or_create(&GetLabels { result: "miss" })
            .get();
        assert_eq!((hits, misses), (1, 1));
    }
}
