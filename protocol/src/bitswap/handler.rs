//! The Bitswap connection handler: one per connection.
//!
//! Inbound, it reads any number of remote-opened streams (at most
//! [`Config::max_inbound_streams`](super::Config); past that the oldest idle one is dropped,
//! since a peer that opens a new stream has usually given up on its old one, or finished
//! with it, as Helia does after each message), decodes and verifies each frame
//! and hands it to the behaviour. Outbound, it keeps one long-lived stream of its own, writes
//! the behaviour's messages on it in order from a bounded queue, and reopens it when it fails.
//! While a message is being written, the ones handed over meanwhile are merged into the last
//! queued one (up to [`MAX_MESSAGE_SIZE`]), as boxo's message queue does: a peer that reads
//! slowly then gets fewer, larger messages instead of a queue of tiny want and cancel updates.

use std::{
    collections::VecDeque,
    io,
    task::{Context, Poll},
};

use futures::StreamExt;
use libp2p::{
    StreamProtocol,
    swarm::{
        ConnectionHandler, ConnectionHandlerEvent, Stream, StreamUpgradeError, SubstreamProtocol,
        handler::{
            ConnectionEvent, DialUpgradeError, FullyNegotiatedInbound, FullyNegotiatedOutbound,
        },
    },
};
use tracing::{debug, warn};

use super::framing::{FrameReader, FrameWriter};
use super::message::{InvalidItem, Message};
use super::protocol::{MAX_MESSAGE_SIZE, Upgrade, Version};

/// Consecutive failures to open or write our outbound stream before the queued messages are
/// dropped; our own choice: one retry covers a stream the peer reset, three rule out a loop.
pub const MAX_OUTBOUND_FAILURES: u32 = 3;

/// Merges `next` into `last` (queued, not yet written) so that sending the result has the
/// effect of sending both in order; gives `next` back when that cannot be done: either is a
/// full wantlist, or the result could exceed [`MAX_MESSAGE_SIZE`]. A want or cancel in `next`
/// replaces whatever `last` said about the same CID; later presences win too.
fn merge(last: &mut Message, next: Message) -> Result<(), Message> {
    if last.full
        || next.full
        || last.estimated_size().saturating_add(next.estimated_size()) > MAX_MESSAGE_SIZE
    {
        return Err(next);
    }
    for cid in next.cancels {
        last.wants.retain(|w| w.cid != cid);
        if !last.cancels.contains(&cid) {
            last.cancels.push(cid);
        }
    }
    for want in next.wants {
        last.cancels.retain(|c| *c != want.cid);
        match last.wants.iter_mut().find(|w| w.cid == want.cid) {
            Some(w) => *w = want,
            None => last.wants.push(want),
        }
    }
    for block in next.blocks {
        if !last.blocks.iter().any(|b| b.cid() == block.cid()) {
            last.blocks.push(block);
        }
    }
    for (cid, presence) in next.presences {
        match last.presences.iter_mut().find(|(c, _)| *c == cid) {
            Some(p) => p.1 = presence,
            None => last.presences.push((cid, presence)),
        }
    }
    last.pending_bytes = next.pending_bytes;
    Ok(())
}

/// A command from the behaviour.
#[derive(Debug)]
pub enum HandlerIn {
    /// Queue a message for our outbound stream.
    Send(Message),
}

/// A report to the behaviour.
#[derive(Debug)]
#[non_exhaustive]
pub enum HandlerOut {
    /// A frame arrived on an inbound stream.
    Received {
        /// What was valid in it.
        message: Message,
        /// What was not.
        invalid: Vec<InvalidItem>,
    },
    /// A frame was oversized or not protobuf; the stream it came on was dropped.
    Malformed {
        /// Why.
        reason: String,
    },
    /// Our outbound stream was negotiated.
    OutboundNegotiated(Version),
    /// A message was written and flushed; it carried `block_bytes` of block data.
    Sent {
        /// Block bytes in the message.
        block_bytes: usize,
    },
    /// Messages were dropped without being written (stream failures, queue overflow).
    Dropped {
        /// Block bytes in them.
        block_bytes: usize,
    },
    /// The peer does not speak any of our Bitswap versions on this connection.
    Unsupported,
    /// The send queue overflowed: the peer is not reading its stream.
    QueueOverflow,
}

