//! Hostile UnixFS DAGs against the readers: shared and too-deep HAMT shards, oversized
//! directories, and random multi-block DAGs built from hand-made nodes (duplicate and unsafe
//! names, shared children, huge declared sizes, links to missing blocks). Every reader must
//! answer within its bounds, with a typed error where the DAG is bad, never a panic.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use chorus_protocol::unixfs::shapes::{directory_node, file_node, hamt_shard_node};
use chorus_protocol::unixfs::{
    BlockSource, ListLimits, ReadError, UnixfsFile, list_directory, lookup, resolve_path, stat,
};
use chorus_storage::{Block, HashAlg, codec};
use cid::Cid;
use futures::StreamExt;
use futures::executor::block_on;
use proptest::prelude::*;

#[derive(Debug, thiserror::Error)]
#[error("missing {0}")]
struct Missing(Cid);

/// A map of blocks that counts reads.
#[derive(Default)]
struct Counted {
    blocks: HashMap<Cid, Block>,
    reads: AtomicUsize,
}

impl Counted {
    fn put(&mut self, b: Block) -> Cid {
        let cid = *b.cid();
        self.blocks.insert(cid, b);
        cid
    }

    fn reads(&self) -> usize {
        self.reads.swap(0, Ordering::Relaxed)
    }
}

impl BlockSource for Counted {
    type Error = Missing;

    fn get(&self, cid: &Cid) -> impl Future<Output = Result<Block, Missing>> + Send {
        self.reads.fetch_add(1, Ordering::Relaxed);
        std::future::ready(self.blocks.get(cid).cloned().ok_or(Missing(*cid)))
    }

    fn prefetch(&self, _: &[Cid]) {}
}

fn raw(data: &[u8]) -> Block {
    Block::from_data(codec::RAW, HashAlg::Sha2_256, data.to_vec()).unwrap()
}

fn slot_names() -> Vec<String> {
    (0..256).map(|s| format!("{s:02X}")).collect()
}

/// The reported attack: every slot of the root links one sub-shard, every slot of which links
/// one leaf shard of 200 entries. Walked naively that is 256 × 256 × 200 = 13 million
/// entries from four blocks; the listing must refuse it after reading a handful.
#[test]
fn a_sub_shard_linked_twice_is_refused_not_expanded() {
    let mut src = Counted::default();
    let file = src.put(raw(b"x"));
    let names: Vec<String> = (0..200)
        .map(|i| format!("{:02X}entry{i}", i % 256))
        .collect();
    let entries: Vec<_> = names.iter().map(|n| (n.as_str(), file, 1)).collect();
    let leaf = src.put(hamt_shard_node(&entries));
    let slots = slot_names();
    let to_leaf: Vec<_> = slots.iter().map(|s| (s.as_str(), leaf, 1)).collect();
    let middle = src.put(hamt_shard_node(&to_leaf));
    let to_middle: Vec<_> = slots.iter().map(|s| (s.as_str(), middle, 1)).collect();
    let root = src.put(hamt_shard_node(&to_middle));

    let err = block_on(list_directory(&src, &root, ListLimits::default())).unwrap_err();
    assert!(
        matches!(err, ReadError::Corrupt { reason, .. } if reason.contains("more than once")),
        "{err}"
    );
    assert!(src.reads() <= 4, "the walk stopped at the first repeat");
}

#[test]
fn a_shard_deeper_than_the_hash_is_refused() {
    let mut src = Counted::default();
    let file = src.put(raw(b"x"));
    let mut shard = src.put(hamt_shard_node(&[("00deep", file, 1)]));
    for level in 0..9 {
        // Distinct shards (a different slot each level), nine deep.
        let name = format!("{level:02X}");
        shard = src.put(hamt_shard_node(&[(name.as_str(), shard, 1)]));
    }
    let err = block_on(list_directory(&src, &shard, ListLimits::default())).unwrap_err();
    assert!(
        matches!(err, ReadError::Corrupt { reason, .. } if reason.contains("deeper")),
        "{err}"
    );
}

#[test]
fn listings_stop_at_the_entry_limit() {
    let mut src = Counted::default();
    let file = src.put(raw(b"x"));
    let names: Vec<String> = (0..11).map(|i| format!("f{i}")).collect();
    let links: Vec<_> = names.iter().map(|n| (n.as_str(), file, 1)).collect();
    let dir = src.put(directory_node(&links));
    let limits = ListLimits { max_entries: 10 };
    assert!(matches!(
        block_on(list_directory(&src, &dir, limits)),
        Err(ReadError::TooManyEntries { limit: 10, .. })
    ));
    assert_eq!(
        block_on(list_directory(&src, &dir, ListLimits { max_entries: 11 }))
            .unwrap()
            .len(),
        11
    );

    // A sharded directory stops as soon as the limit is passed, mid-walk.
    let slots = slot_names();
    let mut subs = Vec::new();
    for s in &slots {
        let names: Vec<String> = (0..4).map(|i| format!("{s}n{i}")).collect();
        let links: Vec<_> = names.iter().map(|n| (n.as_str(), file, 1)).collect();
        subs.push((s.clone(), src.put(hamt_shard_node(&links))));
    }
    let links: Vec<_> = subs.iter().map(|(s, c)| (s.as_str(), *c, 1)).collect();
    let root = src.put(hamt_shard_node(&links));
    src.reads();
    let err = block_on(list_directory(&src, &root, limits)).unwrap_err();
    assert!(matches!(err, ReadError::TooManyEntries { .. }), "{err}");
    assert!(src.reads() <= 4, "stopped after three sub-shards, not 256");
    assert_eq!(
        block_on(list_directory(&src, &root, ListLimits::default()))
            .unwrap()
            .len(),
        1024
    );
}

