//! The cloneable handle to the network actor: typed commands over a bounded channel, each
//! answered on its own oneshot.

use chorus_storage::Block;
use cid::Cid;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::{broadcast, mpsc, oneshot};

use std::sync::Arc;

use super::bandwidth::Bandwidth;
use super::error::CommandError;
use super::event::NetworkEvent;
use super::replication_wire::{RequestError, Responder};
use crate::fetch::FetchError;

/// What the network reports about itself through `/api/v0/id` (empty while offline).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SwarmInfo {
    /// Addresses other peers can dial (without the `/p2p/<id>` suffix).
    pub addresses: Vec<Multiaddr>,
    /// Protocols the swarm speaks, e.g. `/ipfs/bitswap/1.2.0`.
    pub protocols: Vec<String>,
}

/// One open connection, as `swarm/peers` lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectedPeer {
    /// The remote peer.
    pub peer: PeerId,
    /// Its address on this connection.
    pub address: Multiaddr,
    /// Whether we dialed it (`true`) or it dialed us.
    pub outbound: bool,
}

/// What the actor is asked to do.
pub(crate) enum Command {
    SwarmInfo {
        reply: oneshot::Sender<SwarmInfo>,
    },
    Connect {
        addr: Multiaddr,
        reply: oneshot::Sender<Result<PeerId, CommandError>>,
    },
    Disconnect {
        peer: PeerId,
        reply: oneshot::Sender<Result<(), CommandError>>,
    },
    Peers {
        reply: oneshot::Sender<Vec<ConnectedPeer>>,
    },
    FindProviders {
        cid: Cid,
        limit: usize,
        reply: oneshot::Sender<Vec<PeerId>>,
    },
    FindPeer {
        peer: PeerId,
        reply: oneshot::Sender<Result<Vec<Multiaddr>, CommandError>>,
    },
    Provide {
        cid: Cid,
        reply: oneshot::Sender<Result<(), CommandError>>,
    },
    ProvideLater {
        cids: Vec<Cid>,
        reply: oneshot::Sender<usize>,
    },
    Fetch {
        cid: Cid,
        reply: oneshot::Sender<Result<Block, FetchError>>,
    },
    /// A fetcher of `cid` went away; drop the want if nobody else waits.
    Release {
        cid: Cid,
    },
    Wantlist {
        peer: Option<PeerId>,
        reply: oneshot::Sender<Vec<Cid>>,
    },
    ReplicationRequest {
        peer: PeerId,
        request: crate::replication::wire::Request,
        reply: oneshot::Sender<Result<crate::replication::wire::Response, RequestError>>,
    },
    ReplicationRespond {
        channel: libp2p::request_response::ResponseChannel<crate::replication::wire::Response>,
        response: crate::replication::wire::Response,
    },
    Shutdown,
}

/// Talks to the network actor. Cheap to clone; every method waits for room in the bounded
/// command queue, then for the actor's answer.
///
/// Dropping handles does not stop the network while any clone (or a
/// [`BitswapFetcher`](super::BitswapFetcher)) remains; [`shutdown`](Self::shutdown) stops it
/// for everyone.
#[derive(Clone)]
pub struct NetworkHandle {
    tx: mpsc::Sender<Command>,
    events: broadcast::Sender<NetworkEvent>,
    peer_id: PeerId,
    bandwidth: Arc<Bandwidth>,
}

impl std::fmt::Debug for NetworkHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkHandle")
            .field("peer_id", &self.peer_id)
            .finish_non_exhaustive()
    }
}

impl NetworkHandle {
    pub(crate) fn new(
        tx: mpsc::Sender<Command>,
        events: broadcast::Sender<NetworkEvent>,
        peer_id: PeerId,
        bandwidth: Arc<Bandwidth>,
    ) -> Self {
        NetworkHandle {
            tx,
            events,
            peer_id,
            bandwidth,
        }
    }

    /// The bandwidth meter of every connection (for `stats/bw`); read directly, no round
    /// trip to the actor.
    pub fn bandwidth(&self) -> &Bandwidth {
        &self.bandwidth
    }

    /// This node's peer id.
    pub fn peer_id(&self) -> PeerId {
        self.peer_id
    }

    /// Whether the actor still runs.
    pub fn is_running(&self) -> bool {
        !self.tx.is_closed()
    }

    /// Events from now on (see [`NetworkEvent`]). A subscriber that falls more than
    /// [`DEFAULT_EVENT_CAPACITY`](super::DEFAULT_EVENT_CAPACITY) events behind is told how
    /// many it missed.
    pub fn subscribe(&self) -> broadcast::Receiver<NetworkEvent> {
        self.events.subscribe()
    }

