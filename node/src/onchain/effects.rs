//! What the node does with the chain's decisions: a delisted CID is dropped from the
//! replication content set and unpinned (its blocks go with the next GC); the gateway answers
//! 451 for it from the index. With `replication.content_from_chain`, a registered root joins
//! the content set (the nodes placement assigns it to log and pin it). At start every CID the index has as delisted is checked again,
//! so a crash between the index update and the unpin loses nothing.

use std::sync::Arc;

use chorus_chain::contracts::Kind;
use chorus_chain::events::Change;
use chorus_chain::store::ChainStore;
use chorus_storage::Cid;
use tokio::sync::{Semaphore, mpsc};

use crate::core::Core;

/// Applies changes as the follower sends them, after catching up on the index's delistings.
pub(super) async fn apply_changes(
    core: Core,
    store: ChainStore,
    mut changes: mpsc::Receiver<Change>,
) {
    let adopting = Arc::new(Semaphore::new(ADOPTIONS_AT_ONCE));
    match store.delisted() {
        Ok(cids) => {
            for cid in cids {
                take_down(&core, &cid).await;
            }
        }
        Err(e) => tracing::warn!(error = %e, "reading delisted CIDs"),
    }
    while let Some(change) = changes.recv().await {
        match change {
            Change::Delisted(cid) => take_down(&core, &cid).await,
            Change::Relisted(cid) => {
                tracing::info!(%cid, "delisting undone by a reorg; served again (pin it again to keep it)")
            }
            Change::Registered(record) => {
                tracing::debug!(cid = %record.cid, owner = %record.owner, "registered on chain");
                // A track's source is inside its directory: the track root covers it.
                if record.kind != Kind::TrackSource {
                    adopt(&core, &adopting, &record.cid).await;
                }
            }
            Change::Unregistered(cid) => tracing::info!(%cid, "registration undone by a reorg"),
        }
    }
}

/// Registered roots fetched at once for the content set (each a DAG walk over Bitswap); more
/// wait, and the follower waits for them (its channel is bounded).
const ADOPTIONS_AT_ONCE: usize = 4;

/// With `replication.content_from_chain`, takes a registered root into the content set (in
/// the background, at most [`ADOPTIONS_AT_ONCE`] at a time).
async fn adopt(core: &Core, slots: &Arc<Semaphore>, text: &str) {
    let Some(replication) = core.replication() else {
        return;
    };
    if !replication.takes_content_from_chain() {
        return;
    }
    let Ok(cid) = text.parse::<Cid>() else {
        tracing::warn!(cid = text, "registered CID does not parse; not replicated");
        return;
    };
    let Ok(permit) = slots.clone().acquire_owned().await else {
        return;
    };
    let core = core.clone();
    let replication = replication.clone();
    tokio::spawn(async move {
        let _permit = permit;
        match replication.adopt(&core, cid).await {
            Ok(true) => tracing::info!(%cid, "registered on chain: taken into the content set"),
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(%cid, error = %e, "could not take a registered root; repair retries")
            }
        }
    });
}

/// Unpins `cid` here and drops it from the content set (idempotent).
async fn take_down(core: &Core, text: &str) {
    let Ok(cid) = text.parse::<Cid>() else {
        tracing::warn!(cid = text, "delisted CID does not parse; nothing to unpin");
        return;
    };
    if let Some(replication) = core.replication()
        && replication.in_content_set(&cid)
        && let Err(e) = replication.remove(cid).await
    {
        tracing::warn!(%cid, error = %e, "could not drop a delisted root from the content set");
    }
    let pinned = matches!(core.repo().pins().get(&cid), Ok(Some(_)));
    if pinned {
        match core.unpin(vec![cid], true).await {
            Ok(_) => tracing::info!(%cid, "delisted on chain: unpinned"),
            Err(e) => tracing::warn!(%cid, error = %e, "could not unpin a delisted CID"),
        }
    }
}
