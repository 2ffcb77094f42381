//! [`BlockFetcher`] over Bitswap: the local store first, then the network.

use std::sync::Arc;

use chorus_storage::{Block, Blockstore, Cid};
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use tokio::sync::Semaphore;

use super::handle::NetworkHandle;
use crate::fetch::{BlockFetcher, FetchError, read_at_hand};

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
    /// [`fetch`](BlockFetcher::fetch)es find them stored or join their wants. The wants go out
    /// in the order given, which is the order peers are asked to send them (Bitswap
    /// priorities): a reader's next block must not queue behind the ones it needs later.
    /// Best effort: past [`MAX_PREFETCHES`] running, the rest are skipped; failures are
    /// dropped (the later fetch reports its own). Needs a tokio runtime.
    pub fn prefetch(&self, cids: &[Cid]) {
        let mut batch = Vec::new();
        for cid in cids {
            let Ok(permit) = self.prefetch_slots.clone().try_acquire_owned() else {
                break;
            };
            batch.push((*cid, permit));
        }
        if batch.is_empty() {
            return;
        }
        let (store, network) = (self.store.clone(), self.network.clone());
        tokio::spawn(async move {
            // Local blocks need no prefetch: index lookups, not reads of the blocks.
            let hashes: Vec<_> = batch.iter().map(|(cid, _)| *cid.hash()).collect();
            let present = tokio::task::spawn_blocking(move || {
                hashes
                    .iter()
                    .map(|mh| matches!(store.has(mh), Ok(true)))
                    .collect::<Vec<_>>()
            })
            .await
            .unwrap_or_default();
            let mut pending = FuturesUnordered::new();
            for (i, (cid, permit)) in batch.into_iter().enumerate() {
                if present.get(i).copied().unwrap_or(false) {
                    continue;
                }
                let Ok(wait) = network.start_fetch(cid).await else {
                    break;
                };
                pending.push(async move {
                    let _ = wait.await;
                    drop(permit);
                });
            }
            while pending.next().await.is_some() {}
        });
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

    fn fetch_at_hand(&self, cid: Cid) -> BoxFuture<'static, Option<Block>> {
        read_at_hand(self.store.clone(), cid)
    }
}
