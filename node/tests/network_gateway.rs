//! The daemon's wiring end to end: a node context whose fetcher is the network serves, through
//! its HTTP gateway, a file that only another chorus node has; a listener who leaves early
//! leaves no wants behind; `pin/add?progress=true` on its RPC API streams kubo's progress
//! lines while the DAG is fetched.

#![allow(clippy::result_large_err)]

mod network_common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chorus_node::core::CoreBuilder;
use chorus_node::gateway::{self, GatewayConfig};
use chorus_node::network::{Network, NetworkConfig, NetworkEvent};
use chorus_node::rpc::{self, ApiConfig};
use chorus_node::{HttpServer, NodeContext, NodeIdentity, NodeMetrics};
use chorus_protocol::car::block_links;
use chorus_storage::{Block, Cid, SledStore};
use libp2p::identity::Keypair;
use network_common::{HANG_GUARD, TestPeer, add_file, test_bytes, wait_for};
use prometheus_client::registry::Registry;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// B: a node context over a sled repo, its network installed as the fetcher, and its gateway
/// and RPC API serving on loopback ports.
struct GatewayNode {
    ctx: NodeContext,
    net: Network,
    addr: SocketAddr,
    api: SocketAddr,
    stop: Vec<oneshot::Sender<()>>,
    serving: Vec<JoinHandle<Result<(), chorus_node::ServeError>>>,
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
        let core = CoreBuilder::new(repo, metrics).unwrap();
        let net = Network::start(key, core.store(), config).await.unwrap();
        let swarm = net.handle().swarm_info().await.unwrap();
        let core = core.network(Arc::new(net.fetcher()), net.handle()).build();
        let ctx = NodeContext::from_core(core, identity, Arc::new(registry), swarm);
        assert!(ctx.is_online());
        let mut stop = Vec::new();
        let mut serving = Vec::new();
        let mut addrs = Vec::new();
        for router in [
            gateway::router(ctx.clone(), GatewayConfig::default()),
            rpc::router(ctx.clone(), ApiConfig::default()),
        ] {
            let server = HttpServer::bind("127.0.0.1:0".parse().unwrap(), router)
                .await
                .unwrap();
            addrs.push(server.local_addr());
            let (tx, stopped) = oneshot::channel::<()>();
            stop.push(tx);
            serving.push(tokio::spawn(server.serve(async move {
                let _ = stopped.await;
            })));
        }
        GatewayNode {
            ctx,
            net,
            addr: addrs[0],
            api: addrs[1],
            stop,
            serving,
            _dir: dir,
        }
    }

    async fn stop(self) {
        for tx in self.stop {
            let _ = tx.send(());
        }
        for serving in self.serving {
            serving.await.unwrap().unwrap();
        }
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

/// The JSON lines of a streamed RPC answer as they arrive.
struct Lines {
    resp: reqwest::Response,
    buf: Vec<u8>,
}

impl Lines {
    /// The next line, or None at the end of the body.
    async fn next(&mut self) -> Option<serde_json::Value> {
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                return Some(serde_json::from_slice(&line).unwrap());
            }
            let chunk = tokio::time::timeout(HANG_GUARD, self.resp.chunk())
                .await
                .expect("hang guard")
                .unwrap()?;
            self.buf.extend_from_slice(&chunk);
        }
    }
}

async fn pin_add_with_progress(api: SocketAddr, root: Cid) -> Lines {
    let url = format!("http://{api}/api/v0/pin/add?arg={root}&progress=true");
    let resp = tokio::time::timeout(HANG_GUARD, reqwest::Client::new().post(url).send())
        .await
        .expect("hang guard")
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-chunked-output"], "1");
    Lines {
        resp,
        buf: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_add_with_progress_reports_while_the_dag_is_fetched() {
    // B knows nobody when the pin starts, so its walk waits for the root and the response
    // starts with kubo's 500 ms progress line; once B meets A, the DAG arrives and the stream
    // ends with the number of blocks walked and the pin.
    let a = TestPeer::new().await;
    let data = test_bytes(150 * 1024, 6);
    let (root, blocks) = add_file(a.store.as_ref(), &data);
    let b = GatewayNode::start(NetworkConfig::loopback()).await;

    let mut lines = pin_add_with_progress(b.api, root).await;
    // Nothing walked yet: kubo omits a zero count, leaving an empty object.
    assert_eq!(lines.next().await.unwrap(), serde_json::json!({}));
    b.net.handle().connect(a.tcp_addr().await).await.unwrap();
    let mut last_count = 0;
    let pins = loop {
        let line = lines
            .next()
            .await
            .expect("the stream ended without the pins");
        if let Some(pins) = line.get("Pins") {
            break pins.clone();
        }
        let count = line.get("Progress").and_then(|p| p.as_u64()).unwrap_or(0);
        assert!(count >= last_count, "progress went back: {line}");
        last_count = count;
    };
    assert_eq!(last_count, blocks as u64, "the final count is every block");
    assert_eq!(pins, serde_json::json!([root.to_string()]));
    assert!(lines.next().await.is_none());
    assert!(b.ctx.repo().pins().get(&root).unwrap().is_some());

    b.stop().await;
    a.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pin_add_with_progress_ends_a_started_stream_with_kubo_s_error() {
    // Nobody has the root: the fetch times out after the stream started, so the error can
    // only come as the last line and the X-Stream-Error trailer, and nothing is pinned.
    let timeout = Duration::from_millis(1500);
    let b = GatewayNode::start(NetworkConfig::loopback().with_fetch_timeout(timeout)).await;
    let root = *Block::from_data_v0(test_bytes(1000, 7)).unwrap().cid();

    // Raw HTTP/1.1, asking for trailers, so the trailer itself can be seen.
    let mut tcp = tokio::net::TcpStream::connect(b.api).await.unwrap();
    let request = format!(
        "POST /api/v0/pin/add?arg={root}&progress=true HTTP/1.1\r\nHost: {}\r\n\
         TE: trailers\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
        b.api
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(HANG_GUARD, tcp.read_to_end(&mut raw))
        .await
        .expect("hang guard")
        .unwrap();
    let raw = String::from_utf8_lossy(&raw).to_lowercase();
    assert!(raw.starts_with("http/1.1 200"), "{raw}");
    assert!(raw.contains("trailer: x-stream-error"), "{raw}");
    assert!(
        raw.contains("{}\n"),
        "no progress line before the error: {raw}"
    );
    let error_line = raw.find("\"type\":\"error\"").expect("no error line");
    let trailer = raw.rfind("x-stream-error: ").expect("no trailer");
    assert!(trailer > error_line, "{raw}");
    assert!(b.ctx.repo().pins().get(&root).unwrap().is_none());

    b.stop().await;
}
