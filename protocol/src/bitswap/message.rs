//! The typed Bitswap message and its conversion to and from the wire structs.
//!
//! Decoding verifies every block: a block exists in a [`Message`] only as a
//! [`chorus_storage::Block`], whose CID was computed from its own bytes. Items that cannot be
//! turned into valid values are collected in [`Decoded::invalid`] so the caller can penalise
//! the sender without losing the rest of the message.

use bytes::{Buf, Bytes, BytesMut};
use chorus_storage::{Block, BlockError, HashAlg, Multihash, codec};
use cid::{Cid, Version as CidVersion};
use prost::{Message as _, encoding::WireType};
use thiserror::Error;

use super::framing::OutFrame;
use super::pb;
use super::protocol::{MAX_BLOCK_SIZE, MAX_CID_SIZE, Version};

/// Capacity of the buffer that collects a frame's small fields between block payloads;
/// payloads shorter than this are copied into it rather than written as chunks of their own
/// (16 KiB: yamux's default frame split size, below which a separate write gains nothing).
const SMALL_CHUNK_CAPACITY: usize = 16 * 1024;

/// What a want asks the remote peer for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WantType {
    /// The block itself.
    Block,
    /// Only whether the peer has it (Bitswap 1.2.0); tiny blocks are sent instead.
    Have,
}

/// A HAVE or DONT_HAVE answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Presence {
    /// The sender has the block.
    Have,
    /// The sender does not have the block.
    DontHave,
}

/// One wanted CID.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WantEntry {
    /// The CID wanted.
    pub cid: Cid,
    /// Priority; the remote serves higher values first.
    pub priority: i32,
    /// Block or presence.
    pub want_type: WantType,
    /// Whether the remote should answer DONT_HAVE rather than stay silent.
    pub send_dont_have: bool,
}

/// A Bitswap message in chorus' terms.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// Whether `wants` is the sender's whole wantlist (replacing the previous one).
    pub full: bool,
    /// Wants added or updated.
    pub wants: Vec<WantEntry>,
    /// Wants revoked.
    pub cancels: Vec<Cid>,
    /// Verified blocks.
    pub blocks: Vec<Block>,
    /// HAVE / DONT_HAVE answers.
    pub presences: Vec<(Cid, Presence)>,
    /// Bytes the sender still has queued for us.
    pub pending_bytes: i32,
}

/// Parts of a received message that could not be accepted.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InvalidItem {
    /// Bytes that do not parse as a CID, or are longer than [`MAX_CID_SIZE`].
    #[error("invalid CID ({len} bytes) in a {field}")]
    Cid {
        /// Length of the bytes.
        len: usize,
        /// Where it appeared (`wantlist entry`, `block presence`).
        field: &'static str,
    },
    /// A block prefix that does not parse.
    #[error("invalid block prefix ({len} bytes)")]
    Prefix {
        /// Length of the prefix.
        len: usize,
    },
    /// A block larger than [`MAX_BLOCK_SIZE`].
    #[error("block of {len} bytes exceeds the {MAX_BLOCK_SIZE}-byte limit")]
    BlockTooLarge {
        /// Its length.
        len: usize,
    },
    /// A block whose hash function chorus cannot compute, or whose bytes cannot form a valid
    /// CID with the prefix given.
    #[error("block rejected: {reason}")]
    Block {
        /// Why.
        reason: String,
    },
    /// A want type or presence type outside the schema's enum.
    #[error("unknown enum value {value} in a {field}")]
    UnknownEnum {
        /// The value.
        value: i32,
        /// Where it appeared.
        field: &'static str,
    },
}

/// A decoded message plus what had to be dropped from it.
#[derive(Debug, Clone, Default)]
pub struct Decoded {
    /// Everything valid.
    pub message: Message,
    /// Everything rejected, in wire order.
    pub invalid: Vec<InvalidItem>,
}

/// Why a frame could not be decoded at all.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The frame is not a valid protobuf `Message`.
    #[error("malformed bitswap protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
}

