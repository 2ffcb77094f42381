//! CAR responses of the trustless gateway: the blocks that prove the path, then the terminal
//! block and what `dag-scope` / `entity-bytes` select, in depth-first order.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use chorus_protocol::car::{block_links, block_section_prefix, header_section};
use chorus_protocol::lookahead::CidStackLookahead;
use chorus_protocol::unixfs::{
    BlockSource, ListLimits, NodeKind, ReadError, UnixfsFile, list_directory,
};
use chorus_storage::{Block, Cid, codec};
use futures::StreamExt;
use tokio::sync::mpsc;

use super::request::{CarParams, DagScope};
use crate::fetch::{FetchError, FetcherSource};

/// Chunks buffered between the traversal task and the HTTP body. Each chunk is at most one
/// block (≤ a few MiB), so this bounds the memory of one CAR response.
pub const CAR_CHANNEL_CAPACITY: usize = 16;

/// A block source that remembers every block it hands out, so the blocks a walk needed (path
/// resolution, a sharded directory's listing) can be written to a CAR in fetch order. Only for
/// walks that fetch in the order they visit: a file read looks ahead, so its CAR comes from
/// [`UnixfsFile::read_blocks`] instead.
#[derive(Clone)]
pub struct Recorder {
    inner: FetcherSource,
    log: Arc<Mutex<Vec<Block>>>,
}

impl Recorder {
    /// Records the blocks fetched through `inner`.
    pub fn new(inner: FetcherSource) -> Self {
        Recorder {
            inner,
            log: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// Takes the blocks recorded so far.
    pub fn drain(&self) -> Vec<Block> {
        match self.log.lock() {
            Ok(mut log) => std::mem::take(&mut *log),
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        }
    }
}

impl BlockSource for Recorder {
    type Error = FetchError;

    fn get(&self, cid: &Cid) -> impl Future<Output = Result<Block, FetchError>> + Send {
        let fetch = self.inner.fetcher().fetch(*cid);
        let log = self.log.clone();
        async move {
            let block = fetch.await?;
            record(&log, &block);
            Ok(block)
        }
    }

    fn get_at_hand(&self, cid: &Cid) -> impl Future<Output = Option<Block>> + Send {
        let fetch = self.inner.fetcher().fetch_at_hand(*cid);
        let log = self.log.clone();
        async move {
            let block = fetch.await?;
            record(&log, &block);
            Some(block)
        }
    }
}

fn record(log: &Mutex<Vec<Block>>, block: &Block) {
    match log.lock() {
        Ok(mut l) => l.push(block.clone()),
        Err(poisoned) => poisoned.into_inner().push(block.clone()),
    }
}

/// Everything the CAR task needs, gathered before the 200 is committed.
pub struct CarJob {
    /// CAR header root (the request's root CID).
    pub root: Cid,
    /// Blocks fetched while resolving the path, in order.
    pub path_blocks: Vec<Block>,
    /// The block the path ends at.
    pub terminal: Block,
    /// Scope and range.
    pub params: CarParams,
    /// Where further blocks come from.
    pub source: FetcherSource,
    /// Bounds on listing a sharded directory (`dag-scope=entity`).
    pub limits: ListLimits,
}

type Chunk = Result<Bytes, std::io::Error>;

struct Emitter {
    tx: mpsc::Sender<Chunk>,
    seen: HashSet<Cid>,
    dups: bool,
}

impl Emitter {
    /// Sends one block section; false when the client went away.
    async fn block(&mut self, block: &Block) -> bool {
        if block.cid().hash().code() == 0 {
            // Identity blocks are virtual: the trustless spec forbids sending them.
            return true;
        }
        if !self.seen.insert(*block.cid()) && !self.dups {
            return true;
        }
        self.tx.send(Ok(block_section_prefix(block))).await.is_ok()
            && (block.is_empty() || self.tx.send(Ok(block.data().clone())).await.is_ok())
    }

    async fn fail(&self, err: impl std::fmt::Display) {
        let _ = self
            .tx
            .send(Err(std::io::Error::other(err.to_string())))
            .await;
    }
}

/// Starts the traversal task and returns the body stream. Dropping the stream stops the task
/// at its next send. A failure after the first byte ends the stream with an error, so the
/// client sees a truncated CAR (the spec's answer for a missing child once 200 is sent).
pub fn spawn(job: CarJob) -> impl futures::Stream<Item = Chunk> + Send + 'static {
    let (tx, rx) = mpsc::channel(CAR_CHANNEL_CAPACITY);
    tokio::spawn(run(job, tx));
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) })
}

