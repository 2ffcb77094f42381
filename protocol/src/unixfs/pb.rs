//! Hand-written protobuf encoding of dag-pb nodes and their UnixFS `Data`, and decoding of
//! that `Data` (the dag-pb node itself is decoded by `chorus_storage::dagpb`, the one decoder).
//!
//! Writing the few messages by hand lets the importer emit exactly the bytes kubo (go-merkledag
//! and boxo) emits — field order, always-present link names, unpacked `blocksizes` — and lets
//! the reader slice file data out of a block's `Bytes` without copying.

use bytes::Bytes;
use chorus_storage::dagpb::DagPbError;
use chorus_storage::dagpb::wire::{Field, next_field, read_varint};
use cid::Cid;
use thiserror::Error;

pub(crate) use chorus_storage::dagpb::{PbLink, PbNode};

/// Why a dag-pb / UnixFS node could not be decoded.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PbError {
    /// The protobuf framing is broken (truncated varint or field, bad wire type).
    #[error("malformed protobuf: {0}")]
    Malformed(&'static str),
    /// A link's `Hash` is not a valid CID.
    #[error("dag-pb link {index} has an invalid CID")]
    BadLinkCid {
        /// Position of the link in the node.
        index: usize,
    },
    /// The node carries no UnixFS `Data`.
    #[error("dag-pb node has no UnixFS data")]
    NoData,
    /// The UnixFS `Type` field is missing.
    #[error("UnixFS data has no Type")]
    NoType,
}

impl From<DagPbError> for PbError {
    fn from(e: DagPbError) -> Self {
        match e {
            DagPbError::Malformed(what) => PbError::Malformed(what),
            DagPbError::BadLinkCid { index } => PbError::BadLinkCid { index },
            _ => PbError::Malformed("undecodable dag-pb node"),
        }
    }
}

/// UnixFS `Data.Type` values (unixfs.proto).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DataType {
    Raw = 0,
    Directory = 1,
    File = 2,
    Metadata = 3,
    Symlink = 4,
    HamtShard = 5,
}

impl DataType {
    fn from_u64(v: u64) -> Option<Self> {
        Some(match v {
            0 => DataType::Raw,
            1 => DataType::Directory,
            2 => DataType::File,
            3 => DataType::Metadata,
            4 => DataType::Symlink,
            5 => DataType::HamtShard,
            _ => return None,
        })
    }
}

/// The decoded UnixFS `Data` message.
#[derive(Debug, Clone)]
pub(crate) struct UnixfsData {
    pub kind: DataType,
    /// `Data.Data`: file bytes for leaves, bitfield for HAMT shards, target for symlinks.
    pub data: Bytes,
    pub filesize: Option<u64>,
    pub blocksizes: Vec<u64>,
    pub hash_type: Option<u64>,
    pub fanout: Option<u64>,
}

// ---------------------------------------------------------------------------------------------
// Low-level wire helpers.

// Varints here are protobuf's, through prost's encoder and decoder: up to 10 bytes, as every
// protobuf reader (and so go-codec-dagpb) accepts. Multiformats varints (CAR sections, libp2p
// framing) use the stricter `unsigned-varint` crate (minimal, at most 9 bytes) instead.

pub(crate) fn put_varint(out: &mut Vec<u8>, v: u64) {
    prost::encoding::encode_varint(v, out);
}

pub(crate) fn varint_len(v: u64) -> usize {
    prost::encoding::encoded_len_varint(v)
}

