//! Listing a plain or HAMT-sharded directory, within bounds.
//!
//! A listing is read from content someone else made, so it is bounded three ways:
//! - **entries**: at most [`ListLimits::max_entries`]; the listing stops with
//!   [`ReadError::TooManyEntries`] when a directory holds more;
//! - **shards**: a HAMT is a tree, so a sub-shard reached twice is corrupt (two slots cannot
//!   hold the same names) and refused, rather than walked again: a 27 KB CAR whose shards all
//!   link one sub-shard 256 times used to expand into a listing of gigabytes;
//! - **depth**: a 64-bit hash split 8 bits a level runs out after [`MAX_LEVELS`] levels, so a
//!   deeper shard is corrupt too.
//!
//! The walk is iterative (a stack of pending shards), so no shape of DAG can exhaust the
//! thread's stack.

use std::collections::HashSet;

use cid::Cid;

use super::decode::{Decoded, ReadError, decode};
use super::hamt::{HAMT_PREFIX_LEN, MAX_LEVELS};
use super::pb::PbLink;
use super::reader::fetch;
use super::source::BlockSource;

/// kubo has no cap on a listing; one is needed because a listing is held in memory to be
/// sorted and rendered. At roughly 150 bytes an entry in memory and 300 on a gateway page,
/// the worst case of this default is about 15 MB held and a 30 MB page. Audius directories
/// (an HLS rendition, a set of cover-art sizes) hold tens to hundreds of entries.
pub const DEFAULT_MAX_DIRECTORY_ENTRIES: usize = 100_000;

/// Bounds on one directory listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListLimits {
    /// Entries a listing may hold before it fails with [`ReadError::TooManyEntries`].
    pub max_entries: usize,
}

impl Default for ListLimits {
    fn default() -> Self {
        ListLimits {
            max_entries: DEFAULT_MAX_DIRECTORY_ENTRIES,
        }
    }
}

/// One entry of a directory listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// Entry name.
    pub name: String,
    /// Target CID.
    pub cid: Cid,
    /// Cumulative DAG size recorded in the link (`Tsize`).
    pub tsize: u64,
}

impl DirEntry {
    fn from_link(link: PbLink, name: String) -> Self {
        DirEntry {
            name,
            cid: link.cid,
            tsize: link.tsize.unwrap_or(0),
        }
    }
}

/// Lists a plain or sharded directory, sorted by name, within `limits` (see the module docs).
pub async fn list_directory<S: BlockSource + ?Sized>(
    source: &S,
    dir: &Cid,
    limits: ListLimits,
) -> Result<Vec<DirEntry>, ReadError> {
    let block = fetch(source, dir).await?;
    let mut out = Vec::new();
    match decode(&block)? {
        Decoded::Directory { links } => {
            check_count(dir, links.len(), limits)?;
            out.extend(links.into_iter().map(|l| {
                let name = l.name.clone();
                DirEntry::from_link(l, name)
            }));
        }
        Decoded::Hamt { links } => list_shards(source, dir, links, limits, &mut out).await?,
        other => {
            return Err(ReadError::NotADirectory {
                cid: *dir,
                kind: other.kind(),
                name: String::new(),
            });
        }
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn check_count(dir: &Cid, count: usize, limits: ListLimits) -> Result<(), ReadError> {
    if count > limits.max_entries {
        return Err(ReadError::TooManyEntries {
            cid: *dir,
            limit: limits.max_entries,
        });
    }
    Ok(())
}

/// Collects the entries of the HAMT rooted at `dir` (whose root links are `links`) into `out`.
async fn list_shards<S: BlockSource + ?Sized>(
    source: &S,
    dir: &Cid,
    links: Vec<PbLink>,
    limits: ListLimits,
    out: &mut Vec<DirEntry>,
) -> Result<(), ReadError> {
    let mut seen = HashSet::from([*dir]);
    // Depth-first, fetching a sub-shard only when its turn comes: the stack holds one
    // half-read link list per level (at most MAX_LEVELS of them).
    let mut stack = vec![(*dir, links.into_iter())];
    while let Some((shard, links)) = stack.last_mut() {
        let shard = *shard;
        let Some(l) = links.next() else {
            stack.pop();
            continue;
        };
        if l.name.len() < HAMT_PREFIX_LEN || !l.name.is_char_boundary(HAMT_PREFIX_LEN) {
            return Err(ReadError::Corrupt {
                cid: shard,
                reason: "HAMT link name does not start with a slot prefix",
            });
        }
        if l.name.len() > HAMT_PREFIX_LEN {
            let name = l.name[HAMT_PREFIX_LEN..].to_owned();
            out.push(DirEntry::from_link(l, name));
            check_count(dir, out.len(), limits)?;
            continue;
        }
        // The root is level 0: a sub-shard pushed now is at level `stack.len()`.
        if stack.len() >= MAX_LEVELS {
            return Err(ReadError::Corrupt {
                cid: shard,
                reason: "HAMT deeper than its 64-bit hash allows",
            });
        }
        if !seen.insert(l.cid) {
            return Err(ReadError::Corrupt {
                cid: l.cid,
                reason: "HAMT sub-shard linked more than once",
            });
        }
        // A valid HAMT has fewer shards than entries: the entry cap bounds shards too.
        check_count(dir, seen.len(), limits)?;
        let block = fetch(source, &l.cid).await?;
        match decode(&block)? {
            Decoded::Hamt { links } => stack.push((l.cid, links.into_iter())),
            _ => {
                return Err(ReadError::Corrupt {
                    cid: l.cid,
                    reason: "HAMT sub-shard link does not point to a shard",
                });
            }
        }
    }
    Ok(())
}
