//! Reader tests: ranged reads (and that they fetch only in-range blocks), path resolution
//! through plain and HAMT directories, listing, and errors for what is not UnixFS.

use std::collections::HashMap;
use std::sync::Mutex;

mod source_common;

use bytes::Bytes;
use chorus_protocol::unixfs::{
    BlockSource, ImportOptions, Layout, ListLimits, NodeKind, ReadError, TreeBuilder, UnixfsFile,
    import_bytes, list_directory, lookup, parse_ipfs_path, resolve_path, stat,
};
use chorus_storage::{Block, HashAlg, codec};
use cid::Cid;
use futures::{FutureExt, StreamExt, TryStreamExt};
use proptest::prelude::*;
use source_common::{LogSource, Missing, wide_file};

/// An in-memory block source that records every fetch.
#[derive(Default)]
struct MapSource {
    blocks: HashMap<Cid, Block>,
    fetched: Mutex<Vec<Cid>>,
    prefetched: Mutex<Vec<Cid>>,
}

impl MapSource {
    fn insert_all(&mut self, blocks: impl IntoIterator<Item = Block>) {
        for b in blocks {
            self.blocks.insert(*b.cid(), b);
        }
    }

    fn take_fetched(&self) -> Vec<Cid> {
        std::mem::take(&mut *self.fetched.lock().unwrap())
    }
}

impl BlockSource for MapSource {
    type Error = Missing;

    fn get(&self, cid: &Cid) -> impl Future<Output = Result<Block, Missing>> + Send {
        self.fetched.lock().unwrap().push(*cid);
        std::future::ready(self.blocks.get(cid).cloned().ok_or(Missing(*cid)))
    }

    fn prefetch(&self, cids: &[Cid]) {
        self.prefetched.lock().unwrap().extend_from_slice(cids);
    }
}

fn pattern(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect()
}

fn block_on<F: Future>(f: F) -> F::Output {
    futures::executor::block_on(f)
}

async fn read_all(
    source: &MapSource,
    root: &Cid,
    offset: u64,
    len: Option<u64>,
) -> Result<Vec<u8>, ReadError> {
    let file = UnixfsFile::open(source, root).await?;
    let chunks: Vec<Bytes> = file.read(source, offset, len).try_collect().await?;
    Ok(chunks.concat())
}

