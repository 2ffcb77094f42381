//! Serving peers' wants: the behaviour queues them fairly (see
//! [`chorus_protocol::bitswap::server_queue`]); this part looks each up in the store on the
//! blocking pool, at most `max_lookups` at once, and answers with the block or a presence.

use chorus_protocol::bitswap::Task;
use tokio::task::JoinSet;

use super::Actor;
use crate::network::serve::{Answer, lookup};

/// The serving part of the actor.
pub(super) struct Serving {
    pub(super) lookups: JoinSet<(Task, Answer)>,
    max_lookups: usize,
}

impl Serving {
    pub(super) fn new(max_lookups: usize) -> Self {
        Serving {
            lookups: JoinSet::new(),
            max_lookups: max_lookups.max(1),
        }
    }
}

impl Actor {
    /// Starts lookups for queued wants up to the concurrency bound.
    pub(super) fn pump_lookups(&mut self) {
        while self.serving.lookups.len() < self.serving.max_lookups {
            let Some(task) = self.swarm.behaviour_mut().bitswap.next_task() else {
                break;
            };
            let store = self.store.clone();
            self.serving.lookups.spawn_blocking(move || {
                let answer = lookup(&store, &task);
                (task, answer)
            });
        }
    }

    pub(super) fn answer(&mut self, task: Task, answer: Answer) {
        let bitswap = &mut self.swarm.behaviour_mut().bitswap;
        let (blocks, presences) = match answer {
            Answer::Block(block) => (u64::from(bitswap.send_block(&task.peer, block)), 0),
            Answer::Presence(presence) => (
                0,
                u64::from(bitswap.send_presence(&task.peer, &task.cid, presence)),
            ),
        };
        if let Some(m) = &self.metrics {
            m.blocks_served.inc_by(blocks);
            m.presences_served.inc_by(presences);
        }
    }
}
