//! Bitswap between in-memory swarms: every message kind, versions, cancel, disconnects and
//! server fairness.

mod bitswap_common;

use bitswap_common::*;
use chorus_protocol::bitswap::{Config, Event, Version, WantType, protocol};
use chorus_storage::Block;
use libp2p::swarm::SwarmEvent;
use libp2p_swarm_test::SwarmExt;

#[tokio::test]
async fn want_block_round_trip() {
    let block = raw_block(1, 3000);
    let store = Store::with(&[&block]);
    let mut server = listening(Config::default()).await;
    let mut client = listening(Config::default()).await;
    client.connect(&mut server).await;
    let server_id = *server.local_peer_id();

    assert_eq!(
        client
            .behaviour_mut()
            .want(*block.cid(), [server_id], BLOCK),
        1
    );
    let (peer, got) = client_event(&mut client, &mut server, &store, |e| match e {
        Event::Block { peer, block } => Some((peer, block)),
        _ => None,
    })
    .await;
    assert_eq!(peer, server_id);
    assert_eq!(got, block);
    assert!(!client.behaviour().is_wanted(block.cid()));
    assert_eq!(server.behaviour().ledger(client.local_peer_id()).count(), 0);
    assert_eq!(
        client.behaviour().peer_version(&server_id),
        Some(Version::V1_2_0)
    );
    let (cs, ss) = (client.behaviour().stats(), server.behaviour().stats());
    assert_eq!((cs.blocks_received, cs.block_bytes_received), (1, 3000));
    assert_eq!(
        (ss.blocks_sent, ss.block_bytes_sent, ss.wants_received),
        (1, 3000, 1)
    );
}

#[tokio::test]
async fn want_have_gets_have_for_large_blocks_and_the_block_for_tiny_ones() {
    let large = raw_block(2, 2000);
    let tiny = raw_block(3, 100);
    let store = Store::with(&[&large, &tiny]);
    let mut server = listening(Config::default()).await;
    let mut client = listening(Config::default()).await;
    client.connect(&mut server).await;
    let server_id = *server.local_peer_id();

    client.behaviour_mut().want(*large.cid(), [server_id], HAVE);
    client.behaviour_mut().want(*tiny.cid(), [server_id], HAVE);
    let mut have = None;
    let mut tiny_block = None;
    while have.is_none() || tiny_block.is_none() {
        match client_event(&mut client, &mut server, &store, |e| match e {
            Event::Have { .. } | Event::Block { .. } => Some(e),
            _ => None,
        })
        .await
        {
            Event::Have { peer, cid } => {
                assert_eq!(peer, server_id);
                have = Some(cid);
            }
            Event::Block { block, .. } => tiny_block = Some(block),
            _ => unreachable!(),
        }
    }
    assert_eq!(have, Some(*large.cid()));
    assert_eq!(tiny_block, Some(tiny.clone()));
    // HAVE does not end the want; asking for the block now fetches it.
    assert!(client.behaviour().is_wanted(large.cid()));
    assert_eq!(
        client
            .behaviour_mut()
            .want(*large.cid(), [server_id], BLOCK),
        1
    );
    let got = client_event(&mut client, &mut server, &store, |e| match e {
        Event::Block { block, .. } => Some(block),
        _ => None,
    })
    .await;
    assert_eq!(got, large);
}

#[tokio::test]
async fn dont_have_answers_a_want_with_send_dont_have() {
    let missing = raw_block(4, 10);
    let store = Store::default();
    let mut server = listening(Config::default()).await;
    let mut client = listening(Config::default()).await;
    client.connect(&mut server).await;
    let server_id = *server.local_peer_id();

    client
        .behaviour_mut()
        .want(*missing.cid(), [server_id], HAVE);
    let (peer, cid) = client_event(&mut client, &mut server, &store, |e| match e {
        Event::DontHave { peer, cid } => Some((peer, cid)),
        _ => None,
    })
    .await;
    assert_eq!((peer, cid), (server_id, *missing.cid()));
    // The server keeps the want (as go-bitswap does) and sends the block once it has it.
    let client_id = *client.local_peer_id();
    assert_eq!(server.behaviour().ledger(&client_id).count(), 1);
    assert_eq!(server.behaviour_mut().notify_new_block(&missing), 1);
    let got = client_event(&mut client, &mut server, &store, |e| match e {
        Event::Block { block, .. } => Some(block),
        _ => None,
    })
    .await;
    assert_eq!(got, missing);
}