impl Message {
    /// Whether the message carries nothing (an empty non-full wantlist counts as nothing).
    pub fn is_empty(&self) -> bool {
        !self.full
            && self.wants.is_empty()
            && self.cancels.is_empty()
            && self.blocks.is_empty()
            && self.presences.is_empty()
    }

    /// Bytes of block data carried.
    pub fn block_bytes(&self) -> usize {
        self.blocks.iter().map(|b| b.data().len()).sum()
    }

    /// An upper estimate of the encoded size, used to keep batched messages under
    /// [`MAX_MESSAGE_SIZE`](super::protocol::MAX_MESSAGE_SIZE) without encoding them twice.
    pub fn estimated_size(&self) -> usize {
        // Per item: CID bytes (at most MAX_CID_SIZE) plus tags, lengths and small varints.
        const PER_ITEM: usize = MAX_CID_SIZE + 16;
        let items = self.wants.len() + self.cancels.len() + self.presences.len();
        let blocks: usize = self.blocks.iter().map(|b| b.data().len() + PER_ITEM).sum();
        16 + items * PER_ITEM + blocks
    }

    /// Encodes for a peer speaking `version`: pre-1.2.0 peers get no presences and WANT_HAVE
    /// becomes WANT_BLOCK; 1.0.0 peers get raw blocks and only CIDs expressible as CIDv0
    /// (anything else is left out, since such a peer could not have asked for it).
    pub fn to_pb(&self, version: Version) -> pb::Message {
        let cid_bytes = |cid: &Cid| -> Option<Vec<u8>> {
            if version.supports_cid_v1() {
                Some(cid.to_bytes())
            } else {
                as_v0(cid).map(|c| c.to_bytes())
            }
        };
        let mut entries = Vec::with_capacity(self.wants.len() + self.cancels.len());
        for want in &self.wants {
            let Some(block) = cid_bytes(&want.cid) else {
                continue;
            };
            let (want_type, send_dont_have) = if version.supports_have() {
                let t = match want.want_type {
                    WantType::Block => pb::WantType::Block,
                    WantType::Have => pb::WantType::Have,
                };
                (t as i32, want.send_dont_have)
            } else {
                (pb::WantType::Block as i32, false)
            };
            entries.push(pb::Entry {
                block,
                priority: want.priority,
                cancel: false,
                want_type,
                send_dont_have,
            });
        }
        for cid in &self.cancels {
            let Some(block) = cid_bytes(cid) else {
                continue;
            };
            entries.push(pb::Entry {
                block,
                priority: 0,
                cancel: true,
                want_type: pb::WantType::Block as i32,
                send_dont_have: false,
            });
        }
        let wantlist = (self.full || !entries.is_empty()).then_some(pb::Wantlist {
            entries,
            full: self.full,
        });
        let mut out = pb::Message {
            wantlist,
            pending_bytes: self.pending_bytes,
            ..Default::default()
        };
        for block in &self.blocks {
            if version.supports_cid_v1() {
                out.payload.push(pb::Block {
                    prefix: prefix_of(block.cid()),
                    data: block.data().clone(),
                });
            } else if as_v0(block.cid()).is_some() {
                out.blocks.push(block.data().clone());
            }
        }
        if version.supports_have() {
            for (cid, presence) in &self.presences {
                let r#type = match presence {
                    Presence::Have => pb::BlockPresenceType::Have,
                    Presence::DontHave => pb::BlockPresenceType::DontHave,
                };
                out.block_presences.push(pb::BlockPresence {
                    cid: cid.to_bytes(),
                    r#type: r#type as i32,
                });
            }
        }
        out
    }

    /// Encodes to the protobuf bytes of one frame (without the length prefix).
    pub fn encode(&self, version: Version) -> Bytes {
        Bytes::from(self.to_pb(version).encode_to_vec())
    }

    /// Encodes one whole frame, length prefix included, as chunks whose large block payloads
    /// share the blocks' buffers: the bytes on the wire are exactly the length-prefixed
    /// [`encode`](Self::encode), but a block is copied only once, into the stream.
    pub(crate) fn encode_frame(&self, version: Version) -> OutFrame {
        let pb = self.to_pb(version);
        let message_len = pb.encoded_len();
        let mut chunks = Vec::with_capacity(1 + 2 * (pb.blocks.len() + pb.payload.len()));
        let mut small = BytesMut::with_capacity(SMALL_CHUNK_CAPACITY);
        prost::encoding::encode_varint(message_len as u64, &mut small);
        if let Some(wl) = &pb.wantlist {
            prost::encoding::message::encode(1, wl, &mut small);
        }
        // A payload shorter than this is copied into the surrounding chunk instead of being
        // written on its own.
        let mut data_chunk = |small: &mut BytesMut, data: &Bytes| {
            if data.len() < SMALL_CHUNK_CAPACITY {
                small.extend_from_slice(data);
            } else {
                chunks.push(small.split().freeze());
                chunks.push(data.clone());
            }
        };
        for data in &pb.blocks {
            // Repeated bytes are written even when empty.
            prost::encoding::encode_key(2, WireType::LengthDelimited, &mut small);
            prost::encoding::encode_varint(data.len() as u64, &mut small);
            data_chunk(&mut small, data);
        }
        for b in &pb.payload {
            prost::encoding::encode_key(3, WireType::LengthDelimited, &mut small);
            prost::encoding::encode_varint(b.encoded_len() as u64, &mut small);
            // Singular proto3 fields are left out when empty, as prost's own encoder does.
            if !b.prefix.is_empty() {
                prost::encoding::bytes::encode(1, &b.prefix, &mut small);
            }
            if !b.data.is_empty() {
                prost::encoding::encode_key(2, WireType::LengthDelimited, &mut small);
                prost::encoding::encode_varint(b.data.len() as u64, &mut small);
                data_chunk(&mut small, &b.data);
            }
        }
        let tail = pb::Message {
            block_presences: pb.block_presences,
            pending_bytes: pb.pending_bytes,
            ..Default::default()
        };
        tail.encode_raw(&mut small);
        chunks.push(small.freeze());
        OutFrame {
            chunks,
            message_len,
        }
    }

    /// Decodes one frame, verifying every block.
    ///
    /// Both block fields are read whatever the negotiated version, as go-bitswap does. Block
    /// bytes are slices of `frame` (no copy) when it is a [`Bytes`].
    pub fn decode(frame: impl Buf) -> Result<Decoded, DecodeError> {
        let pb = pb::Message::decode(frame)?;
        Ok(Message::from_pb(pb))
    }

    /// Converts wire structs, verifying every block and collecting what is invalid.
    pub fn from_pb(pb: pb::Message) -> Decoded {
        let mut out = Decoded::default();
        let msg = &mut out.message;
        let invalid = &mut out.invalid;
        msg.pending_bytes = pb.pending_bytes;
        if let Some(wl) = pb.wantlist {
            msg.full = wl.full;
            for e in wl.entries {
                let Some(cid) = parse_cid(&e.block, "wantlist entry", invalid) else {
                    continue;
                };
                if e.cancel {
                    msg.cancels.push(cid);
                    continue;
                }
                let want_type = match pb::WantType::try_from(e.want_type) {
                    Ok(pb::WantType::Block) => WantType::Block,
                    Ok(pb::WantType::Have) => WantType::Have,
                    Err(_) => {
                        invalid.push(InvalidItem::UnknownEnum {
                            value: e.want_type,
                            field: "wantlist entry",
                        });
                        continue;
                    }
                };
                msg.wants.push(WantEntry {
                    cid,
                    priority: e.priority,
                    want_type,
                    send_dont_have: e.send_dont_have,
                });
            }
        }
        for data in pb.blocks {
            if data.len() > MAX_BLOCK_SIZE {
                invalid.push(InvalidItem::BlockTooLarge { len: data.len() });
                continue;
            }
            match Block::from_data_v0(data) {
                Ok(b) => msg.blocks.push(b),
                Err(e) => invalid.push(InvalidItem::Block {
                    reason: e.to_string(),
                }),
            }
        }
        for b in pb.payload {
            if b.data.len() > MAX_BLOCK_SIZE {
                invalid.push(InvalidItem::BlockTooLarge { len: b.data.len() });
                continue;
            }
            let Some(prefix) = Prefix::parse(&b.prefix) else {
                invalid.push(InvalidItem::Prefix {
                    len: b.prefix.len(),
                });
                continue;
            };
            match prefix.block(b.data) {
                Ok(block) => msg.blocks.push(block),
                Err(reason) => invalid.push(InvalidItem::Block { reason }),
            }
        }
        for p in pb.block_presences {
            let Some(cid) = parse_cid(&p.cid, "block presence", invalid) else {
                continue;
            };
            let presence = match pb::BlockPresenceType::try_from(p.r#type) {
                Ok(pb::BlockPresenceType::Have) => Presence::Have,
                Ok(pb::BlockPresenceType::DontHave) => Presence::DontHave,
                Err(_) => {
                    invalid.push(InvalidItem::UnknownEnum {
                        value: p.r#type,
                        field: "block presence",
                    });
                    continue;
                }
            };
            msg.presences.push((cid, presence));
        }
        out
    }
}

