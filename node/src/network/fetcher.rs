//! [`BlockFetcher`] over Bitswap: the local store first, then the network.

use std::sync::Arc;

use chorus_storage::{Block, Blockstore, Cid};
use futures::future::BoxFuture;
use tokio::sync::Semaphore;

use super::handle::NetworkHandle;
use crate::fetch::{BlockFetcher, FetchError};

/// Reads blocks from the local store, and fetches missing ones through the network (which
/// stores them). Install it with [`NodeContext::set_fetcher`](crate::NodeContext::set_fetcher).
///
/// Dropping a fetch future withdraws its want (see [`NetworkHandle::fetch`]).
#[derive(Clone)]
pub struct BitswapFetcher {
    store: Arc<dyn Blockstore>,
    network: NetworkHandle,
    prefetch_slots: Arc<Semaphore>,
}

/// Prefetches running at once per fetcher: a UnixFS node links at most 174 children (kubo's
/// default), so a reader's window of upcoming blocks fits, while a client asking for a huge
/// directory cannot start unbounded work.
pub const MAX_PREFETCHES: usize = 256;

impl BitswapFetcher {
    /// A fetcher reading `store` and asking `network` for what it lacks.
    pub fn new(store: Arc<dyn Blockstore>, network: NetworkHandle) -> Self {
        BitswapFetcher {
            store,
            network,
            prefetch_slots: Arc::new(Semaphore::new(MAX_PREFETCHES)),
        }
    }

    /// Starts fetching `cids` in the background (those not in the local store), so later
    /// [`fetch`](BlockFetcher::fetch)es find them stored or join their wants. Best effort:
    /// past [`MAX_PREFETCHES`] running, the rest are skipped; failures are dropped (the later
    /// fetch reports its own). Needs a tokio runtime.
    pub fn prefetch(&self, cids: &[Cid]) {
        for cid in cids {
            let Ok(permit) = self.prefetch_slots.clone().try_acquire_owned() else {
                return;
            };
            let (store, network, cid) = (self.store.clone(), self.network.clone(), *cid);
            tokio::spawn(async move {
                // Local blocks need no prefetch: an index lookup, not a read of the block.
                let mh = *cid.hash();
                let present = tokio::task::spawn_blocking(move || store.has(&mh)).await;
                if !matches!(present, Ok(Ok(true))) {
                    let _ = network.fetch(cid).await;
                }
                drop(permit);
            });
        }
    }
}

impl BlockFetcher for BitswapFetcher {
    fn fetch(&self, cid: Cid) -> BoxFuture<'static, Result<Block, FetchError>> {
        let store = self.store.clone();
        let network = self.network.clone();
        Box::pin(async move {
            let read = tokio::task::spawn_blocking(move || store.get(&cid))
                .await
                .map_err(|_| FetchError::TaskFailed { cid })?;
            match read {
                Ok(Some(block)) => Ok(block),
                Ok(None) => network.fetch(cid).await,
                Err(source) => Err(FetchError::Store { cid, source }),
            }
        })
    }

    fn is_online(&self) -> bool {
        self.network.is_running()
    }

    fn prefetch(&self, cids: &[Cid]) {
        BitswapFetcher::prefetch(self, cids);
    }
}
