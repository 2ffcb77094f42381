//! The daemon's wiring end to end: a node context whose fetcher is the network serves, through
//! its HTTP gateway, a file that only another chorus node has.

#![allow(clippy::result_large_err)]

mod network_common;

use std::sync::Arc;

use chorus_node::gateway::{self, GatewayConfig};
use chorus_node::network::{Network, NetworkConfig};
use chorus_node::{HttpServer, NodeContext, NodeIdentity, NodeMetrics};
use chorus_storage::SledStore;
use libp2p::identity::Keypair;
use network_common::{HANG_GUARD, TestPeer, add_file, test_bytes};
use prometheus_client::registry::Registry;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_serves_a_file_fetched_over_bitswap() {
    let a = TestPeer::new().await;
    let data = test_bytes(150 * 1024, 4);
    let (root, _) = add_file(a.store.as_ref(), &data);

    // B: context, network over the context's store, fetcher and swarm info installed.
    let dir = tempfile::tempdir().unwrap();
    let mut registry = Registry::default();
    let metrics = NodeMetrics::register(&mut registry);
    let repo = SledStore::open(dir.path().join("repo")).unwrap();
    let key = Keypair::generate_ed25519();
    let identity = NodeIdentity::new(key.public(), dir.path().join("repo"));
    let ctx = NodeContext::new(repo, identity, metrics, Arc::new(registry)).unwrap();
    assert!(!ctx.is_online());
    let net = Network::start(key, ctx.store(), NetworkConfig::loopback())
        .await
        .unwrap();
    ctx.set_fetcher(Arc::new(net.fetcher()));
    ctx.set_swarm_info(net.handle().swarm_info().await.unwrap());
    assert!(ctx.is_online());
    let info = ctx.swarm_info();
    assert!(!info.addresses.is_empty());
    assert!(info.protocols.iter().any(|p| p == "/ipfs/bitswap/1.2.0"));
    assert!(info.protocols.iter().any(|p| p == "/ipfs/kad/1.0.0"));
    assert!(info.protocols.iter().any(|p| p == "/ipfs/lan/kad/1.0.0"));

    let server = HttpServer::bind(
        "127.0.0.1:0".parse().unwrap(),
        gateway::router(ctx.clone(), GatewayConfig::default()),
    )
    .await
    .unwrap();
    let addr = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(server.serve(async move {
        let _ = stopped.await;
    }));

    net.handle().connect(a.tcp_addr().await).await.unwrap();
    let url = format!("http://{addr}/ipfs/{root}");
    let body = tokio::time::timeout(HANG_GUARD, async {
        let resp = reqwest::get(&url).await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.bytes().await.unwrap()
    })
    .await
    .expect("hang guard");
    assert!(body.as_ref() == data.as_slice(), "bytes differ");

    let _ = stop.send(());
    serving.await.unwrap().unwrap();
    net.shutdown().await;
    a.net.shutdown().await;
}
