//! Shared harness of the Bitswap swarm tests: in-memory swarms, a driver that polls several
//! swarms at once, and a toy server answering wants from a map.

#![allow(dead_code)]

use std::collections::HashMap;
use std::time::Duration;

use chorus_protocol::bitswap::{Behaviour, Config, Event, Presence, WantType};
use chorus_storage::{Block, HashAlg, Multihash, codec};
use futures::StreamExt;
use futures::future::select_all;
use libp2p::Swarm;
use libp2p::swarm::SwarmEvent;
use libp2p_swarm_test::SwarmExt;

/// A swarm running only Bitswap.
pub type BSwarm = Swarm<Behaviour>;

/// Upper bound on any one wait, so a broken test fails instead of hanging CI. Not a speed
/// assertion: every step here takes milliseconds.
pub const HANG_GUARD: Duration = Duration::from_secs(30);

/// A swarm listening on an in-memory address.
pub async fn listening(config: Config) -> BSwarm {
    let mut s = Swarm::new_ephemeral_tokio(|_| Behaviour::new(config));
    s.listen().with_memory_addr_external().await;
    s
}

/// A raw block of `len` bytes derived from `seed`.
pub fn raw_block(seed: u8, len: usize) -> Block {
    let data: Vec<u8> = (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ seed)
        .collect();
    Block::from_data(codec::RAW, HashAlg::Sha2_256, data).unwrap()
}

/// A toy blockstore for the serving side.
#[derive(Default)]
pub struct Store(pub HashMap<Multihash, Block>);

impl Store {
    pub fn with(blocks: &[&Block]) -> Self {
        Store(
            blocks
                .iter()
                .map(|b| (*b.cid().hash(), (*b).clone()))
                .collect(),
        )
    }
}

/// Answers every task the behaviour hands out from `store`, as the node will.
pub fn serve(swarm: &mut BSwarm, store: &Store) {
    while let Some(task) = swarm.behaviour_mut().next_task() {
        match store.0.get(task.cid.hash()) {
            Some(block) => {
                swarm.behaviour_mut().send_block(&task.peer, block.clone());
            }
            None => {
                swarm
                    .behaviour_mut()
                    .send_presence(&task.peer, &task.cid, Presence::DontHave);
            }
        }
    }
}

/// Polls all `swarms` together, handing each event to `f` (with the index of the swarm it
/// came from) until `f` returns `Some`.
pub async fn run_until<T>(
    swarms: &mut [&mut BSwarm],
    mut f: impl FnMut(usize, &mut BSwarm, SwarmEvent<Event>) -> Option<T>,
) -> T {
    let fut = async {
        loop {
            let (event, idx, rest) =
                select_all(swarms.iter_mut().map(|s| s.select_next_some())).await;
            drop(rest);
            if let Some(out) = f(idx, swarms[idx], event) {
                return out;
            }
        }
    };
    tokio::time::timeout(HANG_GUARD, fut)
        .await
        .expect("swarms did not reach the expected state")
}

/// Convenience: the behaviour event of a swarm event, if any.
pub fn behaviour(event: SwarmEvent<Event>) -> Option<Event> {
    match event {
        SwarmEvent::Behaviour(e) => Some(e),
        _ => None,
    }
}

/// Drives `client` and `server` (which serves from `store`) until `client` emits an event
/// accepted by `pick`.
pub async fn client_event<T>(
    client: &mut BSwarm,
    server: &mut BSwarm,
    store: &Store,
    mut pick: impl FnMut(Event) -> Option<T>,
) -> T {
    run_until(&mut [client, server], |idx, swarm, ev| {
        if idx == 1 {
            if let SwarmEvent::Behaviour(Event::Wants { .. } | Event::TasksAvailable { .. }) = ev {
                serve(swarm, store);
            }
            return None;
        }
        behaviour(ev).and_then(&mut pick)
    })
    .await
}

/// Shorthand for WANT_BLOCK.
pub const BLOCK: WantType = WantType::Block;
/// Shorthand for WANT_HAVE.
pub const HAVE: WantType = WantType::Have;
