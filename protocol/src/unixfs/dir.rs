//! Directory nodes as kubo writes them: plain dag-pb directories with links sorted by name,
//! switching to HAMT shards once the directory grows past kubo's size estimate threshold.

use std::collections::BTreeMap;

use chorus_storage::{Block, BlockError};
use cid::Cid;
use thiserror::Error;

use super::hamt;
use super::node::dag_pb_block;
use super::options::{ImportOptions, OptionsError, ResolvedOptions};
use super::pb::{self, LinkOut};

/// kubo ≥ 0.12's `Import.UnixFSHAMTDirectorySizeThreshold` (256 KiB): a directory is sharded
/// when the sum over its links of `len(name) + len(cid bytes)` reaches this many bytes.
pub const HAMT_SHARDING_THRESHOLD: u64 = 256 * 1024;

/// Why a directory could not be built.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DirError {
    /// The options are invalid.
    #[error(transparent)]
    Options(#[from] OptionsError),
    /// An entry name is empty, `.`/`..`, or contains `/`.
    #[error("invalid directory entry name {0:?}")]
    InvalidName(String),
    /// Two entries share a name (or a file and a directory do).
    #[error("duplicate directory entry {0:?}")]
    Duplicate(String),
    /// More than 2^64 distinct names collided (cannot happen with distinct names in practice).
    #[error("HAMT directory is deeper than the 64-bit hash allows")]
    HamtTooDeep,
    /// A block could not be built.
    #[error("building a directory block failed: {0}")]
    Block(#[from] BlockError),
}

/// One named link of a directory being built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntryOut {
    /// Entry name (one path segment).
    pub name: String,
    /// Target CID.
    pub cid: Cid,
    /// Cumulative DAG size of the target (its [`FileImport::tsize`](super::FileImport::tsize)
    /// or directory tsize).
    pub tsize: u64,
}

/// A finished directory node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirImport {
    /// The directory's CID.
    pub cid: Cid,
    /// Its cumulative DAG size.
    pub tsize: u64,
    /// Whether it was written as a HAMT shard.
    pub sharded: bool,
}

fn check_name(name: &str) -> Result<(), DirError> {
    if name.is_empty() || name == "." || name == ".." || name.contains('/') {
        return Err(DirError::InvalidName(name.to_owned()));
    }
    Ok(())
}

/// Builds one directory node (plain or sharded) from its entries; blocks are appended to `out`,
/// the directory's own (root) block last.
pub fn build_directory(
    opts: &ResolvedOptions,
    hamt_threshold: u64,
    mut entries: Vec<DirEntryOut>,
    out: &mut Vec<Block>,
) -> Result<DirImport, DirError> {
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    for w in entries.windows(2) {
        if w[0].name == w[1].name {
            return Err(DirError::Duplicate(w[0].name.clone()));
        }
    }
    for e in &entries {
        check_name(&e.name)?;
    }
    let estimate: u64 = entries
        .iter()
        .map(|e| (e.name.len() + e.cid.encoded_len()) as u64)
        .sum();
    if hamt_threshold > 0 && estimate >= hamt_threshold {
        let (cid, tsize) = hamt::build(opts, &entries, out)?;
        return Ok(DirImport {
            cid,
            tsize,
            sharded: true,
        });
    }
    let links: Vec<LinkOut<'_>> = entries
        .iter()
        .map(|e| LinkOut {
            cid: &e.cid,
            name: &e.name,
            tsize: e.tsize,
        })
        .collect();
    let bytes = pb::encode_node(&links, &pb::DIRECTORY_DATA);
    let tsize = entries
        .iter()
        .fold(bytes.len() as u64, |acc, e| acc.saturating_add(e.tsize));
    let block = dag_pb_block(opts, bytes)?;
    let cid = *block.cid();
    out.push(block);
    Ok(DirImport {
        cid,
        tsize,
        sharded: false,
    })
}

#[derive(Debug, Default)]
struct DirNode {
    children: BTreeMap<String, Child>,
}

#[derive(Debug)]
enum Child {
    Entry { cid: Cid, tsize: u64 },
    Dir(DirNode),
}

/// Assembles nested directories from entries added by relative path (`ipfs add -r`, `-w`).
///
/// Holds only names and CIDs (file content is imported separately with
/// [`FileImporter`](super::FileImporter)), so a tree of many files stays small.
#[derive(Debug)]
pub struct TreeBuilder {
    opts: ResolvedOptions,
    hamt_threshold: u64,
    root: DirNode,
}