fn put_len_field(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    out.push(tag);
    put_varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

// ---------------------------------------------------------------------------------------------
// Decoding.

/// The UnixFS `Data` of a dag-pb node.
pub(crate) fn unixfs_data(node: &PbNode) -> Result<UnixfsData, PbError> {
    let data = node.data.as_ref().ok_or(PbError::NoData)?;
    UnixfsData::decode(data)
}

impl UnixfsData {
    /// Decodes a UnixFS `Data` message held in `bytes`.
    pub fn decode(bytes: &Bytes) -> Result<Self, PbError> {
        let buf = &bytes[..];
        let mut pos = 0;
        let mut kind = None;
        let mut data = Bytes::new();
        let mut filesize = None;
        let mut blocksizes = Vec::new();
        let mut hash_type = None;
        let mut fanout = None;
        while let Some((num, field)) = next_field(buf, &mut pos)? {
            match (num, field) {
                (1, Field::Varint(v)) => {
                    kind = Some(
                        DataType::from_u64(v).ok_or(PbError::Malformed("unknown UnixFS type"))?,
                    )
                }
                (2, Field::Len(r)) => data = bytes.slice(r),
                (3, Field::Varint(v)) => filesize = Some(v),
                (4, Field::Varint(v)) => blocksizes.push(v),
                (4, Field::Len(r)) => {
                    // Packed encoding: accepted on read although kubo never writes it.
                    let packed = &buf[r];
                    let mut p = 0;
                    while p < packed.len() {
                        blocksizes.push(read_varint(packed, &mut p)?);
                    }
                }
                (5, Field::Varint(v)) => hash_type = Some(v),
                (6, Field::Varint(v)) => fanout = Some(v),
                (1..=6, _) => {
                    return Err(PbError::Malformed("UnixFS field has the wrong wire type"));
                }
                _ => {}
            }
        }
        Ok(UnixfsData {
            kind: kind.ok_or(PbError::NoType)?,
            data,
            filesize,
            blocksizes,
            hash_type,
            fanout,
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Encoding, byte-identical to go-merkledag + boxo.

/// A link to be written into a dag-pb node.
pub(crate) struct LinkOut<'a> {
    pub cid: &'a Cid,
    pub name: &'a str,
    pub tsize: u64,
}

fn link_body_len(l: &LinkOut<'_>) -> usize {
    let cid_len = l.cid.encoded_len();
    1 + varint_len(cid_len as u64)
        + cid_len
        + 1
        + varint_len(l.name.len() as u64)
        + l.name.len()
        + 1
        + varint_len(l.tsize)
}

fn put_link(out: &mut Vec<u8>, l: &LinkOut<'_>) {
    out.push(0x12);
    put_varint(out, link_body_len(l) as u64);
    out.push(0x0a);
    put_varint(out, l.cid.encoded_len() as u64);
    // Writing into a Vec cannot fail.
    let _ = l.cid.write_bytes(&mut *out);
    put_len_field(out, 0x12, l.name.as_bytes());
    out.push(0x18);
    put_varint(out, l.tsize);
}

/// Encodes a dag-pb node: links first (in the given order), then `Data` (kubo's order).
pub(crate) fn encode_node(links: &[LinkOut<'_>], data: &[u8]) -> Vec<u8> {
    let links_len: usize = links
        .iter()
        .map(|l| {
            let b = link_body_len(l);
            1 + varint_len(b as u64) + b
        })
        .sum();
    let mut out = Vec::with_capacity(links_len + 1 + varint_len(data.len() as u64) + data.len());
    for l in links {
        put_link(&mut out, l);
    }
    put_len_field(&mut out, 0x0a, data);
    out
}

/// Encodes a leaf-only dag-pb node whose UnixFS data holds `chunk` (type `File` or `Raw`).
///
/// One allocation, one copy of the chunk.
pub(crate) fn encode_data_leaf(kind: DataType, chunk: &[u8]) -> Vec<u8> {
    let n = chunk.len() as u64;
    let data_field = if chunk.is_empty() {
        0
    } else {
        1 + varint_len(n) + chunk.len()
    };
    let inner_len = 2 + data_field + 1 + varint_len(n);
    let mut out = Vec::with_capacity(1 + varint_len(inner_len as u64) + inner_len);
    out.push(0x0a);
    put_varint(&mut out, inner_len as u64);
    out.push(0x08);
    out.push(kind as u8);
    if !chunk.is_empty() {
        put_len_field(&mut out, 0x12, chunk);
    }
    out.push(0x18);
    put_varint(&mut out, n);
    out
}

/// The UnixFS data of a file branch: `Type=File`, `filesize`, one unpacked `blocksizes` each.
pub(crate) fn file_branch_data(filesize: u64, blocksizes: impl Iterator<Item = u64>) -> Vec<u8> {
    let mut out = vec![0x08, DataType::File as u8, 0x18];
    put_varint(&mut out, filesize);
    for b in blocksizes {
        out.push(0x20);
        put_varint(&mut out, b);
    }
    out
}

/// The UnixFS data of a plain directory (`Type=Directory`, nothing else, as kubo writes it).
pub(crate) const DIRECTORY_DATA: [u8; 2] = [0x08, DataType::Directory as u8];

/// The UnixFS data of a HAMT shard node.
pub(crate) fn hamt_data(bitfield: &[u8], hash_type: u64, fanout: u64) -> Vec<u8> {
    let mut out = vec![0x08, DataType::HamtShard as u8];
    if !bitfield.is_empty() {
        put_len_field(&mut out, 0x12, bitfield);
    }
    out.push(0x28);
    put_varint(&mut out, hash_type);
    out.push(0x30);
    put_varint(&mut out, fanout);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_len_matches_encoding() {
        for v in [0u64, 1, 127, 128, 16383, 16384, u64::MAX] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "{v}");
            let mut p = 0;
            assert_eq!(read_varint(&out, &mut p).unwrap(), v);
        }
    }

    #[test]
    fn empty_file_leaf_is_kubos() {
        // kubo's empty file node: QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH.
        assert_eq!(
            encode_data_leaf(DataType::File, b""),
            [0x0a, 4, 8, 2, 0x18, 0]
        );
    }

    #[test]
    fn leaf_roundtrip() {
        let enc = Bytes::from(encode_data_leaf(DataType::File, b"hello"));
        let node = PbNode::decode(&enc).unwrap();
        assert!(node.links.is_empty());
        let fs = unixfs_data(&node).unwrap();
        assert_eq!(fs.kind, DataType::File);
        assert_eq!(&fs.data[..], b"hello");
        assert_eq!(fs.filesize, Some(5));
    }

    #[test]
    fn rejects_garbage() {
        for bad in [
            &[0x0a, 0x05, 1][..],
            &[0xff][..],
            &[0x0b][..],
            &[0x12, 0x02, 0x0a, 0x00][..],
        ] {
            assert!(
                PbNode::decode(&Bytes::copy_from_slice(bad)).is_err(),
                "{bad:?}"
            );
        }
    }
}
