//! [`BlockFetcher`] over Bitswap: the local store first, then the network.

use std::sync::Arc;

use chorus_storage::{Block, Blockstore, Cid};
use futures::StreamExt;
use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use tokio::sync::Semaphore;

use super::handle::NetworkHandle;
use crate::fetch::{BlockFetcher, FetchError, read_at_hand};
use crate::prefetch_budget::{PREFETCHES_PER_REQUEST, PrefetchBudget};

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

/// Prefetches the node runs at once, over all requests: two large reads both get their
/// whole window ([`PREFETCHES_PER_REQUEST`] each), and with the foreground fetches added the
/// wants kept at one peer stay within the 1024 wantlist entries a kubo (boxo) or chorus
/// server remembers per peer.
pub const MAX_PREFETCHES: usize = 2 * PREFETCHES_PER_REQUEST;

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
    /// Each running prefetch holds a slot of the request's `budget` and one of the node's
    /// [`MAX_PREFETCHES`]; once either runs out the rest are skipped. Best effort: failures
    /// are dropped (the later fetch reports its own). Returns how many were taken on. Needs
    /// a tokio runtime.
    pub fn prefetch(&self, cids: &[Cid], budget: &PrefetchBudget) -> usize {
        let mut batch = Vec::new();
        for cid in cids {
            let Some(mine) = budget.try_take() else {
                break;
            };
            let Ok(node) = self.prefetch_slots.clone().try_acquire_owned() else {
                break;
            };
            batch.push((*cid, (mine, node)));
        }
        let taken = batch.len();
        if taken == 0 {
            return 0;
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
        taken
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

    fn prefetch(&self, cids: &[Cid], budget: &PrefetchBudget) {
        BitswapFetcher::prefetch(self, cids, budget);
    }

    fn fetch_at_hand(&self, cid: Cid) -> BoxFuture<'static, Option<Block>> {
        read_at_hand(self.store.clone(), cid)
    }
}
