//! The reprovider on real swarms over 127.0.0.1: a keyspace sweep announces blocks nobody
//! announced before (strategy `all`), only pin roots with `roots`, a node restarted in the
//! middle of a cycle resumes that cycle (at its saved cursor) instead of starting a new one,
//! and real kubo takes a whole batch of ADD_PROVIDER messages from one stream.

#![allow(clippy::result_large_err)]

mod network_common;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chorus_node::network::{
    Network, NetworkConfig, ReprovideConfig, ReprovideStatus, ReprovideStrategy,
    reprovide::ReprovidePhase,
};
use chorus_storage::{Blockstore, Cid, PinMode, SledStore};
use libp2p::identity::Keypair;
use network_common::kubo::Kubo;
use network_common::{HANG_GUARD, TestPeer, add_file, connect, test_bytes};
use tokio::sync::watch;

/// Long enough that no second cycle starts during a test: each test watches one cycle.
const INTERVAL: Duration = Duration::from_secs(3600);

/// A node whose store, keypair and provide-queue directory survive restarts.
struct Provider {
    key: Keypair,
    dir: tempfile::TempDir,
    strategy: ReprovideStrategy,
    batch_keys: usize,
}

/// The file `A` holds: its root and one leaf (a block below the root).
struct Content {
    root: Cid,
    leaf: Cid,
}

impl Provider {
    fn new(strategy: ReprovideStrategy) -> Self {
        Provider {
            key: Keypair::generate_ed25519(),
            dir: tempfile::tempdir().unwrap(),
            strategy,
            batch_keys: chorus_node::network::reprovide::DEFAULT_BATCH_KEYS,
        }
    }

    /// Imports a multi-block file and pins its root recursively (never announced).
    fn add_content(&self) -> Content {
        let store = SledStore::open(self.dir.path().join("repo")).unwrap();
        let data = test_bytes(64 * 1024, 7);
        let (root, blocks) = add_file(&store, &data);
        assert!(blocks > 8);
        store.pins().add(&root, PinMode::Recursive).unwrap();
        let leaf = store
            .list()
            .map(|m| Cid::new_v1(0x55, m.unwrap()))
            .find(|c| c.hash() != root.hash())
            .unwrap();
        store.flush().unwrap();
        Content { root, leaf }
    }

    async fn start(&self) -> (Network, watch::Receiver<ReprovideStatus>) {
        start_at(&self.key, self.dir.path(), self.strategy, self.batch_keys).await
    }
}

async fn start_at(
    key: &Keypair,
    dir: &Path,
    strategy: ReprovideStrategy,
    batch_keys: usize,
) -> (Network, watch::Receiver<ReprovideStatus>) {
    let store = SledStore::open(dir.join("repo")).unwrap();
    let reprovide = ReprovideConfig::new(Some(INTERVAL), strategy)
        .with_pins(store.pins().clone())
        .with_initial_delay(Duration::ZERO)
        .with_batch_keys(batch_keys);
    let store: Arc<dyn Blockstore> = Arc::new(store);
    let config = NetworkConfig::loopback()
        .with_provide_queue_dir(dir.join("provide-queue"))
        .with_reprovide(reprovide);
    let net = Network::start(key.clone(), store, config).await.unwrap();
    let status = net.reprovide_status();
    (net, status)
}

/// Waits for the reprovider's status to satisfy `pred`.
async fn wait_status(
    status: &mut watch::Receiver<ReprovideStatus>,
    pred: impl FnMut(&ReprovideStatus) -> bool,
) -> ReprovideStatus {
    tokio::time::timeout(HANG_GUARD, status.wait_for(pred))
        .await
        .expect("hang guard")
        .expect("reprovider status")
        .clone()
}

/// Connects to a peer given as a `TestPeer`'s address, waiting for identify both ways.
async fn connect_to(net: &Network, to: &TestPeer) {
    let mut events = net.handle().subscribe();
    let peer = net.handle().connect(to.tcp_addr().await).await.unwrap();
    assert_eq!(peer, to.id());
    tokio::time::timeout(HANG_GUARD, async {
        loop {
            if let Ok(chorus_node::network::NetworkEvent::PeerIdentified { peer, .. }) =
                events.recv().await
                && peer == to.id()
            {
                return;
            }
        }
    })
    .await
    .expect("hang guard");
}