/// Where our outbound stream is.
enum Outbound {
    /// None open and none requested.
    Idle,
    /// Requested from the swarm.
    Opening,
    /// Open and ready for the next message.
    Ready(Box<FrameWriter<Stream>>),
    /// A message was handed to the sink and is being flushed.
    Flushing(Box<FrameWriter<Stream>>, Message),
}

/// The handler of one connection.
pub struct Handler {
    protocols: Vec<StreamProtocol>,
    max_inbound: usize,
    queue_capacity: usize,
    inbound: VecDeque<FrameReader<Stream>>,
    outbound: Outbound,
    version: Option<Version>,
    queue: VecDeque<Message>,
    failures: u32,
    unsupported: bool,
    events: VecDeque<HandlerOut>,
}

impl Handler {
    pub(crate) fn new(
        protocols: Vec<StreamProtocol>,
        max_inbound: usize,
        queue_capacity: usize,
    ) -> Self {
        Handler {
            protocols,
            max_inbound: max_inbound.max(1),
            queue_capacity: queue_capacity.max(1),
            inbound: VecDeque::new(),
            outbound: Outbound::Idle,
            version: None,
            queue: VecDeque::new(),
            failures: 0,
            unsupported: false,
            events: VecDeque::new(),
        }
    }

    /// Drops every queued message and reports the block bytes they held.
    fn drop_queue(&mut self) {
        if self.queue.is_empty() {
            return;
        }
        let block_bytes: usize = self.queue.drain(..).map(|m| m.block_bytes()).sum();
        self.events.push_back(HandlerOut::Dropped { block_bytes });
    }

    /// Records a failed open or write; gives up on the queue after too many.
    fn outbound_failed(&mut self, error: &dyn std::fmt::Display) {
        self.failures += 1;
        self.outbound = Outbound::Idle;
        debug!(%error, failures = self.failures, "bitswap outbound stream failed");
        if self.failures >= MAX_OUTBOUND_FAILURES {
            warn!(%error, "bitswap outbound stream keeps failing; dropping queued messages");
            self.drop_queue();
            self.failures = 0;
        }
    }

    /// Drives the outbound stream; returns a swarm request if one is needed.
    fn poll_outbound(&mut self, cx: &mut Context<'_>) -> Option<SubstreamProtocol<Upgrade, ()>> {
        loop {
            match std::mem::replace(&mut self.outbound, Outbound::Idle) {
                Outbound::Idle => {
                    if self.queue.is_empty() || self.unsupported {
                        return None;
                    }
                    self.outbound = Outbound::Opening;
                    return Some(SubstreamProtocol::new(
                        Upgrade::new(self.protocols.clone()),
                        (),
                    ));
                }
                Outbound::Opening => {
                    self.outbound = Outbound::Opening;
                    return None;
                }
                Outbound::Ready(mut framed) => {
                    let Some(message) = self.queue.pop_front() else {
                        self.outbound = Outbound::Ready(framed);
                        return None;
                    };
                    let version = self.version.unwrap_or(Version::V1_0_0);
                    let frame = message.encode_frame(version);
                    if frame.message_len == 0 {
                        // Nothing this version can carry (e.g. presences to a 1.1.0 peer).
                        self.events.push_back(HandlerOut::Sent {
                            block_bytes: message.block_bytes(),
                        });
                        self.outbound = Outbound::Ready(framed);
                        continue;
                    }
                    if frame.message_len > MAX_MESSAGE_SIZE {
                        warn!(
                            len = frame.message_len,
                            "dropping an oversized outgoing bitswap message"
                        );
                        self.events.push_back(HandlerOut::Dropped {
                            block_bytes: message.block_bytes(),
                        });
                        self.outbound = Outbound::Ready(framed);
                        continue;
                    }
                    framed.start_send(frame);
                    self.outbound = Outbound::Flushing(framed, message);
                }
                Outbound::Flushing(mut framed, message) => {
                    match framed.poll_flush(cx) {
                        Poll::Pending => {
                            self.outbound = Outbound::Flushing(framed, message);
                            return None;
                        }
                        Poll::Ready(Ok(())) => {
                            self.failures = 0;
                            self.events.push_back(HandlerOut::Sent {
                                block_bytes: message.block_bytes(),
                            });
                            self.outbound = Outbound::Ready(framed);
                        }
                        Poll::Ready(Err(e)) => {
                            // Whether the peer got it is unknown; Bitswap messages are
                            // idempotent, so sending it again on a fresh stream is safe.
                            self.queue.push_front(message);
                            self.outbound_failed(&e);
                        }
                    }
                }
            }
        }
    }

