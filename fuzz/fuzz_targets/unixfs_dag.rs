//! Multi-block UnixFS DAGs built from a structured description (hash-linked nodes cannot be
//! reached by mutating bytes): plain directories and HAMT shards with any names, shared
//! children, file nodes declaring any sizes, raw leaves, links to missing blocks. Every reader
//! must answer within its bounds.
#![no_main]

use arbitrary::Arbitrary;
use chorus_protocol::unixfs::shapes::{directory_node, file_node, hamt_shard_node};
use chorus_protocol::unixfs::{
    ListLimits, StoreSource, UnixfsFile, list_directory, lookup, resolve_path, stat,
};
use chorus_storage::{Block, Blockstore, HashAlg, MemoryStore, codec};
use futures::StreamExt;
use futures::executor::block_on;
use libfuzzer_sys::fuzz_target;

#[derive(Debug, Arbitrary)]
enum Shape {
    Raw(Vec<u8>),
    Dir(Vec<(String, u8)>),
    Shard(Vec<(String, u8)>),
    File(Vec<(u8, u64)>),
    Missing(u8),
}

#[derive(Debug, Arbitrary)]
struct Input {
    shapes: Vec<Shape>,
    path: Vec<String>,
}

fn raw(data: &[u8]) -> Block {
    Block::from_data(codec::RAW, HashAlg::Sha2_256, data.to_vec()).expect("sha2-256")
}

fuzz_target!(|input: Input| {
    let store = MemoryStore::new();
    let leaf = raw(b"leaf");
    let _ = store.put(&leaf);
    let mut cids = vec![*leaf.cid()];
    for shape in input.shapes.iter().take(64) {
        let pick = |k: &u8| cids[usize::from(*k) % cids.len()];
        let block = match shape {
            Shape::Raw(d) => raw(d),
            Shape::Missing(n) => {
                cids.push(*raw(&[*n, 0xff]).cid());
                continue;
            }
            Shape::Dir(l) => {
                let links: Vec<_> = l
                    .iter()
                    .take(64)
                    .map(|(n, k)| (n.as_str(), pick(k), 1))
                    .collect();
                directory_node(&links)
            }
            Shape::Shard(l) => {
                let links: Vec<_> = l
                    .iter()
                    .take(64)
                    .map(|(n, k)| (n.as_str(), pick(k), 1))
                    .collect();
                hamt_shard_node(&links)
            }
            Shape::File(l) => {
                let links: Vec<_> = l.iter().take(64).map(|(k, _)| ("", pick(k), 1)).collect();
                let sizes: Vec<u64> = l.iter().take(64).map(|(_, s)| *s).collect();
                file_node(&links, &sizes)
            }
        };
        cids.push(*block.cid());
        let _ = store.put(&block);
    }
    let src = StoreSource::new(std::sync::Arc::new(store));
    let limits = ListLimits { max_entries: 256 };
    for root in cids.iter().rev().take(4) {
        if let Ok(entries) = block_on(list_directory(&src, root, limits)) {
            assert!(entries.len() <= limits.max_entries);
        }
        let _ = block_on(stat(&src, root));
        let _ = block_on(resolve_path(&src, root, input.path.iter().take(8)));
        if let Some(name) = input.path.first() {
            let _ = block_on(lookup(&src, root, name));
        }
        if let Ok(file) = block_on(UnixfsFile::open(&src, root)) {
            let mut read = std::pin::pin!(file.read(&src, 0, Some(1 << 16)));
            let mut total = 0usize;
            while let Some(Ok(chunk)) = block_on(read.next()) {
                total += chunk.len();
            }
            assert!(total <= 1 << 16);
        }
    }
});
