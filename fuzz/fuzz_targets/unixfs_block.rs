//! One dag-pb block read as UnixFS by every reader entry point: stat, lookup, listing, a
//! bounded file read, a symlink read.
#![no_main]

use bytes::Bytes;
use chorus_protocol::unixfs::{
    ListLimits, StoreSource, UnixfsFile, list_directory, lookup, read_symlink, stat,
};
use chorus_storage::{Block, Blockstore, MemoryStore};
use futures::StreamExt;
use futures::executor::block_on;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(block) = Block::from_data_v0(Bytes::copy_from_slice(data)) else {
        return;
    };
    let cid = *block.cid();
    let store = MemoryStore::new();
    let _ = store.put(&block);
    let src = StoreSource::new(std::sync::Arc::new(store));
    let _ = block_on(stat(&src, &cid));
    let _ = block_on(lookup(&src, &cid, "a"));
    let _ = block_on(list_directory(&src, &cid, ListLimits { max_entries: 1000 }));
    let _ = block_on(read_symlink(&src, &cid));
    if let Ok(file) = block_on(UnixfsFile::open(&src, &cid)) {
        let mut read = std::pin::pin!(file.read(&src, 0, Some(1 << 16)));
        while let Some(Ok(_)) = block_on(read.next()) {}
    }
});
