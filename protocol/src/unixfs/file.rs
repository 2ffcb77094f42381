//! The streaming file importer: bytes in, verified blocks out, kubo's CIDs.

use chorus_storage::{Block, BlockError};
use cid::Cid;
use thiserror::Error;

use super::balanced::Balanced;
use super::node::{FileLink, file_leaf};
use super::options::{ImportOptions, Layout, OptionsError, ResolvedOptions};
use super::pb::DataType;
use super::trickle::Trickle;

/// Why an import failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ImportError {
    /// The options are invalid.
    #[error(transparent)]
    Options(#[from] OptionsError),
    /// A block could not be built (only possible with unusable hash settings).
    #[error("building a block failed: {0}")]
    Block(#[from] BlockError),
}

/// Result of importing one file.
#[derive(Debug, Clone)]
pub struct FileImport {
    /// The root CID, as `ipfs add` prints it.
    pub root: Cid,
    /// File length in bytes.
    pub size: u64,
    /// Cumulative DAG size (what a parent directory's link records as `Tsize`).
    pub tsize: u64,
}

#[derive(Debug)]
enum Tree {
    Balanced(Balanced),
    Trickle(Trickle),
}

/// Chunks a byte stream and builds its UnixFS DAG incrementally.
///
/// Memory stays bounded by one chunk plus the open tree nodes (a few hundred links), whatever
/// the file size: every finished block is returned from [`push`](Self::push) at once, so the
/// caller can store it (or drop it, for `--only-hash`). Each block is hashed exactly once.
#[derive(Debug)]
pub struct FileImporter {
    opts: ResolvedOptions,
    /// Bytes of the chunk being assembled (only used when input does not arrive chunk-aligned).
    pending: Vec<u8>,
    tree: Tree,
    size: u64,
}

impl FileImporter {
    /// Starts a file with `opts` (validated here).
    pub fn new(opts: &ImportOptions) -> Result<Self, ImportError> {
        let opts = opts.resolve()?;
        let tree = match opts.layout {
            Layout::Balanced => Tree::Balanced(Balanced::default()),
            Layout::Trickle => Tree::Trickle(Trickle::default()),
        };
        Ok(FileImporter {
            opts,
            pending: Vec::new(),
            tree,
            size: 0,
        })
    }

    /// The options in effect.
    pub fn options(&self) -> &ResolvedOptions {
        &self.opts
    }

    /// Feeds the next bytes of the file; returns the blocks completed by them.
    pub fn push(&mut self, data: &[u8]) -> Result<Vec<Block>, ImportError> {
        let mut out = Vec::new();
        self.push_into(data, &mut out)?;
        Ok(out)
    }

    /// Like [`push`](Self::push), appending the completed blocks to `out`.
    pub fn push_into(&mut self, mut data: &[u8], out: &mut Vec<Block>) -> Result<(), ImportError> {
        let chunk = self.opts.chunk_size;
        self.size += data.len() as u64;
        if !self.pending.is_empty() {
            let take = (chunk - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() < chunk {
                return Ok(());
            }
            let full = std::mem::take(&mut self.pending);
            self.add_chunk(&full, out)?;
            self.pending = full;
            self.pending.clear();
        }
        while data.len() >= chunk {
            let (head, rest) = data.split_at(chunk);
            self.add_chunk(head, out)?;
            data = rest;
        }
        if !data.is_empty() {
            if self.pending.capacity() < chunk {
                self.pending.reserve_exact(chunk);
            }
            self.pending.extend_from_slice(data);
        }
        Ok(())
    }

    fn add_chunk(&mut self, chunk: &[u8], out: &mut Vec<Block>) -> Result<(), ImportError> {
        match &mut self.tree {
            Tree::Balanced(b) => {
                let (block, link) = file_leaf(&self.opts, DataType::File, chunk)?;
                out.push(block);
                b.push(&self.opts, 0, link, out)?;
            }
            Tree::Trickle(t) => {
                let (block, link) = file_leaf(&self.opts, DataType::Raw, chunk)?;
                out.push(block);
                t.push_leaf(&self.opts, link, out)?;
            }
        }
        Ok(())
    }

    /// Ends the file: returns the remaining blocks (the root last) and the import summary.
    pub fn finish(mut self) -> Result<(FileImport, Vec<Block>), ImportError> {
        let mut out = Vec::new();
        let tail = std::mem::take(&mut self.pending);
        if !tail.is_empty() {
            self.add_chunk(&tail, &mut out)?;
        }
        let root: FileLink = match self.tree {
            Tree::Balanced(b) => match b.finish(&self.opts, &mut out)? {
                Some(root) => root,
                None => {
                    // boxo: an empty file is one empty leaf (a raw block with raw leaves).
                    let (block, link) = file_leaf(&self.opts, DataType::File, &[])?;
                    out.push(block);
                    link
                }
            },
            Tree::Trickle(t) => t.finish(&self.opts, &mut out)?,
        };
        Ok((
            FileImport {
                root: root.cid,
                size: self.size,
                tsize: root.tsize,
            },
            out,
        ))
    }
}

/// Imports an in-memory file in one call; returns the summary and every block (root last).
pub fn import_bytes(
    opts: &ImportOptions,
    data: &[u8],
) -> Result<(FileImport, Vec<Block>), ImportError> {
    let mut imp = FileImporter::new(opts)?;
    let mut blocks = imp.push(data)?;
    let (summary, rest) = imp.finish()?;
    blocks.extend(rest);
    Ok((summary, blocks))
}