/// Parses CID bytes from the wire, recording failures.
fn parse_cid(bytes: &[u8], field: &'static str, invalid: &mut Vec<InvalidItem>) -> Option<Cid> {
    let parsed = if bytes.len() > MAX_CID_SIZE {
        None
    } else {
        Cid::try_from(bytes).ok()
    };
    if parsed.is_none() {
        invalid.push(InvalidItem::Cid {
            len: bytes.len(),
            field,
        });
    }
    parsed
}

/// The CIDv0 form of `cid`, if it has one (dag-pb with a 32-byte sha2-256 digest).
pub fn as_v0(cid: &Cid) -> Option<Cid> {
    if cid.version() == CidVersion::V0 {
        return Some(*cid);
    }
    if cid.codec() != codec::DAG_PB {
        return None;
    }
    Cid::new_v0(*cid.hash()).ok()
}

/// The 1.1.0 block prefix of `cid`: version, codec, multihash code and digest length.
pub fn prefix_of(cid: &Cid) -> Vec<u8> {
    let version: u64 = match cid.version() {
        CidVersion::V0 => 0,
        CidVersion::V1 => 1,
    };
    let mut out = Vec::with_capacity(12);
    for n in [
        version,
        cid.codec(),
        cid.hash().code(),
        u64::from(cid.hash().size()),
    ] {
        let mut buf = unsigned_varint::encode::u64_buffer();
        out.extend_from_slice(unsigned_varint::encode::u64(n, &mut buf));
    }
    out
}