/// Fetches `block` from a server offering all versions with a client offering only
/// `client_protocols`; returns the version the client negotiated and the want type the
/// server saw.
async fn fetch_with(
    client_protocols: Vec<libp2p::StreamProtocol>,
    block: Block,
) -> (Version, WantType) {
    let store = Store::with(&[&block]);
    let mut server = listening(Config::default()).await;
    let mut client = listening(Config::default().with_protocols(client_protocols)).await;
    client.connect(&mut server).await;
    let server_id = *server.local_peer_id();

    client.behaviour_mut().want(*block.cid(), [server_id], HAVE);
    let mut version = None;
    let mut seen_type = None;
    let got = run_until(&mut [&mut client, &mut server], |idx, swarm, ev| {
        match (idx, behaviour(ev)) {
            (1, Some(Event::Wants { wants, .. })) => {
                seen_type = Some(wants[0].want_type);
                serve(swarm, &store);
            }
            (0, Some(Event::PeerReady { version: v, .. })) => version = Some(v),
            (0, Some(Event::Block { block, .. })) => return Some(block),
            _ => {}
        }
        None
    })
    .await;
    assert_eq!(got, block);
    (version.unwrap(), seen_type.unwrap())
}

#[tokio::test]
async fn version_1_0_0_exchanges_cidv0_blocks() {
    let block = Block::from_data_v0(b"a dag-pb node, as far as bitswap cares".to_vec()).unwrap();
    let (version, want_type) = fetch_with(vec![protocol::PROTOCOL_1_0_0], block).await;
    assert_eq!(version, Version::V1_0_0);
    // 1.0.0 has no WANT_HAVE: the client's want went out as WANT_BLOCK.
    assert_eq!(want_type, WantType::Block);
}

#[tokio::test]
async fn unversioned_protocol_name_is_spoken_as_1_0_0() {
    let block = Block::from_data_v0(b"legacy".to_vec()).unwrap();
    let (version, _) = fetch_with(vec![protocol::PROTOCOL_LEGACY], block).await;
    assert_eq!(version, Version::V1_0_0);
}

#[tokio::test]
async fn version_1_1_0_exchanges_cidv1_blocks() {
    let (version, want_type) = fetch_with(vec![protocol::PROTOCOL_1_1_0], raw_block(5, 500)).await;
    assert_eq!(version, Version::V1_1_0);
    assert_eq!(want_type, WantType::Block);
}

#[tokio::test]
async fn version_1_2_0_is_preferred() {
    let (version, want_type) = fetch_with(protocol::all_protocols(), raw_block(6, 500)).await;
    assert_eq!(version, Version::V1_2_0);
    assert_eq!(want_type, WantType::Have);
}

