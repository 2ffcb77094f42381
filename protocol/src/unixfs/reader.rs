//! Reading UnixFS: path resolution, directory listing, and ranged file reads that fetch only
//! the blocks overlapping the range.

use bytes::Bytes;
use chorus_storage::Block;
use cid::Cid;
use futures::Stream;

use super::decode::{Decoded, NodeKind, ReadError, decode};
use super::hamt::{self, HAMT_PREFIX_LEN};
use super::source::BlockSource;

pub(super) async fn fetch<S: BlockSource + ?Sized>(
    source: &S,
    cid: &Cid,
) -> Result<Block, ReadError> {
    source.get(cid).await.map_err(|e| ReadError::Fetch {
        cid: *cid,
        source: Box::new(e),
    })
}

/// Facts about one node.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    /// The node.
    pub cid: Cid,
    /// What it is.
    pub kind: NodeKind,
    /// Content bytes for files (symlinks: target length; directories: 0).
    pub size: u64,
}

/// Fetches and classifies `cid`.
pub async fn stat<S: BlockSource + ?Sized>(source: &S, cid: &Cid) -> Result<Stat, ReadError> {
    let block = fetch(source, cid).await?;
    let d = decode(&block)?;
    Ok(Stat {
        cid: *cid,
        kind: d.kind(),
        size: d.content_size(),
    })
}

/// Splits `/ipfs/<cid>/a/b`, `ipfs/<cid>/a` or `<cid>/a/b` into the CID and the segments.
pub fn parse_ipfs_path(path: &str) -> Result<(Cid, Vec<String>), ReadError> {
    let trimmed = path.trim_start_matches('/');
    let rest = trimmed.strip_prefix("ipfs/").unwrap_or(trimmed);
    let mut parts = rest.split('/').filter(|s| !s.is_empty());
    let cid: Cid = parts
        .next()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| ReadError::InvalidPath(path.to_owned()))?;
    Ok((cid, parts.map(str::to_owned).collect()))
}

/// Follows `segments` from `root` through plain and HAMT-sharded directories; returns the CID
/// they name. Symlinks are not followed (a symlink in the middle is an error).
pub async fn resolve_path<S, I>(source: &S, root: &Cid, segments: I) -> Result<Cid, ReadError>
where
    S: BlockSource + ?Sized,
    I: IntoIterator,
    I::Item: AsRef<str>,
{
    let mut current = *root;
    for seg in segments {
        let name = seg.as_ref();
        if name.is_empty() {
            continue;
        }
        current = lookup(source, &current, name).await?;
    }
    Ok(current)
}

/// Finds `name` in the directory `dir`.
pub async fn lookup<S: BlockSource + ?Sized>(
    source: &S,
    dir: &Cid,
    name: &str,
) -> Result<Cid, ReadError> {
    let block = fetch(source, dir).await?;
    match decode(&block)? {
        Decoded::Directory { links } => links
            .into_iter()
            .find(|l| l.name == name)
            .map(|l| l.cid)
            .ok_or_else(|| ReadError::NotFound {
                cid: *dir,
                name: name.to_owned(),
            }),
        Decoded::Hamt { links } => hamt_lookup(source, dir, links, name).await,
        other => Err(ReadError::NotADirectory {
            cid: *dir,
            kind: other.kind(),
            name: name.to_owned(),
        }),
    }
}

async fn hamt_lookup<S: BlockSource + ?Sized>(
    source: &S,
    root: &Cid,
    mut links: Vec<super::pb::PbLink>,
    name: &str,
) -> Result<Cid, ReadError> {
    let not_found = || ReadError::NotFound {
        cid: *root,
        name: name.to_owned(),
    };
    let mut level = 0;
    loop {
        let slot = hamt::slot(name, level).ok_or_else(not_found)?;
        let prefix = format!("{slot:02X}");
        let Some(link) = links.iter().find(|l| l.name.starts_with(&prefix)) else {
            return Err(not_found());
        };
        if link.name.len() == HAMT_PREFIX_LEN {
            let cid = link.cid;
            let block = fetch(source, &cid).await?;
            match decode(&block)? {
                Decoded::Hamt { links: sub } => links = sub,
                _ => {
                    return Err(ReadError::Corrupt {
                        cid,
                        reason: "HAMT sub-shard link does not point to a shard",
                    });
                }
            }
            level += 1;
        } else if link.name.get(HAMT_PREFIX_LEN..) == Some(name) {
            return Ok(link.cid);
        } else {
            return Err(not_found());
        }
    }
}

/// The target of a UnixFS symlink node (as `ipfs get` recreates it).
pub async fn read_symlink<S: BlockSource + ?Sized>(
    source: &S,
    cid: &Cid,
) -> Result<String, ReadError> {
    let block = fetch(source, cid).await?;
    match decode(&block)? {
        Decoded::Symlink { target } => {
            String::from_utf8(target.to_vec()).map_err(|_| ReadError::Corrupt {
                cid: *cid,
                reason: "symlink target is not UTF-8",
            })
        }
        other => Err(ReadError::Unsupported {
            cid: *cid,
            what: match other.kind() {
                NodeKind::Directory | NodeKind::HamtShard => "a directory is not a symlink",
                _ => "a file is not a symlink",
            },
        }),
    }
}

