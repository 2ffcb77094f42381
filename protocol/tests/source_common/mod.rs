//! Block sources shared by the reader and CAR tests: a `LogSource` that records what a walk
//! fetches and hints, and can keep one block in flight for ever.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::Mutex;

use chorus_protocol::unixfs::{BlockSource, ImportOptions, import_bytes};
use chorus_storage::Block;
use cid::Cid;

/// A block the source does not hold.
#[derive(Debug, thiserror::Error)]
#[error("missing {0}")]
pub struct Missing(pub Cid);

/// A source that logs fetches and prefetch hints in one sequence.
pub struct LogSource {
    pub blocks: HashMap<Cid, Block>,
    /// `(hint, cid)`: a prefetch hint or a fetch (at hand or not).
    pub log: Mutex<Vec<(bool, Cid)>>,
    /// A block whose fetch is in flight for ever: never at hand, and `get` never completes.
    pub in_flight: Option<Cid>,
}

impl LogSource {
    pub fn holding(blocks: Vec<Block>) -> Self {
        LogSource {
            blocks: blocks.into_iter().map(|b| (*b.cid(), b)).collect(),
            log: Mutex::default(),
            in_flight: None,
        }
    }

    /// How many times `cid` was hinted.
    pub fn hints(&self, cid: Cid) -> usize {
        let log = self.log.lock().unwrap();
        log.iter().filter(|e| **e == (true, cid)).count()
    }
}

impl BlockSource for LogSource {
    type Error = Missing;

    fn get(&self, cid: &Cid) -> impl Future<Output = Result<Block, Missing>> + Send {
        self.log.lock().unwrap().push((false, *cid));
        let block = self.blocks.get(cid).cloned().ok_or(Missing(*cid));
        let stuck = self.in_flight == Some(*cid);
        async move {
            if stuck {
                std::future::pending::<()>().await;
            }
            block
        }
    }

    fn prefetch(&self, cids: &[Cid]) {
        let mut log = self.log.lock().unwrap();
        log.extend(cids.iter().map(|c| (true, *c)));
    }

    fn get_at_hand(&self, cid: &Cid) -> impl Future<Output = Option<Block>> + Send {
        let block = self
            .blocks
            .get(cid)
            .filter(|_| self.in_flight != Some(*cid));
        if block.is_some() {
            self.log.lock().unwrap().push((false, *cid));
        }
        std::future::ready(block.cloned())
    }
}

/// `data` (40 000 bytes) as 400 leaves of 100 bytes under kubo's 174 links per node (a root
/// over nodes of 174, 174 and 52 leaves: wider than the look-ahead), with raw or dag-pb
/// leaves; the root and a source holding every block.
pub fn wide_file(data: &[u8], raw_leaves: bool) -> (Cid, LogSource) {
    assert_eq!(data.len(), 40_000);
    let opts = ImportOptions::default()
        .with_chunk_size(100)
        .with_max_links(174)
        .with_raw_leaves(raw_leaves);
    let (imp, blocks) = import_bytes(&opts, data).unwrap();
    (imp.root, LogSource::holding(blocks))
}
