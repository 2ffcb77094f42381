//! A hostile peer against a serving node while an honest peer downloads from it: a wantlist
//! flood of 100,000 entries, streams that announce 4 MiB frames and trickle three bytes, and
//! more streams than the node keeps. The node's heap (counted by this test binary's
//! allocator) stays under a stated bound, the honest download completes (its rate printed),
//! and the flooder is penalised.

mod bitswap_common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use bitswap_common::*;
use chorus_protocol::bitswap::{Config, Event, Misbehaviour, pb, protocol};
use futures::AsyncWriteExt;
use libp2p::Swarm;
use libp2p::swarm::SwarmEvent;
use libp2p_swarm_test::SwarmExt;
use prost::Message as _;

/// The global allocator, counting live heap bytes and their peak.
struct Counting;

static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every call is forwarded to the system allocator unchanged; only counters are added.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) };
        LIVE.fetch_sub(layout.size(), Ordering::Relaxed);
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.alloc_zeroed(layout) };
        if !p.is_null() {
            let now = LIVE.fetch_add(layout.size(), Ordering::Relaxed) + layout.size();
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
        p
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: same contract as the caller's.
        let p = unsafe { System.realloc(ptr, layout, new_size) };
        if !p.is_null() {
            if new_size >= layout.size() {
                let now = LIVE.fetch_add(new_size - layout.size(), Ordering::Relaxed)
                    + (new_size - layout.size());
                PEAK.fetch_max(now, Ordering::Relaxed);
            } else {
                LIVE.fetch_sub(layout.size() - new_size, Ordering::Relaxed);
            }
        }
        p
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// What the attack may add to the heap. The honest download moves 16 × 256 KiB; the flood's
/// frames are decoded one at a time (~1 MB on the wire each, a few MB decoded); the 30
/// trickling streams cost 64 KiB each. Before frame buffers grew with the bytes received,
/// the trickling streams alone took 30 × 4 MiB = 120 MiB.
const HEAP_BOUND: usize = 48 * 1024 * 1024;

/// Entries of the flood, sent in frames of this many.
const FLOOD_ENTRIES: usize = 100_000;
const FLOOD_FRAME_ENTRIES: usize = 25_000;
/// Streams opened to trickle bytes (the node keeps 32 inbound streams per peer).
const TRICKLERS: usize = 40;

fn want_frame(seed: usize, n: usize) -> Vec<u8> {
    let msg = pb::Message {
        wantlist: Some(pb::Wantlist {
            entries: (0..n)
                .map(|i| pb::Entry {
                    block: chorus_storage::Cid::new_v1(
                        0x55,
                        chorus_storage::hash_data(
                            chorus_storage::HashAlg::Sha2_256,
                            &((seed + i) as u64).to_le_bytes(),
                        )
                        .unwrap(),
                    )
                    .to_bytes(),
                    priority: 1,
                    ..Default::default()
                })
                .collect(),
            full: false,
        }),
        ..Default::default()
    }
    .encode_to_vec();
    let mut buf = unsigned_varint::encode::usize_buffer();
    let mut out = unsigned_varint::encode::usize(msg.len(), &mut buf).to_vec();
    out.extend_from_slice(&msg);
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flooding_trickling_peer_is_bounded_penalised_and_an_honest_peer_is_served() {
    let blocks: Vec<_> = (0..16u8).map(|i| raw_block(100 + i, 256 * 1024)).collect();
    let store = Store::with(&blocks.iter().collect::<Vec<_>>());
    let mut ours = listening(Config::default()).await;
    let our_id = *ours.local_peer_id();
    let mut honest = listening(Config::default()).await;
    honest.connect(&mut ours).await;

    let mut rogue = Swarm::new_ephemeral_tokio(|_| libp2p_stream::Behaviour::new());
    let mut control = rogue.behaviour().new_control();
    rogue.connect(&mut ours).await;
    let rogue_id = *rogue.local_peer_id();
    tokio::spawn(rogue.loop_on_next());

    let frames: Vec<Vec<u8>> = (0..FLOOD_ENTRIES / FLOOD_FRAME_ENTRIES)
        .map(|k| want_frame(k * FLOOD_FRAME_ENTRIES, FLOOD_FRAME_ENTRIES))
        .collect();
    // The wire bytes exist before the baseline: they are the attacker's, not the node's.
    let baseline = LIVE.load(Ordering::Relaxed);
    PEAK.store(baseline, Ordering::Relaxed);

    tokio::spawn(async move {
        // Trickling streams: a 4 MiB frame announced, three bytes sent, then nothing.
        let mut held = Vec::new();
        for _ in 0..TRICKLERS {
            if let Ok(mut s) = control.open_stream(our_id, protocol::PROTOCOL_1_2_0).await {
                let mut buf = unsigned_varint::encode::usize_buffer();
                let mut head = unsigned_varint::encode::usize(4 * 1024 * 1024, &mut buf).to_vec();
                head.extend_from_slice(b"abc");
                let _ = s.write_all(&head).await;
                let _ = s.flush().await;
                held.push(s);
            }
        }
        // The flood, on a stream of its own.
        if let Ok(mut s) = control.open_stream(our_id, protocol::PROTOCOL_1_2_0).await {
            for f in frames {
                let _ = s.write_all(&f).await;
            }
            let _ = s.flush().await;
            held.push(s);
        }
        std::future::pending::<()>().await;
    });

    for b in &blocks {
        honest.behaviour_mut().want(*b.cid(), [our_id], BLOCK);
    }
    let started = Instant::now();
    let mut received = 0usize;
    let mut flood_penalised = false;
    run_until(&mut [&mut honest, &mut ours], |idx, swarm, ev| {
        if idx == 1 {
            match ev {
                SwarmEvent::Behaviour(Event::Wants { .. } | Event::TasksAvailable { .. }) => {
                    serve(swarm, &store)
                }
                SwarmEvent::Behaviour(Event::PeerMisbehaved {
                    peer,
                    reason: Misbehaviour::WantlistFlood { .. },
                    ..
                }) if peer == rogue_id => flood_penalised = true,
                _ => {}
            }
        } else if let SwarmEvent::Behaviour(Event::Block { .. }) = ev {
            received += 1;
        }
        (received == blocks.len() && flood_penalised).then_some(())
    })
    .await;
    let took = started.elapsed();

    let peak = PEAK.load(Ordering::Relaxed).saturating_sub(baseline);
    let kept = ours.behaviour().ledger(&rogue_id).count();
    println!(
        "honest peer: {} KiB in {:?} ({:.1} MiB/s) under attack; heap peak +{} KiB; \
         flooder's ledger {kept} entries, score {}",
        blocks.len() * 256,
        took,
        (blocks.len() * 256) as f64 / 1024.0 / took.as_secs_f64(),
        peak / 1024,
        ours.behaviour().score(&rogue_id),
    );
    assert!(peak < HEAP_BOUND, "heap grew by {peak} bytes");
    assert!(
        kept <= bitswap_config_max(),
        "{kept} wants kept for the flooder"
    );
    assert!(ours.behaviour().score(&rogue_id) > 0);
}

fn bitswap_config_max() -> usize {
    chorus_protocol::bitswap::config::DEFAULT_MAX_WANTLIST_ENTRIES_PER_PEER
}