/// Result of [`TreeBuilder::finish`].
#[derive(Debug, Clone)]
pub struct TreeImport {
    /// The root directory.
    pub root: DirImport,
    /// Every directory with its relative path (`""` for the root), children before parents.
    pub dirs: Vec<(String, DirImport)>,
}

impl TreeBuilder {
    /// Starts an empty root directory.
    pub fn new(opts: &ImportOptions) -> Result<Self, DirError> {
        Ok(TreeBuilder {
            opts: opts.resolve()?,
            hamt_threshold: HAMT_SHARDING_THRESHOLD,
            root: DirNode::default(),
        })
    }

    /// Overrides the sharding threshold (kubo's `Import.UnixFSHAMTDirectorySizeThreshold`;
    /// 0 disables sharding).
    pub fn with_hamt_threshold(mut self, bytes: u64) -> Self {
        self.hamt_threshold = bytes;
        self
    }

    fn dir_at(&mut self, segments: &[&str], path: &str) -> Result<&mut DirNode, DirError> {
        let mut node = &mut self.root;
        for seg in segments {
            check_name(seg)?;
            let child = node
                .children
                .entry((*seg).to_owned())
                .or_insert_with(|| Child::Dir(DirNode::default()));
            node = match child {
                Child::Dir(d) => d,
                Child::Entry { .. } => return Err(DirError::Duplicate(path.to_owned())),
            };
        }
        Ok(node)
    }

    /// Adds a finished file (or any DAG) at `path` (`/`-separated, relative); missing parent
    /// directories are created.
    pub fn add(&mut self, path: &str, cid: Cid, tsize: u64) -> Result<(), DirError> {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let Some((last, parents)) = segments.split_last() else {
            return Err(DirError::InvalidName(path.to_owned()));
        };
        check_name(last)?;
        let dir = self.dir_at(parents, path)?;
        if dir.children.contains_key(*last) {
            return Err(DirError::Duplicate(path.to_owned()));
        }
        dir.children
            .insert((*last).to_owned(), Child::Entry { cid, tsize });
        Ok(())
    }

    /// Ensures a (possibly empty) directory exists at `path`.
    pub fn add_dir(&mut self, path: &str) -> Result<(), DirError> {
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        self.dir_at(&segments, path).map(|_| ())
    }

    /// Builds every directory bottom-up; blocks go to `out` (the root's last).
    pub fn finish(self, out: &mut Vec<Block>) -> Result<TreeImport, DirError> {
        let mut dirs = Vec::new();
        let root = finish_dir(
            &self.opts,
            self.hamt_threshold,
            self.root,
            String::new(),
            &mut dirs,
            out,
        )?;
        Ok(TreeImport { root, dirs })
    }
}

fn finish_dir(
    opts: &ResolvedOptions,
    threshold: u64,
    node: DirNode,
    path: String,
    dirs: &mut Vec<(String, DirImport)>,
    out: &mut Vec<Block>,
) -> Result<DirImport, DirError> {
    let mut entries = Vec::with_capacity(node.children.len());
    for (name, child) in node.children {
        let (cid, tsize) = match child {
            Child::Entry { cid, tsize } => (cid, tsize),
            Child::Dir(d) => {
                let sub = if path.is_empty() {
                    name.clone()
                } else {
                    format!("{path}/{name}")
                };
                let r = finish_dir(opts, threshold, d, sub, dirs, out)?;
                (r.cid, r.tsize)
            }
        };
        entries.push(DirEntryOut { name, cid, tsize });
    }
    let made = build_directory(opts, threshold, entries, out)?;
    dirs.push((path, made));
    Ok(made)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_directory_is_kubos() {
        let opts = ImportOptions::default().resolve().unwrap();
        let mut out = Vec::new();
        let d = build_directory(&opts, HAMT_SHARDING_THRESHOLD, vec![], &mut out).unwrap();
        assert_eq!(
            d.cid.to_string(),
            "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"
        );
        assert_eq!(d.tsize, 4);
    }

    #[test]
    fn rejects_bad_names_and_duplicates() {
        let mut t = TreeBuilder::new(&ImportOptions::default()).unwrap();
        let cid = Cid::default();
        t.add("a/b", cid, 1).unwrap();
        assert!(matches!(t.add("a/b", cid, 1), Err(DirError::Duplicate(_))));
        assert!(matches!(
            t.add("a/b/c", cid, 1),
            Err(DirError::Duplicate(_))
        ));
        assert!(matches!(
            t.add("a/..", cid, 1),
            Err(DirError::InvalidName(_))
        ));
        assert!(matches!(t.add("", cid, 1), Err(DirError::InvalidName(_))));
    }
}
