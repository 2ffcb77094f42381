//! Replication requests: outbound ones with their pending replies, inbound ones handed to the
//! replication worker (refused as busy when its queue is full).

use std::collections::HashMap;

use libp2p::PeerId;
use libp2p::request_response::{self, OutboundRequestId, ResponseChannel};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

use super::Actor;
use crate::network::replication_wire::{InboundRequest, RequestError, Responder};
use crate::replication::wire::{Request, Response};

type Reply = oneshot::Sender<Result<Response, RequestError>>;

/// The replication part of the actor.
#[derive(Default)]
pub(super) struct Replicating {
    pending: HashMap<OutboundRequestId, Reply>,
    inbound: Option<mpsc::Sender<InboundRequest>>,
}

impl Replicating {
    pub(super) fn new(inbound: Option<mpsc::Sender<InboundRequest>>) -> Self {
        Replicating {
            pending: HashMap::new(),
            inbound,
        }
    }
}

impl Actor {
    /// Sends `request` to `peer`, dialing it (with its peering addresses, if it is a peering
    /// peer) when not connected.
    pub(super) fn replication_request(&mut self, peer: PeerId, request: Request, reply: Reply) {
        let Some(behaviour) = self.swarm.behaviour_mut().replication.as_mut() else {
            let _ = reply.send(Err(RequestError::Disabled));
            return;
        };
        let addresses = self
            .connections
            .peering_addresses(&peer)
            .unwrap_or_default();
        let id = behaviour.send_request_with_addresses(&peer, request, addresses);
        self.replicating.pending.insert(id, reply);
    }

    /// Sends the worker's answer.
    pub(super) fn replication_respond(
        &mut self,
        channel: ResponseChannel<Response>,
        response: Response,
    ) {
        if let Some(behaviour) = self.swarm.behaviour_mut().replication.as_mut()
            && behaviour.send_response(channel, response).is_err()
        {
            debug!("replication response not sent: the stream closed");
        }
    }

    pub(super) fn on_replication(&mut self, event: request_response::Event<Request, Response>) {
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => self.on_replication_request(peer, request, channel),
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if let Some(reply) = self.replicating.pending.remove(&request_id) {
                        let _ = reply.send(Ok(response));
                    }
                }
            },
            request_response::Event::OutboundFailure {
                request_id, error, ..
            } => {
                if let Some(reply) = self.replicating.pending.remove(&request_id) {
                    let _ = reply.send(Err(RequestError::Failed(error.to_string())));
                }
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                debug!(%peer, %error, "inbound replication request failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    fn on_replication_request(
        &mut self,
        peer: PeerId,
        request: Request,
        channel: ResponseChannel<Response>,
    ) {
        let Some(inbound) = &self.replicating.inbound else {
            return;
        };
        match inbound.try_send(InboundRequest {
            peer,
            request,
            responder: Responder(channel),
        }) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(refused)) => {
                warn!(%peer, "replication worker busy; request refused");
                self.replication_respond(refused.responder.0, Response::refused("busy"));
            }
            Err(mpsc::error::TrySendError::Closed(refused)) => {
                self.replication_respond(refused.responder.0, Response::refused("shutting down"));
            }
        }
    }
}
