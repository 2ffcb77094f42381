//! What the network tells its subscribers.

use cid::Cid;
use libp2p::PeerId;

/// A notable change in the network, broadcast to every
/// [`subscribe`](super::NetworkHandle::subscribe)r.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NetworkEvent {
    /// The first connection to `peer` opened.
    PeerConnected {
        /// The remote peer.
        peer: PeerId,
    },
    /// The last connection to `peer` closed.
    PeerDisconnected {
        /// The remote peer.
        peer: PeerId,
    },
    /// `peer` told us who it is; its listen addresses are now in the DHT routing table
    /// (if it speaks the DHT).
    PeerIdentified {
        /// The remote peer.
        peer: PeerId,
        /// Its agent version, e.g. `kubo/0.22.0/`.
        agent_version: String,
    },
    /// `peer` asked us for these CIDs.
    WantsReceived {
        /// The remote peer.
        peer: PeerId,
        /// The CIDs, in wire order.
        cids: Vec<Cid>,
    },
    /// `peer` withdrew these wants (CANCEL or a full wantlist without them).
    WantsCancelled {
        /// The remote peer.
        peer: PeerId,
        /// The CIDs.
        cids: Vec<Cid>,
    },
    /// A peer announced itself as a provider to us (we store the record and answer
    /// lookups with it).
    ProviderAnnounced {
        /// The announcing peer.
        provider: PeerId,
        /// What it provides.
        multihash: chorus_storage::Multihash,
    },
    /// AutoNAT changed its verdict on whether this node is reachable.
    NatStatusChanged {
        /// The new verdict.
        status: super::NatStatus,
    },
    /// An AutoNAT probe finished: one we asked `peer` for (`asked_by_us`), or one `peer`
    /// asked us to run (we dialed it back).
    AutonatProbe {
        /// The other side (`None` when no peer could be asked).
        peer: Option<PeerId>,
        /// Whether we asked for the probe (client) or ran it (server).
        asked_by_us: bool,
        /// The address reached, or why not.
        outcome: super::ProbeOutcome,
    },
    /// A block we wanted arrived from `peer` (verified).
    BlockReceived {
        /// Who sent it.
        peer: PeerId,
        /// The block's CID.
        cid: Cid,
    },
}
