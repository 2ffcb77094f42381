//! Chorus nodes exchanging blocks over real swarms on 127.0.0.1: direct Bitswap fetches of a
//! multi-level file, provider discovery through the DHT, timeouts and cancellation.

#![allow(clippy::result_large_err)]

mod network_common;

use std::collections::HashSet;
use std::time::Duration;

use chorus_node::network::{
    AutonatConfig, KadMode, NatStatus, NetworkConfig, NetworkEvent, NetworkMetrics, ProbeOutcome,
};
use chorus_node::{BlockFetcher, FetchError, PREFETCHES_PER_REQUEST, PrefetchQueue};
use chorus_storage::{Block, HashAlg, codec};
use network_common::{TestPeer, add_file, connect, test_bytes, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_a_multi_level_file_from_a_connected_peer() {
    let a = TestPeer::new().await;
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = NetworkMetrics::register(&mut registry);
    let b = TestPeer::start(NetworkConfig::loopback().with_metrics(metrics)).await;
    let data = test_bytes(300 * 1024, 1);
    let (root, blocks) = add_file(a.store.as_ref(), &data);
    assert!(
        blocks > 64,
        "the file spans several DAG levels ({blocks} blocks)"
    );
    assert!(!b.store.has(root.hash()).unwrap());

    connect(&b, &a).await;
    let read = b.read_file(&root).await;
    assert_eq!(read.len(), data.len());
    assert!(read == data, "bytes differ");
    // Fetched blocks were stored, and the want list is empty again.
    assert!(b.store.has(root.hash()).unwrap());
    assert_eq!(b.store.stat().unwrap().blocks as usize, blocks);
    assert!(b.net.handle().wantlist(None).await.unwrap().is_empty());
    // Every block came over Bitswap, and libp2p's families share the registry.
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    // At least every block; the reader's prefetch may race a fetch that just completed and
    // receive a block twice (harmless: it is already stored), so no exact count.
    let received: usize = text
        .lines()
        .find_map(|l| l.strip_prefix("chorus_network_blocks_received_total "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no received counter in {text}"));
    assert!(
        received >= blocks,
        "received {received} of {blocks}: {text}"
    );
    assert!(
        text.contains("libp2p_swarm_connections_established_total"),
        "{text}"
    );
    for gauge in [
        "chorus_network_prefetches_running ",
        "chorus_network_prefetch_hints_queued ",
    ] {
        assert!(
            text.lines().any(|l| l.starts_with(gauge)),
            "{gauge}in {text}"
        );
    }
    b.net.shutdown().await;
    a.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finds_the_provider_through_the_dht_when_only_a_middle_peer_is_known() {
    let a = TestPeer::new().await;
    let b = TestPeer::new().await;
    let c = TestPeer::new().await;
    let data = test_bytes(100 * 1024, 2);
    let (root, _) = add_file(a.store.as_ref(), &data);

    connect(&a, &b).await;
    a.net.handle().provide(root).await.unwrap();
    connect(&c, &b).await;
    let connected: Vec<_> = c.net.handle().peers().await.unwrap();
    assert!(
        connected.iter().all(|p| p.peer != a.id()),
        "C starts knowing only B"
    );

    // The DHT knows where A is ...
    let addrs = c.net.handle().find_peer(a.id()).await.unwrap();
    let a_addr = a.tcp_addr().await;
    assert!(
        addrs
            .iter()
            .any(|x| a_addr.to_string().starts_with(&x.to_string())),
        "{addrs:?} lacks {a_addr}"
    );
    // ... and answers with A as the provider ...
    let providers = c.net.handle().find_providers(root, 5).await.unwrap();
    assert_eq!(providers, vec![a.id()]);
    // ... and a fetch finds A the same way, dials it, and reads the whole file.
    let read = c.read_file(&root).await;
    assert!(read == data, "bytes differ");
    let connected = c.net.handle().peers().await.unwrap();
    assert!(
        connected.iter().any(|p| p.peer == a.id()),
        "C dialed the provider"
    );
    for n in [c, b, a] {
        n.net.shutdown().await;
    }
}

fn missing_block() -> Block {
    Block::from_data(codec::RAW, HashAlg::Sha2_256, b"nobody has this".to_vec()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_block_nobody_has_times_out() {
    let timeout = Duration::from_secs(1);
    let a = TestPeer::new().await;
    let b = TestPeer::start(NetworkConfig::loopback().with_fetch_timeout(timeout)).await;
    connect(&b, &a).await;
    let cid = *missing_block().cid();

    let err = b.net.fetcher().fetch(cid).await.unwrap_err();
    match err {
        FetchError::Timeout { cid: c, timeout: t } => {
            assert_eq!(c, cid);
            assert_eq!(t, timeout);
        }
        other => panic!("expected a timeout, got {other}"),
    }
    assert!(err_is_not_found(&b, cid).await);
    assert!(b.net.handle().wantlist(None).await.unwrap().is_empty());
    b.net.shutdown().await;
    a.net.shutdown().await;
}

async fn err_is_not_found(peer: &TestPeer, cid: chorus_storage::Cid) -> bool {
    // A second try fails the same way: nothing was left behind that answers.
    peer.net
        .fetcher()
        .fetch(cid)
        .await
        .is_err_and(|e| e.is_not_found())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_last_fetch_sends_cancel() {
    let a = TestPeer::new().await;
    let b = TestPeer::start(NetworkConfig::loopback().with_fetch_timeout(Duration::from_secs(600)))
        .await;
    connect(&b, &a).await;
    let cid = *missing_block().cid();
    let mut a_events = a.net.handle().subscribe();

    // Two callers want the same block: one want goes out. Polling each fetch once puts its
    // command in the actor's queue, so later commands are handled after both.
    let handle = b.net.handle();
    let mut first = Box::pin(handle.fetch(cid));
    let mut second = Box::pin(handle.fetch(cid));
    assert!(futures::poll!(first.as_mut()).is_pending());
    assert!(futures::poll!(second.as_mut()).is_pending());
    let b_id = b.id();
    wait_for(&mut a_events, |e| {
        matches!(e, NetworkEvent::WantsReceived { peer, cids } if *peer == b_id && cids.contains(&cid))
    })
    .await;
    assert!(
        a.net
            .handle()
            .wantlist(Some(b_id))
            .await
            .unwrap()
            .contains(&cid)
    );

    // Dropping one caller keeps the want for the other.
    drop(first);
    assert_eq!(handle.wantlist(None).await.unwrap(), vec![cid]);

    // Dropping the last one cancels it at the peer.
    drop(second);
    wait_for(&mut a_events, |e| {
        matches!(e, NetworkEvent::WantsCancelled { peer, cids } if *peer == b_id && cids.contains(&cid))
    })
    .await;
    assert!(
        !a.net
            .handle()
            .wantlist(Some(b_id))
            .await
            .unwrap()
            .contains(&cid)
    );
    assert!(b.net.handle().wantlist(None).await.unwrap().is_empty());
    b.net.shutdown().await;
    a.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_one_lookup_at_a_time_answers_every_want() {
    let a = TestPeer::start(NetworkConfig::loopback().with_max_concurrent_lookups(1)).await;
    let b = TestPeer::new().await;
    let data = test_bytes(200 * 1024, 3);
    let (root, _) = add_file(a.store.as_ref(), &data);
    connect(&b, &a).await;
    let read = b.read_file(&root).await;
    assert!(read == data, "bytes differ");
    b.net.shutdown().await;
    a.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peering_peer_is_redialed_after_it_drops_the_connection() {
    let b = TestPeer::new().await;
    let b_addr = b.tcp_addr().await;
    let b_id = b.id();
    let mut b_events = b.net.handle().subscribe();
    // A listens nowhere, so B cannot dial it back: every connection is A's doing.
    let config = NetworkConfig::loopback()
        .with_listen(Vec::new())
        .with_peering(vec![b_addr], Duration::from_millis(100));
    let store = std::sync::Arc::new(chorus_storage::MemoryStore::new());
    let a = chorus_node::network::Network::start(
        libp2p::identity::Keypair::generate_ed25519(),
        store,
        config,
    )
    .await
    .unwrap();
    let a_id = a.peer_id();
    let mut a_events = a.handle().subscribe();
    // A dials B by itself at start.
    wait_for(
        &mut b_events,
        |e| matches!(e, NetworkEvent::PeerConnected { peer } if *peer == a_id),
    )
    .await;
    assert!(
        a.handle()
            .peers()
            .await
            .unwrap()
            .iter()
            .any(|p| p.peer == b_id)
    );

    b.net.handle().disconnect(a_id).await.unwrap();
    wait_for(
        &mut a_events,
        |e| matches!(e, NetworkEvent::PeerDisconnected { peer } if *peer == b_id),
    )
    .await;
    wait_for(
        &mut a_events,
        |e| matches!(e, NetworkEvent::PeerConnected { peer } if *peer == b_id),
    )
    .await;
    let peers = a.handle().peers().await.unwrap();
    assert!(
        peers.iter().any(|p| p.peer == b_id && p.outbound),
        "A redialed B"
    );
    a.shutdown().await;
    b.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetch_brings_blocks_into_the_store() {
    let a = TestPeer::new().await;
    let b = TestPeer::new().await;
    let blocks: Vec<Block> = (0..20u8)
        .map(|i| Block::from_data(codec::RAW, HashAlg::Sha2_256, vec![i; 2000]).unwrap())
        .collect();
    a.store.put_many(&blocks).unwrap();
    connect(&b, &a).await;
    let mut events = b.net.handle().subscribe();
    let cids: Vec<_> = blocks.iter().map(|b| *b.cid()).collect();
    // The queue is the request: it must live until the blocks are in.
    let queue = PrefetchQueue::new();
    b.net.fetcher().prefetch(&cids, &queue);
    let mut pending: std::collections::HashSet<_> = cids.iter().copied().collect();
    while !pending.is_empty() {
        if let NetworkEvent::BlockReceived { cid, .. } = wait_for(&mut events, |e| {
            matches!(e, NetworkEvent::BlockReceived { .. })
        })
        .await
        {
            pending.remove(&cid);
        }
    }
    // Each block is stored before its waiters hear of it; a fetch now reads it locally
    // (or joins the want still being stored).
    for block in &blocks {
        let got = b.net.fetcher().fetch(*block.cid()).await.unwrap();
        assert_eq!(got.data(), block.data());
    }
    assert_eq!(b.store.stat().unwrap().blocks, 20);
    b.net.shutdown().await;
    a.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetches_over_quic() {
    let a = TestPeer::new().await;
    let b = TestPeer::new().await;
    let data = test_bytes(120 * 1024, 5);
    let (root, _) = add_file(a.store.as_ref(), &data);
    let addr = a.quic_addr().await;
    assert_eq!(b.net.handle().connect(addr).await.unwrap(), a.id());
    let peers = b.net.handle().peers().await.unwrap();
    assert!(
        peers
            .iter()
            .all(|p| p.address.to_string().contains("/quic-v1")),
        "{peers:?}"
    );
    let read = b.read_file(&root).await;
    assert!(read == data, "bytes differ");
    // QUIC connections are metered like TCP ones (stats/bw), down to the protocol.
    let meter = b.net.handle();
    let bitswap = meter.bandwidth().protocol("/ipfs/bitswap/1.2.0").unwrap();
    assert!(bitswap.total_in > data.len() as u64, "{bitswap:?}");
    let from_a = meter.bandwidth().peer(&a.id()).unwrap();
    assert!(from_a.total_in >= bitswap.total_in, "{from_a:?}");
    b.net.shutdown().await;
    a.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_background_queue_announces_every_block() {
    let a = TestPeer::start(NetworkConfig::loopback().with_provide_queue_capacity(30)).await;
    let b = TestPeer::new().await;
    let blocks: Vec<Block> = (0..40u8)
        .map(|i| Block::from_data(codec::RAW, HashAlg::Sha2_256, vec![i; 100]).unwrap())
        .collect();
    a.store.put_many(&blocks).unwrap();
    connect(&a, &b).await;
    let mut events = b.net.handle().subscribe();
    let cids: Vec<_> = blocks.iter().map(|b| *b.cid()).collect();
    // The queue takes 30; the rest waits for room.
    let accepted = a.net.handle().provide_later(cids.clone()).await.unwrap();
    assert_eq!(accepted, 30);
    let mut rest = cids[accepted..].to_vec();
    let mut pending: std::collections::HashSet<_> = cids.iter().map(|c| *c.hash()).collect();
    let a_id = a.id();
    while !pending.is_empty() {
        if !rest.is_empty() {
            let n = a.net.handle().provide_later(rest.clone()).await.unwrap();
            rest.drain(..n);
        }
        if let NetworkEvent::ProviderAnnounced { multihash, .. } = wait_for(
            &mut events,
            |e| matches!(e, NetworkEvent::ProviderAnnounced { provider, .. } if *provider == a_id),
        )
        .await
        {
            pending.remove(&multihash);
        }
    }
    assert!(rest.is_empty());
    b.net.shutdown().await;
    a.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_announcements_wait_for_peers_and_survive_a_restart() {
    let b = TestPeer::new().await;
    let dir = tempfile::tempdir().unwrap();
    let store: std::sync::Arc<dyn chorus_storage::Blockstore> =
        std::sync::Arc::new(chorus_storage::SledStore::open(dir.path().join("repo")).unwrap());
    let key = libp2p::identity::Keypair::generate_ed25519();
    let config = NetworkConfig::loopback().with_provide_queue_dir(dir.path().join("queue"));
    let blocks: Vec<Block> = (0..5u8)
        .map(|i| Block::from_data(codec::RAW, HashAlg::Sha2_256, vec![i; 10]).unwrap())
        .collect();
    let cids: Vec<_> = blocks.iter().map(|b| *b.cid()).collect();

    // Alone: nothing can be announced, so everything stays queued through the restart.
    let a = chorus_node::network::Network::start(key.clone(), store.clone(), config.clone())
        .await
        .unwrap();
    assert_eq!(a.handle().provide_later(cids.clone()).await.unwrap(), 5);
    a.shutdown().await;

    let a = chorus_node::network::Network::start(key, store, config)
        .await
        .unwrap();
    let a_id = a.peer_id();
    let mut events = b.net.handle().subscribe();
    a.handle().connect(b.tcp_addr().await).await.unwrap();
    let mut pending: std::collections::HashSet<_> = cids.iter().map(|c| *c.hash()).collect();
    while !pending.is_empty() {
        if let NetworkEvent::ProviderAnnounced { multihash, .. } = wait_for(
            &mut events,
            |e| matches!(e, NetworkEvent::ProviderAnnounced { provider, .. } if *provider == a_id),
        )
        .await
        {
            pending.remove(&multihash);
        }
    }
    a.shutdown().await;
    b.net.shutdown().await;
}

/// A fetch started while no peer is connected (as when a read races the bootstrap dial)
/// completes as soon as a peer that has the block connects, not after the fetch timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_started_before_any_connection_completes_when_a_provider_connects() {
    // Far longer than the hang guard: a fetch that waits for its timeout fails the test.
    let long = Duration::from_secs(600);
    let a = TestPeer::new().await;
    let b = TestPeer::start(NetworkConfig::loopback().with_fetch_timeout(long)).await;
    let data = test_bytes(64 * 1024, 7);
    let (root, _) = add_file(a.store.as_ref(), &data);
    assert!(b.net.handle().peers().await.unwrap().is_empty());

    let handle = b.net.handle();
    let mut fetch = Box::pin(handle.fetch(root));
    // Polling queues the fetch command; the actor handles commands in order, so once the
    // next one answers, the want was registered while B had no peer.
    assert!(futures::poll!(fetch.as_mut()).is_pending());
    assert!(handle.peers().await.unwrap().is_empty());

    connect(&b, &a).await;
    let block = tokio::time::timeout(network_common::HANG_GUARD, fetch)
        .await
        .expect("the fetch waited for its timeout after the provider connected")
        .unwrap();
    assert_eq!(*block.cid(), root);
    b.net.shutdown().await;
    a.net.shutdown().await;
}

/// A fetch started while B knows nobody, so its first provider search had no DHT peer to
/// ask, searches again as soon as B's DHT has a peer: B then connects only to M, which lacks
/// the block but holds A's provider record, and the fetch reaches A within a timeout shorter
/// than the session's periodic provider retry (the retry alone would come too late).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_started_before_any_connection_finds_providers_once_the_dht_has_peers() {
    let timeout = chorus_protocol::bitswap::session::DEFAULT_PROVIDER_RETRY / 2;
    // A and B are DHT clients, so M's routing table names neither: their DHT bootstrap
    // queries cannot stumble on each other, only the provider record leads B to A.
    let a = TestPeer::start(NetworkConfig::loopback().with_kad_mode(KadMode::Client)).await;
    let m = TestPeer::new().await;
    let b = TestPeer::start(
        NetworkConfig::loopback()
            .with_kad_mode(KadMode::Client)
            .with_fetch_timeout(timeout),
    )
    .await;
    let data = test_bytes(16 * 1024, 8);
    let (root, _) = add_file(a.store.as_ref(), &data);
    connect(&a, &m).await;
    a.net.handle().provide(root).await.unwrap();

    let handle = b.net.handle();
    let mut fetch = Box::pin(handle.fetch(root));
    assert!(futures::poll!(fetch.as_mut()).is_pending());
    assert!(handle.peers().await.unwrap().is_empty());

    connect(&b, &m).await;
    let block = tokio::time::timeout(network_common::HANG_GUARD, fetch)
        .await
        .expect("hang guard")
        .expect("the fetch found A through M's provider record before timing out");
    assert_eq!(*block.cid(), root);
    for n in [b, m, a] {
        n.net.shutdown().await;
    }
}

/// Routing `none` (kubo's `Routing.Type=none`) runs no DHT at all: no Kademlia protocol is
/// spoken or announced, announcing and peer lookups fail clearly, provider lookups find
/// nobody at once, and blocks still move over Bitswap between connected peers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routing_none_runs_no_dht_but_still_exchanges_blocks() {
    let a = TestPeer::new().await;
    let b = TestPeer::start(NetworkConfig::loopback().with_kad_mode(KadMode::Disabled)).await;
    let protocols = b.net.handle().swarm_info().await.unwrap().protocols;
    assert!(
        !protocols.iter().any(|p| p.contains("/kad/")),
        "{protocols:?}"
    );
    assert!(protocols.iter().any(|p| p == "/ipfs/bitswap/1.2.0"));

    let data = test_bytes(64 * 1024, 9);
    let (root, _) = add_file(a.store.as_ref(), &data);
    connect(&b, &a).await;
    let err = b.net.handle().provide(root).await.unwrap_err();
    assert!(err.to_string().contains("routing is disabled"), "{err}");
    // A connected peer is known without a lookup; an unknown one needs the DHT.
    assert!(b.net.handle().find_peer(a.id()).await.is_ok());
    let stranger = libp2p::PeerId::random();
    let err = b.net.handle().find_peer(stranger).await.unwrap_err();
    assert!(err.to_string().contains("routing is disabled"), "{err}");
    assert!(
        b.net
            .handle()
            .find_providers(root, 5)
            .await
            .unwrap()
            .is_empty()
    );

    let read = b.read_file(&root).await;
    assert!(read == data, "bytes differ");
    b.net.shutdown().await;
    a.net.shutdown().await;
}

/// AutoNAT v1 between two loopback nodes (private addresses allowed, short timings): B asks
/// A to dial it back, A does (on 127.0.0.1, the address it observed B at), and B concludes it
/// is reachable; events, the protocol list and the metrics show it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn autonat_probes_between_two_loopback_nodes() {
    let autonat = AutonatConfig::default()
        .with_private_addresses(true)
        .with_timing(Duration::from_millis(100), Duration::from_millis(300));
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = NetworkMetrics::register(&mut registry);
    let a = TestPeer::start(NetworkConfig::loopback().with_autonat(autonat.clone())).await;
    let b = TestPeer::start(
        NetworkConfig::loopback()
            .with_autonat(autonat)
            .with_metrics(metrics),
    )
    .await;
    let protocols = b.net.handle().swarm_info().await.unwrap().protocols;
    assert!(
        protocols.iter().any(|p| p == "/libp2p/autonat/1.0.0"),
        "{protocols:?}"
    );
    let mut a_events = a.net.handle().subscribe();
    let mut b_events = b.net.handle().subscribe();
    connect(&b, &a).await;

    let (a_id, b_id) = (a.id(), b.id());
    let probe = wait_for(&mut b_events, |e| {
        matches!(e, NetworkEvent::AutonatProbe { peer: Some(p), asked_by_us: true, outcome: ProbeOutcome::Reachable(_) } if *p == a_id)
    })
    .await;
    let NetworkEvent::AutonatProbe {
        outcome: ProbeOutcome::Reachable(addr),
        ..
    } = probe
    else {
        unreachable!()
    };
    assert!(addr.to_string().starts_with("/ip4/127.0.0.1/"), "{addr}");
    let status = wait_for(&mut b_events, |e| {
        matches!(e, NetworkEvent::NatStatusChanged { .. })
    })
    .await;
    assert!(
        matches!(&status, NetworkEvent::NatStatusChanged { status: NatStatus::Public(a) } if a.to_string().starts_with("/ip4/127.0.0.1/")),
        "{status:?}"
    );
    // A served the probe by dialing B back.
    wait_for(&mut a_events, |e| {
        matches!(e, NetworkEvent::AutonatProbe { peer: Some(p), asked_by_us: false, outcome: ProbeOutcome::Reachable(_) } if *p == b_id)
    })
    .await;

    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(
        text.lines()
            .any(|l| l.starts_with("chorus_network_autonat_probes_total{")
                && l.contains("role=\"client\"")
                && l.contains("result=\"reachable\"")),
        "{text}"
    );
    assert!(text.contains("chorus_network_nat_status 2"), "{text}");
    b.net.shutdown().await;
    a.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fetch_of_a_block_just_stored_is_not_sent_to_the_network_again() {
    // A reader checks the store, then asks the network; a block stored in between must be
    // read back, not wanted again (here the only peer is gone, so wanting it would time out).
    let a = TestPeer::new().await;
    let b =
        TestPeer::start(NetworkConfig::loopback().with_fetch_timeout(Duration::from_secs(1))).await;
    let block = Block::from_data(codec::RAW, HashAlg::Sha2_256, vec![7; 5000]).unwrap();
    a.store.put(&block).unwrap();
    connect(&b, &a).await;
    let first = b.net.handle().fetch(*block.cid()).await.unwrap();
    assert_eq!(first.data(), block.data());
    a.net.shutdown().await;
    let again = b.net.handle().fetch(*block.cid()).await.unwrap();
    assert_eq!(again.data(), block.data());
    b.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prefetched_blocks_are_wanted_in_the_order_given() {
    // Wants are prioritised in the order they are made, so a reader's hint list must reach
    // the peer in reading order: its next block must not queue behind later ones.
    let a = TestPeer::new().await;
    let b = TestPeer::new().await;
    let blocks: Vec<Block> = (0..100u8)
        .map(|i| Block::from_data(codec::RAW, HashAlg::Sha2_256, vec![i; 3000]).unwrap())
        .collect();
    a.store.put_many(&blocks).unwrap();
    connect(&b, &a).await;
    let mut events = a.net.handle().subscribe();
    let cids: Vec<_> = blocks.iter().map(|b| *b.cid()).collect();
    // The queue is the request: it must live until the blocks are in.
    let queue = PrefetchQueue::new();
    b.net.fetcher().prefetch(&cids, &queue);
    let mut seen = Vec::new();
    while seen.len() < cids.len() {
        if let NetworkEvent::WantsReceived { cids: wanted, .. } = wait_for(&mut events, |e| {
            matches!(e, NetworkEvent::WantsReceived { .. })
        })
        .await
        {
            for cid in wanted {
                if !seen.contains(&cid) {
                    seen.push(cid);
                }
            }
        }
    }
    assert_eq!(seen, cids);
    b.net.shutdown().await;
    a.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_s_prefetches_queue_past_its_slots_and_end_with_it() {
    // A request hints more blocks than it may fetch at once: the rest wait (not dropped) and
    // start as slots free up; ending the request withdraws what is running and forgets the
    // rest.
    let a = TestPeer::new().await;
    let b = TestPeer::new().await;
    // A has the first 50 blocks; nobody has the other 350.
    let blocks: Vec<Block> = (0..400u16)
        .map(|i| {
            Block::from_data(codec::RAW, HashAlg::Sha2_256, i.to_be_bytes().repeat(500)).unwrap()
        })
        .collect();
    let cids: Vec<_> = blocks.iter().map(|b| *b.cid()).collect();
    a.store.put_many(&blocks[..50]).unwrap();
    connect(&b, &a).await;
    let mut events = a.net.handle().subscribe();
    let queue = PrefetchQueue::new();
    b.net.fetcher().prefetch(&cids, &queue);

    // The first PREFETCHES_PER_REQUEST start; the 50 A has arrive, freeing 50 slots for the
    // next 50 hints; the last 94 wait for ever.
    let started = PREFETCHES_PER_REQUEST + 50;
    let expected: HashSet<_> = cids[..started].iter().copied().collect();
    let mut wanted = HashSet::new();
    while wanted.len() < started {
        if let NetworkEvent::WantsReceived { cids: got, .. } = wait_for(&mut events, |e| {
            matches!(e, NetworkEvent::WantsReceived { .. })
        })
        .await
        {
            for cid in got {
                assert!(expected.contains(&cid), "a want past the request's slots");
                wanted.insert(cid);
            }
        }
    }
    let running: HashSet<_> = b
        .net
        .handle()
        .wantlist(None)
        .await
        .unwrap()
        .into_iter()
        .collect();
    assert_eq!(running, cids[50..started].iter().copied().collect());

    drop(queue);
    let mut cancelled = HashSet::new();
    while cancelled.len() < running.len() {
        match wait_for(&mut events, |e| {
            matches!(
                e,
                NetworkEvent::WantsReceived { .. } | NetworkEvent::WantsCancelled { .. }
            )
        })
        .await
        {
            NetworkEvent::WantsCancelled { cids: got, .. } => cancelled.extend(got),
            NetworkEvent::WantsReceived { cids: got, .. } => {
                assert!(
                    got.iter().all(|c| expected.contains(c)),
                    "a want after the end"
                );
            }
            _ => unreachable!(),
        }
    }
    assert_eq!(cancelled, running);
    assert!(b.net.handle().wantlist(None).await.unwrap().is_empty());
    b.net.shutdown().await;
    a.net.shutdown().await;
}