/// One node of a generated DAG: a kind and links to earlier nodes.
#[derive(Debug, Clone)]
enum Shape {
    Raw(Vec<u8>),
    Dir(Vec<(String, usize)>),
    Shard(Vec<(String, usize)>),
    File(Vec<(usize, u64)>),
    /// A link to a block that is not in the source.
    Missing,
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-c]{1,2}",
        Just(String::new()),
        Just(".".to_owned()),
        Just("..".to_owned()),
        Just("a/b".to_owned()),
        "[0-9A-F]{2}",
        "[0-9A-F]{2}[a-c]{1,2}",
    ]
}

fn shape() -> impl Strategy<Value = Shape> {
    let link = || (name(), any::<prop::sample::Index>());
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..8).prop_map(Shape::Raw),
        prop::collection::vec(link(), 0..6).prop_map(|l| Shape::Dir(
            l.into_iter()
                .map(|(n, i)| (n, i.index(usize::MAX)))
                .collect()
        )),
        prop::collection::vec(link(), 0..6).prop_map(|l| Shape::Shard(
            l.into_iter()
                .map(|(n, i)| (n, i.index(usize::MAX)))
                .collect()
        )),
        prop::collection::vec(
            (
                any::<prop::sample::Index>(),
                prop_oneof![0..4u64, Just(u64::MAX / 4)]
            ),
            0..6
        )
        .prop_map(|l| Shape::File(
            l.into_iter()
                .map(|(i, s)| (i.index(usize::MAX), s))
                .collect()
        )),
        Just(Shape::Missing),
    ]
}

/// Builds the DAG bottom-up (each node links only to earlier ones, so it is acyclic and
/// freely shared); returns the source and every node's CID.
fn build(shapes: &[Shape]) -> (Counted, Vec<Cid>) {
    let mut src = Counted::default();
    let mut cids: Vec<Cid> = Vec::new();
    for (i, shape) in shapes.iter().enumerate() {
        let pick = |k: usize| cids[k % i.max(1)];
        let cid = match shape {
            _ if i == 0 => src.put(raw(b"first")),
            Shape::Raw(data) => src.put(raw(data)),
            Shape::Missing => *raw(&(i as u64).to_le_bytes()).cid(),
            Shape::Dir(links) => {
                let l: Vec<_> = links
                    .iter()
                    .map(|(n, k)| (n.as_str(), pick(*k), 7))
                    .collect();
                src.put(directory_node(&l))
            }
            Shape::Shard(links) => {
                let l: Vec<_> = links
                    .iter()
                    .map(|(n, k)| (n.as_str(), pick(*k), 7))
                    .collect();
                src.put(hamt_shard_node(&l))
            }
            Shape::File(links) => {
                let l: Vec<_> = links.iter().map(|(k, _)| ("", pick(*k), 7)).collect();
                let sizes: Vec<u64> = links.iter().map(|(_, s)| *s).collect();
                src.put(file_node(&l, &sizes))
            }
        };
        cids.push(cid);
    }
    (src, cids)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Every reader answers, within bounds, on any DAG made of these nodes.
    #[test]
    fn readers_stay_bounded_on_hostile_dags(
        shapes in prop::collection::vec(shape(), 1..24),
        names in prop::collection::vec(name(), 0..4),
    ) {
        let (src, cids) = build(&shapes);
        let distinct = src.blocks.len();
        let limits = ListLimits { max_entries: 16 };
        for root in &cids {
            src.reads();
            if let Ok(entries) = block_on(list_directory(&src, root, limits)) {
                prop_assert!(entries.len() <= limits.max_entries);
            }
            // A listing reads each block at most once (shared shards are not walked again).
            prop_assert!(src.reads() <= distinct + 1);
            let _ = block_on(stat(&src, root));
            let _ = block_on(resolve_path(&src, root, &names));
            if let Some(n) = names.first() {
                let _ = block_on(lookup(&src, root, n));
            }
            if let Ok(file) = block_on(UnixfsFile::open(&src, root)) {
                // A huge declared size streams; read a bounded window of it.
                let mut read = std::pin::pin!(file.read(&src, 0, Some(4096)));
                let mut total = 0usize;
                while let Some(chunk) = block_on(read.next()) {
                    match chunk {
                        Ok(c) => total += c.len(),
                        Err(_) => break,
                    }
                }
                prop_assert!(total <= 4096);
            }
        }
    }
}