fn options_strategy() -> impl Strategy<Value = ImportOptions> {
    (
        prop_oneof![Just(None), Just(Some(0u8)), Just(Some(1u8))],
        prop_oneof![Just(None), Just(Some(false)), Just(Some(true))],
        1usize..300,
        prop_oneof![Just(Layout::Balanced), Just(Layout::Trickle)],
        prop_oneof![Just(HashAlg::Sha2_256), Just(HashAlg::Blake3)],
        2usize..6,
    )
        .prop_map(|(v, raw, chunk, layout, hash, links)| {
            let mut o = ImportOptions::default()
                .with_chunk_size(chunk)
                .with_layout(layout)
                .with_max_links(links);
            o.cid_version = v;
            o.raw_leaves = raw;
            if v != Some(0) {
                o = o.with_hash(hash);
            }
            o
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn ranges_read_back(
        opts in options_strategy(),
        size in 0usize..20_000,
        seed in any::<u64>(),
        ranges in prop::collection::vec((0u64..21_000, prop::option::of(0u64..6000)), 1..8),
    ) {
        let data = pattern(size, seed);
        let (imp, blocks) = import_bytes(&opts, &data).unwrap();
        let mut src = MapSource::default();
        src.insert_all(blocks);
        let whole = block_on(read_all(&src, &imp.root, 0, None)).unwrap();
        prop_assert_eq!(&whole, &data);
        for (off, len) in ranges {
            let got = block_on(read_all(&src, &imp.root, off, len)).unwrap();
            let start = (off as usize).min(size);
            let end = len.map_or(size, |l| (start + l as usize).min(size));
            prop_assert_eq!(&got[..], &data[start..end], "range {}+{:?}", off, len);
        }
    }
}

#[test]
fn small_range_fetches_only_its_path() {
    // 64 chunks of 1000 bytes with 4 links per node: a balanced tree of depth 3.
    let opts = ImportOptions::default()
        .with_chunk_size(1000)
        .with_max_links(4)
        .with_raw_leaves(true);
    let data = pattern(64_000, 9);
    let (imp, blocks) = import_bytes(&opts, &data).unwrap();
    assert_eq!(blocks.len(), 64 + 16 + 4 + 1);
    let mut src = MapSource::default();
    src.insert_all(blocks);

    let got = block_on(read_all(&src, &imp.root, 37_010, Some(20))).unwrap();
    assert_eq!(got, &data[37_010..37_030]);
    let fetched = src.take_fetched();
    // Root, one node per level below it, one leaf: nothing outside the range.
    assert_eq!(fetched.len(), 4, "{fetched:?}");
    assert_eq!(fetched[0], imp.root);

    // A range spanning two leaves under different parents costs both paths.
    let got = block_on(read_all(&src, &imp.root, 15_990, Some(20))).unwrap();
    assert_eq!(got, &data[15_990..16_010]);
    let fetched = src.take_fetched();
    assert_eq!(fetched.len(), 1 + 2 * 3);
    // Prefetch hints name only blocks the read then fetched (both halves of each fork).
    let hinted = std::mem::take(&mut *src.prefetched.lock().unwrap());
    assert_eq!(hinted.len(), 2);
    assert!(hinted.iter().all(|c| fetched.contains(c)));

    // The blocks proving a range: root then the path, in pre-order; an empty range is the root.
    let file = block_on(UnixfsFile::open(&src, &imp.root)).unwrap();
    let proof: Vec<Block> =
        block_on(file.read_blocks(&src, 37_010, Some(20)).try_collect()).unwrap();
    assert_eq!(proof.len(), 4);
    assert_eq!(*proof[0].cid(), imp.root);
    assert_eq!(&proof[3].data()[..], &data[37_000..38_000]);
    let root_only: Vec<Block> =
        block_on(file.read_blocks(&src, 37_010, Some(0)).try_collect()).unwrap();
    assert_eq!(root_only.len(), 1);
    src.take_fetched();

    // The whole file fetches every block exactly once.
    block_on(read_all(&src, &imp.root, 0, None)).unwrap();
    let mut all = src.take_fetched();
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 85);
}

#[test]
fn empty_range_and_past_end() {
    let (imp, blocks) = import_bytes(&ImportOptions::default(), b"hello world").unwrap();
    let mut src = MapSource::default();
    src.insert_all(blocks);
    assert_eq!(block_on(read_all(&src, &imp.root, 11, None)).unwrap(), b"");
    assert_eq!(
        block_on(read_all(&src, &imp.root, 500, Some(3))).unwrap(),
        b""
    );
    assert_eq!(
        block_on(read_all(&src, &imp.root, 6, Some(0))).unwrap(),
        b""
    );
    assert_eq!(
        block_on(read_all(&src, &imp.root, 6, Some(100))).unwrap(),
        b"world"
    );
}

fn file(src: &mut MapSource, data: &[u8]) -> (Cid, u64) {
    let (imp, blocks) = import_bytes(&ImportOptions::default(), data).unwrap();
    src.insert_all(blocks);
    (imp.root, imp.tsize)
}

#[test]
fn resolve_and_list_plain_directories() {
    let mut src = MapSource::default();
    let mut t = TreeBuilder::new(&ImportOptions::default()).unwrap();
    let (a, asz) = file(&mut src, b"ay\n");
    let (c, csz) = file(&mut src, &pattern(300_000, 3));
    t.add("a.txt", a, asz).unwrap();
    t.add("sub/deeper/c.bin", c, csz).unwrap();
    let mut blocks = Vec::new();
    let tree = t.finish(&mut blocks).unwrap();
    src.insert_all(blocks);
    let root = tree.root.cid;

    let found = block_on(resolve_path(&src, &root, ["sub", "deeper", "c.bin"])).unwrap();
    assert_eq!(found, c);
    let (pcid, segs) = parse_ipfs_path(&format!("/ipfs/{root}/sub/deeper/c.bin")).unwrap();
    assert_eq!(pcid, root);
    assert_eq!(block_on(resolve_path(&src, &pcid, &segs)).unwrap(), c);
    assert!(parse_ipfs_path("/ipfs/notacid/x").is_err());

    let ls = block_on(list_directory(&src, &root, ListLimits::default())).unwrap();
    let names: Vec<_> = ls.iter().map(|e| e.name.as_str()).collect();
    assert_eq!(names, ["a.txt", "sub"]);
    assert_eq!(ls[0].cid, a);
    assert_eq!(ls[0].tsize, asz);

    let st = block_on(stat(&src, &c)).unwrap();
    assert_eq!((st.kind, st.size), (NodeKind::File, 300_000));
    assert_eq!(
        block_on(stat(&src, &root)).unwrap().kind,
        NodeKind::Directory
    );

    assert!(matches!(
        block_on(lookup(&src, &root, "nope")),
        Err(ReadError::NotFound { .. })
    ));
    assert!(matches!(
        block_on(resolve_path(&src, &root, ["a.txt", "x"])),
        Err(ReadError::NotADirectory {
            kind: NodeKind::File,
            ..
        })
    ));
    assert!(matches!(
        block_on(UnixfsFile::open(&src, &root)),
        Err(ReadError::NotAFile {
            kind: NodeKind::Directory,
            ..
        })
    ));
}

#[test]
fn hamt_directory_resolves_and_lists() {
    // Same shape as kubo's golden 6000-file sharded directory.
    let mut src = MapSource::default();
    let mut t = TreeBuilder::new(&ImportOptions::default()).unwrap();
    let mut expected = Vec::new();
    for i in 0..6000 {
        let name = format!("file-with-a-longish-name-{i:05}.txt");
        let (c, s) = file(&mut src, format!("content {i}\n").as_bytes());
        t.add(&name, c, s).unwrap();
        expected.push((name, c));
    }
    let mut blocks = Vec::new();
    let tree = t.finish(&mut blocks).unwrap();
    assert!(tree.root.sharded);
    assert_eq!(
        tree.root.cid.to_string(),
        "QmVGCx2Nv6VSV5VcmbP218dnMVhFAAfdjXsCL59RA1nSMS"
    );
    src.insert_all(blocks);
    let root = tree.root.cid;
    assert_eq!(
        block_on(stat(&src, &root)).unwrap().kind,
        NodeKind::HamtShard
    );

    for (name, cid) in expected.iter().step_by(97) {
        assert_eq!(block_on(lookup(&src, &root, name)).unwrap(), *cid, "{name}");
    }
    assert!(matches!(
        block_on(lookup(&src, &root, "file-with-a-longish-name-99999.txt")),
        Err(ReadError::NotFound { .. })
    ));
    let ls = block_on(list_directory(&src, &root, ListLimits::default())).unwrap();
    assert_eq!(ls.len(), 6000);
    assert!(
        ls.iter()
            .zip(&expected)
            .all(|(e, (n, c))| &e.name == n && e.cid == *c)
    );
    let content = block_on(read_all(
        &src,
        &block_on(resolve_path(
            &src,
            &root,
            ["file-with-a-longish-name-04321.txt"],
        ))
        .unwrap(),
        0,
        None,
    ))
    .unwrap();
    assert_eq!(content, b"content 4321\n");
}

fn dag_pb(bytes: Vec<u8>) -> Block {
    Block::from_data_v0(bytes).unwrap()
}

#[test]
fn symlinks_unknown_codecs_and_corrupt_nodes() {
    let mut src = MapSource::default();
    // PBNode{Data: UnixFS{Type: Symlink, Data: "a/b"}}
    let symlink = dag_pb(vec![0x0a, 0x07, 0x08, 0x04, 0x12, 0x03, b'a', b'/', b'b']);
    // A dag-cbor block (an empty map).
    let cbor = Block::from_data(codec::DAG_CBOR, HashAlg::Sha2_256, vec![0xa0]).unwrap();
    // A File node with one link but no blocksizes.
    let leaf = Block::from_data(codec::RAW, HashAlg::Sha2_256, &b"hello"[..]).unwrap();
    let cid_bytes = leaf.cid().to_bytes();
    let mut link = vec![0x0a, cid_bytes.len() as u8];
    link.extend_from_slice(&cid_bytes);
    link.extend_from_slice(&[0x12, 0x00, 0x18, 0x05]);
    let mut bad = vec![0x12, link.len() as u8];
    bad.extend_from_slice(&link);
    bad.extend_from_slice(&[0x0a, 0x04, 0x08, 0x02, 0x18, 0x05]);
    let bad = dag_pb(bad);
    // Two links whose blocksizes overflow u64 when summed.
    let mut huge = Vec::new();
    for _ in 0..2 {
        huge.extend_from_slice(&[0x12, link.len() as u8]);
        huge.extend_from_slice(&link);
    }
    let mut fs = vec![0x08, 0x02];
    for _ in 0..2 {
        fs.push(0x20);
        fs.extend_from_slice(&[0xff; 9]);
        fs.push(0x01);
    }
    huge.push(0x0a);
    huge.push(fs.len() as u8);
    huge.extend_from_slice(&fs);
    let huge = dag_pb(huge);
    let huge_cid = *huge.cid();
    src.insert_all([huge]);
    assert!(matches!(
        block_on(UnixfsFile::open(&src, &huge_cid)),
        Err(ReadError::Corrupt { .. })
    ));
    // Not protobuf at all.
    let garbage = dag_pb(vec![0xff, 0xff]);
    let ids = [*symlink.cid(), *cbor.cid(), *bad.cid(), *garbage.cid()];
    src.insert_all([symlink, cbor, bad, garbage, leaf]);

    let st = block_on(stat(&src, &ids[0])).unwrap();
    assert_eq!((st.kind, st.size), (NodeKind::Symlink, 3));
    assert!(matches!(
        block_on(stat(&src, &ids[1])),
        Err(ReadError::UnsupportedCodec { codec: 0x71, .. })
    ));
    assert!(matches!(
        block_on(UnixfsFile::open(&src, &ids[2])),
        Err(ReadError::Corrupt { .. })
    ));
    assert!(matches!(
        block_on(stat(&src, &ids[3])),
        Err(ReadError::Decode { .. })
    ));
    let missing: Cid = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
        .parse()
        .unwrap();
    assert!(matches!(
        block_on(stat(&src, &missing)),
        Err(ReadError::Fetch { .. })
    ));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Arbitrary bytes under a dag-pb CID: every reader entry point returns (Ok or a typed
    /// error) without panicking.
    #[test]
    fn garbage_nodes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300), name in "[a-z]{1,8}") {
        let block = dag_pb(bytes);
        let cid = *block.cid();
        let mut src = MapSource::default();
        src.insert_all([block]);
        let _ = block_on(stat(&src, &cid));
        let _ = block_on(lookup(&src, &cid, &name));
        let _ = block_on(list_directory(&src, &cid, ListLimits::default()));
        if let Ok(file) = block_on(UnixfsFile::open(&src, &cid)) {
            let _ = block_on(file.read(&src, 0, None).try_collect::<Vec<_>>());
        }
    }
}