    async fn ask<T>(
        &self,
        make: impl FnOnce(oneshot::Sender<T>) -> Command,
    ) -> Result<T, CommandError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(make(reply))
            .await
            .map_err(|_| CommandError::Stopped)?;
        rx.await.map_err(|_| CommandError::Stopped)
    }

    /// Listen addresses and protocols, for `/api/v0/id` (see
    /// [`NodeContext::from_core`](crate::NodeContext::from_core)).
    pub async fn swarm_info(&self) -> Result<SwarmInfo, CommandError> {
        self.ask(|reply| Command::SwarmInfo { reply }).await
    }

    /// The addresses the node listens on.
    pub async fn listen_addrs(&self) -> Result<Vec<Multiaddr>, CommandError> {
        Ok(self.swarm_info().await?.addresses)
    }

    /// Dials `addr` (ending in `/p2p/<id>` to check who answers) and waits until the
    /// connection is established; returns the remote peer. Cancel-safe: dropping the future
    /// leaves the dial running.
    pub async fn connect(&self, addr: Multiaddr) -> Result<PeerId, CommandError> {
        self.ask(|reply| Command::Connect { addr, reply }).await?
    }

    /// Closes every connection to `peer`.
    pub async fn disconnect(&self, peer: PeerId) -> Result<(), CommandError> {
        self.ask(|reply| Command::Disconnect { peer, reply })
            .await?
    }

    /// Open connections.
    pub async fn peers(&self) -> Result<Vec<ConnectedPeer>, CommandError> {
        self.ask(|reply| Command::Peers { reply }).await
    }

    /// Peers the DHT knows as providers of `cid` (looked up by its multihash), at most
    /// `limit`; waits until the lookup ends or `limit` are found.
    pub async fn find_providers(
        &self,
        cid: Cid,
        limit: usize,
    ) -> Result<Vec<PeerId>, CommandError> {
        self.ask(|reply| Command::FindProviders { cid, limit, reply })
            .await
    }

    /// Addresses of `peer`: those of its open connections, else those the DHT lookups of
    /// the peer id (on each DHT) return.
    pub async fn find_peer(&self, peer: PeerId) -> Result<Vec<Multiaddr>, CommandError> {
        self.ask(|reply| Command::FindPeer { peer, reply }).await?
    }

    /// Announces this node as a provider of `cid` (keyed by its multihash) to the DHT peers
    /// closest to it; waits until the announcement was sent.
    pub async fn provide(&self, cid: Cid) -> Result<(), CommandError> {
        self.ask(|reply| Command::Provide { cid, reply }).await?
    }

    /// Queues `cids` for announcement in the background (a bounded number of DHT queries at
    /// once; duplicates of queued CIDs are merged). Returns how many were accepted: the
    /// queue holds at most [`NetworkConfig::provide_queue_capacity`](super::NetworkConfig)
    /// CIDs and the rest is refused (ask again later). Entries wait while no DHT has peers;
    /// with [`NetworkConfig::provide_queue_dir`](super::NetworkConfig) they survive a
    /// restart until announced.
    pub async fn provide_later(&self, cids: Vec<Cid>) -> Result<usize, CommandError> {
        self.ask(|reply| Command::ProvideLater { cids, reply })
            .await
    }

    /// Our wantlist (`peer = None`), or the wantlist `peer` has sent us.
    pub async fn wantlist(&self, peer: Option<PeerId>) -> Result<Vec<Cid>, CommandError> {
        self.ask(|reply| Command::Wantlist { peer, reply }).await
    }

    /// Fetches `cid` from the network (not from the local store: use
    /// [`BitswapFetcher`](super::BitswapFetcher) for local-first reads). Concurrent fetches
    /// of one CID share one want. The block is stored before it is returned.
    ///
    /// Cancel-safe: dropping the future withdraws the want (CANCEL is sent to the peers
    /// asked) unless another fetch of the same CID still waits.
    pub async fn fetch(&self, cid: Cid) -> Result<Block, FetchError> {
        self.start_fetch(cid).await?.await
    }

    /// [`fetch`](Self::fetch) in two steps: returns once the actor has the request, with a
    /// future for the block. Wants are prioritised in the order the actor gets them, so
    /// starting several fetches one after the other asks peers for the blocks in that order.
    /// Dropping the returned future withdraws the want as with `fetch`.
    pub(crate) async fn start_fetch(
        &self,
        cid: Cid,
    ) -> Result<impl Future<Output = Result<Block, FetchError>> + use<>, FetchError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::Fetch { cid, reply })
            .await
            .map_err(|_| FetchError::NotFoundOffline { cid })?;
        let guard = ReleaseOnDrop {
            tx: self.tx.clone(),
            cid,
            armed: true,
        };
        Ok(async move {
            let result = rx.await;
            guard.disarm();
            result.map_err(|_| FetchError::NotFoundOffline { cid })?
        })
    }

    /// Sends a replication request to `peer` and waits for its answer (bounded by the
    /// protocol's request timeout).
    pub async fn replication_request(
        &self,
        peer: PeerId,
        request: crate::replication::wire::Request,
    ) -> Result<crate::replication::wire::Response, RequestError> {
        let (reply, rx) = oneshot::channel();
        self.tx
            .send(Command::ReplicationRequest {
                peer,
                request,
                reply,
            })
            .await
            .map_err(|_| RequestError::Stopped)?;
        rx.await.map_err(|_| RequestError::Stopped)?
    }

    /// Answers an inbound replication request.
    pub async fn respond(
        &self,
        responder: Responder,
        response: crate::replication::wire::Response,
    ) {
        // A stopped network has closed the stream already.
        let _ = self
            .tx
            .send(Command::ReplicationRespond {
                channel: responder.0,
                response,
            })
            .await;
    }

    /// Stops the network: connections close, pending fetches fail. Returns once the actor
    /// has the command (it may still be closing connections).
    pub async fn shutdown(&self) {
        // An error means the actor is already gone, which is what was asked.
        let _ = self.tx.send(Command::Shutdown).await;
    }
}

/// Tells the actor that a fetch's caller went away.
struct ReleaseOnDrop {
    tx: mpsc::Sender<Command>,
    cid: Cid,
    armed: bool,
}

impl ReleaseOnDrop {
    fn disarm(mut self) {
        self.armed = false;
    }
}

impl Drop for ReleaseOnDrop {
    fn drop(&mut self) {
        if self.armed {
            // If the queue is full, the actor's periodic sweep finds the closed reply channel.
            let _ = self.tx.try_send(Command::Release { cid: self.cid });
        }
    }
}
