//! Shared harness of the network tests: chorus nodes on 127.0.0.1 with sled stores in
//! temporary directories, file import, and waiting for events.

#![allow(dead_code, clippy::result_large_err)]

use std::sync::Arc;
use std::time::Duration;

use chorus_node::network::{Network, NetworkConfig, NetworkEvent, NetworkHandle};
use chorus_node::{BlockFetcher, FetcherSource};
use chorus_protocol::unixfs::{FileImporter, ImportOptions, UnixfsFile};
use chorus_storage::{Blockstore, Cid, SledStore};
use futures::TryStreamExt;
use libp2p::identity::Keypair;
use libp2p::{Multiaddr, PeerId};
use tokio::sync::broadcast;

pub mod kubo;

/// Upper bound on any one wait, so a broken test fails instead of hanging. Not a speed
/// assertion: every step here takes milliseconds on loopback.
pub const HANG_GUARD: Duration = Duration::from_secs(60);

/// A running chorus network node with its own store.
pub struct TestPeer {
    pub net: Network,
    pub store: Arc<dyn Blockstore>,
    _dir: tempfile::TempDir,
}

impl TestPeer {
    /// Starts a node on loopback with `config` (listen addresses are replaced by loopback
    /// ones with free ports).
    pub async fn start(config: NetworkConfig) -> TestPeer {
        let dir = tempfile::tempdir().unwrap();
        let store: Arc<dyn Blockstore> = Arc::new(SledStore::open(dir.path()).unwrap());
        let listen = NetworkConfig::loopback().listen;
        let net = Network::start(
            Keypair::generate_ed25519(),
            store.clone(),
            config.with_listen(listen),
        )
        .await
        .unwrap();
        TestPeer {
            net,
            store,
            _dir: dir,
        }
    }

    /// A node with the loopback defaults.
    pub async fn new() -> TestPeer {
        TestPeer::start(NetworkConfig::loopback()).await
    }

    pub fn id(&self) -> PeerId {
        self.net.peer_id()
    }

    /// The node's TCP address with `/p2p/<id>`.
    pub async fn tcp_addr(&self) -> Multiaddr {
        self.net
            .dial_addrs()
            .await
            .unwrap()
            .into_iter()
            .find(|a| a.to_string().contains("/tcp/"))
            .expect("a TCP listen address")
    }

    /// The node's QUIC-v1 address with `/p2p/<id>`.
    pub async fn quic_addr(&self) -> Multiaddr {
        self.net
            .dial_addrs()
            .await
            .unwrap()
            .into_iter()
            .find(|a| a.to_string().contains("/quic-v1"))
            .expect("a QUIC listen address")
    }

    /// Reads a whole UnixFS file through this node's fetcher (local store, then network).
    pub async fn read_file(&self, root: &Cid) -> Vec<u8> {
        let fetcher: Arc<dyn BlockFetcher> = Arc::new(self.net.fetcher());
        let source = FetcherSource::new(fetcher);
        let file = tokio::time::timeout(HANG_GUARD, UnixfsFile::open(&source, root))
            .await
            .expect("hang guard")
            .unwrap();
        let chunks: Vec<bytes::Bytes> =
            tokio::time::timeout(HANG_GUARD, file.read(source, 0, None).try_collect())
                .await
                .expect("hang guard")
                .unwrap();
        chunks.concat()
    }
}

/// Deterministic test bytes.
pub fn test_bytes(len: usize, seed: u8) -> Vec<u8> {
    let mut x: u32 = 0x9e37_79b9 ^ u32::from(seed);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Imports `data` into `store` with small chunks and few links per node, so even a small
/// file has many blocks and several DAG levels; returns the root and the block count.
pub fn add_file(store: &dyn Blockstore, data: &[u8]) -> (Cid, usize) {
    let opts = ImportOptions::default()
        .with_chunk_size(4096)
        .with_max_links(8);
    let mut importer = FileImporter::new(&opts).unwrap();
    let mut blocks = Vec::new();
    for chunk in data.chunks(4096) {
        blocks.extend(importer.push(chunk).unwrap());
    }
    let (import, rest) = importer.finish().unwrap();
    blocks.extend(rest);
    store.put_many(&blocks).unwrap();
    (import.root, blocks.len())
}

/// Waits for the first event matching `pred`.
pub async fn wait_for(
    rx: &mut broadcast::Receiver<NetworkEvent>,
    mut pred: impl FnMut(&NetworkEvent) -> bool,
) -> NetworkEvent {
    tokio::time::timeout(HANG_GUARD, async {
        loop {
            match rx.recv().await {
                Ok(e) if pred(&e) => return e,
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => panic!("missed {n} events"),
                Err(broadcast::error::RecvError::Closed) => panic!("network stopped"),
            }
        }
    })
    .await
    .expect("hang guard")
}

/// Waits until `handle`'s node has no connection to `peer` left. The disconnect event is
/// the signal, but a busy transfer can emit more events than the channel keeps; a receiver
/// that lagged asks the node's peer list instead, the state the lost events reported.
pub async fn wait_disconnected(
    handle: &NetworkHandle,
    rx: &mut broadcast::Receiver<NetworkEvent>,
    gone: PeerId,
) {
    tokio::time::timeout(HANG_GUARD, async {
        loop {
            match rx.recv().await {
                Ok(NetworkEvent::PeerDisconnected { peer }) if peer == gone => return,
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    let peers = handle.peers().await.expect("network running");
                    if peers.iter().all(|p| p.peer != gone) {
                        return;
                    }
                }
                Err(broadcast::error::RecvError::Closed) => panic!("network stopped"),
            }
        }
    })
    .await
    .expect("hang guard")
}

/// Connects `from` to `to` and waits until each has identified the other (so each has the
/// other's listen addresses in its DHT routing table).
pub async fn connect(from: &TestPeer, to: &TestPeer) {
    let mut from_events = from.net.handle().subscribe();
    let mut to_events = to.net.handle().subscribe();
    let addr = to.tcp_addr().await;
    let peer = from.net.handle().connect(addr).await.unwrap();
    assert_eq!(peer, to.id());
    let (a, b) = (from.id(), to.id());
    wait_for(
        &mut from_events,
        |e| matches!(e, NetworkEvent::PeerIdentified { peer, .. } if *peer == b),
    )
    .await;
    wait_for(
        &mut to_events,
        |e| matches!(e, NetworkEvent::PeerIdentified { peer, .. } if *peer == a),
    )
    .await;
}