/// A parsed 1.1.0 block prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Prefix {
    version: u64,
    codec: u64,
    mh_code: u64,
    mh_len: u64,
}

impl Prefix {
    fn parse(bytes: &[u8]) -> Option<Prefix> {
        let (version, rest) = unsigned_varint::decode::u64(bytes).ok()?;
        let (codec, rest) = unsigned_varint::decode::u64(rest).ok()?;
        let (mh_code, rest) = unsigned_varint::decode::u64(rest).ok()?;
        let (mh_len, rest) = unsigned_varint::decode::u64(rest).ok()?;
        rest.is_empty().then_some(Prefix {
            version,
            codec,
            mh_code,
            mh_len,
        })
    }

    /// Hashes `data` as the prefix says and returns the block under the resulting CID.
    fn block(self, data: Bytes) -> Result<Block, String> {
        let alg = HashAlg::from_code(self.mh_code)
            .ok_or_else(|| format!("unsupported hash function 0x{:x}", self.mh_code))?;
        let full = Block::from_data(self.codec, alg, data).map_err(|e| e.to_string())?;
        let digest_len = full.cid().hash().size();
        let mh_len = u8::try_from(self.mh_len)
            .ok()
            .filter(|len| *len > 0 && *len <= digest_len)
            .ok_or_else(|| format!("digest length {} for 0x{:x}", self.mh_len, self.mh_code))?;
        let mh = if mh_len == digest_len {
            *full.cid().hash()
        } else {
            let digest = &full.cid().hash().digest()[..usize::from(mh_len)];
            Multihash::wrap(self.mh_code, digest).map_err(|e| e.to_string())?
        };
        let cid = match self.version {
            0 if self.codec == codec::DAG_PB => Cid::new_v0(mh).map_err(|e| e.to_string())?,
            1 => Cid::new_v1(self.codec, mh),
            v => return Err(format!("CID version {v} with codec 0x{:x}", self.codec)),
        };
        full.with_cid(cid).map_err(|e: BlockError| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw_block(data: &[u8]) -> Block {
        Block::from_data(codec::RAW, HashAlg::Sha2_256, data.to_vec()).unwrap()
    }

    /// sha2-256("hello").
    const HELLO_SHA256: [u8; 32] = [
        0x2c, 0xf2, 0x4d, 0xba, 0x5f, 0xb0, 0xa3, 0x0e, 0x26, 0xe8, 0x3b, 0x2a, 0xc5, 0xb9, 0xe2,
        0x9e, 0x1b, 0x16, 0x1e, 0x5c, 0x1f, 0xa7, 0x42, 0x5e, 0x73, 0x04, 0x33, 0x62, 0x93, 0x8b,
        0x98, 0x24,
    ];

    /// CIDv1 raw sha2-256 of "hello", as bytes.
    fn hello_cid_bytes() -> Vec<u8> {
        let mut v = vec![0x01, 0x55, 0x12, 0x20];
        v.extend_from_slice(&HELLO_SHA256);
        v
    }

    /// A message encoded by hand, field by field, from the schema:
    /// wantlist{entries[{block, priority 1, wantType Have, sendDontHave}], full},
    /// payload[{prefix 01 55 12 20, data "hello"}], blockPresences[{cid, DontHave}].
    fn fixture() -> Vec<u8> {
        let cid = hello_cid_bytes();
        let mut entry = vec![0x0a, 36];
        entry.extend_from_slice(&cid);
        entry.extend_from_slice(&[0x10, 0x01, 0x20, 0x01, 0x28, 0x01]);
        assert_eq!(entry.len(), 44);
        let mut wantlist = vec![0x0a, 44];
        wantlist.extend_from_slice(&entry);
        wantlist.extend_from_slice(&[0x10, 0x01]);
        assert_eq!(wantlist.len(), 48);
        let payload_block = [
            0x0a, 0x04, 0x01, 0x55, 0x12, 0x20, 0x12, 0x05, b'h', b'e', b'l', b'l', b'o',
        ];
        let mut presence = vec![0x0a, 36];
        presence.extend_from_slice(&cid);
        presence.extend_from_slice(&[0x10, 0x01]);
        let mut msg = vec![0x0a, 48];
        msg.extend_from_slice(&wantlist);
        msg.extend_from_slice(&[0x1a, 13]);
        msg.extend_from_slice(&payload_block);
        msg.extend_from_slice(&[0x22, 40]);
        msg.extend_from_slice(&presence);
        msg
    }

    fn fixture_message() -> Message {
        let cid = Cid::try_from(hello_cid_bytes()).unwrap();
        Message {
            full: true,
            wants: vec![WantEntry {
                cid,
                priority: 1,
                want_type: WantType::Have,
                send_dont_have: true,
            }],
            blocks: vec![raw_block(b"hello")],
            presences: vec![(cid, Presence::DontHave)],
            ..Default::default()
        }
    }

    #[test]
    fn hand_encoded_fixture_decodes() {
        let decoded = Message::decode(&fixture()[..]).unwrap();
        assert!(decoded.invalid.is_empty(), "{:?}", decoded.invalid);
        assert_eq!(decoded.message, fixture_message());
    }

    #[test]
    fn encoding_matches_the_hand_encoded_fixture() {
        assert_eq!(
            fixture_message().encode(Version::V1_2_0).to_vec(),
            fixture()
        );
    }

    #[test]
    fn every_item_kind_round_trips_in_1_2_0() {
        let v0 = Block::from_data_v0(b"node".to_vec()).unwrap();
        let raw = raw_block(b"leaf");
        let msg = Message {
            full: false,
            wants: vec![
                WantEntry {
                    cid: *raw.cid(),
                    priority: 7,
                    want_type: WantType::Block,
                    send_dont_have: false,
                },
                WantEntry {
                    cid: *v0.cid(),
                    priority: 3,
                    want_type: WantType::Have,
                    send_dont_have: true,
                },
            ],
            cancels: vec![*raw_block(b"gone").cid()],
            blocks: vec![v0.clone(), raw.clone()],
            presences: vec![
                (*v0.cid(), Presence::Have),
                (*raw.cid(), Presence::DontHave),
            ],
            pending_bytes: 42,
        };
        let decoded = Message::decode(msg.encode(Version::V1_2_0)).unwrap();
        assert!(decoded.invalid.is_empty());
        assert_eq!(decoded.message, msg);
    }

    #[test]
    fn version_1_1_0_drops_presences_and_want_have() {
        let raw = raw_block(b"leaf");
        let msg = Message {
            wants: vec![WantEntry {
                cid: *raw.cid(),
                priority: 1,
                want_type: WantType::Have,
                send_dont_have: true,
            }],
            blocks: vec![raw.clone()],
            presences: vec![(*raw.cid(), Presence::Have)],
            ..Default::default()
        };
        let pb = msg.to_pb(Version::V1_1_0);
        assert!(pb.block_presences.is_empty());
        assert!(pb.blocks.is_empty());
        assert_eq!(pb.payload.len(), 1);
        let entry = &pb.wantlist.as_ref().unwrap().entries[0];
        assert_eq!(entry.want_type, pb::WantType::Block as i32);
        assert!(!entry.send_dont_have);
    }

    #[test]
    fn version_1_0_0_sends_raw_cidv0_blocks_only() {
        let v0 = Block::from_data_v0(b"node".to_vec()).unwrap();
        let v1_pb = v0
            .clone()
            .with_cid(Cid::new_v1(codec::DAG_PB, *v0.cid().hash()))
            .unwrap();
        let raw = raw_block(b"leaf");
        let msg = Message {
            wants: vec![
                WantEntry {
                    cid: *v1_pb.cid(),
                    priority: 1,
                    want_type: WantType::Block,
                    send_dont_have: false,
                },
                WantEntry {
                    cid: *raw.cid(),
                    priority: 1,
                    want_type: WantType::Block,
                    send_dont_have: false,
                },
            ],
            blocks: vec![v1_pb, raw],
            ..Default::default()
        };
        let pb = msg.to_pb(Version::V1_0_0);
        assert!(pb.payload.is_empty());
        assert_eq!(pb.blocks, vec![b"node".to_vec()]);
        let entries = &pb.wantlist.as_ref().unwrap().entries;
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].block, v0.cid().to_bytes());
        let decoded = Message::decode(msg.encode(Version::V1_0_0)).unwrap();
        assert_eq!(decoded.message.blocks, vec![v0]);
    }

