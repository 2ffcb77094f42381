//! Depth-first walks over dag-pb/raw DAGs, shared by `pin add`, `pin ls`, `refs`,
//! `files/stat` and `dag import`.

use std::collections::HashSet;
use std::sync::Arc;

use chorus_protocol::car::block_links;
use chorus_storage::{Block, Blockstore, Cid, codec};

use super::error::ApiError;
use crate::fetch::BlockFetcher;

/// The links of `block` (none for codecs other than dag-pb).
pub(crate) fn links(block: &Block) -> Result<Vec<Cid>, ApiError> {
    if block.cid().codec() != codec::DAG_PB {
        return Ok(Vec::new());
    }
    block_links(block).map_err(|e| ApiError::Failed(format!("reading links: {e}")))
}

/// Gets a block through `store` (a session protects it from GC) or, when missing, from the
/// fetcher, writing what the fetcher brings back through `store`.
pub(crate) async fn get_protected(
    store: &Arc<dyn Blockstore>,
    fetcher: &Arc<dyn BlockFetcher>,
    cid: Cid,
) -> Result<Block, ApiError> {
    let s = store.clone();
    let local = super::respond::blocking("reading a block", move || {
        s.get(&cid).map_err(|e| ApiError::store("reading", &cid, e))
    })
    .await?;
    if let Some(b) = local {
        return Ok(b);
    }
    let block = fetcher.fetch(cid).await?;
    let s = store.clone();
    let b = block.clone();
    super::respond::blocking("storing a fetched block", move || {
        s.put(&b).map_err(|e| ApiError::store("storing", &cid, e))
    })
    .await?;
    Ok(block)
}

/// Every block of the DAG under `root` (each once), fetching missing ones. Returns the edges
/// `(parent, child)` in depth-first pre-order and the total of block sizes counted per link
/// (the DAG's cumulative size).
pub(crate) async fn walk(
    store: &Arc<dyn Blockstore>,
    fetcher: &Arc<dyn BlockFetcher>,
    root: Cid,
) -> Result<Walked, ApiError> {
    let mut out = Walked::default();
    let mut sizes: std::collections::HashMap<Cid, (u64, Vec<Cid>)> = Default::default();
    let mut stack = vec![root];
    let mut seen = HashSet::new();
    while let Some(cid) = stack.pop() {
        if !seen.insert(cid) {
            continue;
        }
        let block = get_protected(store, fetcher, cid).await?;
        let children = links(&block)?;
        for c in &children {
            out.edges.push((cid, *c));
        }
        stack.extend(children.iter().rev());
        sizes.insert(cid, (block.len() as u64, children));
    }
    // Cumulative size counts a block once per link to it, like dag-pb Tsize.
    fn total(
        cid: &Cid,
        sizes: &std::collections::HashMap<Cid, (u64, Vec<Cid>)>,
        memo: &mut std::collections::HashMap<Cid, u64>,
    ) -> u64 {
        if let Some(t) = memo.get(cid) {
            return *t;
        }
        let Some((own, children)) = sizes.get(cid) else {
            return 0;
        };
        let mut t = *own;
        for c in children {
            t = t.saturating_add(total(c, sizes, memo));
        }
        memo.insert(*cid, t);
        t
    }
    out.cumulative_size = total(&root, &sizes, &mut Default::default());
    out.blocks = seen.len() as u64;
    Ok(out)
}

/// Result of [`walk`].
#[derive(Debug, Default)]
pub(crate) struct Walked {
    /// `(parent, child)` links in depth-first pre-order.
    pub(crate) edges: Vec<(Cid, Cid)>,
    /// Sum of block sizes per link (dag-pb `Tsize` of the root).
    pub(crate) cumulative_size: u64,
    /// Distinct blocks.
    pub(crate) blocks: u64,
}

/// The CIDs reachable from `root` in the local store only (missing blocks end that branch):
/// what a recursive pin covers, for `pin ls --type=indirect`.
pub(crate) fn local_descendants(store: &dyn Blockstore, root: &Cid, into: &mut HashSet<Cid>) {
    let mut stack = vec![*root];
    while let Some(cid) = stack.pop() {
        let Ok(Some(block)) = store.get(&cid) else {
            continue;
        };
        for child in links(&block).unwrap_or_default() {
            if into.insert(child) {
                stack.push(child);
            }
        }
    }
}
