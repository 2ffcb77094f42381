//! Looking ahead in depth-first DAG walks.
//!
//! A walk that hints a node's children only when it enters the node leaves a network fetch
//! with nothing to do at every subtree boundary: over Bitswap the pipeline drains every 174
//! leaves of a kubo-shaped file. Walks therefore hint the next sibling subtree's children while
//! [`LOOKAHEAD_VISITS`] visits are still left in the current one: the UnixFS reader, the CAR
//! exports (with [`CidStackLookahead`]) and the node's pin walk.

use chorus_storage::{Block, codec};
use cid::Cid;

use crate::unixfs::BlockSource;

/// Visits left in the subtree being walked when the walk expands the next sibling subtree
/// (takes its root, if at hand, and hints its children). 64 because with kubo's 174 links per
/// node the hinted window then stays at most 174 + 64 = 238 blocks, under the 256
/// prefetches one request may run (`PREFETCHES_PER_REQUEST` of the node's fetcher), while 64
/// blocks of 256 KiB (16 MiB) outlast the tens of milliseconds a new batch needs to start
/// arriving at a few hundred MB/s.
pub const LOOKAHEAD_VISITS: usize = 64;

/// The look-ahead of a walk whose pending visits are a stack of CIDs, the next one last.
///
/// The walk gets the block of each visit through [`visit`](Self::visit) (which hands over the
/// block the look-ahead already fetched), calls [`entered`](Self::entered) when it pushes a
/// node's children and [`look`](Self::look) after every visit. Leaves leave the boundary where
/// it is: the next subtree stays the parent's next sibling until the walk enters a node with
/// children of its own.
#[derive(Debug, Default)]
pub struct CidStackLookahead {
    /// Stack length below the innermost subtree being walked: `stack[boundary - 1]`, if any,
    /// is the root of the next sibling subtree.
    boundary: usize,
    /// That root, taken ahead and its children hinted, until its visit.
    ahead: Option<Block>,
    /// A next root hinted again because it was not at hand when first wanted.
    rehinted: Option<Cid>,
}

impl CidStackLookahead {
    /// The walk pushed a node's children on a stack that was `below` long.
    pub fn entered(&mut self, below: usize) {
        self.boundary = below;
    }

    /// The block to visit for `cid`: the one the look-ahead fetched (then `true`: its children
    /// are hinted already), else `source`'s.
    pub async fn visit<S: BlockSource>(
        &mut self,
        source: &S,
        cid: &Cid,
    ) -> Result<(Block, bool), S::Error> {
        if self.ahead.as_ref().is_some_and(|b| b.cid() == cid)
            && let Some(block) = self.ahead.take()
        {
            return Ok((block, true));
        }
        Ok((source.get(cid).await?, false))
    }

    /// Once at most [`LOOKAHEAD_VISITS`] visits are left above the next subtree's root, takes
    /// that root if it is at hand ([`BlockSource::get_at_hand`]; it was hinted with its
    /// siblings) and hints `links` of it. A root not at hand yet is hinted again, once, and
    /// looked for again after the next visit, so the walk never waits on it here. A raw root
    /// is a leaf and is skipped; a root that cannot be had is left for its own visit to report.
    pub async fn look<S, L>(&mut self, source: &S, stack: &[Cid], links: L)
    where
        S: BlockSource,
        L: FnOnce(&Block) -> Vec<Cid>,
    {
        self.boundary = self.boundary.min(stack.len());
        if self.boundary == 0 || stack.len() - self.boundary > LOOKAHEAD_VISITS {
            return;
        }
        let Some(&next) = stack.get(self.boundary - 1) else {
            return;
        };
        if next.codec() == codec::RAW || self.ahead.as_ref().is_some_and(|b| *b.cid() == next) {
            return;
        }
        let Some(block) = source.get_at_hand(&next).await else {
            if self.rehinted != Some(next) {
                self.rehinted = Some(next);
                source.prefetch(&[next]);
            }
            return;
        };
        let children = links(&block);
        if !children.is_empty() {
            source.prefetch(&children);
        }
        self.ahead = Some(block);
    }
}
