//! The network's side of replication: how the replication worker receives the requests peers
//! send on `/chorus/replicate/1.0.0` and answers them (the messages are
//! [`crate::replication::wire`]'s).

use std::time::Duration;

use libp2p::PeerId;
use libp2p::request_response::ResponseChannel;
use tokio::sync::mpsc;

use crate::replication::wire::{Request, Response};

/// Inbound requests waiting for the worker before the actor refuses new ones as busy.
pub const INBOUND_CAPACITY: usize = 256;

/// Turns the protocol on (see [`NetworkConfig::with_replication`](super::NetworkConfig)).
#[derive(Debug, Clone)]
pub struct ReplicationWire {
    /// Where inbound requests go.
    pub inbound: mpsc::Sender<InboundRequest>,
    /// How long an outbound request may wait for its answer (an offer's answer comes after
    /// the peer fetched and pinned a whole DAG).
    pub request_timeout: Duration,
}

/// A request from a peer.
#[derive(Debug)]
pub struct InboundRequest {
    /// The peer that sent it (authenticated by the connection's Noise handshake).
    pub peer: PeerId,
    /// What it asks.
    pub request: Request,
    /// Where the answer goes: [`NetworkHandle::respond`](super::NetworkHandle::respond).
    pub responder: Responder,
}

/// The stream an inbound request's answer goes back on.
#[derive(Debug)]
pub struct Responder(pub(crate) ResponseChannel<Response>);

/// Why an outbound request got no answer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// The network is not running.
    #[error("the network is not running")]
    Stopped,
    /// The protocol is off on this node.
    #[error("replication is not enabled on this node")]
    Disabled,
    /// Dialing, the stream or the peer failed, or no answer came in time.
    #[error("{0}")]
    Failed(String),
}
