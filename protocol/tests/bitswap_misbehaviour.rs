//! A hand-driven "rogue" peer (raw libp2p streams, no Bitswap logic) sends corrupt blocks,
//! oversized frames and garbage; the behaviour must drop them, penalise the peer and keep
//! working, and ban it past the threshold.

mod bitswap_common;

use bitswap_common::*;
use chorus_protocol::bitswap::{
    Config, Event, InvalidItem, Misbehaviour, message::prefix_of, pb, protocol,
};
use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{PeerId, StreamProtocol, Swarm, swarm::SwarmEvent};
use libp2p_stream::Control;
use libp2p_swarm_test::SwarmExt;
use prost::Message as _;

/// Our swarm, connected to a rogue peer that accepts (and discards) our Bitswap streams.
async fn with_rogue(config: Config) -> (BSwarm, PeerId, Control) {
    let mut ours = listening(config).await;
    let mut rogue = Swarm::new_ephemeral_tokio(|_| libp2p_stream::Behaviour::new());
    let mut control = rogue.behaviour().new_control();
    let mut incoming = control.accept(protocol::PROTOCOL_1_2_0).unwrap();
    rogue.connect(&mut ours).await;
    let rogue_id = *rogue.local_peer_id();
    tokio::spawn(rogue.loop_on_next());
    tokio::spawn(async move {
        while let Some((_, mut stream)) = incoming.next().await {
            tokio::spawn(async move {
                let mut sink = Vec::new();
                let _ = stream.read_to_end(&mut sink).await;
            });
        }
    });
    (ours, rogue_id, control)
}

/// Length-prefixes `frame` as the Bitswap framing does.
fn framed(frame: &[u8]) -> Vec<u8> {
    let mut buf = unsigned_varint::encode::usize_buffer();
    let mut out = unsigned_varint::encode::usize(frame.len(), &mut buf).to_vec();
    out.extend_from_slice(frame);
    out
}

/// Opens a stream from the rogue to `to` and writes `bytes` on it, in the background; the
/// stream stays open until the test ends.
fn rogue_writes(mut control: Control, to: PeerId, protocol: StreamProtocol, bytes: Vec<u8>) {
    tokio::spawn(async move {
        let mut stream = control.open_stream(to, protocol).await.unwrap();
        stream.write_all(&bytes).await.unwrap();
        stream.flush().await.unwrap();
        std::future::pending::<()>().await;
    });
}

fn wants_frame(cids: &[Vec<u8>]) -> Vec<u8> {
    pb::Message {
        wantlist: Some(pb::Wantlist {
            entries: cids
                .iter()
                .map(|c| pb::Entry {
                    block: c.clone(),
                    priority: 1,
                    ..Default::default()
                })
                .collect(),
            full: false,
        }),
        ..Default::default()
    }
    .encode_to_vec()
}

#[tokio::test]
async fn a_corrupt_block_is_dropped_and_its_sender_penalised_then_banned() {
    let (mut ours, rogue_id, control) = with_rogue(Config::default().with_ban_threshold(20)).await;
    let wanted = raw_block(1, 100);
    assert_eq!(
        ours.behaviour_mut().want(*wanted.cid(), [rogue_id], BLOCK),
        1
    );

    // Two blocks claiming (by prefix) to be the wanted one, with the wrong bytes.
    let corrupt = pb::Message {
        payload: vec![pb::Block {
            prefix: prefix_of(wanted.cid()),
            data: b"not the bytes that were asked for".to_vec().into(),
        }],
        ..Default::default()
    }
    .encode_to_vec();
    let mut bytes = framed(&corrupt);
    bytes.extend(framed(&corrupt));
    rogue_writes(
        control,
        *ours.local_peer_id(),
        protocol::PROTOCOL_1_2_0,
        bytes,
    );

    let mut scores = Vec::new();
    let mut banned = false;
    run_until(&mut [&mut ours], |_, _, ev| {
        match ev {
            SwarmEvent::Behaviour(Event::Block { .. }) => panic!("a corrupt block surfaced"),
            SwarmEvent::Behaviour(Event::PeerMisbehaved {
                peer,
                reason,
                score,
            }) => {
                assert_eq!(peer, rogue_id);
                assert!(matches!(reason, Misbehaviour::UnrequestedBlock { .. }));
                scores.push(score);
            }
            SwarmEvent::Behaviour(Event::PeerBanned { peer }) => {
                assert_eq!(peer, rogue_id);
                banned = true;
            }
            SwarmEvent::ConnectionClosed { peer_id, .. } if banned => {
                assert_eq!(peer_id, rogue_id);
                return Some(());
            }
            _ => {}
        }
        None
    })
    .await;
    assert_eq!(scores, vec![10, 20]);
    assert!(ours.behaviour().is_banned(&rogue_id));
    assert_eq!(ours.behaviour().score(&rogue_id), 20);
    assert_eq!(ours.behaviour().stats().unrequested_blocks, 2);
    assert_eq!(ours.behaviour().stats().blocks_received, 0);
    // The want survives, to be fetched from an honest peer.
    assert!(ours.behaviour().is_wanted(wanted.cid()));
}

