//! Where the reader gets blocks from: the local store, or the node's Bitswap-backed fetcher.

use std::future::Future;
use std::sync::Arc;

use chorus_storage::{Block, Blockstore, StoreError};
use cid::Cid;
use thiserror::Error;

/// An async supplier of verified blocks.
///
/// The reader asks only for blocks it needs, one at a time, and drops the future if the consumer
/// goes away, so an implementation backed by the network may cancel its want on drop.
pub trait BlockSource: Send + Sync {
    /// Why a block could not be produced (missing, network failure, ...).
    type Error: std::error::Error + Send + Sync + 'static;

    /// The verified block for `cid`.
    fn get(&self, cid: &Cid) -> impl Future<Output = Result<Block, Self::Error>> + Send;

    /// Hint that `cids` will be asked for soon, in this order (the children of a node just
    /// visited that overlap the read; at most one node's links per call). A network source can
    /// start fetching them concurrently so that the sequential `get`s find them ready; the
    /// default does nothing, which is right for local stores.
    fn prefetch(&self, cids: &[Cid]) {
        let _ = cids;
    }

    /// The block for `cid` if it can be had without waiting on other peers (from the local
    /// store); `None` when it cannot, or the read failed. Walks looking ahead read the next
    /// subtree's root this way, so a root still in flight, or found nowhere, never holds up
    /// the subtree being read. The default is [`get`](Self::get), right for sources that never
    /// wait on a network; a network source must answer from what it holds.
    fn get_at_hand(&self, cid: &Cid) -> impl Future<Output = Option<Block>> + Send {
        let get = self.get(cid);
        async move { get.await.ok() }
    }
}

impl<S: BlockSource + ?Sized> BlockSource for &S {
    type Error = S::Error;

    fn get(&self, cid: &Cid) -> impl Future<Output = Result<Block, Self::Error>> + Send {
        (**self).get(cid)
    }

    fn prefetch(&self, cids: &[Cid]) {
        (**self).prefetch(cids)
    }

    fn get_at_hand(&self, cid: &Cid) -> impl Future<Output = Option<Block>> + Send {
        (**self).get_at_hand(cid)
    }
}

impl<S: BlockSource + ?Sized> BlockSource for Arc<S> {
    type Error = S::Error;

    fn get(&self, cid: &Cid) -> impl Future<Output = Result<Block, Self::Error>> + Send {
        (**self).get(cid)
    }

    fn prefetch(&self, cids: &[Cid]) {
        (**self).prefetch(cids)
    }

    fn get_at_hand(&self, cid: &Cid) -> impl Future<Output = Option<Block>> + Send {
        (**self).get_at_hand(cid)
    }
}

/// A local store lookup that did not produce a block.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum LocalGetError {
    /// The store does not hold the block.
    #[error("block {0} not found in the local store")]
    NotFound(Cid),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Serves blocks from a [`Blockstore`]; missing blocks are errors (no network fallback).
///
/// Store reads block the calling thread briefly (one key lookup); callers that must never block
/// an async executor thread run the reader inside `spawn_blocking` or use a network source.
#[derive(Debug)]
pub struct StoreSource<S: ?Sized>(pub Arc<S>);

impl<S: ?Sized> Clone for StoreSource<S> {
    fn clone(&self) -> Self {
        StoreSource(Arc::clone(&self.0))
    }
}

impl<S: Blockstore + ?Sized> StoreSource<S> {
    /// Wraps a shared store.
    pub fn new(store: Arc<S>) -> Self {
        StoreSource(store)
    }
}

impl<S: Blockstore + ?Sized> BlockSource for StoreSource<S> {
    type Error = LocalGetError;

    fn get(&self, cid: &Cid) -> impl Future<Output = Result<Block, Self::Error>> + Send {
        let result = match self.0.get(cid) {
            Ok(Some(b)) => Ok(b),
            Ok(None) => Err(LocalGetError::NotFound(*cid)),
            Err(e) => Err(LocalGetError::Store(e)),
        };
        std::future::ready(result)
    }
}
