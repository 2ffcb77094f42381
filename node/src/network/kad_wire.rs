//! The Kademlia wire facts chorus relies on, in one place: the two DHTs' protocols, the
//! replication factor, the message bound and the message type the reprovider writes itself.
//! `behaviour.rs` configures rust-libp2p's Kademlia from these, and the reprovider
//! (`reprovide/`) speaks the same numbers on its own streams.

use libp2p::StreamProtocol;

/// The public IPFS DHT protocol (Amino).
pub const KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/ipfs/kad/1.0.0");

/// The LAN DHT protocol kubo serves to peers on private and loopback addresses.
pub const LAN_KAD_PROTOCOL: StreamProtocol = StreamProtocol::new("/ipfs/lan/kad/1.0.0");

/// Kademlia's replication factor K: each provider record goes to the K closest peers of its
/// key (the IPFS DHT's 20; rust-libp2p's `K_VALUE`).
pub const REPLICATION: usize = 20;

/// The largest DHT message read or written: 16 KiB, rust-libp2p's default `max_packet_size`
/// and what go-libp2p-kad-dht accepts. A record larger than that (an absurd address list) is
/// not sent.
pub const MAX_MESSAGE_BYTES: usize = 16 * 1024;

/// The `MessageType` value of ADD_PROVIDER in the DHT protobuf (`dht.pb`).
pub const ADD_PROVIDER: u64 = 2;

/// One of the node's two DHTs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Dht {
    /// The public DHT, [`KAD_PROTOCOL`].
    Wan,
    /// kubo's LAN DHT, [`LAN_KAD_PROTOCOL`].
    Lan,
}

impl Dht {
    /// Both, public first.
    pub(crate) const ALL: [Dht; 2] = [Dht::Wan, Dht::Lan];

    /// The protocol this DHT speaks.
    pub(crate) fn protocol(self) -> StreamProtocol {
        match self {
            Dht::Wan => KAD_PROTOCOL,
            Dht::Lan => LAN_KAD_PROTOCOL,
        }
    }
}
