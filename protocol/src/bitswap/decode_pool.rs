//! Verifying received blocks off the connection task.
//!
//! Turning a frame into a [`Message`] verifies its blocks, which means hashing them: up to
//! 4 MiB per frame, milliseconds of CPU. On the connection task that is time in which the
//! connection neither reads its socket nor sends yamux window updates, and the 1 MiB stream
//! window chorus grants (see the node's yamux config) drains in about 3 ms at loopback speed,
//! so the sender stalls. Frames carrying at least [`OFF_TASK_MIN_BLOCK_BYTES`] of blocks are
//! therefore verified on a small pool of threads shared by all connections, while the
//! connection goes on reading; the handler hands the results to the behaviour in frame order.

use std::num::NonZeroUsize;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use futures::channel::oneshot;

use super::message::{Decoded, Message};
use super::pb;

/// Frames with at least this many block bytes go to the pool; smaller ones (wants, presences,
/// small blocks) are verified in place, where the hand-off would cost more than the hashing.
/// 64 KiB of SHA-256 is tens of microseconds.
pub(crate) const OFF_TASK_MIN_BLOCK_BYTES: usize = 64 * 1024;
/// Frames queued for the pool, across all connections; past this, callers verify in place
/// (backpressure without blocking: the connection task then does the work itself).
const QUEUE: usize = 64;
/// Pool threads: one per core, at most this many (the work is hashing, which scales with
/// cores, and a node's receive rate is bounded by its connections anyway).
const MAX_THREADS: usize = 4;

/// A frame being verified: ready at once, or by the pool.
pub(crate) enum Verifying {
    /// Verified in place.
    Done(Decoded),
    /// On the pool; the receiver yields the result (it is cancelled only if a pool thread
    /// dies, in which case the frame is lost like a dropped packet and the want retried).
    Queued(oneshot::Receiver<Decoded>),
}

type Job = (pb::Message, oneshot::Sender<Decoded>);

/// The shared pool (started on first use; `None` if no thread could be started).
fn pool() -> Option<&'static SyncSender<Job>> {
    static POOL: OnceLock<Option<SyncSender<Job>>> = OnceLock::new();
    POOL.get_or_init(start).as_ref()
}

fn start() -> Option<SyncSender<Job>> {
    let (tx, rx) = sync_channel::<Job>(QUEUE);
    let rx = Arc::new(Mutex::new(rx));
    let threads = std::thread::available_parallelism()
        .map_or(1, NonZeroUsize::get)
        .min(MAX_THREADS);
    let mut started = 0;
    for i in 0..threads {
        let rx = rx.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("bitswap-verify-{i}"))
            .spawn(move || run(&rx));
        match spawned {
            Ok(_) => started += 1,
            Err(e) => tracing::warn!(error = %e, "could not start a bitswap verify thread"),
        }
    }
    (started > 0).then_some(tx)
}

/// A pool thread: verifies frames until the process ends.
fn run(rx: &Mutex<Receiver<Job>>) {
    loop {
        let job = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
        let Ok((pb, reply)) = job else {
            return;
        };
        // The handler may have gone (connection closed): then nobody wants the result.
        let _ = reply.send(Message::from_pb(pb));
    }
}

/// Bytes of block data in `pb`.
fn block_bytes(pb: &pb::Message) -> usize {
    pb.blocks.iter().map(|b| b.len()).sum::<usize>()
        + pb.payload.iter().map(|b| b.data.len()).sum::<usize>()
}

/// Verifies `pb` into a [`Decoded`]: on the pool when it carries enough block bytes and the
/// pool has room, here otherwise.
pub(crate) fn verify(pb: pb::Message) -> Verifying {
    if block_bytes(&pb) < OFF_TASK_MIN_BLOCK_BYTES {
        return Verifying::Done(Message::from_pb(pb));
    }
    let Some(tx) = pool() else {
        return Verifying::Done(Message::from_pb(pb));
    };
    let (reply, result) = oneshot::channel();
    match tx.try_send((pb, reply)) {
        Ok(()) => Verifying::Queued(result),
        Err(TrySendError::Full((pb, _)) | TrySendError::Disconnected((pb, _))) => {
            Verifying::Done(Message::from_pb(pb))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use chorus_storage::{Block, HashAlg, codec};

    fn block(seed: u8, len: usize) -> Block {
        Block::from_data(codec::RAW, HashAlg::Sha2_256, vec![seed; len]).unwrap()
    }

    #[test]
    fn the_pool_verifies_as_in_place_does() {
        let good = block(1, 100_000);
        let v0 = Block::from_data_v0(vec![7u8; 80_000]).unwrap();
        let pb = pb::Message {
            // A v1.0 block, a v1.1 payload with a prefix, and one whose prefix lies.
            blocks: vec![v0.data().clone()],
            payload: vec![
                pb::Block {
                    prefix: vec![1, 0x55, 0x12, 0x20],
                    data: good.data().clone(),
                },
                pb::Block {
                    prefix: vec![1, 0x55, 0x99, 0x20],
                    data: Bytes::from(vec![3u8; 10]),
                },
            ],
            ..Default::default()
        };
        let here = Message::from_pb(pb.clone());
        let Verifying::Queued(rx) = verify(pb) else {
            panic!("180 KB of blocks go to the pool");
        };
        let there = futures::executor::block_on(rx).unwrap();
        assert_eq!(there.message, here.message);
        assert_eq!(there.message.blocks, vec![v0, good]);
        assert_eq!(there.invalid.len(), 1, "{:?}", there.invalid);
        assert_eq!(there.invalid, here.invalid);
    }

    #[test]
    fn small_frames_are_verified_in_place() {
        let pb = pb::Message {
            blocks: vec![block(2, 1000).data().clone()],
            ..Default::default()
        };
        assert!(matches!(verify(pb), Verifying::Done(d) if d.message.blocks.len() == 1));
    }
}