#[tokio::test]
async fn a_new_peer_receives_the_full_wantlist() {
    let block = raw_block(7, 5000);
    let store = Store::with(&[&block]);
    let mut server = listening(Config::default()).await;
    let mut client = listening(Config::default()).await;
    // Wanted before anyone is connected: nobody asked yet.
    assert_eq!(client.behaviour_mut().want(*block.cid(), [], BLOCK), 0);
    client.connect(&mut server).await;
    let server_id = *server.local_peer_id();

    let wants = run_until(&mut [&mut client, &mut server], |idx, _, ev| {
        match (idx, behaviour(ev)) {
            (1, Some(Event::Wants { wants, .. })) => Some(wants),
            _ => None,
        }
    })
    .await;
    assert_eq!(wants.len(), 1);
    assert_eq!(wants[0].cid, *block.cid());
    assert_eq!(wants[0].want_type, WantType::Have);
    serve(&mut server, &store);
    let have = client_event(&mut client, &mut server, &store, |e| match e {
        Event::Have { cid, .. } => Some(cid),
        _ => None,
    })
    .await;
    assert_eq!(have, *block.cid());
    let asked: Vec<_> = client
        .behaviour()
        .asked(block.cid())
        .map(|(p, t)| (*p, *t))
        .collect();
    assert_eq!(asked, vec![(server_id, WantType::Have)]);
}

#[tokio::test]
async fn a_block_arriving_cancels_the_want_at_the_other_peers() {
    let block = raw_block(8, 4000);
    let store = Store::with(&[&block]);
    let mut fast = listening(Config::default()).await;
    let mut slow = listening(Config::default()).await;
    let mut client = listening(Config::default()).await;
    client.connect(&mut fast).await;
    client.connect(&mut slow).await;
    let (fast_id, slow_id) = (*fast.local_peer_id(), *slow.local_peer_id());

    assert_eq!(
        client
            .behaviour_mut()
            .want(*block.cid(), [fast_id, slow_id], BLOCK),
        2
    );
    let mut got_block = false;
    let cancelled = run_until(
        &mut [&mut client, &mut fast, &mut slow],
        |idx, swarm, ev| {
            match (idx, behaviour(ev)) {
                (0, Some(Event::Block { peer, .. })) => {
                    assert_eq!(peer, fast_id);
                    got_block = true;
                }
                (1, Some(Event::Wants { .. })) => serve(swarm, &store),
                // The slow peer never answers; it must be told to stop.
                (2, Some(Event::Cancelled { cids, .. })) => return Some(cids),
                _ => {}
            }
            None
        },
    )
    .await;
    assert!(got_block);
    assert_eq!(cancelled, vec![*block.cid()]);
    assert_eq!(slow.behaviour().ledger(client.local_peer_id()).count(), 0);
}

#[tokio::test]
async fn cancel_stops_a_pending_send() {
    let block = raw_block(9, 1500);
    let mut server = listening(Config::default()).await;
    let mut client = listening(Config::default()).await;
    client.connect(&mut server).await;
    let (server_id, client_id) = (*server.local_peer_id(), *client.local_peer_id());

    client
        .behaviour_mut()
        .want(*block.cid(), [server_id], BLOCK);
    // The server receives the want and starts a (slow) lookup.
    run_until(&mut [&mut client, &mut server], |idx, _, ev| {
        match (idx, behaviour(ev)) {
            (1, Some(Event::Wants { .. })) => Some(()),
            _ => None,
        }
    })
    .await;
    let task = server.behaviour_mut().next_task().unwrap();
    assert_eq!(task.cid, *block.cid());

    assert!(client.behaviour_mut().cancel(block.cid()));
    let cids = run_until(&mut [&mut client, &mut server], |idx, _, ev| {
        match (idx, behaviour(ev)) {
            (1, Some(Event::Cancelled { cids, .. })) => Some(cids),
            _ => None,
        }
    })
    .await;
    assert_eq!(cids, vec![*block.cid()]);
    // The lookup finishes after the cancel: nothing is sent.
    assert!(!server.behaviour_mut().send_block(&client_id, block.clone()));
    assert!(server.behaviour_mut().next_task().is_none());
}