    #[test]
    fn invalid_items_are_collected_not_fatal() {
        let pb = pb::Message {
            wantlist: Some(pb::Wantlist {
                entries: vec![
                    pb::Entry {
                        block: vec![0xff, 0x00],
                        ..Default::default()
                    },
                    pb::Entry {
                        block: hello_cid_bytes(),
                        want_type: 9,
                        ..Default::default()
                    },
                    pb::Entry {
                        block: hello_cid_bytes(),
                        priority: 1,
                        ..Default::default()
                    },
                ],
                full: false,
            }),
            blocks: vec![vec![0u8; MAX_BLOCK_SIZE + 1].into()],
            payload: vec![pb::Block {
                prefix: vec![0x01],
                data: Bytes::from_static(b"x"),
            }],
            block_presences: vec![pb::BlockPresence {
                cid: vec![0u8; MAX_CID_SIZE + 1],
                r#type: 0,
            }],
            pending_bytes: 0,
        };
        let decoded = Message::decode(&pb.encode_to_vec()[..]).unwrap();
        assert_eq!(decoded.message.wants.len(), 1);
        assert_eq!(decoded.invalid.len(), 5, "{:?}", decoded.invalid);
        assert!(matches!(
            decoded.invalid[2],
            InvalidItem::BlockTooLarge { .. }
        ));
    }

