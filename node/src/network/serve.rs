//! Answering peers' wants from the blockstore, off the swarm task.

use std::sync::Arc;

use chorus_protocol::bitswap::{Presence, Task, WantType, protocol::MAX_BLOCK_SIZE_REPLACE_HAVE};
use chorus_storage::{Block, Blockstore};
use tracing::warn;

/// What a lookup found for a [`Task`].
#[derive(Debug)]
pub(crate) enum Answer {
    /// Send the block.
    Block(Block),
    /// Send a presence.
    Presence(Presence),
}

/// Looks `task` up in `store` (blocking: run it on the blocking pool). WANT_HAVE for a
/// block over [`MAX_BLOCK_SIZE_REPLACE_HAVE`] reads only the index; everything else reads the
/// block. A store error is logged and answered as DONT_HAVE: the peer can ask elsewhere.
pub(crate) fn lookup(store: &Arc<dyn Blockstore>, task: &Task) -> Answer {
    let mh = task.cid.hash();
    if task.want_type == WantType::Have {
        match store.size(mh) {
            Ok(None) => return Answer::Presence(Presence::DontHave),
            Ok(Some(size)) if size > MAX_BLOCK_SIZE_REPLACE_HAVE as u64 => {
                return Answer::Presence(Presence::Have);
            }
            Ok(Some(_)) => {}
            Err(e) => {
                warn!(cid = %task.cid, peer = %task.peer, error = %e, "blockstore size lookup failed");
                return Answer::Presence(Presence::DontHave);
            }
        }
    }
    match store.get(&task.cid) {
        Ok(Some(block)) => Answer::Block(block),
        Ok(None) => Answer::Presence(Presence::DontHave),
        Err(e) => {
            warn!(cid = %task.cid, peer = %task.peer, error = %e, "blockstore read failed");
            Answer::Presence(Presence::DontHave)
        }
    }
}