/// An opened UnixFS file: its root is fetched, so its size is known before reading.
#[derive(Debug, Clone)]
pub struct UnixfsFile {
    root: Block,
    size: u64,
}

impl UnixfsFile {
    /// Fetches the root of `cid` and checks that it is a file.
    pub async fn open<S: BlockSource + ?Sized>(source: &S, cid: &Cid) -> Result<Self, ReadError> {
        Self::from_block(fetch(source, cid).await?)
    }

    /// Uses an already fetched root block.
    pub fn from_block(root: Block) -> Result<Self, ReadError> {
        let d = decode(&root)?;
        if d.kind() != NodeKind::File {
            return Err(ReadError::NotAFile {
                cid: *root.cid(),
                kind: d.kind(),
            });
        }
        Ok(UnixfsFile {
            size: d.content_size(),
            root,
        })
    }

    /// The file's CID.
    pub fn cid(&self) -> &Cid {
        self.root.cid()
    }

    /// File length in bytes.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn walk<S: BlockSource>(&self, source: S, offset: u64, len: Option<u64>) -> RangeState<S> {
        let from = offset.min(self.size);
        let to = match len {
            Some(l) => from.saturating_add(l).min(self.size),
            None => self.size,
        };
        RangeState {
            source,
            stack: vec![Work::Node {
                block: self.root.clone(),
                start: 0,
                expect: self.size,
            }],
            boundary: 0,
            rehinted: None,
            from,
            to,
        }
    }

    /// Streams bytes `offset..offset+len` (clamped to the file; `None` = to the end).
    ///
    /// Walks the DAG depth-first using each node's `blocksizes` and fetches only blocks that
    /// overlap the range, one at a time (plus, near the end of a subtree, the root of the next
    /// one if it is at hand, to hint its children early), so memory stays at a few blocks per
    /// level of the path from the root whatever the file size. Chunks are slices of the
    /// fetched blocks (no copy). Dropping the stream cancels the pending fetch.
    pub fn read<S>(
        &self,
        source: S,
        offset: u64,
        len: Option<u64>,
    ) -> impl Stream<Item = Result<Bytes, ReadError>> + Send + use<S>
    where
        S: BlockSource,
    {
        futures::stream::try_unfold(self.walk(source, offset, len), |mut st| async move {
            while let Some((_, data)) = st.next_visit().await? {
                // Inner nodes usually carry no data of their own: no empty chunks.
                if let Some(chunk) = data.filter(|c| !c.is_empty()) {
                    return Ok(Some((chunk, st)));
                }
            }
            Ok(None)
        })
    }

    /// Streams the blocks a read of `offset..offset+len` visits, in DAG (depth-first
    /// pre-order) order, the root first even for an empty range: exactly what a trustless
    /// gateway CAR with `dag-scope=entity&entity-bytes=from:to` must carry to let a client
    /// verify that range. Same fetching and memory behaviour as [`read`](Self::read).
    pub fn read_blocks<S>(
        &self,
        source: S,
        offset: u64,
        len: Option<u64>,
    ) -> impl Stream<Item = Result<Block, ReadError>> + Send + use<S>
    where
        S: BlockSource,
    {
        futures::stream::try_unfold(self.walk(source, offset, len), |mut st| async move {
            Ok(st.next_visit().await?.map(|(block, _)| (block, st)))
        })
    }
}

/// Upcoming visits left above the next unexpanded sibling subtree when the reader expands it
/// (fetches its root and hints its in-range children); see [`crate::lookahead`].
const SIBLING_LOOKAHEAD: usize = crate::lookahead::LOOKAHEAD_VISITS;

enum Work {
    Fetch {
        cid: Cid,
        start: u64,
        expect: u64,
    },
    /// A fetched node not decoded yet (the root).
    Node {
        block: Block,
        start: u64,
        expect: u64,
    },
    /// A node expanded ahead: decoded, its in-range children already on the stack below it.
    Expanded {
        block: Block,
        chunk: Option<Bytes>,
    },
}

struct RangeState<S> {
    source: S,
    /// Nodes still to visit, the next one last.
    stack: Vec<Work>,
    /// Stack length below the subtree being read: `stack[boundary - 1]`, if any, is the next
    /// subtree to expand ahead (see [`SIBLING_LOOKAHEAD`]).
    boundary: usize,
    /// The next subtree's root, hinted again because it was not at hand when the look-ahead
    /// first wanted it.
    rehinted: Option<Cid>,
    from: u64,
    to: u64,
}

/// A decoded file node: its in-range part of the inline data and its in-range children, in
/// reading order.
struct Expansion {
    chunk: Option<Bytes>,
    children: Vec<Work>,
}