    /// The length prefix of `len`, as `UviBytes` writes it.
    fn uvi(len: usize) -> Vec<u8> {
        let mut buf = unsigned_varint::encode::usize_buffer();
        unsigned_varint::encode::usize(len, &mut buf).to_vec()
    }

    #[test]
    fn chunked_frame_is_the_length_prefixed_encoding() {
        let mut expected = uvi(fixture().len());
        expected.extend(fixture());
        let frame = fixture_message().encode_frame(Version::V1_2_0);
        assert_eq!(frame.to_vec(), expected);
        assert_eq!(frame.message_len, fixture().len());
        // A large payload travels as its own chunk, sharing the block's buffer.
        let big = raw_block(&vec![9u8; 3 * SMALL_CHUNK_CAPACITY]);
        let msg = Message {
            blocks: vec![big.clone()],
            ..Default::default()
        };
        let frame = msg.encode_frame(Version::V1_2_0);
        assert!(
            frame
                .chunks
                .iter()
                .any(|c| c.as_ptr() == big.data().as_ptr())
        );
        let decoded = Message::decode(&frame.to_vec()[uvi(frame.message_len).len()..]).unwrap();
        assert_eq!(decoded.message.blocks, vec![big]);
    }

    #[test]
    fn decoding_a_frame_slices_block_bytes_out_of_it() {
        let big = raw_block(&vec![3u8; 100_000]);
        let frame = Message {
            blocks: vec![big.clone()],
            ..Default::default()
        }
        .encode(Version::V1_2_0);
        let range = frame.as_ptr_range();
        let decoded = Message::decode(frame.clone()).unwrap();
        let got = decoded.message.blocks[0].data();
        assert!(range.contains(&got.as_ptr()), "block bytes were copied");
        assert_eq!(decoded.message.blocks, vec![big]);
    }