async fn run(job: CarJob, tx: mpsc::Sender<Chunk>) {
    let mut out = Emitter {
        tx,
        seen: HashSet::new(),
        dups: job.params.dups,
    };
    if out.tx.send(Ok(header_section(&[job.root]))).await.is_err() {
        return;
    }
    for b in &job.path_blocks {
        if !out.block(b).await {
            return;
        }
    }
    if !out.block(&job.terminal).await {
        return;
    }
    let result = match job.params.scope {
        DagScope::Block => Ok(()),
        DagScope::Entity => entity(&job, &mut out).await,
        DagScope::All => all(&job, &mut out).await,
    };
    if let Err(e) = result {
        tracing::debug!(root = %job.root, error = %e, "CAR stream ended early");
        out.fail(e).await;
    }
}

/// Blocks of the terminal entity: a file's blocks overlapping the range, or a sharded
/// directory's shard nodes; nothing more for plain directories and non-UnixFS data.
async fn entity(job: &CarJob, out: &mut Emitter) -> Result<(), ReadError> {
    let cid = *job.terminal.cid();
    if cid.codec() != codec::DAG_PB && cid.codec() != codec::RAW {
        return Ok(());
    }
    match UnixfsFile::from_block(job.terminal.clone()) {
        Ok(file) => {
            let range = match &job.params.entity_bytes {
                Some(b) => b.resolve(file.size()),
                None => (file.size() > 0).then_some((0, file.size())),
            };
            let Some((start, end)) = range else {
                return Ok(());
            };
            // The reader's visits, not its fetches: it fetches the next subtree's root ahead
            // of its turn, and the CAR must stay in DAG order. The root went out already.
            let blocks = file.read_blocks(job.source.clone(), start, Some(end - start));
            let mut blocks = std::pin::pin!(blocks.skip(1));
            while let Some(block) = blocks.next().await {
                if !out.block(&block?).await {
                    return Ok(());
                }
            }
            Ok(())
        }
        Err(ReadError::NotAFile {
            kind: NodeKind::HamtShard,
            ..
        }) => {
            let recorder = Recorder::new(job.source.clone());
            list_directory(&recorder, &cid, job.limits).await?;
            for b in recorder.drain() {
                if !out.block(&b).await {
                    return Ok(());
                }
            }
            Ok(())
        }
        Err(ReadError::NotAFile { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The whole DAG below the terminal block, depth-first pre-order.
async fn all(job: &CarJob, out: &mut Emitter) -> Result<(), ReadError> {
    let links = |b: &Block| -> Result<Vec<Cid>, ReadError> {
        match b.cid().codec() {
            codec::DAG_PB | codec::RAW => block_links(b).map_err(|e| ReadError::Fetch {
                cid: *b.cid(),
                source: Box::new(e),
            }),
            // Links of other codecs are not followed (the CAR holds the block itself).
            _ => Ok(Vec::new()),
        }
    };
    let mut stack: Vec<Cid> = links(&job.terminal)?.into_iter().rev().collect();
    let mut expanded: HashSet<Cid> = HashSet::from([*job.terminal.cid()]);
    let mut ahead = CidStackLookahead::default();
    while let Some(cid) = stack.pop() {
        if !out.dups && expanded.contains(&cid) {
            continue;
        }
        let (block, hinted) =
            ahead
                .visit(&job.source, &cid)
                .await
                .map_err(|e| ReadError::Fetch {
                    cid,
                    source: Box::new(e),
                })?;
        if !out.block(&block).await {
            return Ok(());
        }
        if expanded.insert(cid) || out.dups {
            let children = links(&block)?;
            // Visited in this order next: start fetching the missing ones now rather than one
            // round trip each (as `pin add`'s walk does), unless the look-ahead already did.
            if !hinted {
                job.source.prefetch(&children);
            }
            if !children.is_empty() {
                ahead.entered(stack.len());
                stack.extend(children.into_iter().rev());
            }
        }
        ahead
            .look(&job.source, &stack, |b| links(b).unwrap_or_default())
            .await;
    }
    Ok(())
}
