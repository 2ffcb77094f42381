//! The network commands of the RPC API (`swarm/*`, `routing/*`, `dht/*`, `id`) against two
//! chorus nodes on 127.0.0.1, each with its own sled repo, network and API server.

mod common;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use chorus_node::core::CoreBuilder;
use chorus_node::network::{KAD_PROTOCOL, Network, NetworkConfig, NetworkEvent};
use chorus_node::rpc::{self, ApiConfig, OFFLINE_MESSAGE};
use chorus_node::{NodeContext, NodeIdentity, NodeMetrics, SwarmInfo};
use chorus_storage::{Block, HashAlg, SledStore, codec};
use common::{Running, serve};
use libp2p::{Multiaddr, PeerId};
use prometheus_client::registry::Registry;
use serde_json::Value;
use tokio::sync::broadcast;

/// Upper bound on any one wait, so a broken test fails instead of hanging (every step takes
/// milliseconds on loopback).
const HANG_GUARD: Duration = Duration::from_secs(60);

/// A node: context with the network installed, and its API on 127.0.0.1:0.
struct Node {
    ctx: NodeContext,
    net: Network,
    api: Running,
    _dir: tempfile::TempDir,
}

/// A context over a fresh repo whose identity is `key`, offline.
fn context(key: &libp2p::identity::Keypair, dir: &tempfile::TempDir) -> NodeContext {
    let mut registry = Registry::default();
    let metrics = NodeMetrics::register(&mut registry);
    let repo = SledStore::open(dir.path().join("repo")).unwrap();
    let identity = NodeIdentity::new(key.public(), dir.path().join("repo"));
    NodeContext::new(repo, identity, metrics, Arc::new(registry)).unwrap()
}

/// A context over a fresh repo whose identity is `key`, with its network started.
async fn online(key: libp2p::identity::Keypair, dir: &tempfile::TempDir) -> (NodeContext, Network) {
    let mut registry = Registry::default();
    let metrics = NodeMetrics::register(&mut registry);
    let repo = SledStore::open(dir.path().join("repo")).unwrap();
    let identity = NodeIdentity::new(key.public(), dir.path().join("repo"));
    let core = CoreBuilder::new(repo, metrics).unwrap();
    let net = Network::start(key, core.store(), NetworkConfig::loopback())
        .await
        .unwrap();
    let core = core.network(Arc::new(net.fetcher()), net.handle()).build();
    let ctx = NodeContext::from_core(core, identity, Arc::new(registry), SwarmInfo::default());
    (ctx, net)
}

impl Node {
    async fn start() -> Node {
        let dir = tempfile::tempdir().unwrap();
        let key = libp2p::identity::Keypair::generate_ed25519();
        let (ctx, net) = online(key, &dir).await;
        let api = serve(rpc::router(ctx.clone(), ApiConfig::default())).await;
        Node {
            ctx,
            net,
            api,
            _dir: dir,
        }
    }

    fn id(&self) -> PeerId {
        self.net.peer_id()
    }

    /// The TCP listen address with `/p2p/<id>`.
    async fn tcp_addr(&self) -> Multiaddr {
        self.net
            .dial_addrs()
            .await
            .unwrap()
            .into_iter()
            .find(|a| a.to_string().contains("/tcp/"))
            .expect("a TCP listen address")
    }

    /// POSTs `path` with `query` and returns the status and the raw body.
    async fn call(&self, path: &str, query: &[(&str, &str)]) -> (u16, String) {
        let resp = reqwest::Client::new()
            .post(self.api.url(&format!("/api/v0/{path}")))
            .query(query)
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.text().await.unwrap())
    }

    /// Like [`call`](Self::call), expecting one JSON object.
    async fn json(&self, path: &str, query: &[(&str, &str)]) -> (u16, Value) {
        let (status, body) = self.call(path, query).await;
        let value = serde_json::from_str(&body).unwrap_or_else(|e| panic!("{body:?}: {e}"));
        (status, value)
    }

    /// Like [`call`](Self::call), expecting 200 and NDJSON.
    async fn ndjson(&self, path: &str, query: &[(&str, &str)]) -> Vec<Value> {
        let (status, body) = self.call(path, query).await;
        assert_eq!(status, 200, "{path}: {body}");
        body.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
            .collect()
    }
}

