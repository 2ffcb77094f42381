//! [`BlockFetcher`] over Bitswap: the local store first, then the network.

use std::sync::Arc;

use chorus_storage::{Block, Blockstore, Cid};
use futures::future::BoxFuture;

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
}

impl BitswapFetcher {
    /// A fetcher reading `store` and asking `network` for what it lacks.
    pub fn new(store: Arc<dyn Blockstore>, network: NetworkHandle) -> Self {
        BitswapFetcher { store, network }
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
}