    #[test]
    fn garbage_is_a_decode_error() {
        assert!(Message::decode(&[0x0a, 0x7f, 0x01][..]).is_err());
        assert!(Message::decode(&[0xff, 0xff, 0xff][..]).is_err());
    }

    proptest::proptest! {
        /// Any bytes at all decode to a message or an error, never a panic.
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(0u8.., 0..512)) {
            let _ = Message::decode(&bytes[..]);
        }

        /// Random messages survive encode/decode in 1.2.0 unchanged.
        #[test]
        fn random_messages_round_trip(
            seeds in proptest::collection::vec(proptest::collection::vec(0u8.., 0..64), 0..6),
            priorities in proptest::collection::vec(proptest::num::i32::ANY, 6),
            flags in proptest::collection::vec(0u8..8, 6),
            full in proptest::bool::ANY,
        ) {
            let blocks: Vec<Block> = seeds.iter().map(|d| raw_block(d)).collect();
            let mut msg = Message { full, ..Default::default() };
            for (i, b) in blocks.iter().enumerate() {
                let f = flags[i];
                if f & 1 == 1 {
                    msg.cancels.push(*b.cid());
                } else {
                    msg.wants.push(WantEntry {
                        cid: *b.cid(),
                        priority: priorities[i],
                        want_type: if f & 2 == 2 { WantType::Have } else { WantType::Block },
                        send_dont_have: f & 4 == 4,
                    });
                }
                if f & 2 == 0 {
                    msg.blocks.push(b.clone());
                }
                if f & 4 == 0 {
                    let p = if f & 1 == 1 { Presence::Have } else { Presence::DontHave };
                    msg.presences.push((*b.cid(), p));
                }
            }
            let decoded = Message::decode(msg.encode(Version::V1_2_0)).unwrap();
            proptest::prop_assert!(decoded.invalid.is_empty());
            proptest::prop_assert_eq!(&decoded.message, &msg);
        }

