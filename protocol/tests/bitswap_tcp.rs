//! Bitswap over the stack the node runs: TCP on 127.0.0.1, noise, yamux. A multi-block
//! transfer in both directions at once.

mod bitswap_common;

use bitswap_common::*;
use chorus_protocol::bitswap::{Behaviour, Config, Event};
use chorus_storage::Block;
use libp2p::{Multiaddr, SwarmBuilder, noise, swarm::SwarmEvent, tcp, yamux};

fn tcp_swarm() -> BSwarm {
    SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default(),
            noise::Config::new,
            yamux::Config::default,
        )
        .unwrap()
        .with_behaviour(|_| Behaviour::new(Config::default()))
        .unwrap()
        .build()
}

async fn listen_on_loopback(swarm: &mut BSwarm) -> Multiaddr {
    swarm
        .listen_on("/ip4/127.0.0.1/tcp/0".parse().unwrap())
        .unwrap();
    run_until(&mut [swarm], |_, _, ev| match ev {
        SwarmEvent::NewListenAddr { address, .. } => Some(address),
        _ => None,
    })
    .await
}

#[tokio::test]
async fn two_nodes_swap_many_blocks_over_tcp_noise_yamux() {
    let mut a = tcp_swarm();
    let mut b = tcp_swarm();
    let addr = listen_on_loopback(&mut b).await;
    a.dial(addr).unwrap();
    let (a_id, b_id) = (*a.local_peer_id(), *b.local_peer_id());
    let mut up = [false, false];
    run_until(&mut [&mut a, &mut b], |i, _, ev| {
        if let SwarmEvent::ConnectionEstablished { .. } = ev {
            up[i] = true;
        }
        (up == [true, true]).then_some(())
    })
    .await;

    // 24 blocks of 256 KiB on each side; each fetches the other's.
    let a_blocks: Vec<Block> = (0..24).map(|n| raw_block(n, 256 * 1024)).collect();
    let b_blocks: Vec<Block> = (100..124).map(|n| raw_block(n, 256 * 1024)).collect();
    let a_store = Store::with(&a_blocks.iter().collect::<Vec<_>>());
    let b_store = Store::with(&b_blocks.iter().collect::<Vec<_>>());
    for blk in &b_blocks {
        a.behaviour_mut().want(*blk.cid(), [b_id], BLOCK);
    }
    for blk in &a_blocks {
        b.behaviour_mut().want(*blk.cid(), [a_id], BLOCK);
    }
    let (mut got_a, mut got_b) = (Vec::new(), Vec::new());
    run_until(&mut [&mut a, &mut b], |i, swarm, ev| {
        let store = if i == 0 { &a_store } else { &b_store };
        match behaviour(ev) {
            Some(Event::Wants { .. } | Event::TasksAvailable { .. }) => serve(swarm, store),
            Some(Event::Block { block, .. }) => {
                if i == 0 {
                    got_a.push(block)
                } else {
                    got_b.push(block)
                }
            }
            _ => {}
        }
        (got_a.len() == b_blocks.len() && got_b.len() == a_blocks.len()).then_some(())
    })
    .await;
    for blk in &b_blocks {
        assert!(got_a.contains(blk));
    }
    for blk in &a_blocks {
        assert!(got_b.contains(blk));
    }
    assert_eq!(a.behaviour().wantlist().count(), 0);
    assert_eq!(b.behaviour().wantlist().count(), 0);
}
