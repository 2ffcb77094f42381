//! What the behaviour reports to the node, and the server work it hands out.

use chorus_storage::Block;
use cid::Cid;
use libp2p::PeerId;
use thiserror::Error;

use super::message::{InvalidItem, WantEntry, WantType};

/// An event of [`Behaviour`](super::Behaviour).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Event {
    /// Server side: `peer` added or updated these wants. Answer with
    /// [`send_block`](super::Behaviour::send_block) /
    /// [`send_presence`](super::Behaviour::send_presence), directly or via the fair queue
    /// ([`next_task`](super::Behaviour::next_task)).
    Wants {
        /// The remote peer.
        peer: PeerId,
        /// The wants, in wire order.
        wants: Vec<WantEntry>,
    },
    /// Server side: `peer`'s connection drained below
    /// [`Config::max_outstanding_bytes`](super::Config) while it still has wants queued:
    /// pull [`next_task`](super::Behaviour::next_task) again.
    TasksAvailable {
        /// The remote peer.
        peer: PeerId,
    },
    /// Server side: `peer` no longer wants these (explicit CANCEL or a full wantlist without
    /// them); pending answers for them are dropped by the behaviour.
    Cancelled {
        /// The remote peer.
        peer: PeerId,
        /// The CIDs withdrawn.
        cids: Vec<Cid>,
    },
    /// Client side: a wanted block arrived, verified. The want is removed and CANCEL sent to
    /// every other peer asked.
    Block {
        /// Who sent it.
        peer: PeerId,
        /// The block, under the CID that was wanted.
        block: Block,
    },
    /// Client side: `peer` has a wanted block.
    Have {
        /// The remote peer.
        peer: PeerId,
        /// The CID.
        cid: Cid,
    },
    /// Client side: `peer` does not have a wanted block.
    DontHave {
        /// The remote peer.
        peer: PeerId,
        /// The CID.
        cid: Cid,
    },
    /// A peer's outbound Bitswap stream is up; its version is known from now on.
    PeerReady {
        /// The remote peer.
        peer: PeerId,
        /// Negotiated version.
        version: super::Version,
    },
    /// A peer does not speak Bitswap; it was removed from every want.
    PeerUnsupported {
        /// The remote peer.
        peer: PeerId,
    },
    /// A peer did something wrong; its score rose.
    PeerMisbehaved {
        /// The remote peer.
        peer: PeerId,
        /// What it did.
        reason: Misbehaviour,
        /// Its score now.
        score: u32,
    },
    /// A peer's score reached the ban threshold: its connections are closed and new ones
    /// refused until [`forgive`](super::Behaviour::forgive).
    PeerBanned {
        /// The remote peer.
        peer: PeerId,
    },
}

/// What a peer did wrong.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum Misbehaviour {
    /// A block nobody asked for. Blocks are named by hashing their bytes, so a block whose
    /// bytes do not hash to the CID that was asked for arrives as exactly this.
    #[error(
        "sent block {cid} that was not requested (or whose bytes do not match the CID asked for)"
    )]
    UnrequestedBlock {
        /// The CID its bytes hash to.
        cid: Cid,
    },
    /// An item of a message was invalid.
    #[error("invalid item: {0}")]
    InvalidItem(InvalidItem),
    /// One message carried more new wants than the per-peer bound by more than the bound.
    #[error("wantlist flood: {ignored} wants over the bound of {max} in one message")]
    WantlistFlood {
        /// Wants ignored.
        ignored: usize,
        /// The per-peer bound.
        max: usize,
    },
    /// A whole frame was oversized or not a protobuf message.
    #[error("malformed frame: {reason}")]
    MalformedFrame {
        /// Why.
        reason: String,
    },
}

/// A want to look up, handed out by [`next_task`](super::Behaviour::next_task) in fair order.
///
/// For WANT_HAVE the node need not read the block: if its size (from the blockstore index)
/// is over [`MAX_BLOCK_SIZE_REPLACE_HAVE`](super::protocol::MAX_BLOCK_SIZE_REPLACE_HAVE),
/// answering [`Presence::Have`](super::Presence::Have) is what
/// [`send_block`](super::Behaviour::send_block) would send anyway.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Task {
    /// Who wants it.
    pub peer: PeerId,
    /// What.
    pub cid: Cid,
    /// Block or presence.
    pub want_type: WantType,
    /// Whether a DONT_HAVE is expected if the node lacks it.
    pub send_dont_have: bool,
}