    /// Reads the inbound streams; returns the first event found.
    fn poll_inbound(&mut self, cx: &mut Context<'_>) -> Option<HandlerOut> {
        let mut i = 0;
        while i < self.inbound.len() {
            let Some(stream) = self.inbound.get_mut(i) else {
                break;
            };
            match stream.poll_next_unpin(cx) {
                Poll::Pending => i += 1,
                Poll::Ready(None) => {
                    self.inbound.remove(i);
                }
                Poll::Ready(Some(Ok(frame))) => {
                    return Some(match Message::decode(frame) {
                        Ok(decoded) => HandlerOut::Received {
                            message: decoded.message,
                            invalid: decoded.invalid,
                        },
                        Err(e) => {
                            self.inbound.remove(i);
                            HandlerOut::Malformed {
                                reason: e.to_string(),
                            }
                        }
                    });
                }
                Poll::Ready(Some(Err(e))) => {
                    self.inbound.remove(i);
                    // The codec reports an over-long frame as PermissionDenied; anything
                    // else is the stream going away, which is no fault of the peer.
                    if e.kind() == io::ErrorKind::PermissionDenied {
                        return Some(HandlerOut::Malformed {
                            reason: format!("frame over {MAX_MESSAGE_SIZE} bytes: {e}"),
                        });
                    }
                    debug!(error = %e, "bitswap inbound stream closed");
                }
            }
        }
        None
    }
}

impl ConnectionHandler for Handler {
    type FromBehaviour = HandlerIn;
    type ToBehaviour = HandlerOut;
    type InboundProtocol = Upgrade;
    type OutboundProtocol = Upgrade;
    type InboundOpenInfo = ();
    type OutboundOpenInfo = ();

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol, Self::InboundOpenInfo> {
        SubstreamProtocol::new(Upgrade::new(self.protocols.clone()), ())
    }

    fn connection_keep_alive(&self) -> bool {
        !self.queue.is_empty()
            || !self.inbound.is_empty()
            || !matches!(self.outbound, Outbound::Idle)
    }

