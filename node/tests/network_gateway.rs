//! The daemon's wiring end to end: a node context whose fetcher is the network serves, through
//! its HTTP gateway, a file that only another chorus node has; a listener who leaves early
//! leaves no wants behind.

#![allow(clippy::result_large_err)]

mod network_common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chorus_node::gateway::{self, GatewayConfig};
use chorus_node::network::{Network, NetworkConfig, NetworkEvent};
use chorus_node::{HttpServer, NodeContext, NodeIdentity, NodeMetrics};
use chorus_protocol::car::block_links;
use chorus_storage::SledStore;
use libp2p::identity::Keypair;
use network_common::{HANG_GUARD, TestPeer, add_file, test_bytes, wait_for};
use prometheus_client::registry::Registry;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// B: a node context over a sled repo, its network installed as the fetcher, and its gateway
/// serving on a loopback port.
struct GatewayNode {
    ctx: NodeContext,
    net: Network,
    addr: SocketAddr,
    stop: oneshot::Sender<()>,
    serving: JoinHandle<Result<(), chorus_node::ServeError>>,
    _dir: tempfile::TempDir,
}

impl GatewayNode {
    async fn start(config: NetworkConfig) -> GatewayNode {
        let dir = tempfile::tempdir().unwrap();
        let mut registry = Registry::default();
        let metrics = NodeMetrics::register(&mut registry);
        let repo = SledStore::open(dir.path().join("repo")).unwrap();
        let key = Keypair::generate_ed25519();
        let identity = NodeIdentity::new(key.public(), dir.path().join("repo"));
        let ctx = NodeContext::new(repo, identity, metrics, Arc::new(registry)).unwrap();
        assert!(!ctx.is_online());
        let net = Network::start(key, ctx.store(), config).await.unwrap();
        ctx.set_fetcher(Arc::new(net.fetcher()));
        ctx.set_swarm_info(net.handle().swarm_info().await.unwrap());
        let server = HttpServer::bind(
            "127.0.0.1:0".parse().unwrap(),
            gateway::router(ctx.clone(), GatewayConfig::default()),
        )
        .await
        .unwrap();
        let addr = server.local_addr();
        let (stop, stopped) = oneshot::channel::<()>();
        let serving = tokio::spawn(server.serve(async move {
            let _ = stopped.await;
        }));
        GatewayNode {
            ctx,
            net,
            addr,
            stop,
            serving,
            _dir: dir,
        }
    }

    async fn stop(self) {
        let _ = self.stop.send(());
        self.serving.await.unwrap().unwrap();
        self.net.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_serves_a_file_fetched_over_bitswap() {
    let a = TestPeer::new().await;
    let data = test_bytes(150 * 1024, 4);
    let (root, _) = add_file(a.store.as_ref(), &data);

    let b = GatewayNode::start(NetworkConfig::loopback()).await;
    assert!(b.ctx.is_online());
    let info = b.ctx.swarm_info();
    assert!(!info.addresses.is_empty());
    assert!(info.protocols.iter().any(|p| p == "/ipfs/bitswap/1.2.0"));
    assert!(info.protocols.iter().any(|p| p == "/ipfs/kad/1.0.0"));
    assert!(info.protocols.iter().any(|p| p == "/ipfs/lan/kad/1.0.0"));

    b.net.handle().connect(a.tcp_addr().await).await.unwrap();
    let url = format!("http://{}/ipfs/{root}", b.addr);
    let body = tokio::time::timeout(HANG_GUARD, async {
        let resp = reqwest::get(&url).await.unwrap();
        assert_eq!(resp.status(), 200);
        resp.bytes().await.unwrap()
    })
    .await
    .expect("hang guard");
    assert!(body.as_ref() == data.as_slice(), "bytes differ");

    b.stop().await;
    a.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_who_leaves_early_leaves_no_wants_behind() {
    // A lacks one early leaf, so B's read of the file stalls there with that leaf wanted (by
    // the read and by its look-ahead). When the listener goes, both wants must go with it,
    // not linger until the fetch timeout.
    let a = TestPeer::new().await;
    let data = test_bytes(150 * 1024, 5);
    let (root, _) = add_file(a.store.as_ref(), &data);
    let links = |cid| block_links(&a.store.get(&cid).unwrap().unwrap()).unwrap();
    let missing = links(links(root)[0])[2];
    assert!(a.store.delete(missing.hash()).unwrap());

    // A fetch timeout far past the hang guard: only the listener leaving can end the wants.
    let b =
        GatewayNode::start(NetworkConfig::loopback().with_fetch_timeout(Duration::from_secs(600)))
            .await;
    b.net.handle().connect(a.tcp_addr().await).await.unwrap();
    let mut a_events = a.net.handle().subscribe();
    let url = format!("http://{}/ipfs/{root}", b.addr);
    let resp = tokio::time::timeout(HANG_GUARD, reqwest::get(&url))
        .await
        .expect("hang guard")
        .unwrap();
    assert_eq!(resp.status(), 200);
    wait_for(
        &mut a_events,
        |e| matches!(e, NetworkEvent::WantsReceived { cids, .. } if cids.contains(&missing)),
    )
    .await;
    assert!(
        b.net
            .handle()
            .wantlist(None)
            .await
            .unwrap()
            .contains(&missing)
    );

    drop(resp);
    wait_for(
        &mut a_events,
        |e| matches!(e, NetworkEvent::WantsCancelled { cids, .. } if cids.contains(&missing)),
    )
    .await;
    // (Wants for blocks A has end as they arrive, or are withdrawn the same way.)
    assert!(
        !b.net
            .handle()
            .wantlist(None)
            .await
            .unwrap()
            .contains(&missing)
    );

    b.stop().await;
    a.net.shutdown().await;
}
