//! Classifying a block as a UnixFS node, with clear errors for what chorus cannot read.

use bytes::Bytes;
use chorus_storage::{Block, codec};
use cid::Cid;
use thiserror::Error;

use super::hamt::{HAMT_FANOUT, HAMT_HASH_MURMUR3};
use super::pb::{DataType, PbError, PbLink, PbNode, unixfs_data};

/// Errors of reading UnixFS data (path resolution, listing, ranged reads).
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The block source failed (missing block, network error, ...).
    #[error("fetching {cid} failed: {source}")]
    Fetch {
        /// The block asked for.
        cid: Cid,
        /// The source's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A dag-pb block could not be decoded.
    #[error("{cid} is not a valid UnixFS node: {source}")]
    Decode {
        /// The block.
        cid: Cid,
        /// What was wrong.
        #[source]
        source: PbError,
    },
    /// The CID's codec is neither dag-pb nor raw.
    #[error("{cid} has codec 0x{codec:x}, which is not UnixFS (dag-pb or raw)")]
    UnsupportedCodec {
        /// The block.
        cid: Cid,
        /// Its codec.
        codec: u64,
    },
    /// A UnixFS node type the reader does not handle (`Metadata`) or a HAMT with another hash
    /// or fanout than kubo's.
    #[error("{cid}: unsupported UnixFS node ({what})")]
    Unsupported {
        /// The block.
        cid: Cid,
        /// What is unsupported.
        what: &'static str,
    },
    /// The node is internally inconsistent (e.g. `blocksizes` disagree with the children).
    #[error("corrupt UnixFS node {cid}: {reason}")]
    Corrupt {
        /// The block.
        cid: Cid,
        /// What is inconsistent.
        reason: &'static str,
    },
    /// A path segment was looked up in something that is not a directory.
    #[error("{cid} is a {kind}, not a directory (looking up {name:?})")]
    NotADirectory {
        /// The node.
        cid: Cid,
        /// What it is.
        kind: NodeKind,
        /// The segment being resolved.
        name: String,
    },
    /// A file read was asked of something that is not a file.
    #[error("{cid} is a {kind}, not a file")]
    NotAFile {
        /// The node.
        cid: Cid,
        /// What it is.
        kind: NodeKind,
    },
    /// The directory has no such entry.
    #[error("no link named {name:?} under {cid}")]
    NotFound {
        /// The directory.
        cid: Cid,
        /// The missing name.
        name: String,
    },
    /// A directory holds more entries than a listing may ([`super::ListLimits`]).
    #[error(
        "directory {cid} has more than {limit} entries, the listing limit (limits.max_directory_entries)"
    )]
    TooManyEntries {
        /// The directory.
        cid: Cid,
        /// The limit it passed.
        limit: usize,
    },
    /// The path is not `/ipfs/<cid>[/...]` or `<cid>[/...]`.
    #[error("invalid IPFS path {0:?}")]
    InvalidPath(String),
}

impl ReadError {
    pub(crate) fn decode(cid: &Cid, source: PbError) -> Self {
        ReadError::Decode { cid: *cid, source }
    }
}

/// What a UnixFS node is, as `ipfs ls` and the gateway distinguish them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NodeKind {
    /// A file: a raw leaf, or a dag-pb `File`/`Raw` node.
    File,
    /// A plain directory.
    Directory,
    /// A HAMT-sharded directory.
    HamtShard,
    /// A symbolic link (its target is the node's data).
    Symlink,
}

impl std::fmt::Display for NodeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            NodeKind::File => "file",
            NodeKind::Directory => "directory",
            NodeKind::HamtShard => "sharded directory",
            NodeKind::Symlink => "symlink",
        })
    }
}

/// A block understood as a UnixFS node.
#[derive(Debug, Clone)]
pub(crate) enum Decoded {
    /// File content: inline `data` followed by children covering `blocksizes` bytes each.
    File {
        data: Bytes,
        links: Vec<PbLink>,
        blocksizes: Vec<u64>,
    },
    Directory {
        links: Vec<PbLink>,
    },
    Hamt {
        links: Vec<PbLink>,
    },
    Symlink {
        target: Bytes,
    },
}

impl Decoded {
    pub fn kind(&self) -> NodeKind {
        match self {
            Decoded::File { .. } => NodeKind::File,
            Decoded::Directory { .. } => NodeKind::Directory,
            Decoded::Hamt { .. } => NodeKind::HamtShard,
            Decoded::Symlink { .. } => NodeKind::Symlink,
        }
    }

    /// Bytes of content under this node (0 for directories).
    pub fn content_size(&self) -> u64 {
        match self {
            Decoded::File {
                data, blocksizes, ..
            } => file_size(data, blocksizes).unwrap_or(u64::MAX),
            Decoded::Symlink { target } => target.len() as u64,
            _ => 0,
        }
    }
}

/// Inline data plus children, `None` if hostile `blocksizes` overflow `u64`.
pub(crate) fn file_size(data: &[u8], blocksizes: &[u64]) -> Option<u64> {
    blocksizes
        .iter()
        .try_fold(data.len() as u64, |acc, &b| acc.checked_add(b))
}

/// Decodes `block` as UnixFS (a `File` node's sizes are checked not to overflow).
pub(crate) fn decode(block: &Block) -> Result<Decoded, ReadError> {
    let cid = block.cid();
    match cid.codec() {
        codec::RAW => {
            return Ok(Decoded::File {
                data: block.data().clone(),
                links: Vec::new(),
                blocksizes: Vec::new(),
            });
        }
        codec::DAG_PB => {}
        other => {
            return Err(ReadError::UnsupportedCodec {
                cid: *cid,
                codec: other,
            });
        }
    }
    let node = PbNode::decode(block.data()).map_err(|e| ReadError::decode(cid, e.into()))?;
    let fs = unixfs_data(&node).map_err(|e| ReadError::decode(cid, e))?;
    Ok(match fs.kind {
        DataType::File | DataType::Raw => {
            if fs.blocksizes.len() != node.links.len() {
                return Err(ReadError::Corrupt {
                    cid: *cid,
                    reason: "number of blocksizes differs from number of links",
                });
            }
            let size = file_size(&fs.data, &fs.blocksizes).ok_or(ReadError::Corrupt {
                cid: *cid,
                reason: "blocksizes overflow 64 bits",
            })?;
            if fs.filesize.is_some_and(|declared| declared != size) {
                return Err(ReadError::Corrupt {
                    cid: *cid,
                    reason: "filesize differs from data plus blocksizes",
                });
            }
            Decoded::File {
                data: fs.data,
                links: node.links,
                blocksizes: fs.blocksizes,
            }
        }
        DataType::Directory => Decoded::Directory { links: node.links },
        DataType::HamtShard => {
            if fs.hash_type != Some(HAMT_HASH_MURMUR3) {
                return Err(ReadError::Unsupported {
                    cid: *cid,
                    what: "HAMT hash function other than murmur3-x64-64",
                });
            }
            if fs.fanout != Some(HAMT_FANOUT) {
                return Err(ReadError::Unsupported {
                    cid: *cid,
                    what: "HAMT fanout other than 256",
                });
            }
            Decoded::Hamt { links: node.links }
        }
        DataType::Symlink => Decoded::Symlink { target: fs.data },
        DataType::Metadata => {
            return Err(ReadError::Unsupported {
                cid: *cid,
                what: "Metadata node",
            });
        }
    })
}
