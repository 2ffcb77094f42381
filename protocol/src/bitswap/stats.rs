//! Running counters of a [`Behaviour`](super::Behaviour), for the node's metrics.
//!
//! The protocol crate stays free of a metrics dependency: the node reads
//! [`Behaviour::stats`](super::Behaviour::stats) when Prometheus scrapes and exports the
//! values as counters of its own registry.

/// Counters since the behaviour was created. "Sent" counts what was queued for sending.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Wanted blocks received (one per block, even if it satisfied several CIDs).
    pub blocks_received: u64,
    /// Bytes of those blocks.
    pub block_bytes_received: u64,
    /// Blocks received for wants already satisfied or cancelled.
    pub duplicate_blocks: u64,
    /// Blocks nobody asked for, including corrupt ones.
    pub unrequested_blocks: u64,
    /// HAVE answers received.
    pub haves_received: u64,
    /// DONT_HAVE answers received.
    pub dont_haves_received: u64,
    /// Blocks sent.
    pub blocks_sent: u64,
    /// Bytes of those blocks.
    pub block_bytes_sent: u64,
    /// HAVE answers sent.
    pub haves_sent: u64,
    /// DONT_HAVE answers sent.
    pub dont_haves_sent: u64,
    /// Wantlist entries received (added or updated).
    pub wants_received: u64,
    /// Wants withdrawn by peers (explicit CANCEL or dropped from a full wantlist).
    pub cancels_received: u64,
    /// Frames rejected whole (oversized or not protobuf).
    pub malformed_frames: u64,
    /// Items rejected from otherwise readable messages.
    pub invalid_items: u64,
    /// Wants ignored because the peer's wantlist was at its bound.
    pub wants_ignored: u64,
}