#[tokio::test]
async fn a_peer_disconnecting_mid_transfer_is_forgotten_on_both_sides() {
    let block = raw_block(10, 2500);
    let mut server = listening(Config::default()).await;
    let mut client = listening(Config::default()).await;
    client.connect(&mut server).await;
    let (server_id, client_id) = (*server.local_peer_id(), *client.local_peer_id());

    client
        .behaviour_mut()
        .want(*block.cid(), [server_id], BLOCK);
    run_until(&mut [&mut client, &mut server], |idx, _, ev| {
        match (idx, behaviour(ev)) {
            (1, Some(Event::Wants { .. })) => Some(()),
            _ => None,
        }
    })
    .await;
    let task = server.behaviour_mut().next_task().unwrap();
    client.disconnect_peer_id(server_id).unwrap();
    let mut closed = [false, false];
    run_until(&mut [&mut client, &mut server], |idx, _, ev| {
        if let SwarmEvent::ConnectionClosed { .. } = ev {
            closed[idx] = true;
        }
        (closed == [true, true]).then_some(())
    })
    .await;
    // The server's lookup completes after the peer left: dropped, nothing queued.
    assert!(!server.behaviour_mut().send_block(&task.peer, block.clone()));
    assert_eq!(server.behaviour().queued_tasks(), 0);
    assert_eq!(server.behaviour().ledger(&client_id).count(), 0);
    // The client still wants the block but no longer counts the server as asked.
    assert!(client.behaviour().is_wanted(block.cid()));
    assert_eq!(client.behaviour().asked(block.cid()).count(), 0);
    assert_eq!(client.behaviour().connected_peers().count(), 0);
}

#[tokio::test]
async fn the_server_queue_is_fair_across_peers() {
    let mut server = listening(Config::default()).await;
    let mut greedy = listening(Config::default()).await;
    let mut modest = listening(Config::default()).await;
    greedy.connect(&mut server).await;
    modest.connect(&mut server).await;
    let server_id = *server.local_peer_id();
    let (greedy_id, modest_id) = (*greedy.local_peer_id(), *modest.local_peer_id());

    for n in 0..50 {
        greedy
            .behaviour_mut()
            .want(*raw_block(n, 64).cid(), [server_id], BLOCK);
    }
    for n in 100..102 {
        modest
            .behaviour_mut()
            .want(*raw_block(n, 64).cid(), [server_id], BLOCK);
    }
    let mut received = std::collections::HashMap::new();
    run_until(
        &mut [&mut server, &mut greedy, &mut modest],
        |idx, _, ev| {
            if let (0, Some(Event::Wants { peer, wants })) = (idx, behaviour(ev)) {
                *received.entry(peer).or_insert(0) += wants.len();
            }
            (received.get(&greedy_id) == Some(&50) && received.get(&modest_id) == Some(&2))
                .then_some(())
        },
    )
    .await;
    assert_eq!(server.behaviour().queued_tasks(), 52);
    let order: Vec<_> = (0..6)
        .map(|_| server.behaviour_mut().next_task().unwrap().peer)
        .collect();
    let modest_served = order.iter().filter(|p| **p == modest_id).count();
    assert_eq!(modest_served, 2, "modest peer starved: {order:?}");
}

#[tokio::test]
async fn max_size_blocks_stream_through_the_outstanding_bound() {
    // Six 2 MiB blocks: at most two fit under the outstanding bound at a time, so the server
    // must be told to pull again as its connection drains, and no message may exceed 4 MiB.
    let blocks: Vec<Block> = (0..6)
        .map(|n| raw_block(20 + n, protocol::MAX_BLOCK_SIZE))
        .collect();
    let store = Store::with(&blocks.iter().collect::<Vec<_>>());
    let mut server = listening(Config::default()).await;
    let mut client = listening(Config::default()).await;
    client.connect(&mut server).await;
    let server_id = *server.local_peer_id();

    for b in &blocks {
        client.behaviour_mut().want(*b.cid(), [server_id], BLOCK);
    }
    let mut got = Vec::new();
    while got.len() < blocks.len() {
        let block = client_event(&mut client, &mut server, &store, |e| match e {
            Event::Block { block, .. } => Some(block),
            _ => None,
        })
        .await;
        got.push(block);
    }
    for b in &blocks {
        assert!(got.contains(b));
    }
    assert_eq!(client.behaviour().wantlist().count(), 0);
    assert_eq!(server.behaviour().queued_tasks(), 0);
}

