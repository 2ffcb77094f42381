//! Streaming form of boxo's `importer/balanced` layout.
//!
//! boxo builds the tree top-down: the first leaf is the root; while data remains, a new root one
//! level deeper takes the old root as first child and is filled with full subtrees of the level
//! below. Streaming leaves bottom-up gives the same tree: `layers[d]` holds the finished,
//! not yet parented links of depth `d`; a layer is packed into one node when a link arrives
//! that would make it exceed `max_links`, and at the end every layer below the top is packed,
//! however few links it has (boxo's partially filled last subtrees).

use chorus_storage::{Block, BlockError};

use super::node::{FileLink, file_branch};
use super::options::ResolvedOptions;

/// Pending links per depth (0 = leaves).
#[derive(Debug, Default)]
pub(crate) struct Balanced {
    layers: Vec<Vec<FileLink>>,
}

impl Balanced {
    /// Adds a finished link at `depth`, packing full layers into nodes pushed to `out`.
    pub fn push(
        &mut self,
        opts: &ResolvedOptions,
        depth: usize,
        link: FileLink,
        out: &mut Vec<Block>,
    ) -> Result<(), BlockError> {
        if self.layers.len() <= depth {
            self.layers.resize_with(depth + 1, Vec::new);
        }
        if self.layers[depth].len() == opts.max_links {
            let full = std::mem::take(&mut self.layers[depth]);
            let (block, parent) = file_branch(opts, &full)?;
            out.push(block);
            self.push(opts, depth + 1, parent, out)?;
            // Reuse the allocation for the next run of links at this depth.
            let mut full = full;
            full.clear();
            self.layers[depth] = full;
        }
        self.layers[depth].push(link);
        Ok(())
    }

    /// Packs the remaining layers and returns the root link (`None` if nothing was pushed).
    pub fn finish(
        mut self,
        opts: &ResolvedOptions,
        out: &mut Vec<Block>,
    ) -> Result<Option<FileLink>, BlockError> {
        let mut depth = 0;
        while depth < self.layers.len() {
            let is_top = self.layers[depth + 1..].iter().all(Vec::is_empty);
            let links = std::mem::take(&mut self.layers[depth]);
            if is_top {
                return match links.len() {
                    0 => Ok(None),
                    1 => Ok(links.first().copied()),
                    _ => {
                        let (block, root) = file_branch(opts, &links)?;
                        out.push(block);
                        Ok(Some(root))
                    }
                };
            }
            if !links.is_empty() {
                let (block, parent) = file_branch(opts, &links)?;
                out.push(block);
                self.push(opts, depth + 1, parent, out)?;
            }
            depth += 1;
        }
        Ok(None)
    }
}
