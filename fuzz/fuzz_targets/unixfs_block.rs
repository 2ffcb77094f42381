//! One dag-pb block read as UnixFS by every reader entry point: stat, lookup, listing, a
//! bounded file read, a symlink read.
#![no_main]

use std::collections::HashMap;

use bytes::Bytes;
use chorus_protocol::unixfs::{
    BlockSource, ListLimits, UnixfsFile, list_directory, lookup, read_symlink, stat,
};
use chorus_storage::Block;
use cid::Cid;
use futures::StreamExt;
use futures::executor::block_on;
use libfuzzer_sys::fuzz_target;

#[derive(Debug)]
struct Missing;

impl std::fmt::Display for Missing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("missing")
    }
}

impl std::error::Error for Missing {}

struct One(HashMap<Cid, Block>);

impl BlockSource for One {
    type Error = Missing;

    fn get(&self, cid: &Cid) -> impl Future<Output = Result<Block, Missing>> + Send {
        std::future::ready(self.0.get(cid).cloned().ok_or(Missing))
    }

    fn prefetch(&self, _: &[Cid]) {}
}

fuzz_target!(|data: &[u8]| {
    let Ok(block) = Block::from_data_v0(Bytes::copy_from_slice(data)) else {
        return;
    };
    let cid = *block.cid();
    let src = One(HashMap::from([(cid, block)]));
    let _ = block_on(stat(&src, &cid));
    let _ = block_on(lookup(&src, &cid, "a"));
    let _ = block_on(list_directory(&src, &cid, ListLimits { max_entries: 1000 }));
    let _ = block_on(read_symlink(&src, &cid));
    if let Ok(file) = block_on(UnixfsFile::open(&src, &cid)) {
        let mut read = std::pin::pin!(file.read(&src, 0, Some(1 << 16)));
        while let Some(Ok(_)) = block_on(read.next()) {}
    }
});
