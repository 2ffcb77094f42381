//! Depth-first walks over dag-pb/raw DAGs, shared by `pin add`, `pin ls`, `refs`,
//! `files/stat` and `dag import`.

use std::collections::{HashMap, HashSet};
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

/// Size of a block known to have no links (raw codec): an index lookup through `store` (which
/// protects it), fetching it only when missing, so walking a big file does not read its data.
async fn leaf_size(
    store: &Arc<dyn Blockstore>,
    fetcher: &Arc<dyn BlockFetcher>,
    cid: Cid,
) -> Result<u64, ApiError> {
    let s = store.clone();
    let size = super::respond::blocking("reading a block size", move || {
        s.size(cid.hash())
            .map_err(|e| ApiError::store("reading the size of", &cid, e))
    })
    .await?;
    match size {
        Some(n) => Ok(n),
        None => Ok(get_protected(store, fetcher, cid).await?.len() as u64),
    }
}

/// One step of the iterative depth-first walk.
enum Step {
    /// Visit a node (pre-order).
    Enter(Cid),
    /// All of a node's children are done (post-order): its cumulative size is known.
    Exit(Cid),
}

/// Every block of the DAG under `root` (each once), fetching missing ones. Returns the edges
/// `(parent, child)` in depth-first pre-order and the total of block sizes counted per link
/// (the DAG's cumulative size). Iterative, so a hostile deep DAG cannot overflow the stack.
pub(crate) async fn walk(
    store: &Arc<dyn Blockstore>,
    fetcher: &Arc<dyn BlockFetcher>,
    root: Cid,
) -> Result<Walked, ApiError> {
    let mut out = Walked::default();
    let mut nodes: HashMap<Cid, (u64, Vec<Cid>)> = HashMap::new();
    let mut totals: HashMap<Cid, u64> = HashMap::new();
    let mut stack = vec![Step::Enter(root)];
    while let Some(step) = stack.pop() {
        match step {
            Step::Enter(cid) => {
                if nodes.contains_key(&cid) {
                    continue;
                }
                let (own, children) = if cid.codec() == codec::RAW {
                    (leaf_size(store, fetcher, cid).await?, Vec::new())
                } else {
                    let block = get_protected(store, fetcher, cid).await?;
                    let children = links(&block)?;
                    // The walk visits the children in this order: start fetching the missing
                    // ones now instead of one round trip each when their turn comes.
                    fetcher.prefetch(&children);
                    (block.len() as u64, children)
                };
                out.edges.extend(children.iter().map(|c| (cid, *c)));
                stack.push(Step::Exit(cid));
                stack.extend(children.iter().rev().map(|c| Step::Enter(*c)));
                nodes.insert(cid, (own, children));
            }
            Step::Exit(cid) => {
                let Some((own, children)) = nodes.get(&cid) else {
                    continue;
                };
                // Cumulative size counts a block once per link to it, like dag-pb Tsize.
                let total = children.iter().fold(*own, |acc, c| {
                    acc.saturating_add(totals.get(c).copied().unwrap_or(0))
                });
                totals.insert(cid, total);
            }
        }
    }
    out.cumulative_size = totals.get(&root).copied().unwrap_or(0);
    out.blocks = nodes.len() as u64;
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
            // Raw leaves have no links: no need to read them.
            if into.insert(child) && child.codec() != codec::RAW {
                stack.push(child);
            }
        }
    }
}
