//! Streaming form of boxo's `importer/trickle` layout.
//!
//! boxo's `fillTrickleRec(node, maxDepth)` first fills `node` with up to `max_links` leaves, then
//! for each depth `d` in `1..maxDepth` (unbounded for the root) appends up to
//! [`TRICKLE_DEPTH_REPEAT`] children, each a `fillTrickleRec(child, d)`; every child is only
//! started while data remains, and leaves are UnixFS `Raw` nodes unless raw leaves are on.
//!
//! Streamed, the open nodes form a stack from the root to the node being filled. Where the next
//! leaf goes depends only on each frame's link count (boxo's `trickleDepthInfo`): a frame with
//! fewer than `max_links` links takes a leaf; otherwise its next subtree has depth
//! `(links - max_links) / 4 + 1`, which it can take only if that is below its own depth bound;
//! a frame that cannot take anything is finished and becomes a link of its parent.

use chorus_storage::{Block, BlockError};

use super::node::{FileLink, file_branch};
use super::options::{ResolvedOptions, TRICKLE_DEPTH_REPEAT};

#[derive(Debug)]
struct Frame {
    /// `None` for the root (no depth limit).
    max_depth: Option<usize>,
    links: Vec<FileLink>,
}

/// Open trickle nodes, root first.
#[derive(Debug)]
pub(crate) struct Trickle {
    stack: Vec<Frame>,
}

impl Default for Trickle {
    fn default() -> Self {
        Trickle {
            stack: vec![Frame {
                max_depth: None,
                links: Vec::new(),
            }],
        }
    }
}

impl Trickle {
    /// Places the next leaf, finishing every frame that can take nothing more.
    pub fn push_leaf(
        &mut self,
        opts: &ResolvedOptions,
        leaf: FileLink,
        out: &mut Vec<Block>,
    ) -> Result<(), BlockError> {
        loop {
            let Some(top) = self.stack.last_mut() else {
                // The root frame is never popped before `finish`.
                return Ok(());
            };
            if top.links.len() < opts.max_links {
                top.links.push(leaf);
                return Ok(());
            }
            let next_depth = (top.links.len() - opts.max_links) / TRICKLE_DEPTH_REPEAT + 1;
            if top.max_depth.is_none_or(|max| next_depth < max) {
                self.stack.push(Frame {
                    max_depth: Some(next_depth),
                    links: Vec::with_capacity(opts.max_links),
                });
                continue;
            }
            self.close_top(opts, out)?;
        }
    }

    /// Turns the top frame into a node and links it from its parent.
    fn close_top(
        &mut self,
        opts: &ResolvedOptions,
        out: &mut Vec<Block>,
    ) -> Result<(), BlockError> {
        if let Some(frame) = self.stack.pop() {
            let (block, link) = file_branch(opts, &frame.links)?;
            out.push(block);
            if let Some(parent) = self.stack.last_mut() {
                parent.links.push(link);
            }
        }
        Ok(())
    }

    /// Closes every open frame; returns the root link (a `File` node even when empty).
    pub fn finish(
        mut self,
        opts: &ResolvedOptions,
        out: &mut Vec<Block>,
    ) -> Result<FileLink, BlockError> {
        while self.stack.len() > 1 {
            self.close_top(opts, out)?;
        }
        let links = self.stack.pop().map(|f| f.links).unwrap_or_default();
        let (block, root) = file_branch(opts, &links)?;
        out.push(block);
        Ok(root)
    }
}