/// `addr` without its `/p2p/<id>` suffix.
fn transport(addr: &Multiaddr) -> String {
    let mut addr = addr.clone();
    addr.pop();
    addr.to_string()
}

/// Waits for the first event matching `pred`.
async fn wait_for(
    rx: &mut broadcast::Receiver<NetworkEvent>,
    mut pred: impl FnMut(&NetworkEvent) -> bool,
) {
    tokio::time::timeout(HANG_GUARD, async {
        loop {
            match rx.recv().await {
                Ok(e) if pred(&e) => return,
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(n)) => panic!("missed {n} events"),
                Err(broadcast::error::RecvError::Closed) => panic!("network stopped"),
            }
        }
    })
    .await
    .expect("hang guard");
}

fn addrs_of(response: &Value) -> Vec<String> {
    response["Addrs"]
        .as_array()
        .unwrap_or_else(|| panic!("no Addrs array in {response}"))
        .iter()
        .map(|a| a.as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn swarm_routing_and_id_through_the_api() {
    let a = Node::start().await;
    let b = Node::start().await;
    let (a_id, b_id) = (a.id(), b.id());
    let b_addr = b.tcp_addr().await;
    let b_transport = transport(&b_addr);
    let mut a_events = a.net.handle().subscribe();
    let mut b_events = b.net.handle().subscribe();

    // A address with the wrong peer id is refused in kubo's words.
    let impostor = PeerId::random();
    let wrong: Multiaddr = format!("{b_transport}/p2p/{impostor}").parse().unwrap();
    let (status, body) = a
        .json("swarm/connect", &[("arg", &wrong.to_string())])
        .await;
    assert_eq!(status, 500, "{body}");
    assert!(
        body["Message"]
            .as_str()
            .unwrap()
            .starts_with(&format!("connect {impostor} failure: ")),
        "{body}"
    );

    // connect A to B through the API, and let both identify each other (DHT tables filled).
    let (status, body) = a
        .json("swarm/connect", &[("arg", &b_addr.to_string())])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!({ "Strings": [format!("connect {b_id} success")] })
    );
    wait_for(
        &mut a_events,
        |e| matches!(e, NetworkEvent::PeerIdentified { peer, .. } if *peer == b_id),
    )
    .await;
    wait_for(
        &mut b_events,
        |e| matches!(e, NetworkEvent::PeerIdentified { peer, .. } if *peer == a_id),
    )
    .await;

    // swarm/peers lists the connection in kubo's shape, from both sides.
    let (status, body) = a.json("swarm/peers", &[]).await;
    assert_eq!(status, 200, "{body}");
    let peers = body["Peers"].as_array().expect("Peers array");
    let to_b = peers
        .iter()
        .find(|p| p["Peer"] == b_id.to_string())
        .unwrap_or_else(|| panic!("B missing from {body}"));
    assert_eq!(to_b["Addr"], b_transport);
    assert_eq!(to_b["Direction"], 2, "A dialed B");
    assert_eq!(to_b["Muxer"], "/yamux/1.0.0");
    assert_eq!(to_b["Latency"], "");
    assert!(to_b["Streams"].is_null());
    let (_, body) = b.json("swarm/peers", &[]).await;
    let from_a = body["Peers"]
        .as_array()
        .expect("Peers array")
        .iter()
        .find(|p| p["Peer"] == a_id.to_string())
        .unwrap_or_else(|| panic!("A missing from {body}"))
        .clone();
    assert_eq!(from_a["Direction"], 1, "B was dialed");

    // swarm/addrs groups the addresses by peer; swarm/addrs/listen has A's own.
    let (status, body) = a.json("swarm/addrs", &[]).await;
    assert_eq!(status, 200, "{body}");
    let b_addrs: Vec<&str> = body["Addrs"][b_id.to_string()]
        .as_array()
        .unwrap_or_else(|| panic!("B missing from {body}"))
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert_eq!(b_addrs, vec![b_transport.as_str()]);
    let a_addr = a.tcp_addr().await;
    let (status, body) = a.json("swarm/addrs/listen", &[]).await;
    assert_eq!(status, 200, "{body}");
    let listen: Vec<&str> = body["Strings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(listen.contains(&transport(&a_addr).as_str()), "{body}");
    assert!(listen.iter().all(|l| l.starts_with("/ip4/127.0.0.1/")));

    // id: every address ends in /p2p/<A>, the DHT protocol is listed.
    let (status, body) = a.json("id", &[]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ID"], a_id.to_string());
    let addresses: Vec<&str> = body["Addresses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(addresses.contains(&a_addr.to_string().as_str()), "{body}");
    assert!(
        addresses
            .iter()
            .all(|s| s.ends_with(&format!("/p2p/{a_id}")))
    );
    assert!(
        body["Protocols"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == KAD_PROTOCOL.as_ref()),
        "{body}"
    );

    // id of another peer: found through the network, key decoded from the id.
    let (status, body) = a.json("id", &[("arg", &b_id.to_string())]).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["ID"], b_id.to_string());
    let key = base64::engine::general_purpose::STANDARD
        .decode(body["PublicKey"].as_str().unwrap())
        .unwrap();
    let key = libp2p::identity::PublicKey::try_decode_protobuf(&key).unwrap();
    assert_eq!(key.to_peer_id(), b_id);
    assert!(
        body["Addresses"]
            .as_array()
            .unwrap()
            .iter()
            .any(|x| *x == b_addr.to_string()),
        "{body}"
    );

    // provide on B: only blocks B has, then through the DHT (A stores B's record).
    let block = Block::from_data(codec::RAW, HashAlg::Sha2_256, b"provided by B".to_vec()).unwrap();
    let cid = block.cid().to_string();
    let (status, body) = b.json("routing/provide", &[("arg", &cid)]).await;
    assert_eq!(status, 500);
    assert_eq!(
        body["Message"],
        format!("block {cid} not found locally, cannot provide")
    );
    b.ctx.store().put(&block).unwrap();
    let events = b.ndjson("routing/provide", &[("arg", &cid)]).await;
    assert!(events.is_empty(), "{events:?}");

    // findprovs on A finds B, with the address of its connection, in kubo's event shape.
    for path in ["routing/findprovs", "dht/findprovs"] {
        let events = a
            .ndjson(path, &[("arg", &cid), ("num-providers", "1")])
            .await;
        assert_eq!(events.len(), 1, "{path}: {events:?}");
        let event = &events[0];
        assert_eq!(event["Type"], 4);
        assert_eq!(event["Extra"], "");
        assert_eq!(event["ID"], "");
        let responses = event["Responses"].as_array().unwrap();
        assert_eq!(responses.len(), 1);
        assert_eq!(responses[0]["ID"], b_id.to_string());
        assert_eq!(addrs_of(&responses[0]), vec![b_transport.clone()]);
    }
    let (status, _) = a
        .json(
            "routing/findprovs",
            &[("arg", &cid), ("num-providers", "0")],
        )
        .await;
    assert_eq!(status, 400);

    // findpeer finds B.
    for path in ["routing/findpeer", "dht/findpeer"] {
        let events = a.ndjson(path, &[("arg", &b_id.to_string())]).await;
        assert_eq!(events.len(), 1, "{path}: {events:?}");
        assert_eq!(events[0]["Type"], 2);
        let responses = events[0]["Responses"].as_array().unwrap();
        assert_eq!(responses[0]["ID"], b_id.to_string());
        assert!(
            addrs_of(&responses[0]).contains(&b_transport),
            "{path}: {events:?}"
        );
    }

    // recursive provide: the root at once, every linked block through the background queue
    // (A, B's only DHT peer, receives an announcement for each).
    let data = common::pattern(5000, 7);
    let (root, blocks) = common::add_file(&b.ctx, &data, 1024);
    assert!(blocks.len() > 2, "a file with links");
    let mut expected: HashSet<chorus_storage::Multihash> =
        blocks.iter().map(|blk| *blk.cid().hash()).collect();
    let events = b
        .ndjson(
            "routing/provide",
            &[("arg", &root.to_string()), ("recursive", "true")],
        )
        .await;
    assert!(events.is_empty(), "{events:?}");
    tokio::time::timeout(HANG_GUARD, async {
        while !expected.is_empty() {
            match a_events.recv().await {
                Ok(NetworkEvent::ProviderAnnounced {
                    provider,
                    multihash,
                }) if provider == b_id => {
                    expected.remove(&multihash);
                }
                Ok(_) => {}
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await
    .expect("every block of the DAG announced");

    // disconnect: B leaves A's peer list.
    let (status, body) = a
        .json("swarm/disconnect", &[("arg", &b_addr.to_string())])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!({ "Strings": [format!("disconnect {b_id} success")] })
    );
    wait_for(
        &mut a_events,
        |e| matches!(e, NetworkEvent::PeerDisconnected { peer } if *peer == b_id),
    )
    .await;
    let (status, body) = a.json("swarm/peers", &[]).await;
    assert_eq!(status, 200);
    assert_eq!(body, serde_json::json!({ "Peers": null }));

    // Without peers there is nobody to provide to.
    a.ctx.store().put(&block).unwrap();
    let (status, body) = a.json("routing/provide", &[("arg", &cid)]).await;
    assert_eq!(status, 500);
    assert_eq!(body["Message"], "cannot provide, no connected peers");

    // A bare /p2p/<id> is looked up through the DHT: C knows only B, B still has A in its
    // routing table, so C finds A's addresses and dials A.
    let c = Node::start().await;
    let mut c_events = c.net.handle().subscribe();
    let (status, body) = c
        .json("swarm/connect", &[("arg", &b_addr.to_string())])
        .await;
    assert_eq!(status, 200, "{body}");
    wait_for(
        &mut c_events,
        |e| matches!(e, NetworkEvent::PeerIdentified { peer, .. } if *peer == b_id),
    )
    .await;
    let (status, body) = c
        .json("swarm/connect", &[("arg", &format!("/p2p/{a_id}"))])
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body,
        serde_json::json!({ "Strings": [format!("connect {a_id} success")] })
    );
    let (_, body) = c.json("swarm/peers", &[]).await;
    assert!(
        body["Peers"]
            .as_array()
            .is_some_and(|p| p.iter().any(|p| p["Peer"] == a_id.to_string())),
        "{body}"
    );

    c.net.shutdown().await;
    b.net.shutdown().await;
    a.net.shutdown().await;
}

#[tokio::test]
async fn network_commands_answer_the_offline_error_without_a_network() {
    let dir = tempfile::tempdir().unwrap();
    let key = libp2p::identity::Keypair::generate_ed25519();
    let ctx = context(&key, &dir);
    let api = serve(rpc::router(ctx, ApiConfig::default())).await;
    let peer = PeerId::random().to_string();
    let cid = "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am";
    let addr = format!("/ip4/127.0.0.1/tcp/4001/p2p/{peer}");
    let calls: Vec<(&str, Vec<(&str, &str)>)> = vec![
        ("swarm/peers", vec![]),
        ("swarm/addrs", vec![]),
        ("swarm/addrs/listen", vec![]),
        ("swarm/addrs/local", vec![]),
        ("swarm/connect", vec![("arg", &addr)]),
        ("swarm/disconnect", vec![("arg", &addr)]),
        ("routing/findprovs", vec![("arg", cid)]),
        ("routing/findpeer", vec![("arg", &peer)]),
        ("routing/provide", vec![("arg", cid)]),
        ("dht/findprovs", vec![("arg", cid)]),
        ("dht/findpeer", vec![("arg", &peer)]),
        ("dht/provide", vec![("arg", cid)]),
        ("id", vec![("arg", &peer)]),
        ("stats/bw", vec![]),
    ];
    for (path, query) in calls {
        let resp = reqwest::Client::new()
            .post(api.url(&format!("/api/v0/{path}")))
            .query(&query)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 500, "{path}");
        let body: Value = resp.json().await.unwrap();
        assert_eq!(body["Message"], OFFLINE_MESSAGE, "{path}");
        assert_eq!(body["Code"], 0, "{path}");
        assert_eq!(body["Type"], "error", "{path}");
    }
    // Malformed arguments are refused before the offline check.
    for (path, query) in [
        ("routing/findpeer", [("arg", "not-a-peer")]),
        ("routing/findprovs", [("arg", "not-a-cid")]),
        ("swarm/disconnect", [("arg", "not-a-multiaddr")]),
    ] {
        let resp = reqwest::Client::new()
            .post(api.url(&format!("/api/v0/{path}")))
            .query(&query)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 400, "{path}");
    }
}

/// `stats/bw` counts the bytes of every stream: B fetches a block from A, and B's totals,
/// its counters for A and for Bitswap each include the block; A's outbound side does too.
/// `poll` streams one report per interval.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_bw_counts_stream_bytes_in_total_per_peer_and_per_protocol() {
    let a = Node::start().await;
    let b = Node::start().await;
    let data = vec![7u8; 200 * 1024];
    let block = Block::from_data(codec::RAW, HashAlg::Sha2_256, data.clone()).unwrap();
    a.ctx.store().put(&block).unwrap();
    let (_, before) = b.json("stats/bw", &[]).await;
    assert_eq!(before["TotalIn"], 0, "{before}");

    b.net.handle().connect(a.tcp_addr().await).await.unwrap();
    let cid = block.cid().to_string();
    let (status, body) = b.call("block/get", &[("arg", &cid)]).await;
    assert_eq!(status, 200, "{body}");
    let len = data.len() as u64;
    let total_in = |v: &Value| v["TotalIn"].as_u64().unwrap_or_else(|| panic!("{v}"));
    let (_, all) = b.json("stats/bw", &[]).await;
    assert!(total_in(&all) > len, "{all}");
    assert!(
        all["RateIn"].is_number() && all["TotalOut"].as_u64() > Some(0),
        "{all}"
    );
    let a_id = a.id().to_string();
    let (_, peer) = b.json("stats/bw", &[("peer", &a_id)]).await;
    assert!(
        total_in(&peer) > len && total_in(&peer) <= total_in(&all),
        "{peer}"
    );
    let (_, bitswap) = b
        .json("stats/bw", &[("proto", "/ipfs/bitswap/1.2.0")])
        .await;
    assert!(total_in(&bitswap) > len, "{bitswap}");
    let (_, kad) = b.json("stats/bw", &[("proto", "/ipfs/kad/1.0.0")]).await;
    assert!(total_in(&kad) < len, "{kad}");
    let (_, sent) = a.json("stats/bw", &[("peer", &b.id().to_string())]).await;
    assert!(sent["TotalOut"].as_u64() > Some(len), "{sent}");

    let (status, err) = b
        .json("stats/bw", &[("peer", &a_id), ("proto", "/x")])
        .await;
    assert_eq!(status, 500, "{err}");
    let (status, _) = b
        .call("stats/bw", &[("poll", "true"), ("interval", "0s")])
        .await;
    assert_eq!(status, 400);

    let mut resp = reqwest::Client::new()
        .post(b.api.url("/api/v0/stats/bw"))
        .query(&[("poll", "true"), ("interval", "50ms")])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let mut lines = 0;
    let mut buf = String::new();
    while lines < 2 {
        let chunk = tokio::time::timeout(HANG_GUARD, resp.chunk())
            .await
            .expect("hang guard")
            .unwrap()
            .expect("the poll stream goes on");
        buf.push_str(std::str::from_utf8(&chunk).unwrap());
        while let Some(i) = buf.find('\n') {
            let line: Value = serde_json::from_str(&buf[..i]).unwrap();
            assert!(total_in(&line) >= total_in(&all), "{line}");
            buf.drain(..=i);
            lines += 1;
        }
    }
    drop(resp);
    b.net.shutdown().await;
    a.net.shutdown().await;
}