    fn on_behaviour_event(&mut self, event: HandlerIn) {
        match event {
            HandlerIn::Send(message) => {
                if self.unsupported {
                    self.events.push_back(HandlerOut::Dropped {
                        block_bytes: message.block_bytes(),
                    });
                    return;
                }
                let message = match self.queue.back_mut() {
                    Some(last) => match merge(last, message) {
                        Ok(()) => return,
                        Err(message) => message,
                    },
                    None => message,
                };
                if self.queue.len() >= self.queue_capacity {
                    self.events.push_back(HandlerOut::Dropped {
                        block_bytes: message.block_bytes(),
                    });
                    self.drop_queue();
                    self.events.push_back(HandlerOut::QueueOverflow);
                } else {
                    self.queue.push_back(message);
                }
            }
        }
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<
            Self::InboundProtocol,
            Self::OutboundProtocol,
            Self::InboundOpenInfo,
            Self::OutboundOpenInfo,
        >,
    ) {
        match event {
            ConnectionEvent::FullyNegotiatedInbound(FullyNegotiatedInbound {
                protocol: (stream, _version),
                ..
            }) => {
                if self.inbound.len() >= self.max_inbound {
                    // Prefer a stream waiting between messages over one mid-frame.
                    let idle = self.inbound.iter().position(|s| s.is_idle()).unwrap_or(0);
                    debug!("too many bitswap inbound streams; dropping the oldest idle one");
                    self.inbound.remove(idle);
                }
                self.inbound.push_back(FrameReader::new(stream));
            }
            ConnectionEvent::FullyNegotiatedOutbound(FullyNegotiatedOutbound {
                protocol: (stream, version),
                ..
            }) => {
                if self.version != Some(version) {
                    self.events
                        .push_back(HandlerOut::OutboundNegotiated(version));
                }
                self.version = Some(version);
                self.outbound = Outbound::Ready(Box::new(FrameWriter::new(stream)));
            }
            ConnectionEvent::DialUpgradeError(DialUpgradeError { error, .. }) => match error {
                StreamUpgradeError::NegotiationFailed => {
                    self.outbound = Outbound::Idle;
                    self.unsupported = true;
                    self.drop_queue();
                    self.events.push_back(HandlerOut::Unsupported);
                }
                StreamUpgradeError::Timeout => self.outbound_failed(&"stream open timed out"),
                StreamUpgradeError::Apply(e) => self.outbound_failed(&e),
                StreamUpgradeError::Io(e) => self.outbound_failed(&e),
            },
            _ => {}
        }
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, (), Self::ToBehaviour>> {
        if let Some(protocol) = self.poll_outbound(cx) {
            return Poll::Ready(ConnectionHandlerEvent::OutboundSubstreamRequest { protocol });
        }
        if let Some(event) = self.events.pop_front() {
            return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(event));
        }
        if let Some(event) = self.poll_inbound(cx) {
            return Poll::Ready(ConnectionHandlerEvent::NotifyBehaviour(event));
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bitswap::message::{Presence, WantEntry, WantType};
    use chorus_storage::{Block, HashAlg, codec};

    fn block(n: u32) -> Block {
        Block::from_data(codec::RAW, HashAlg::Sha2_256, n.to_be_bytes().to_vec()).unwrap()
    }

    fn want(n: u32, want_type: WantType) -> WantEntry {
        WantEntry {
            cid: *block(n).cid(),
            priority: 1,
            want_type,
            send_dont_have: true,
        }
    }

    #[test]
    fn merging_keeps_the_last_word_per_cid() {
        let (a, b) = (*block(1).cid(), *block(2).cid());
        let mut last = Message {
            wants: vec![want(1, WantType::Have), want(2, WantType::Have)],
            presences: vec![(a, Presence::DontHave)],
            ..Default::default()
        };
        let next = Message {
            wants: vec![want(2, WantType::Block)],
            cancels: vec![a],
            blocks: vec![block(3)],
            presences: vec![(a, Presence::Have)],
            ..Default::default()
        };
        merge(&mut last, next).unwrap();
        assert_eq!(last.wants, vec![want(2, WantType::Block)]);
        assert_eq!(last.cancels, vec![a]);
        assert_eq!(last.blocks, vec![block(3)]);
        assert_eq!(last.presences, vec![(a, Presence::Have)]);
        // A want after a cancel revives the CID.
        let again = Message {
            wants: vec![want(1, WantType::Block)],
            ..Default::default()
        };
        merge(&mut last, again).unwrap();
        assert!(last.cancels.is_empty());
        assert!(last.wants.iter().any(|w| w.cid == a));
        assert!(last.wants.iter().any(|w| w.cid == b));
    }

    #[test]
    fn full_wantlists_and_oversized_results_are_not_merged() {
        let mut last = Message {
            wants: vec![want(1, WantType::Have)],
            ..Default::default()
        };
        let full = Message {
            full: true,
            ..Default::default()
        };
        assert!(merge(&mut last, full).is_err());
        let big = Block::from_data(
            codec::RAW,
            HashAlg::Sha2_256,
            vec![7u8; MAX_MESSAGE_SIZE / 2 + 1],
        )
        .unwrap();
        let mut with_big = Message {
            blocks: vec![big.clone()],
            ..Default::default()
        };
        let other = Message {
            blocks: vec![big],
            ..Default::default()
        };
        assert!(merge(&mut with_big, other).is_err());
        assert_eq!(with_big.blocks.len(), 1);
    }

    #[test]
    fn a_slow_reader_gets_merged_messages_instead_of_an_overflow() {
        let mut handler = Handler::new(vec![], 1, 2);
        for n in 0..1000 {
            handler.on_behaviour_event(HandlerIn::Send(Message {
                wants: vec![want(n, WantType::Have)],
                ..Default::default()
            }));
            handler.on_behaviour_event(HandlerIn::Send(Message {
                cancels: vec![*block(n).cid()],
                ..Default::default()
            }));
        }
        assert!(
            !handler
                .events
                .iter()
                .any(|e| matches!(e, HandlerOut::QueueOverflow)),
            "queue overflowed"
        );
        assert_eq!(handler.queue.len(), 1);
        assert_eq!(handler.queue[0].cancels.len(), 1000);
        assert!(handler.queue[0].wants.is_empty());
    }
}