#[tokio::test]
async fn blocks_over_the_size_limit_are_never_sent() {
    let big = raw_block(30, protocol::MAX_BLOCK_SIZE + 1);
    let mut server = listening(Config::default()).await;
    let mut client = listening(Config::default()).await;
    client.connect(&mut server).await;
    let (server_id, client_id) = (*server.local_peer_id(), *client.local_peer_id());
    client.behaviour_mut().want(*big.cid(), [server_id], BLOCK);
    run_until(&mut [&mut client, &mut server], |idx, _, ev| {
        match (idx, behaviour(ev)) {
            (1, Some(Event::Wants { .. })) => Some(()),
            _ => None,
        }
    })
    .await;
    assert!(!server.behaviour_mut().send_block(&client_id, big));
}

#[tokio::test]
async fn dont_have_is_withheld_unless_asked_for() {
    let missing = raw_block(31, 10);
    let mut server = listening(Config::default()).await;
    let mut client = listening(Config::default()).await;
    client.connect(&mut server).await;
    let (server_id, client_id) = (*server.local_peer_id(), *client.local_peer_id());
    client
        .behaviour_mut()
        .want_with(*missing.cid(), [server_id], HAVE, false);
    let wants = run_until(&mut [&mut client, &mut server], |idx, _, ev| {
        match (idx, behaviour(ev)) {
            (1, Some(Event::Wants { wants, .. })) => Some(wants),
            _ => None,
        }
    })
    .await;
    assert!(!wants[0].send_dont_have);
    let presence = chorus_protocol::bitswap::Presence::DontHave;
    assert!(
        !server
            .behaviour_mut()
            .send_presence(&client_id, missing.cid(), presence)
    );
    // The want stays in the ledger for a block that may arrive later.
    assert_eq!(server.behaviour().ledger(&client_id).count(), 1);
}

/// `rewant` sends a WANT_HAVE again to a peer already asked (a plain `want` does not): the
/// server sees the want twice, and a peer asked for the block is left alone.
#[tokio::test]
async fn rewant_sends_the_want_again_to_peers_already_asked() {
    let missing = raw_block(9, 10);
    let mut server = listening(Config::default()).await;
    let mut client = listening(Config::default()).await;
    client.connect(&mut server).await;
    let server_id = *server.local_peer_id();
    let cid = *missing.cid();

    // The server never answers (no lookups are served here), as a peer that lost the want.
    client
        .behaviour_mut()
        .want_with(cid, [server_id], HAVE, false);
    let first = wants_seen(&mut server, &mut client).await;
    assert_eq!(first.len(), 1);
    assert!(!first[0].send_dont_have);
    assert_eq!(client.behaviour_mut().want(cid, [server_id], HAVE), 0);
    assert_eq!(client.behaviour_mut().rewant(cid, [server_id]), 1);
    let again = wants_seen(&mut server, &mut client).await;
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].cid, again[0].want_type), (cid, HAVE));
    assert!(
        again[0].send_dont_have,
        "asked again, it should say if it lacks the block"
    );
    // After WANT_BLOCK, a rewant leaves the peer alone.
    assert_eq!(client.behaviour_mut().want(cid, [server_id], BLOCK), 1);
    wants_seen(&mut server, &mut client).await;
    assert_eq!(client.behaviour_mut().rewant(cid, [server_id]), 0);
}

/// Drives both swarms until `server` (first) reports wants.
async fn wants_seen(
    server: &mut BSwarm,
    client: &mut BSwarm,
) -> Vec<chorus_protocol::bitswap::WantEntry> {
    run_until(&mut [server, client], |idx, _, ev| match (idx, ev) {
        (0, SwarmEvent::Behaviour(Event::Wants { wants, .. })) => Some(wants),
        _ => None,
    })
    .await
}
