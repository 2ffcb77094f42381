//! [`BlockFetcher`] over Bitswap: the local store first, then the network.

use std::sync::Arc;

use chorus_storage::{Block, Blockstore, Cid};
use futures::future::BoxFuture;

use super::handle::NetworkHandle;
use super::prefetch_pump::{self, NodeSlots, PrefetchGauges, Wants};
use crate::fetch::{BlockFetcher, FetchError, read_at_hand, read_local};
use crate::prefetch_queue::{PREFETCHES_PER_REQUEST, PrefetchQueue};

/// Reads blocks from the local store, and fetches missing ones through the network (which
/// stores them). Hand it to [`CoreBuilder::network`](crate::core::CoreBuilder::network).
///
/// Dropping a fetch future withdraws its want (see [`NetworkHandle::fetch`]).
#[derive(Clone)]
pub struct BitswapFetcher {
    store: Arc<dyn Blockstore>,
    network: NetworkHandle,
    prefetch_slots: NodeSlots,
    gauges: PrefetchGauges,
}

/// Prefetches the node runs at once, over all requests: two large reads both get their
/// whole window ([`PREFETCHES_PER_REQUEST`] each), and with the foreground fetches added the
/// wants kept at one peer stay within the 1024 wantlist entries a kubo (boxo) or chorus
/// server remembers per peer.
pub const MAX_PREFETCHES: usize = 2 * PREFETCHES_PER_REQUEST;

impl BitswapFetcher {
    /// A fetcher reading `store` and asking `network` for what it lacks, with its own
    /// [`MAX_PREFETCHES`] slots (shared by its clones; the node's own fetcher is
    /// [`Network::fetcher`](super::Network::fetcher)).
    pub fn new(store: Arc<dyn Blockstore>, network: NetworkHandle) -> Self {
        Self::with_gauges(store, network, PrefetchGauges::default())
    }

    /// [`new`](Self::new), reporting its prefetches on `gauges`.
    pub(crate) fn with_gauges(
        store: Arc<dyn Blockstore>,
        network: NetworkHandle,
        gauges: PrefetchGauges,
    ) -> Self {
        BitswapFetcher {
            store,
            network,
            prefetch_slots: NodeSlots::new(MAX_PREFETCHES),
            gauges,
        }
    }

    /// Queues `cids` for fetching in the background (those not in the local store), so later
    /// [`fetch`](BlockFetcher::fetch)es find them stored or join their wants. Wants go out in
    /// the order hinted, which is the order peers are asked to send them (Bitswap
    /// priorities): a reader's next block must not queue behind the ones it needs later. At
    /// most [`PREFETCHES_PER_REQUEST`] of a request run at once, each holding one of the
    /// node's [`MAX_PREFETCHES`] slots; the rest wait their turn. Failures are dropped (the
    /// later fetch reports its own). Needs a tokio runtime.
    pub fn prefetch(&self, cids: &[Cid], queue: &PrefetchQueue) {
        let wants = NetworkWants {
            store: self.store.clone(),
            network: self.network.clone(),
        };
        let (slots, gauges) = (self.prefetch_slots.clone(), self.gauges.clone());
        queue.push(cids, move |hints| {
            tokio::spawn(prefetch_pump::run(
                wants,
                hints,
                slots,
                PREFETCHES_PER_REQUEST,
                gauges,
            ));
        });
    }
}

/// The pump's wants: fetches through the network actor, after a look at the store.
struct NetworkWants {
    store: Arc<dyn Blockstore>,
    network: NetworkHandle,
}

impl Wants for NetworkWants {
    fn stored(&self, cids: Vec<Cid>) -> BoxFuture<'static, Vec<bool>> {
        let store = self.store.clone();
        // Index lookups, not reads of the blocks.
        Box::pin(async move {
            tokio::task::spawn_blocking(move || {
                cids.iter()
                    .map(|cid| matches!(store.has(cid.hash()), Ok(true)))
                    .collect()
            })
            .await
            .unwrap_or_default()
        })
    }

    fn start(&self, cid: Cid) -> BoxFuture<'static, Option<BoxFuture<'static, ()>>> {
        let network = self.network.clone();
        Box::pin(async move {
            let wait = network.start_fetch(cid).await.ok()?;
            let want: BoxFuture<'static, ()> = Box::pin(async move {
                let _ = wait.await;
            });
            Some(want)
        })
    }
}

impl BlockFetcher for BitswapFetcher {
    fn fetch(&self, cid: Cid) -> BoxFuture<'static, Result<Block, FetchError>> {
        let store = self.store.clone();
        let network = self.network.clone();
        Box::pin(async move {
            match read_local(store, cid).await? {
                Some(block) => Ok(block),
                None => network.fetch(cid).await,
            }
        })
    }

    fn fetch_missing(&self, cid: Cid) -> BoxFuture<'static, Result<Block, FetchError>> {
        let network = self.network.clone();
        Box::pin(async move { network.fetch(cid).await })
    }

    fn is_online(&self) -> bool {
        self.network.is_running()
    }

    fn prefetch(&self, cids: &[Cid], queue: &PrefetchQueue) {
        BitswapFetcher::prefetch(self, cids, queue);
    }

    fn fetch_at_hand(&self, cid: Cid) -> BoxFuture<'static, Option<Block>> {
        read_at_hand(self.store.clone(), cid)
    }
}
