//! What the node does with the chain's decisions: a delisted CID is dropped from the
//! replication content set and unpinned (its blocks go with the next GC); the gateway answers
//! 451 for it from the index. At start every CID the index has as delisted is checked again,
//! so a crash between the index update and the unpin loses nothing.

use chorus_chain::events::Change;
use chorus_chain::store::ChainStore;
use chorus_storage::Cid;
use tokio::sync::mpsc;

use crate::core::Core;

/// Applies changes as the follower sends them, after catching up on the index's delistings.
pub(super) async fn apply_changes(
    core: Core,
    store: ChainStore,
    mut changes: mpsc::Receiver<Change>,
) {
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
                tracing::debug!(cid = %record.cid, owner = %record.owner, "registered on chain")
            }
            Change::Unregistered(cid) => tracing::info!(%cid, "registration undone by a reorg"),
        }
    }
}

/// Unpins `cid` here and drops it from the content set (idempotent).
async fn take_down(core: &Core, text: &str) {
    let Ok(cid) = text.parse::<Cid>() else {
        tracing::warn!(cid = text, "delisted CID does not parse; nothing to unpin");
        return;
    };
    if let Some(replication) = core.replication()
        && replication.status(core, cid).await.in_content_set
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
