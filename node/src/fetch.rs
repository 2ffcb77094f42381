//! Getting a verified block for a CID: from the local store now, through Bitswap once the network
//! exists. The HTTP faces only see [`BlockFetcher`], so plugging the network in changes no
//! handler.

use std::sync::Arc;
use std::time::Duration;

use chorus_storage::{Block, Blockstore, Cid, StoreError};
use futures::future::BoxFuture;
use thiserror::Error;

use crate::prefetch_queue::PrefetchQueue;

/// Why a block could not be obtained.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum FetchError {
    /// Not in the local store, and the node is offline so nobody else was asked.
    #[error("block {cid} was not found locally and the node is offline")]
    NotFoundOffline {
        /// The missing block.
        cid: Cid,
    },
    /// The network did not deliver the block within the deadline.
    #[error("block {cid} could not be retrieved within {timeout:?}")]
    Timeout {
        /// The missing block.
        cid: Cid,
        /// How long the fetch waited.
        timeout: Duration,
    },
    /// The local store failed.
    #[error("blockstore error while reading {cid}: {source}")]
    Store {
        /// The block being read.
        cid: Cid,
        /// The store's error.
        #[source]
        source: StoreError,
    },
    /// The blocking read task died (panicked or was cancelled at shutdown).
    #[error("read task for {cid} did not complete")]
    TaskFailed {
        /// The block being read.
        cid: Cid,
    },
}

impl FetchError {
    /// True when the block is simply unavailable (as opposed to a failure of this node).
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            FetchError::NotFoundOffline { .. } | FetchError::Timeout { .. }
        )
    }
}

/// Source of verified blocks for the HTTP faces.
///
/// Dropping the returned future cancels the request (for the network: withdraws the want).
pub trait BlockFetcher: Send + Sync + 'static {
    /// The block named by `cid`, from wherever this fetcher can reach.
    fn fetch(&self, cid: Cid) -> BoxFuture<'static, Result<Block, FetchError>>;

    /// The block named by `cid`, which the caller has just looked for in the store and not
    /// found: the network only, so a miss costs one store read, not two. The default fetches
    /// (store, then network), which is always correct.
    fn fetch_missing(&self, cid: Cid) -> BoxFuture<'static, Result<Block, FetchError>> {
        self.fetch(cid)
    }

    /// Whether this fetcher can ask other peers (false: local store only).
    fn is_online(&self) -> bool;

    /// Hint that `cids` will be asked for soon (a reader's upcoming in-range children), so a
    /// network fetcher can start on them concurrently. `queue` is the asking request's: its
    /// hints are taken in order, and ending the request (dropping the queue) withdraws what
    /// it hinted. Best effort; the default does nothing.
    fn prefetch(&self, cids: &[Cid], queue: &PrefetchQueue) {
        let _ = (cids, queue);
    }

    /// The block named by `cid` if this node holds it, without asking other peers; `None`
    /// when it does not or the store failed (see
    /// [`BlockSource::get_at_hand`](chorus_protocol::unixfs::BlockSource::get_at_hand)). The
    /// default holds nothing, which is always safe: walks then find nothing to look ahead at
    /// and fetch each block at its turn.
    fn fetch_at_hand(&self, cid: Cid) -> BoxFuture<'static, Option<Block>> {
        let _ = cid;
        Box::pin(std::future::ready(None))
    }
}

/// Reads `cid` from `store` on the blocking pool: `None` if absent.
pub(crate) async fn read_local(
    store: Arc<dyn Blockstore>,
    cid: Cid,
) -> Result<Option<Block>, FetchError> {
    tokio::task::spawn_blocking(move || store.get(&cid))
        .await
        .map_err(|_| FetchError::TaskFailed { cid })?
        .map_err(|source| FetchError::Store { cid, source })
}

/// [`read_local`] for [`BlockFetcher::fetch_at_hand`]: `None` if absent, unreadable or the
/// task died.
pub(crate) fn read_at_hand(
    store: Arc<dyn Blockstore>,
    cid: Cid,
) -> BoxFuture<'static, Option<Block>> {
    Box::pin(async move { read_local(store, cid).await.ok().flatten() })
}

/// The offline fetcher: the local store and nothing else.
#[derive(Clone)]
pub struct LocalFetcher {
    store: Arc<dyn Blockstore>,
}

impl LocalFetcher {
    /// Reads from `store`.
    pub fn new(store: Arc<dyn Blockstore>) -> Self {
        LocalFetcher { store }
    }
}

impl BlockFetcher for LocalFetcher {
    fn fetch(&self, cid: Cid) -> BoxFuture<'static, Result<Block, FetchError>> {
        let store = self.store.clone();
        Box::pin(async move {
            read_local(store, cid)
                .await?
                .ok_or(FetchError::NotFoundOffline { cid })
        })
    }

    fn fetch_missing(&self, cid: Cid) -> BoxFuture<'static, Result<Block, FetchError>> {
        Box::pin(std::future::ready(Err(FetchError::NotFoundOffline { cid })))
    }

    fn is_online(&self) -> bool {
        false
    }

    fn fetch_at_hand(&self, cid: Cid) -> BoxFuture<'static, Option<Block>> {
        read_at_hand(self.store.clone(), cid)
    }
}

/// Adapts a [`BlockFetcher`] to the UnixFS reader's and CAR writer's
/// [`BlockSource`](chorus_protocol::unixfs::BlockSource), for one request: its prefetch
/// hints go to the request's own [`PrefetchQueue`], withdrawn when the last clone of the
/// source is dropped.
#[derive(Clone)]
pub struct FetcherSource {
    fetcher: Arc<dyn BlockFetcher>,
    prefetches: PrefetchQueue,
}

impl FetcherSource {
    /// A source for one request, with an empty prefetch queue.
    pub fn new(fetcher: Arc<dyn BlockFetcher>) -> Self {
        FetcherSource {
            fetcher,
            prefetches: PrefetchQueue::new(),
        }
    }

    /// The fetcher behind this source.
    pub fn fetcher(&self) -> &Arc<dyn BlockFetcher> {
        &self.fetcher
    }
}

impl chorus_protocol::unixfs::BlockSource for FetcherSource {
    type Error = FetchError;

    fn get(
        &self,
        cid: &Cid,
    ) -> impl std::future::Future<Output = Result<Block, FetchError>> + Send {
        self.fetcher.fetch(*cid)
    }

    fn prefetch(&self, cids: &[Cid]) {
        self.fetcher.prefetch(cids, &self.prefetches);
    }

    fn get_at_hand(&self, cid: &Cid) -> impl std::future::Future<Output = Option<Block>> + Send {
        self.fetcher.fetch_at_hand(*cid)
    }
}
