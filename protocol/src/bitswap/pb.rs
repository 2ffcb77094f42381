//! Protobuf structs of the Bitswap wire message, written by hand with `prost` derives.
//!
//! They mirror boxo's `bitswap/message/pb/message.proto` field for field (numbers, types and
//! enum values); there is no `protoc` on the build machines, so nothing is generated at build
//! time. Keep every tag identical to the upstream schema: kubo and Helia decode these bytes.

/// The single top-level message exchanged on a Bitswap stream.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Message {
    /// Wants and cancels of the sender.
    #[prost(message, optional, tag = "1")]
    pub wantlist: Option<Wantlist>,
    /// Raw block data, Bitswap 1.0.0 only (the CIDv0 is recomputed from the bytes).
    /// `Bytes` so decoding from a frame slices it instead of copying each block.
    #[prost(bytes = "bytes", repeated, tag = "2")]
    pub blocks: Vec<bytes::Bytes>,
    /// Blocks with their CID prefix, Bitswap 1.1.0 and later.
    #[prost(message, repeated, tag = "3")]
    pub payload: Vec<Block>,
    /// HAVE / DONT_HAVE answers, Bitswap 1.2.0.
    #[prost(message, repeated, tag = "4")]
    pub block_presences: Vec<BlockPresence>,
    /// Bytes the sender still has queued for the receiver (informational).
    #[prost(int32, tag = "5")]
    pub pending_bytes: i32,
}

/// A list of wantlist changes, or the whole wantlist when `full` is set.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Wantlist {
    /// The entries.
    #[prost(message, repeated, tag = "1")]
    pub entries: Vec<Entry>,
    /// Whether `entries` replaces the receiver's view of the sender's wantlist.
    #[prost(bool, tag = "2")]
    pub full: bool,
}

/// One wantlist entry.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Entry {
    /// CID bytes (CIDv0 in 1.0.0, any version afterwards).
    #[prost(bytes = "vec", tag = "1")]
    pub block: Vec<u8>,
    /// Priority, higher first; go-bitswap defaults to 1.
    #[prost(int32, tag = "2")]
    pub priority: i32,
    /// Whether this entry revokes an earlier want.
    #[prost(bool, tag = "3")]
    pub cancel: bool,
    /// [`WantType`]; 0 (`Block`) when absent, which is how pre-1.2.0 peers are read.
    #[prost(enumeration = "WantType", tag = "4")]
    pub want_type: i32,
    /// Ask for an explicit DONT_HAVE instead of silence (1.2.0).
    #[prost(bool, tag = "5")]
    pub send_dont_have: bool,
}

/// What an [`Entry`] asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum WantType {
    /// Send the block.
    Block = 0,
    /// Say whether you have it (or send it if tiny).
    Have = 1,
}

/// A block of Bitswap 1.1.0+: the CID prefix plus the data it hashes.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Block {
    /// CID version, codec, multihash code and multihash length, each an unsigned varint.
    #[prost(bytes = "vec", tag = "1")]
    pub prefix: Vec<u8>,
    /// The block bytes; `Bytes` so decoding from a frame slices it instead of copying.
    #[prost(bytes = "bytes", tag = "2")]
    pub data: bytes::Bytes,
}

/// Kinds of [`BlockPresence`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Enumeration)]
#[repr(i32)]
pub enum BlockPresenceType {
    /// The sender has the block.
    Have = 0,
    /// The sender does not have the block.
    DontHave = 1,
}

/// A HAVE or DONT_HAVE answer about one CID.
#[derive(Clone, PartialEq, prost::Message)]
pub struct BlockPresence {
    /// CID bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub cid: Vec<u8>,
    /// [`BlockPresenceType`].
    #[prost(enumeration = "BlockPresenceType", tag = "2")]
    pub r#type: i32,
}