/// The gateway holds reads across `.await`s on a multi-threaded runtime: the streams must be
/// `Send` for a type-erased store. Compile-time check only.
#[allow(dead_code)]
fn streams_over_a_dyn_store_are_send(
    file: &UnixfsFile,
    store: std::sync::Arc<dyn chorus_storage::Blockstore>,
) {
    fn is_send<T: Send>(_: &T) {}
    let source = chorus_protocol::unixfs::StoreSource::new(store);
    is_send(&file.read(source.clone(), 0, None));
    is_send(&file.read_blocks(source.clone(), 0, None));
    is_send(&chorus_protocol::car::export_car(source, *file.cid()));
}

#[test]
fn the_next_subtree_is_hinted_before_the_current_one_runs_out() {
    // 64 raw leaves of 1000 bytes, 4 links per node: root, 4 nodes, 16 nodes, 64 leaves.
    let opts = ImportOptions::default()
        .with_chunk_size(1000)
        .with_max_links(4)
        .with_raw_leaves(true);
    let data = pattern(64_000, 3);
    let (imp, blocks) = import_bytes(&opts, &data).unwrap();
    let src = LogSource::holding(blocks);
    let leaf = |n: usize| {
        *Block::from_data(
            codec::RAW,
            HashAlg::Sha2_256,
            data[n * 1000..(n + 1) * 1000].to_vec(),
        )
        .unwrap()
        .cid()
    };
    let file = block_on(UnixfsFile::open(&src, &imp.root)).unwrap();
    let chunks: Vec<Bytes> = block_on(file.read(&src, 0, None).try_collect()).unwrap();
    assert_eq!(chunks.concat(), data);

    let log = src.log.lock().unwrap().clone();
    let at = |hint: bool, cid: Cid| log.iter().position(|e| *e == (hint, cid)).unwrap();
    // Leaves 4..8 hang under the second lowest node, leaf 3 is the last under the first:
    // the second batch is hinted before the reader gets to the end of the first, so a
    // network fetcher never runs dry at the boundary.
    assert!(at(true, leaf(4)) < at(false, leaf(3)), "{log:?}");
    // Looking ahead fetches nothing twice and nothing outside the file.
    let fetches: Vec<Cid> = log.iter().filter(|e| !e.0).map(|e| e.1).collect();
    let mut unique = fetches.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), fetches.len());
    assert_eq!(fetches.len(), 1 + 4 + 16 + 64);
}