async fn providers(of: &TestPeer, cid: Cid) -> Vec<libp2p::PeerId> {
    tokio::time::timeout(HANG_GUARD, of.net.handle().find_providers(cid, 5))
        .await
        .expect("hang guard")
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strategy_all_makes_an_unannounced_block_findable() {
    let a = Provider::new(ReprovideStrategy::All);
    let content = a.add_content();
    let b = TestPeer::new().await;
    let c = TestPeer::new().await;
    let (net, mut status) = a.start().await;
    connect_to(&net, &b).await;
    let done = wait_status(&mut status, |s| s.cycles_completed >= 1).await;
    assert!(done.cycle_reprovided > 8, "{done:?}");

    // C knows only B, and nobody ever announced the leaf: the sweep did.
    connect(&c, &b).await;
    assert_eq!(providers(&c, content.leaf).await, vec![net.peer_id()]);
    assert_eq!(providers(&c, content.root).await, vec![net.peer_id()]);
    for n in [c, b] {
        n.net.shutdown().await;
    }
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strategy_roots_announces_the_pin_root_only() {
    let a = Provider::new(ReprovideStrategy::Roots);
    let content = a.add_content();
    let b = TestPeer::new().await;
    let c = TestPeer::new().await;
    let (net, mut status) = a.start().await;
    connect_to(&net, &b).await;
    let done = wait_status(&mut status, |s| s.cycles_completed >= 1).await;
    assert_eq!(done.cycle_reprovided, 1, "{done:?}");

    connect(&c, &b).await;
    assert_eq!(providers(&c, content.root).await, vec![net.peer_id()]);
    assert!(providers(&c, content.leaf).await.is_empty());
    for n in [c, b] {
        n.net.shutdown().await;
    }
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restart_resumes_the_unfinished_cycle() {
    let a = Provider::new(ReprovideStrategy::All);
    let content = a.add_content();

    // Alone, A builds its work list and waits in the sweep for a DHT peer ...
    let (net, mut status) = a.start().await;
    let first = wait_status(&mut status, |s| {
        s.phase == Some(ReprovidePhase::Sweeping) && s.cycle_keys > 0
    })
    .await;
    let started = first.cycle_started.expect("a cycle started");
    net.shutdown().await;

    // ... is killed, and after the restart carries on with the same cycle.
    let b = TestPeer::new().await;
    let (net, mut status) = a.start().await;
    let resumed = wait_status(&mut status, |s| s.phase.is_some()).await;
    assert_eq!(resumed.cycle_started, Some(started), "{resumed:?}");
    assert_ne!(resumed.phase, Some(ReprovidePhase::Building));
    connect_to(&net, &b).await;
    let done = wait_status(&mut status, |s| s.cycles_completed >= 1).await;
    assert_eq!(done.cycle_started, Some(started));
    assert_eq!(done.cycle_reprovided, first.cycle_keys);

    let c = TestPeer::new().await;
    connect(&c, &b).await;
    assert_eq!(providers(&c, content.leaf).await, vec![net.peer_id()]);
    net.shutdown().await;

    // A finished cycle is not redone by a restart: the next one is an interval away.
    let (net, mut status) = a.start().await;
    let after = wait_status(&mut status, |s| s.phase.is_some()).await;
    assert_eq!(after.phase, Some(ReprovidePhase::Done));
    assert_eq!(after.cycle_started, Some(started));
    assert_eq!(after.last_completed, done.last_completed);
    net.shutdown().await;
    for n in [c, b] {
        n.net.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_mid_sweep_resumes_at_the_cursor() {
    // 2,000 keys swept one per batch (a lookup and a stream each): long enough to stop the
    // node part-way, at a point the test observes.
    const KEYS: u64 = 2000;
    let mut a = Provider::new(ReprovideStrategy::All);
    a.batch_keys = 1;
    {
        let store = SledStore::open(a.dir.path().join("repo")).unwrap();
        for n in 0..KEYS {
            let block = chorus_storage::Block::from_data(
                chorus_storage::codec::RAW,
                chorus_storage::HashAlg::Sha2_256,
                n.to_be_bytes().to_vec(),
            )
            .unwrap();
            store.put(&block).unwrap();
        }
        store.flush().unwrap();
    }
    let b = TestPeer::new().await;
    let (net, mut status) = a.start().await;
    connect_to(&net, &b).await;
    let killed = wait_status(&mut status, |s| s.cycle_reprovided >= 100).await;
    net.shutdown().await;
    assert_eq!(killed.cycle_keys, KEYS);
    assert!(
        killed.cycles_completed == 0,
        "stopped mid-cycle: {killed:?}"
    );

    // The restarted node announces only what is left after the saved cursor.
    let (net, mut status) = a.start().await;
    connect_to(&net, &b).await;
    let done = wait_status(&mut status, |s| s.cycles_completed >= 1).await;
    assert_eq!(done.cycle_started, killed.cycle_started, "the same cycle");
    assert!(
        done.cycle_reprovided >= 1 && done.cycle_reprovided <= KEYS - killed.cycle_reprovided,
        "resumed at the cursor: {} then {} of {KEYS}",
        killed.cycle_reprovided,
        done.cycle_reprovided
    );
    net.shutdown().await;
    b.net.shutdown().await;
}

/// Connects `net` to kubo at `addr` and waits until identify told us kubo's protocols (so
/// kubo is in our LAN DHT routing table).
async fn connect_kubo(net: &Network, addr: &libp2p::Multiaddr) {
    let mut events = net.handle().subscribe();
    let kubo = net.handle().connect(addr.clone()).await.unwrap();
    tokio::time::timeout(HANG_GUARD, async {
        loop {
            if let Ok(chorus_node::network::NetworkEvent::PeerIdentified { peer, .. }) =
                events.recv().await
                && peer == kubo
            {
                return;
            }
        }
    })
    .await
    .expect("hang guard");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubo_accepts_a_batch_of_add_provider_messages_on_one_stream() {
    // Real kubo (go-libp2p-kad-dht) is the only DHT server: the sweep sends it every key of
    // A on one LAN DHT stream, and C, which knows only kubo, finds A for a block nobody
    // announced.
    let kubo = Kubo::start().await;
    let kubo_addr = kubo.addr.clone();
    let a = Provider::new(ReprovideStrategy::All);
    let content = a.add_content();
    let (net, mut status) = a.start().await;
    connect_kubo(&net, &kubo_addr).await;
    let done = wait_status(&mut status, |s| s.cycles_completed >= 1).await;
    assert!(done.cycle_reprovided > 8, "{done:?}");

    let c = TestPeer::new().await;
    connect_kubo(&c.net, &kubo_addr).await;
    assert_eq!(providers(&c, content.leaf).await, vec![net.peer_id()]);
    assert_eq!(providers(&c, content.root).await, vec![net.peer_id()]);
    c.net.shutdown().await;
    net.shutdown().await;
}
