//! A peer that opens connection after connection to a node: past the per-peer limit they are
//! refused, and the node keeps serving an honest peer.

#![allow(clippy::result_large_err)]

mod network_common;

use std::time::Duration;

use chorus_node::network::NetworkConfig;
use futures::StreamExt;
use libp2p::swarm::{SwarmEvent, dummy};
use libp2p::{SwarmBuilder, noise, tcp, yamux};
use network_common::{TestPeer, add_file, connect, test_bytes};

const PER_PEER: u32 = 2;
const ATTEMPTS: usize = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_per_peer_limit_are_refused_and_honest_peers_served() {
    let node =
        TestPeer::start(NetworkConfig::loopback().with_connection_limits(64, PER_PEER, 16)).await;
    let addr = node.tcp_addr().await;
    let node_id = node.id();

    let mut rogue = SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| dummy::Behaviour)
        .unwrap()
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .build();
    for _ in 0..ATTEMPTS {
        rogue
            .dial(
                libp2p::swarm::dial_opts::DialOpts::peer_id(node_id)
                    .addresses(vec![addr.clone()])
                    .condition(libp2p::swarm::dial_opts::PeerCondition::Always)
                    .build(),
            )
            .unwrap();
    }
    // Every dial ends one way or the other; count the connections the node let stand.
    let (mut open, mut ended) = (0i64, 0usize);
    let mut peak = 0i64;
    let settle = async {
        while ended < ATTEMPTS {
            match rogue.select_next_some().await {
                SwarmEvent::ConnectionEstablished { .. } => {
                    open += 1;
                    peak = peak.max(open);
                    ended += 1;
                }
                SwarmEvent::OutgoingConnectionError { .. } => ended += 1,
                SwarmEvent::ConnectionClosed { .. } => open -= 1,
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), settle)
        .await
        .expect("every dial ended");
    // The node closes what is over its limit once established on its side: wait for the rogue
    // to see those closes (a node without the limit never closes them, and this times out).
    let over = async {
        while open > i64::from(PER_PEER) {
            match rogue.select_next_some().await {
                SwarmEvent::ConnectionClosed { .. } => open -= 1,
                SwarmEvent::ConnectionEstablished { .. } => open += 1,
                _ => {}
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), over)
        .await
        .expect("connections over the per-peer limit were closed");
    println!(
        "rogue: {ATTEMPTS} dials, at most {peak} open at once, {open} left (limit {PER_PEER})"
    );
    assert!(open <= i64::from(PER_PEER), "{open} connections stand");

    // An honest peer is served while the rogue holds its connections.
    let honest = TestPeer::new().await;
    let data = test_bytes(200 * 1024, 3);
    let (root, _) = add_file(node.store.as_ref(), &data);
    connect(&honest, &node).await;
    assert_eq!(honest.read_file(&root).await, data);
    drop(rogue);
}
