//! Building verified blocks for the importer: one hash per block, CID shaped by the options.

use bytes::Bytes;
use chorus_storage::{Block, BlockError, codec};
use cid::Cid;

use super::options::ResolvedOptions;
use super::pb::{self, LinkOut};

/// A finished child of a file node, as its parent records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FileLink {
    pub cid: Cid,
    /// Cumulative size of the child's DAG (dag-pb link `Tsize`).
    pub tsize: u64,
    /// File bytes under the child (UnixFS `blocksizes` entry).
    pub filesize: u64,
}

/// Hashes a dag-pb node with the configured CID version and hash.
pub(crate) fn dag_pb_block(opts: &ResolvedOptions, bytes: Vec<u8>) -> Result<Block, BlockError> {
    if opts.cid_version == 0 {
        Block::from_data_v0(bytes)
    } else {
        Block::from_data(codec::DAG_PB, opts.hash, bytes)
    }
}

/// Builds a file branch node over `links` and returns it with the link its parent needs.
pub(crate) fn file_branch(
    opts: &ResolvedOptions,
    links: &[FileLink],
) -> Result<(Block, FileLink), BlockError> {
    let filesize: u64 = links.iter().map(|l| l.filesize).sum();
    let data = pb::file_branch_data(filesize, links.iter().map(|l| l.filesize));
    let outs: Vec<LinkOut<'_>> = links
        .iter()
        .map(|l| LinkOut {
            cid: &l.cid,
            name: "",
            tsize: l.tsize,
        })
        .collect();
    let bytes = pb::encode_node(&outs, &data);
    let tsize = bytes.len() as u64 + links.iter().map(|l| l.tsize).sum::<u64>();
    let block = dag_pb_block(opts, bytes)?;
    let link = FileLink {
        cid: *block.cid(),
        tsize,
        filesize,
    };
    Ok((block, link))
}

/// Builds a leaf for `chunk`: a raw block (always CIDv1) or a dag-pb node of `kind`.
pub(crate) fn file_leaf(
    opts: &ResolvedOptions,
    kind: pb::DataType,
    chunk: &[u8],
) -> Result<(Block, FileLink), BlockError> {
    let block = if opts.raw_leaves {
        Block::from_data(codec::RAW, opts.hash, Bytes::copy_from_slice(chunk))?
    } else {
        dag_pb_block(opts, pb::encode_data_leaf(kind, chunk))?
    };
    let link = FileLink {
        cid: *block.cid(),
        tsize: block.len() as u64,
        filesize: chunk.len() as u64,
    };
    Ok((block, link))
}
