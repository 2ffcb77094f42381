//! The one dag-pb decoder, and the links of any block: what GC, pins, `refs`, the CAR export,
//! the reprovider and the UnixFS reader all read DAGs with.
//!
//! It lives in storage because GC must follow links and storage depends on nothing above it;
//! protocol's UnixFS code decodes `Data` on top of it and writes nodes with its own encoder
//! (byte-identical to kubo's). Hand-written rather than `ipld-dagpb` so the reader can slice
//! file data out of a block's `Bytes` without copying and so strictness is ours to choose: a
//! link must carry a valid CID, fields must have their wire types, lengths must fit.
//! Protobuf varints are read with prost's decoder (protobuf's rules: up to 10 bytes).

use std::ops::Range;

use bytes::Bytes;
use cid::Cid;
use thiserror::Error;

use crate::block::Block;
use crate::hash::codec;

/// Why a dag-pb node could not be decoded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DagPbError {
    /// The protobuf framing is broken (truncated varint or field, bad wire type).
    #[error("malformed protobuf: {0}")]
    Malformed(&'static str),
    /// A link's `Hash` is not a valid CID.
    #[error("dag-pb link {index} has an invalid CID")]
    BadLinkCid {
        /// Position of the link in the node.
        index: usize,
    },
}

/// Why a block's links could not be read.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinksError {
    /// A dag-pb block that does not decode.
    #[error("cannot decode dag-pb block {cid}: {source}")]
    Decode {
        /// The block.
        cid: Cid,
        /// What is wrong with it.
        #[source]
        source: DagPbError,
    },
    /// A codec whose links chorus does not read (dag-cbor, dag-json, ...).
    #[error("block {cid} has codec {codec:#x}, whose links chorus does not read")]
    UnsupportedCodec {
        /// The block.
        cid: Cid,
        /// Its codec.
        codec: u64,
    },
}

/// The CIDs `block` links to, in order: a dag-pb node's links, nothing for a raw block; other
/// codecs are an error (callers decide whether such a block is a leaf to them).
pub fn links(block: &Block) -> Result<Vec<Cid>, LinksError> {
    let cid = *block.cid();
    match cid.codec() {
        codec::RAW => Ok(Vec::new()),
        codec::DAG_PB => PbNode::decode(block.data())
            .map(|node| node.links.into_iter().map(|l| l.cid).collect())
            .map_err(|source| LinksError::Decode { cid, source }),
        other => Err(LinksError::UnsupportedCodec { cid, codec: other }),
    }
}

/// One decoded dag-pb link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PbLink {
    /// The linked block.
    pub cid: Cid,
    /// The link's name (always present in what kubo writes; empty when absent).
    pub name: String,
    /// The cumulative size of the linked DAG, when given.
    pub tsize: Option<u64>,
}

/// A decoded dag-pb node, its data referencing the block's bytes.
#[derive(Debug, Clone)]
pub struct PbNode {
    /// The links, in order.
    pub links: Vec<PbLink>,
    /// The raw `PBNode.Data` bytes, if present.
    pub data: Option<Bytes>,
}

impl PbNode {
    /// Decodes a dag-pb block's bytes; `data` slices into them.
    pub fn decode(block: &Bytes) -> Result<Self, DagPbError> {
        let buf = &block[..];
        let mut pos = 0;
        let mut links = Vec::new();
        let mut data = None;
        while let Some((num, field)) = wire::next_field(buf, &mut pos)? {
            match (num, field) {
                (2, wire::Field::Len(r)) => {
                    let index = links.len();
                    links.push(decode_link(&buf[r], index)?);
                }
                (1, wire::Field::Len(r)) => data = Some(block.slice(r)),
                (1 | 2, wire::Field::Varint(_)) => {
                    return Err(DagPbError::Malformed(
                        "dag-pb field has the wrong wire type",
                    ));
                }
                _ => {}
            }
        }
        Ok(PbNode { links, data })
    }
}

fn decode_link(buf: &[u8], index: usize) -> Result<PbLink, DagPbError> {
    let mut pos = 0;
    let mut cid = None;
    let mut name = String::new();
    let mut tsize = None;
    while let Some((num, field)) = wire::next_field(buf, &mut pos)? {
        match (num, field) {
            (1, wire::Field::Len(r)) => {
                let mut bytes = &buf[r];
                let c =
                    Cid::read_bytes(&mut bytes).map_err(|_| DagPbError::BadLinkCid { index })?;
                if !bytes.is_empty() {
                    return Err(DagPbError::BadLinkCid { index });
                }
                cid = Some(c);
            }
            (2, wire::Field::Len(r)) => {
                name = String::from_utf8(buf[r].to_vec())
                    .map_err(|_| DagPbError::Malformed("link name is not UTF-8"))?;
            }
            (3, wire::Field::Varint(v)) => tsize = Some(v),
            (1..=3, _) => {
                return Err(DagPbError::Malformed(
                    "dag-pb link field has the wrong wire type",
                ));
            }
            _ => {}
        }
    }
    Ok(PbLink {
        cid: cid.ok_or(DagPbError::BadLinkCid { index })?,
        name,
        tsize,
    })
}

/// The protobuf wire reading under [`PbNode::decode`], for messages nested in dag-pb (UnixFS
/// `Data`).
pub mod wire {
    use super::{DagPbError, Range};

    /// One field's value.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub enum Field {
        /// A varint (wire type 0).
        Varint(u64),
        /// A length-delimited value's byte range in the buffer (wire type 2).
        Len(Range<usize>),
    }

    /// Reads a protobuf varint at `pos` (advanced past it).
    pub fn read_varint(buf: &[u8], pos: &mut usize) -> Result<u64, DagPbError> {
        let mut rest = buf
            .get(*pos..)
            .filter(|r| !r.is_empty())
            .ok_or(DagPbError::Malformed("truncated varint"))?;
        let before = rest.len();
        let v = prost::encoding::decode_varint(&mut rest)
            .map_err(|_| DagPbError::Malformed("truncated or overlong varint"))?;
        *pos += before - rest.len();
        Ok(v)
    }

    /// Reads the next `(field number, value)` at `pos`, skipping fixed-width fields; `None`
    /// at the end of the buffer.
    pub fn next_field(buf: &[u8], pos: &mut usize) -> Result<Option<(u64, Field)>, DagPbError> {
        loop {
            if *pos >= buf.len() {
                return Ok(None);
            }
            let key = read_varint(buf, pos)?;
            let (num, wire) = (key >> 3, key & 7);
            match wire {
                0 => return Ok(Some((num, Field::Varint(read_varint(buf, pos)?)))),
                2 => {
                    let len = read_varint(buf, pos)?;
                    let end = usize::try_from(len)
                        .ok()
                        .and_then(|l| pos.checked_add(l))
                        .filter(|&e| e <= buf.len())
                        .ok_or(DagPbError::Malformed(
                            "length-delimited field runs past the end",
                        ))?;
                    let range = *pos..end;
                    *pos = end;
                    return Ok(Some((num, Field::Len(range))));
                }
                1 => *pos = skip(buf, *pos, 8)?,
                5 => *pos = skip(buf, *pos, 4)?,
                _ => return Err(DagPbError::Malformed("unsupported wire type")),
            }
        }
    }

    fn skip(buf: &[u8], pos: usize, n: usize) -> Result<usize, DagPbError> {
        let end = pos
            .checked_add(n)
            .filter(|&e| e <= buf.len())
            .ok_or(DagPbError::Malformed("truncated fixed-width field"))?;
        Ok(end)
    }
}
