//! Errors of starting the network and of the commands sent to it.

use cid::Cid;
use libp2p::{Multiaddr, PeerId};
use thiserror::Error;

/// Why the network could not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StartError {
    /// The transport stack (TCP, QUIC, DNS) could not be built.
    #[error("building the libp2p transport failed: {0}")]
    Transport(String),
    /// A listen address was rejected by every transport.
    #[error("cannot listen on {addr}: {reason}")]
    Listen {
        /// The address.
        addr: Multiaddr,
        /// The transport's error.
        reason: String,
    },
    /// A bootstrap address does not end in `/p2p/<peer id>`.
    #[error("bootstrap address {addr} does not end in /p2p/<peer id>")]
    BootstrapAddress {
        /// The address.
        addr: Multiaddr,
    },
    /// A peering address does not end in `/p2p/<peer id>`.
    #[error("peering address {addr} does not end in /p2p/<peer id>")]
    PeeringAddress {
        /// The address.
        addr: Multiaddr,
    },
    /// The persistent provide queue could not be opened.
    #[error(transparent)]
    ProvideQueue(#[from] super::provide_queue::QueueOpenError),
    /// No listener came up (every one failed while binding).
    #[error("no listen address could be bound: {0}")]
    NoListener(String),
}

/// Why a command to the network failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CommandError {
    /// The network actor has stopped (shut down, or its task ended).
    #[error("the network is not running")]
    Stopped,
    /// Dialing failed.
    #[error("connecting to {target} failed: {reason}")]
    Dial {
        /// The address or peer dialed.
        target: String,
        /// The swarm's error.
        reason: String,
    },
    /// Providing needs at least one DHT peer; the record is kept locally and served to
    /// peers that ask, but nobody was told.
    #[error("cannot announce {cid}: no DHT peers known (the record is kept locally)")]
    NoDhtPeers {
        /// The CID.
        cid: Cid,
    },
    /// The DHT's local provider store refused the record (it is full).
    #[error("cannot provide {cid}: {reason}")]
    ProviderStore {
        /// The CID.
        cid: Cid,
        /// The store's error.
        reason: String,
    },
    /// The provider announcement timed out before reaching any peer.
    #[error("announcing {cid} timed out")]
    ProvideTimeout {
        /// The CID.
        cid: Cid,
    },
    /// No DHT lookup found the peer.
    #[error("peer {peer} not found")]
    PeerNotFound {
        /// The peer.
        peer: PeerId,
    },
    /// The peer is not connected.
    #[error("peer {peer} is not connected")]
    NotConnected {
        /// The peer.
        peer: PeerId,
    },
    /// The node runs without a DHT (routing `none`), so it cannot announce or look up.
    #[error("routing is disabled (no DHT): cannot {what}")]
    RoutingDisabled {
        /// What was asked, e.g. `provide <cid>`.
        what: String,
    },
}