        /// The chunked frame is byte for byte the length-prefixed protobuf encoding, in every
        /// version, whatever the block sizes (empty, small, and large enough to be chunks).
        #[test]
        fn chunked_frames_match_prost(
            sizes in proptest::collection::vec(
                proptest::prop_oneof![0usize..4, 0usize..100, 16_000usize..40_000], 0..5),
            presences in proptest::bool::ANY,
            pending in proptest::num::i32::ANY,
        ) {
            let mut msg = Message { pending_bytes: pending, ..Default::default() };
            for (i, n) in sizes.iter().enumerate() {
                let v0 = Block::from_data_v0(vec![i as u8; *n]).unwrap();
                let b = if i % 2 == 0 { v0 } else { raw_block(&vec![i as u8; *n]) };
                if presences {
                    msg.presences.push((*b.cid(), Presence::Have));
                    msg.wants.push(WantEntry {
                        cid: *b.cid(),
                        priority: i as i32,
                        want_type: WantType::Have,
                        send_dont_have: true,
                    });
                }
                msg.blocks.push(b);
            }
            for version in [Version::V1_0_0, Version::V1_1_0, Version::V1_2_0] {
                let encoded = msg.encode(version);
                let mut expected = uvi(encoded.len());
                expected.extend_from_slice(&encoded);
                let frame = msg.encode_frame(version);
                proptest::prop_assert_eq!(frame.message_len, encoded.len());
                proptest::prop_assert_eq!(frame.to_vec(), expected);
            }
        }
    }

    #[test]
    fn prefix_round_trips_and_rebuilds_the_cid() {
        let b = raw_block(b"hello");
        let p = Prefix::parse(&prefix_of(b.cid())).unwrap();
        assert_eq!(p.version, 1);
        assert_eq!(p.codec, codec::RAW);
        assert_eq!(p.mh_code, 0x12);
        assert_eq!(p.mh_len, 32);
        assert_eq!(p.block(Bytes::from_static(b"hello")).unwrap(), b);
        let v0 = Block::from_data_v0(b"node".to_vec()).unwrap();
        assert_eq!(prefix_of(v0.cid()), vec![0, 0x70, 0x12, 32]);
        let rebuilt = Prefix::parse(&[0, 0x70, 0x12, 32])
            .unwrap()
            .block(Bytes::from_static(b"node"));
        assert_eq!(rebuilt.unwrap(), v0);
    }

    #[test]
    fn bad_prefixes_are_rejected() {
        assert!(Prefix::parse(&[1, 0x55]).is_none());
        assert!(Prefix::parse(&[1, 0x55, 0x12, 32, 7]).is_none());
        let unsupported = Prefix::parse(&[1, 0x55, 0x13, 64]).unwrap();
        assert!(unsupported.block(Bytes::from_static(b"x")).is_err());
        let too_long = Prefix::parse(&[1, 0x55, 0x12, 33]).unwrap();
        assert!(too_long.block(Bytes::from_static(b"x")).is_err());
        let v0_raw = Prefix::parse(&[0, 0x55, 0x12, 32]).unwrap();
        assert!(v0_raw.block(Bytes::from_static(b"x")).is_err());
    }

    #[test]
    fn v1_dag_pb_cids_have_a_v0_form() {
        let v0 = Block::from_data_v0(b"node".to_vec()).unwrap();
        let v1 = Cid::new_v1(codec::DAG_PB, *v0.cid().hash());
        assert_eq!(as_v0(&v1), Some(*v0.cid()));
        assert_eq!(as_v0(raw_block(b"x").cid()), None);
    }
}