/// kubo's shape (174 links per node, wider than the reader's look-ahead), with raw and with
/// dag-pb leaves: the reader must hint the next 174-leaf batch while it still has a good part
/// of the current one to read, and must hand out each leaf's bytes without waiting for the
/// leaf after it.
#[test]
fn wide_nodes_hint_the_next_batch_early_and_stream_leaf_by_leaf() {
    for raw_leaves in [true, false] {
        let data = pattern(40_000, 11);
        let (root, src) = wide_file(&data, raw_leaves);
        let file = block_on(UnixfsFile::open(&src, &root)).unwrap();
        let mut reader = std::pin::pin!(file.read(&src, 0, None));
        let mut got = Vec::new();
        // Leaves fetched when each chunk came out (the small blocks but the root).
        let is_leaf = |cid: &Cid| *cid != root && src.blocks[cid].data().len() < 200;
        let leaves_fetched = || {
            let log = src.log.lock().unwrap();
            log.iter().filter(|(hint, c)| !hint && is_leaf(c)).count()
        };
        let mut chunk_no = 0;
        while let Some(chunk) = block_on(reader.next()).transpose().unwrap() {
            got.extend_from_slice(&chunk);
            chunk_no += 1;
            assert_eq!(
                leaves_fetched(),
                chunk_no,
                "raw_leaves={raw_leaves}: chunk {chunk_no} waited for a later leaf"
            );
        }
        assert_eq!(got, data);

        let log = src.log.lock().unwrap().clone();
        let leaf_fetches: Vec<Cid> = log
            .iter()
            .filter(|(hint, c)| !hint && is_leaf(c))
            .map(|e| e.1)
            .collect();
        assert_eq!(leaf_fetches.len(), 400);
        let at = |hint: bool, cid: Cid| log.iter().position(|e| *e == (hint, cid)).unwrap();
        let fetch_of = |n: usize| at(false, leaf_fetches[n]);
        // The second batch (leaves 174..348) is hinted once the reader is well into the first,
        // neither at the start (the window stays bounded) nor only at its end.
        let hinted = at(true, leaf_fetches[174]);
        assert!(
            fetch_of(50) < hinted && hinted < fetch_of(150),
            "raw_leaves={raw_leaves}: second batch hinted at {hinted}, leaf 50 fetched at {}, \
             leaf 150 at {}",
            fetch_of(50),
            fetch_of(150)
        );
        let third = at(true, leaf_fetches[348]);
        assert!(fetch_of(174 + 50) < third && third < fetch_of(174 + 150));
    }
}