#[tokio::test]
async fn an_oversized_frame_is_rejected_and_the_connection_keeps_working() {
    let (mut ours, rogue_id, control) = with_rogue(Config::default()).await;
    let our_id = *ours.local_peer_id();

    // A length prefix of 5 MiB (over the 4 MiB limit), then some bytes.
    let mut buf = unsigned_varint::encode::usize_buffer();
    let mut oversized = unsigned_varint::encode::usize(5 * 1024 * 1024, &mut buf).to_vec();
    oversized.extend_from_slice(&[0u8; 64]);
    rogue_writes(control.clone(), our_id, protocol::PROTOCOL_1_2_0, oversized);
    // A valid message on a fresh stream.
    let cid = *raw_block(2, 10).cid();
    let valid = framed(&wants_frame(&[cid.to_bytes()]));
    rogue_writes(control, our_id, protocol::PROTOCOL_1_1_0, valid);

    let mut malformed = false;
    let mut wants = None;
    run_until(&mut [&mut ours], |_, _, ev| {
        match ev {
            SwarmEvent::Behaviour(Event::PeerMisbehaved {
                reason: Misbehaviour::MalformedFrame { .. },
                peer,
                ..
            }) => {
                assert_eq!(peer, rogue_id);
                malformed = true;
            }
            SwarmEvent::Behaviour(Event::Wants { peer, wants: w }) => {
                assert_eq!(peer, rogue_id);
                wants = Some(w);
            }
            SwarmEvent::ConnectionClosed { .. } => panic!("connection closed"),
            _ => {}
        }
        (malformed && wants.is_some()).then_some(())
    })
    .await;
    let wants = wants.unwrap();
    assert_eq!(wants.len(), 1);
    assert_eq!(wants[0].cid, cid);
    assert!(!ours.behaviour().is_banned(&rogue_id));
}

#[tokio::test]
async fn garbage_and_invalid_items_are_penalised_while_valid_entries_count() {
    let (mut ours, rogue_id, control) = with_rogue(Config::default()).await;
    let good = *raw_block(3, 10).cid();
    // A frame that is not protobuf; it kills its stream, so the next message goes on
    // another: one entry with bytes that are no CID, and one valid entry.
    let garbage = framed(&[0xff, 0xff, 0xff]);
    let mixed = framed(&wants_frame(&[vec![0x01, 0x02, 0x03], good.to_bytes()]));
    let our_id = *ours.local_peer_id();
    rogue_writes(control.clone(), our_id, protocol::PROTOCOL_1_2_0, garbage);
    rogue_writes(control, our_id, protocol::PROTOCOL_1_2_0, mixed);

    let (mut malformed, mut invalid_cid, mut wanted) = (false, false, false);
    run_until(&mut [&mut ours], |_, _, ev| {
        match ev {
            SwarmEvent::Behaviour(Event::PeerMisbehaved { reason, peer, .. }) => {
                assert_eq!(peer, rogue_id);
                match reason {
                    Misbehaviour::MalformedFrame { .. } => malformed = true,
                    Misbehaviour::InvalidItem(InvalidItem::Cid { .. }) => invalid_cid = true,
                    other => panic!("unexpected {other:?}"),
                }
            }
            SwarmEvent::Behaviour(Event::Wants { wants, .. }) => {
                assert_eq!(wants.len(), 1);
                assert_eq!(wants[0].cid, good);
                wanted = true;
            }
            _ => {}
        }
        (malformed && invalid_cid && wanted).then_some(())
    })
    .await;
    assert_eq!(ours.behaviour().score(&rogue_id), 25 + 5);
    let stats = ours.behaviour().stats();
    assert_eq!((stats.malformed_frames, stats.invalid_items), (1, 1));
}

#[tokio::test]
async fn the_oldest_inbound_stream_is_dropped_past_the_limit() {
    let (mut ours, _rogue_id, mut control) =
        with_rogue(Config::default().with_max_inbound_streams(2)).await;
    let our_id = *ours.local_peer_id();
    let cids: Vec<_> = (0..3)
        .map(|n| raw_block(40 + n, 10).cid().to_bytes())
        .collect();

    // The rogue opens three streams one after another, each with one want, waiting for us
    // to have read each before opening the next; then it watches the first one.
    let (go_tx, mut go_rx) = tokio::sync::mpsc::channel::<()>(1);
    let (done_tx, done_rx) = tokio::sync::oneshot::channel::<usize>();
    let frames: Vec<Vec<u8>> = cids
        .iter()
        .map(|c| framed(&wants_frame(std::slice::from_ref(c))))
        .collect();
    tokio::spawn(async move {
        let mut streams = Vec::new();
        for frame in frames {
            let mut s = control
                .open_stream(our_id, protocol::PROTOCOL_1_2_0)
                .await
                .unwrap();
            s.write_all(&frame).await.unwrap();
            s.flush().await.unwrap();
            streams.push(s);
            go_rx.recv().await.unwrap();
        }
        // Our side dropped the first stream: reading it ends (EOF or reset) instead of
        // blocking forever.
        let mut sink = Vec::new();
        let n = streams[0].read_to_end(&mut sink).await.unwrap_or(0);
        let _ = done_tx.send(n);
        std::future::pending::<()>().await;
    });

    let mut seen = 0;
    let mut done_rx = Some(done_rx);
    let fut = async {
        loop {
            tokio::select! {
                ev = ours.select_next_some() => {
                    if let SwarmEvent::Behaviour(Event::Wants { .. }) = ev {
                        seen += 1;
                        go_tx.send(()).await.unwrap();
                    }
                }
                n = done_rx.as_mut().unwrap() => return n.unwrap(),
            }
        }
    };
    let leftover = tokio::time::timeout(HANG_GUARD, fut)
        .await
        .expect("the first stream was never dropped");
    assert_eq!(leftover, 0);
    assert_eq!(seen, 3);
}
