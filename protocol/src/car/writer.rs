//! CAR v1 writing: section encoding, a `std::io::Write` writer, and a streaming DAG export.

use std::collections::HashSet;
use std::io::Write;

use bytes::Bytes;
use chorus_storage::Block;
use cid::Cid;
use futures::Stream;

use super::error::CarError;
use super::header::encode_header;
use crate::lookahead::CidStackLookahead;
use crate::unixfs::BlockSource;
use chorus_storage::dagpb::{self, LinksError};

/// A section length prefix (multiformats unsigned varint).
fn varint(v: u64) -> Vec<u8> {
    unsigned_varint::encode::u64(v, &mut unsigned_varint::encode::u64_buffer()).to_vec()
}

/// The CAR v1 header section (length prefix included) for `roots`.
pub fn header_section(roots: &[Cid]) -> Bytes {
    let body = encode_header(roots, 1);
    let mut out = varint(body.len() as u64);
    out.extend_from_slice(&body);
    Bytes::from(out)
}

/// The prefix of a block section (length varint and CID bytes); the block's data follows it
/// unchanged, so callers can send both without copying the data.
pub fn block_section_prefix(block: &Block) -> Bytes {
    let cid = block.cid().to_bytes();
    let mut out = varint((cid.len() + block.len()) as u64);
    out.extend_from_slice(&cid);
    Bytes::from(out)
}

/// Writes a CAR v1 to any `std::io::Write`.
#[derive(Debug)]
pub struct CarWriter<W: Write> {
    out: W,
}

impl<W: Write> CarWriter<W> {
    /// Writes the header for `roots`.
    pub fn new(mut out: W, roots: &[Cid]) -> std::io::Result<Self> {
        out.write_all(&header_section(roots))?;
        Ok(CarWriter { out })
    }

    /// Appends one block section.
    pub fn write_block(&mut self, block: &Block) -> std::io::Result<()> {
        self.out.write_all(&block_section_prefix(block))?;
        self.out.write_all(block.data())
    }

    /// Flushes and returns the inner writer.
    pub fn finish(mut self) -> std::io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// The CIDs `block` links to, in link order (dag-pb) or none (raw): [`dagpb::links`], the one
/// link reader, with the CAR's errors.
pub fn block_links(block: &Block) -> Result<Vec<Cid>, CarError> {
    dagpb::links(block).map_err(|e| match e {
        LinksError::Decode { cid, source } => CarError::Decode {
            cid,
            source: source.into(),
        },
        LinksError::UnsupportedCodec { cid, codec } => CarError::UnsupportedCodec { cid, codec },
        _ => CarError::Decode {
            cid: *block.cid(),
            source: crate::unixfs::PbError::Malformed("undecodable dag-pb node"),
        },
    })
}

/// Streams the whole DAG under `root` as a CAR v1, like `ipfs dag export`: header, then every
/// block once in depth-first pre-order (each node before its children, children in link order).
///
/// Blocks are fetched one at a time as the consumer pulls; each node's children are hinted to
/// the source, and so are the next subtree's while the current one still has
/// [`LOOKAHEAD_VISITS`](crate::lookahead::LOOKAHEAD_VISITS) visits to go. Memory is two blocks
/// (the next subtree's root is held from its look-ahead to its visit) plus the traversal stack
/// and the set of CIDs already written. Each block yields two chunks (section prefix, then the
/// block's own bytes, not copied). Dropping the stream cancels the export.
pub fn export_car<S>(source: S, root: Cid) -> impl Stream<Item = Result<Bytes, CarError>> + Send
where
    S: BlockSource,
{
    struct St<S> {
        source: S,
        stack: Vec<Cid>,
        seen: HashSet<Cid>,
        ahead: CidStackLookahead,
        pending_data: Option<Bytes>,
        header: Option<Bytes>,
    }
    let st = St {
        source,
        stack: vec![root],
        seen: HashSet::new(),
        ahead: CidStackLookahead::default(),
        pending_data: None,
        header: Some(header_section(&[root])),
    };
    futures::stream::try_unfold(st, |mut st| async move {
        if let Some(h) = st.header.take() {
            return Ok(Some((h, st)));
        }
        if let Some(d) = st.pending_data.take() {
            return Ok(Some((d, st)));
        }
        while let Some(cid) = st.stack.pop() {
            if !st.seen.insert(cid) {
                continue;
            }
            let (block, hinted) =
                st.ahead
                    .visit(&st.source, &cid)
                    .await
                    .map_err(|e| CarError::Fetch {
                        cid,
                        source: Box::new(e),
                    })?;
            let links = block_links(&block)?;
            let fresh: Vec<Cid> = links
                .iter()
                .filter(|c| !st.seen.contains(*c))
                .copied()
                .collect();
            if !fresh.is_empty() && !hinted {
                st.source.prefetch(&fresh);
            }
            if !links.is_empty() {
                st.ahead.entered(st.stack.len());
                st.stack.extend(links.into_iter().rev());
            }
            st.ahead
                .look(&st.source, &st.stack, |b| {
                    block_links(b).unwrap_or_default()
                })
                .await;
            let prefix = block_section_prefix(&block);
            let (_, data) = block.into_parts();
            if !data.is_empty() {
                st.pending_data = Some(data);
            }
            return Ok(Some((prefix, st)));
        }
        Ok(None)
    })
}
