//! The composed libp2p behaviour of a chorus node: connection limits, identify, ping,
//! Kademlia, Bitswap and AutoNAT.

use chorus_protocol::bitswap;
use libp2p::autonat::v1 as autonat;
use libp2p::{
    StreamProtocol, connection_limits, identify,
    identity::Keypair,
    kad, ping, request_response,
    swarm::{NetworkBehaviour, behaviour::toggle::Toggle},
};

use crate::replication::wire::{self, Request, Response};

use super::config::{KadMode, NetworkConfig};
use super::kad_wire::{KAD_PROTOCOL, LAN_KAD_PROTOCOL, MAX_MESSAGE_BYTES, REPLICATION};

/// Provider keys each DHT's in-memory store holds at once: our own announced roots and the
/// records peers send us (rust-libp2p counts both against this bound). rust-libp2p's default
/// is 1,024 (design.md §5); 65,536 keys cost a few MiB. Republishing our keys is the
/// reprovider's job (kad's own 12 h republish is off), which reads the blockstore, not this
/// store, so providing every block of a large library is not bounded by it.
pub const MAX_PROVIDED_KEYS: usize = 65_536;

/// The `ProtocolVersion` identify announces, as kubo does.
pub const IDENTIFY_PROTOCOL_VERSION: &str = "ipfs/0.1.0";

/// Every protocol the node's behaviours speak.
#[derive(NetworkBehaviour)]
pub(crate) struct ChorusBehaviour {
    pub(crate) limits: connection_limits::Behaviour,
    pub(crate) identify: identify::Behaviour,
    pub(crate) ping: ping::Behaviour,
    /// The public DHT; off with [`KadMode::Disabled`].
    pub(crate) kad: Toggle<kad::Behaviour<kad::store::MemoryStore>>,
    pub(crate) lan_kad: Toggle<kad::Behaviour<kad::store::MemoryStore>>,
    pub(crate) bitswap: bitswap::Behaviour,
    /// AutoNAT v1, client and server; off when configured so.
    pub(crate) autonat: Toggle<autonat::Behaviour>,
    /// Outbound streams of our own on the DHT protocols (the reprovider's ADD_PROVIDER
    /// batches); accepts nothing inbound.
    pub(crate) stream: libp2p_stream::Behaviour,
    /// `/chorus/replicate/1.0.0`; on only when the node replicates.
    pub(crate) replication: Toggle<request_response::cbor::Behaviour<Request, Response>>,
}

impl ChorusBehaviour {
    /// Builds every behaviour for `key` from `config`.
    pub(crate) fn new(key: &Keypair, config: &NetworkConfig) -> Self {
        let peer_id = key.public().to_peer_id();
        let limits = connection_limits::ConnectionLimits::default()
            .with_max_established(Some(config.max_connections))
            .with_max_established_per_peer(Some(config.max_connections_per_peer))
            .with_max_pending_incoming(Some(config.max_pending_connections))
            .with_max_pending_outgoing(Some(config.max_pending_connections));
        let identify = identify::Behaviour::new(
            identify::Config::new(IDENTIFY_PROTOCOL_VERSION.to_owned(), key.public())
                .with_agent_version(config.agent_version.clone()),
        );
        let dht = config.kad_mode != KadMode::Disabled;
        let mode = match config.kad_mode {
            KadMode::Auto | KadMode::Disabled => None,
            KadMode::Client => Some(kad::Mode::Client),
            KadMode::Server => Some(kad::Mode::Server),
        };
        let kad = dht.then(|| new_kad(peer_id, KAD_PROTOCOL, mode));
        // kubo's LAN DHT serves from the start (no reachability check on a LAN).
        let lan_mode = match config.kad_mode {
            KadMode::Client => Some(kad::Mode::Client),
            KadMode::Auto | KadMode::Server | KadMode::Disabled => Some(kad::Mode::Server),
        };
        let lan_kad = (dht && config.lan_dht).then(|| new_kad(peer_id, LAN_KAD_PROTOCOL, lan_mode));
        ChorusBehaviour {
            limits: connection_limits::Behaviour::new(limits),
            identify,
            ping: ping::Behaviour::default(),
            kad: kad.into(),
            lan_kad: lan_kad.into(),
            bitswap: bitswap::Behaviour::new(bitswap::Config::default()),
            autonat: config
                .autonat
                .enabled
                .then(|| config.autonat.behaviour(peer_id))
                .into(),
            stream: libp2p_stream::Behaviour::new(),
            replication: config
                .replication
                .as_ref()
                .map(|r| {
                    request_response::Behaviour::with_codec(
                        wire::codec(),
                        [(wire::PROTOCOL, request_response::ProtocolSupport::Full)],
                        request_response::Config::default().with_request_timeout(r.request_timeout),
                    )
                })
                .into(),
        }
    }

    /// The protocol names the node speaks, for `/api/v0/id`.
    pub(crate) fn protocols(&self) -> Vec<String> {
        let mut protocols: Vec<String> = bitswap::Config::default()
            .protocols
            .iter()
            .map(|p| p.to_string())
            .collect();
        if let Some(kad) = self.kad.as_ref() {
            protocols.extend(kad.protocol_names().iter().map(|p| p.to_string()));
        }
        if let Some(lan) = self.lan_kad.as_ref() {
            protocols.extend(lan.protocol_names().iter().map(|p| p.to_string()));
        }
        if self.autonat.is_enabled() {
            protocols.push(autonat::DEFAULT_PROTOCOL_NAME.to_string());
        }
        if self.replication.is_enabled() {
            protocols.push(wire::PROTOCOL.to_string());
        }
        protocols.push(identify::PROTOCOL_NAME.to_string());
        protocols.push(identify::PUSH_PROTOCOL_NAME.to_string());
        protocols.push(ping::PROTOCOL_NAME.to_string());
        protocols.sort();
        protocols
    }
}

/// A Kademlia behaviour on `protocol`. Inbound records are filtered (handed to the actor,
/// which stores them and reports provider announcements).
fn new_kad(
    peer_id: libp2p::PeerId,
    protocol: StreamProtocol,
    mode: Option<kad::Mode>,
) -> kad::Behaviour<kad::store::MemoryStore> {
    let mut config = kad::Config::new(protocol);
    config.set_record_filtering(kad::StoreInserts::FilterBoth);
    // The same numbers the reprovider uses on its own streams (see `kad_wire`).
    config.set_max_packet_size(MAX_MESSAGE_BYTES);
    if let Some(k) = std::num::NonZeroUsize::new(REPLICATION) {
        config.set_replication_factor(k);
    }
    // The reprovider (`network::reprovide`) owns republishing: kad's own 12 h republish of
    // every provided key does not scale and would duplicate the sweep.
    config.set_provider_publication_interval(None);
    let store = kad::store::MemoryStore::with_config(
        peer_id,
        kad::store::MemoryStoreConfig {
            max_provided_keys: MAX_PROVIDED_KEYS,
            ..Default::default()
        },
    );
    let mut kad = kad::Behaviour::with_config(peer_id, store, config);
    kad.set_mode(mode);
    kad
}