impl<S: BlockSource> RangeState<S> {
    /// Decodes `block` (a file node covering `start..start + expect`) and works out what of it
    /// lies in the range.
    fn expand(&self, block: &Block, start: u64, expect: u64) -> Result<Expansion, ReadError> {
        let cid = *block.cid();
        let Decoded::File {
            data,
            links,
            blocksizes,
        } = decode(block)?
        else {
            return Err(ReadError::Corrupt {
                cid,
                reason: "file DAG links to a non-file node",
            });
        };
        let size = super::decode::file_size(&data, &blocksizes).unwrap_or(u64::MAX);
        if size != expect {
            return Err(ReadError::Corrupt {
                cid,
                reason: "node size disagrees with its parent's blocksizes",
            });
        }
        let mut child_start = start + data.len() as u64;
        let mut children = Vec::new();
        for (link, &bs) in links.iter().zip(&blocksizes) {
            let child_end = child_start + bs;
            if self.from < self.to && child_end > self.from && child_start < self.to {
                children.push(Work::Fetch {
                    cid: link.cid,
                    start: child_start,
                    expect: bs,
                });
            }
            child_start = child_end;
        }
        let data_end = start + data.len() as u64;
        let chunk = (data_end > self.from && start < self.to).then(|| {
            let lo = self.from.max(start) - start;
            let hi = self.to.min(data_end) - start;
            data.slice(lo as usize..hi as usize)
        });
        Ok(Expansion { chunk, children })
    }

    /// Hints `children` to the source when there is more than one (a single child is fetched
    /// next anyway).
    fn hint(&self, children: &[Work]) {
        if children.len() > 1 {
            let cids: Vec<Cid> = children
                .iter()
                .filter_map(|w| match w {
                    Work::Fetch { cid, .. } => Some(*cid),
                    Work::Node { .. } | Work::Expanded { .. } => None,
                })
                .collect();
            self.source.prefetch(&cids);
        }
    }

    /// Expands the next sibling subtree ahead once at most [`SIBLING_LOOKAHEAD`] visits are
    /// left before it: takes its root if it is at hand (it was hinted with its siblings),
    /// pushes its in-range children below it and hints them. A root not at hand yet is hinted
    /// again, once, and looked for again at the next visit: the look-ahead never waits on the
    /// network, so a root that is slow to come, or found nowhere, does not hold up the subtree
    /// being read. A raw block is a leaf and is skipped unfetched. Failures are left for the
    /// visit itself to report, in order.
    async fn expand_ahead(&mut self) {
        self.boundary = self.boundary.min(self.stack.len());
        if self.boundary == 0 || self.stack.len() - self.boundary > SIBLING_LOOKAHEAD {
            return;
        }
        let at = self.boundary - 1;
        let Some(Work::Fetch { cid, start, expect }) = self.stack.get(at) else {
            self.boundary = at;
            return;
        };
        let (cid, start, expect) = (*cid, *start, *expect);
        if cid.codec() == chorus_storage::codec::RAW {
            self.boundary = at;
            return;
        }
        let Some(block) = self.source.get_at_hand(&cid).await else {
            if self.rehinted != Some(cid) {
                self.rehinted = Some(cid);
                self.source.prefetch(&[cid]);
            }
            return;
        };
        self.boundary = at;
        let Ok(Expansion { chunk, children }) = self.expand(&block, start, expect) else {
            return;
        };
        self.hint(&children);
        let node = Work::Expanded { block, chunk };
        self.stack
            .splice(at..=at, children.into_iter().rev().chain(Some(node)));
    }

    /// Expands `block` where the reader stands: hints its in-range children and pushes them,
    /// in reverse so the first overlapping one is visited next. Returns the in-range part of
    /// its inline data.
    fn descend(
        &mut self,
        block: &Block,
        start: u64,
        expect: u64,
    ) -> Result<Option<Bytes>, ReadError> {
        let Expansion { chunk, children } = self.expand(block, start, expect)?;
        // A leaf leaves the boundary where it is: the subtree being read is still its
        // parent's, and the next one to expand ahead is still the parent's next sibling.
        if !children.is_empty() {
            self.hint(&children);
            self.boundary = self.stack.len();
            self.stack.extend(children.into_iter().rev());
        }
        Ok(chunk)
    }

    /// Visits the next node: returns its block and the in-range part of its inline data.
    async fn next_visit(&mut self) -> Result<Option<(Block, Option<Bytes>)>, ReadError> {
        let Some(work) = self.stack.pop() else {
            return Ok(None);
        };
        let (block, chunk) = match work {
            Work::Expanded { block, chunk } => (block, chunk),
            Work::Node {
                block,
                start,
                expect,
            } => {
                let chunk = self.descend(&block, start, expect)?;
                (block, chunk)
            }
            Work::Fetch { cid, start, expect } => {
                let block = fetch(&self.source, &cid).await?;
                let chunk = self.descend(&block, start, expect)?;
                (block, chunk)
            }
        };
        self.expand_ahead().await;
        Ok(Some((block, chunk)))
    }
}