/// The next subtree's root still in flight (slow to come, or found nowhere): the reader must
/// hand out every leaf of the subtree it is in without waiting for that root, hint the root
/// once more, and wait only when the root's own turn comes.
#[test]
fn a_next_root_not_at_hand_does_not_hold_up_the_current_subtree() {
    for raw_leaves in [true, false] {
        let data = pattern(40_000, 17);
        let (root, mut src) = wide_file(&data, raw_leaves);
        let second = chorus_protocol::car::block_links(&src.blocks[&root]).unwrap()[1];
        src.in_flight = Some(second);
        let file = block_on(UnixfsFile::open(&src, &root)).unwrap();
        let mut reader = std::pin::pin!(file.read(&src, 0, None));
        let mut got = Vec::new();
        for leaf in 0..174 {
            let chunk = reader.next().now_or_never().unwrap_or_else(|| {
                panic!("raw_leaves={raw_leaves}: leaf {leaf} waited for the next subtree's root")
            });
            got.extend_from_slice(&chunk.unwrap().unwrap());
        }
        assert_eq!(got, data[..17_400]);
        // Hinted with its siblings, then once more when the look-ahead did not find it.
        assert_eq!(src.hints(second), 2, "raw_leaves={raw_leaves}");
        // Its own turn: now the read waits for it.
        assert!(reader.next().now_or_never().is_none());
    }
}
