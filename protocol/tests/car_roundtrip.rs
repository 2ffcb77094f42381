//! CAR tests: export order and dedup, round trips through the blocking and async readers with
//! arbitrary chunking, v2 payloads, and rejection of tampered, truncated, oversized and garbage
//! input (never yielding or storing an unverified block).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

mod source_common;

use bytes::Bytes;
use chorus_protocol::car::{
    CarDecoder, CarError, CarItem, CarReader, CarWriter, DEFAULT_MAX_SECTION, block_links,
    export_car, import_car, import_car_stream, read_car_stream,
};
use chorus_protocol::unixfs::{BlockSource, ImportOptions, StoreSource, TreeBuilder, import_bytes};
use chorus_storage::{Block, Blockstore, Multihash, StoreError, StoreStat};
use cid::Cid;
use futures::{FutureExt, StreamExt, TryStreamExt};
use proptest::prelude::*;
use source_common::{Missing, wide_file};

#[derive(Default)]
struct MapSource(HashMap<Cid, Block>);

impl BlockSource for MapSource {
    type Error = Missing;

    fn get(&self, cid: &Cid) -> impl Future<Output = Result<Block, Missing>> + Send {
        std::future::ready(self.0.get(cid).cloned().ok_or(Missing(*cid)))
    }
}

/// A minimal blockstore for import tests.
#[derive(Default)]
struct TestStore(Mutex<HashMap<Multihash, Bytes>>);

impl Blockstore for TestStore {
    fn get_data(&self, mh: &Multihash) -> Result<Option<Bytes>, StoreError> {
        Ok(self.0.lock().unwrap().get(mh).cloned())
    }
    fn has(&self, mh: &Multihash) -> Result<bool, StoreError> {
        Ok(self.0.lock().unwrap().contains_key(mh))
    }
    fn size(&self, mh: &Multihash) -> Result<Option<u64>, StoreError> {
        Ok(self.0.lock().unwrap().get(mh).map(|b| b.len() as u64))
    }
    fn put(&self, block: &Block) -> Result<bool, StoreError> {
        Ok(self
            .0
            .lock()
            .unwrap()
            .insert(*block.cid().hash(), block.data().clone())
            .is_none())
    }
    fn delete(&self, mh: &Multihash) -> Result<bool, StoreError> {
        Ok(self.0.lock().unwrap().remove(mh).is_some())
    }
    fn list(&self) -> Box<dyn Iterator<Item = Result<Multihash, StoreError>> + Send + '_> {
        let keys: Vec<_> = self.0.lock().unwrap().keys().copied().collect();
        Box::new(keys.into_iter().map(Ok))
    }
    fn flush(&self) -> Result<(), StoreError> {
        Ok(())
    }
    fn stat(&self) -> Result<StoreStat, StoreError> {
        let m = self.0.lock().unwrap();
        Ok(StoreStat {
            blocks: m.len() as u64,
            bytes: m.values().map(|b| b.len() as u64).sum(),
        })
    }
}

fn pattern(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// A directory holding a two-level file, a file made of identical chunks (duplicate leaves),
/// and the same small file twice.
fn sample_dag() -> (Cid, MapSource) {
    let mut src = MapSource::default();
    let opts = ImportOptions::default()
        .with_chunk_size(100)
        .with_max_links(3);
    let mut t = TreeBuilder::new(&opts).unwrap();
    for (name, data) in [
        ("big", pattern(2000, 5)),
        ("zeros", vec![0u8; 950]),
        ("x1", b"same".to_vec()),
        ("x2", b"same".to_vec()),
    ] {
        let (imp, blocks) = import_bytes(&opts, &data).unwrap();
        src.0.extend(blocks.into_iter().map(|b| (*b.cid(), b)));
        t.add(name, imp.root, imp.tsize).unwrap();
    }
    let mut blocks = Vec::new();
    let root = t.finish(&mut blocks).unwrap().root.cid;
    src.0.extend(blocks.into_iter().map(|b| (*b.cid(), b)));
    (root, src)
}

fn export(root: Cid, src: &MapSource) -> Vec<u8> {
    let chunks: Vec<Bytes> =
        futures::executor::block_on(export_car(src, root).try_collect()).unwrap();
    chunks.concat()
}

/// Depth-first pre-order with each CID once, computed independently of the exporter.
fn preorder(root: Cid, src: &HashMap<Cid, Block>) -> Vec<Cid> {
    fn walk(c: Cid, src: &HashMap<Cid, Block>, seen: &mut HashSet<Cid>, out: &mut Vec<Cid>) {
        if !seen.insert(c) {
            return;
        }
        out.push(c);
        for l in block_links(&src[&c]).unwrap() {
            walk(l, src, seen, out);
        }
    }
    let mut out = Vec::new();
    walk(root, src, &mut HashSet::new(), &mut out);
    out
}

fn read_sync(bytes: &[u8]) -> Result<(Vec<Cid>, Vec<Block>), CarError> {
    let mut roots = Vec::new();
    let mut blocks = Vec::new();
    for item in CarReader::new(bytes) {
        match item? {
            CarItem::Header(h) => roots = h.roots,
            CarItem::Block(b) => blocks.push(b),
        }
    }
    Ok((roots, blocks))
}

#[test]
fn export_is_preorder_each_block_once_and_reads_back() {
    let (root, src) = sample_dag();
    let car = export(root, &src);
    let (roots, blocks) = read_sync(&car).unwrap();
    assert_eq!(roots, vec![root]);
    let order: Vec<Cid> = blocks.iter().map(|b| *b.cid()).collect();
    assert_eq!(order, preorder(root, &src.0));
    assert_eq!(
        order.len(),
        src.0.len(),
        "every block of the DAG exactly once"
    );

    // The blocking writer produces the same bytes.
    let mut w = CarWriter::new(Vec::new(), &[root]).unwrap();
    for b in &blocks {
        w.write_block(b).unwrap();
    }
    assert_eq!(w.finish().unwrap(), car);
}

#[test]
fn missing_block_fails_the_export() {
    let (root, mut src) = sample_dag();
    let victim = preorder(root, &src.0)[3];
    src.0.remove(&victim);
    let res: Result<Vec<Bytes>, _> =
        futures::executor::block_on(export_car(&src, root).try_collect());
    assert!(matches!(res, Err(CarError::Fetch { cid, .. }) if cid == victim));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn async_reader_with_any_chunking(cuts in prop::collection::vec(1usize..400, 1..50)) {
        let (root, src) = sample_dag();
        let car = export(root, &src);
        let mut chunks = Vec::new();
        let mut rest = &car[..];
        let mut i = 0;
        while !rest.is_empty() {
            let n = cuts[i % cuts.len()].min(rest.len());
            chunks.push(Ok::<_, std::io::Error>(Bytes::copy_from_slice(&rest[..n])));
            rest = &rest[n..];
            i += 1;
        }
        let items: Vec<CarItem> = futures::executor::block_on(
            read_car_stream(futures::stream::iter(chunks)).try_collect(),
        ).unwrap();
        let (roots, blocks) = read_sync(&car).unwrap();
        prop_assert_eq!(&items[0], &CarItem::Header(chorus_protocol::car::CarHeader { version: 1, roots }));
        prop_assert_eq!(items.len(), blocks.len() + 1);
        for (item, b) in items[1..].iter().zip(&blocks) {
            prop_assert_eq!(item, &CarItem::Block(b.clone()));
        }
    }

    #[test]
    fn garbage_never_panics_or_yields_unverified(data in prop::collection::vec(any::<u8>(), 0..600)) {
        // Whatever comes out must be verified: re-verify every block yielded.
        for item in CarReader::new(&data[..]) {
            match item {
                Ok(CarItem::Block(b)) => prop_assert!(Block::new(*b.cid(), b.data().clone()).is_ok()),
                Ok(CarItem::Header(_)) => {}
                Err(_) => break,
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn hostile_v2_headers_never_panic(
        header in prop::collection::vec(any::<u8>(), 40),
        tail in prop::collection::vec(any::<u8>(), 0..200),
    ) {
        let mut input = vec![0x0a, 0xa1, 0x67, b'v', b'e', b'r', b's', b'i', b'o', b'n', 0x02];
        input.extend_from_slice(&header);
        input.extend_from_slice(&tail);
        for item in CarReader::new(&input[..]) {
            if item.is_err() {
                break;
            }
        }
    }
}

/// Offsets at which each section of a v1 CAR starts, and its total length.
fn section_starts(car: &[u8]) -> Vec<usize> {
    let mut starts = Vec::new();
    let mut pos = 0;
    while pos < car.len() {
        starts.push(pos);
        let mut len = 0usize;
        let mut shift = 0;
        loop {
            let b = car[pos];
            pos += 1;
            len |= usize::from(b & 0x7f) << shift;
            shift += 7;
            if b & 0x80 == 0 {
                break;
            }
        }
        pos += len;
    }
    starts.push(car.len());
    starts
}

#[test]
fn truncation_is_detected_except_on_section_boundaries() {
    let (root, src) = sample_dag();
    let car = export(root, &src);
    let starts = section_starts(&car);
    let full = read_sync(&car).unwrap().1.len();
    for cut in 0..car.len() {
        let res = read_sync(&car[..cut]);
        match starts.iter().position(|&s| s == cut) {
            // Cutting after k whole sections (k >= 1: the header) is a valid, shorter CAR.
            Some(k) if k >= 1 => assert_eq!(res.unwrap().1.len(), k - 1, "cut {cut}"),
            _ => assert!(
                matches!(res, Err(CarError::Truncated { .. } | CarError::Header(_))),
                "cut {cut}: {res:?}"
            ),
        }
    }
    assert_eq!(starts.len() - 2, full);
}

#[test]
fn tampered_block_is_rejected_and_not_stored() {
    let (root, src) = sample_dag();
    let mut car = export(root, &src);
    let starts = section_starts(&car);
    // Flip the last byte of the third block section's data.
    let victim_end = starts[4] - 1;
    car[victim_end] ^= 0x55;
    let mut yielded = 0;
    let mut err = None;
    for item in CarReader::new(&car[..]) {
        match item {
            Ok(CarItem::Block(_)) => yielded += 1,
            Ok(CarItem::Header(_)) => {}
            Err(e) => {
                err = Some(e);
                break;
            }
        }
    }
    assert_eq!(yielded, 2);
    assert!(matches!(err, Some(CarError::Block(_))), "{err:?}");

    let store = TestStore::default();
    assert!(matches!(
        import_car(&store, &car[..]),
        Err(CarError::Block(_))
    ));
    for mh in store.list() {
        let mh = mh.unwrap();
        let data = store.get_data(&mh).unwrap().unwrap();
        assert_eq!(
            chorus_storage::hash_data(chorus_storage::HashAlg::Sha2_256, &data).unwrap(),
            mh
        );
    }
}

#[test]
fn oversized_section_is_rejected_before_buffering() {
    let (root, src) = sample_dag();
    let car = export(root, &src);
    let header_end = section_starts(&car)[1];
    let mut bad = car[..header_end].to_vec();
    // A length prefix of 5 MiB with only a few bytes behind it.
    let mut n = 5u64 << 20;
    while n >= 0x80 {
        bad.push((n as u8) | 0x80);
        n >>= 7;
    }
    bad.push(n as u8);
    bad.extend_from_slice(&[1, 2, 3]);
    let mut dec = CarDecoder::new();
    dec.push(&bad);
    assert!(matches!(dec.next_item(), Ok(Some(CarItem::Header(_)))));
    assert!(matches!(
        dec.next_item(),
        Err(CarError::SectionTooLarge { max, .. }) if max == DEFAULT_MAX_SECTION
    ));
    // An endless varint is an error too, not a wait for more data.
    let mut dec = CarDecoder::new();
    dec.push(&[0xff; 12]);
    assert!(dec.next_item().is_err());
}

fn wrap_v2(v1: &[u8], padding: usize, trailer: &[u8]) -> Vec<u8> {
    let mut out = vec![
        0x0a, 0xa1, 0x67, b'v', b'e', b'r', b's', b'i', b'o', b'n', 0x02,
    ];
    let data_offset = 51 + padding as u64;
    let mut header = [0u8; 40];
    header[16..24].copy_from_slice(&data_offset.to_le_bytes());
    header[24..32].copy_from_slice(&(v1.len() as u64).to_le_bytes());
    header[32..40].copy_from_slice(&(data_offset + v1.len() as u64).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend(std::iter::repeat_n(0u8, padding));
    out.extend_from_slice(v1);
    out.extend_from_slice(trailer);
    out
}

#[test]
fn carv2_payload_is_read_and_index_ignored() {
    let (root, src) = sample_dag();
    let v1 = export(root, &src);
    let expect = read_sync(&v1).unwrap();
    for padding in [0, 7, 100] {
        let v2 = wrap_v2(&v1, padding, b"\x01\x02index bytes that are not sections");
        assert_eq!(read_sync(&v2).unwrap(), expect, "padding {padding}");
    }
    // A payload cut short inside the v2 container is truncation.
    let v2 = wrap_v2(&v1, 3, b"");
    assert!(matches!(
        read_sync(&v2[..v2.len() - 5]),
        Err(CarError::Truncated { .. })
    ));
    // A data offset inside the fixed header is invalid.
    let mut bad = wrap_v2(&v1, 0, b"");
    bad[11 + 16..11 + 24].copy_from_slice(&10u64.to_le_bytes());
    assert!(matches!(read_sync(&bad), Err(CarError::V2Header(_))));
    // Offsets and sizes that overflow when added are rejected, not wrapped.
    let mut bad = wrap_v2(&v1, 0, b"");
    bad[11 + 16..11 + 24].copy_from_slice(&u64::MAX.to_le_bytes());
    bad[11 + 24..11 + 32].copy_from_slice(&u64::MAX.to_le_bytes());
    assert!(matches!(read_sync(&bad), Err(CarError::V2Header(_))));
}

#[test]
fn import_into_a_store_returns_roots() {
    let (root, src) = sample_dag();
    let car = export(root, &src);
    let store = TestStore::default();
    let res = import_car(&store, &car[..]).unwrap();
    assert_eq!(res.roots, vec![root]);
    assert_eq!(res.blocks as usize, src.0.len());
    for (cid, b) in &src.0 {
        assert_eq!(store.get(cid).unwrap().as_ref(), Some(b));
    }

    // Exporting again from the store gives the same bytes; a missing root is a fetch error.
    let store = std::sync::Arc::new(store);
    let source = StoreSource::new(store.clone());
    let again: Vec<Bytes> =
        futures::executor::block_on(export_car(source.clone(), root).try_collect()).unwrap();
    assert_eq!(again.concat(), car);
    let absent: Cid = "QmUNLLsPACCz1vLxQVkXqqLX5R1X345qqfHbsf67hvA3Nn"
        .parse()
        .unwrap();
    let missing: Result<Vec<Bytes>, _> =
        futures::executor::block_on(export_car(source, absent).try_collect());
    assert!(matches!(missing, Err(CarError::Fetch { cid, .. }) if cid == absent));

    let store2 = TestStore::default();
    let chunks = car
        .chunks(777)
        .map(|c| Ok::<_, std::io::Error>(Bytes::copy_from_slice(c)))
        .collect::<Vec<_>>();
    let res2 =
        futures::executor::block_on(import_car_stream(&store2, futures::stream::iter(chunks)))
            .unwrap();
    assert_eq!(res2, res);
    assert_eq!(store2.stat().unwrap(), store.stat().unwrap());
    // A stream error surfaces as an input error.
    let failing = futures::stream::iter(vec![
        Ok(Bytes::copy_from_slice(&car[..50])),
        Err(std::io::Error::other("connection reset")),
    ]);
    let items: Vec<_> = futures::executor::block_on(read_car_stream(failing).collect());
    assert!(matches!(items.last(), Some(Err(CarError::Input(_)))));
}

/// kubo's 174 links per node, wider than the look-ahead: the export hints the next batch of
/// leaves while it still has a good part of the current one to write, fetches every block once
/// and keeps the depth-first order.
#[test]
fn wide_dags_export_hints_the_next_subtree_early() {
    for raw_leaves in [true, false] {
        let (root, src) = wide_file(&pattern(40_000, 13), raw_leaves);
        let chunks: Vec<Bytes> =
            futures::executor::block_on(export_car(&src, root).try_collect()).unwrap();
        let (_, written) = read_sync(&chunks.concat()).unwrap();
        let order: Vec<Cid> = written.iter().map(|b| *b.cid()).collect();
        assert_eq!(order, preorder(root, &src.blocks));

        let log = src.log.lock().unwrap().clone();
        // Each block fetched once (the next subtree's root ahead of its turn).
        let mut fetches: Vec<Cid> = log.iter().filter(|e| !e.0).map(|e| e.1).collect();
        let mut written = order.clone();
        fetches.sort();
        written.sort();
        assert!(
            fetches == written,
            "raw_leaves={raw_leaves}: a block fetched twice"
        );
        let leaves: Vec<Cid> = order
            .iter()
            .filter(|c| block_links(&src.blocks[c]).unwrap().is_empty())
            .copied()
            .collect();
        assert_eq!(leaves.len(), 400);
        let at = |e: (bool, Cid)| log.iter().position(|x| *x == e).unwrap();
        for batch in [174, 348] {
            let hinted = at((true, leaves[batch]));
            assert!(
                at((false, leaves[batch - 124])) < hinted
                    && hinted < at((false, leaves[batch - 24])),
                "raw_leaves={raw_leaves}: leaf {batch} hinted at {hinted}"
            );
        }
    }
}

/// The next subtree's root still in flight (slow to come, or found nowhere): the export must
/// write the whole subtree it is in without waiting for that root, hint the root once more,
/// and wait only when the root's own turn comes.
#[test]
fn a_next_root_not_at_hand_does_not_hold_up_the_export() {
    for raw_leaves in [true, false] {
        let (root, mut src) = wide_file(&pattern(40_000, 19), raw_leaves);
        let order = preorder(root, &src.blocks);
        let second = block_links(&src.blocks[&root]).unwrap()[1];
        src.in_flight = Some(second);
        let mut car = std::pin::pin!(export_car(&src, root));
        let mut written = Vec::new();
        while let Some(chunk) = car.next().now_or_never() {
            written.extend_from_slice(&chunk.unwrap().unwrap());
        }
        // Root, first node and its 174 leaves: everything before the second node's turn.
        let (_, blocks) = read_sync(&written).unwrap();
        let got: Vec<Cid> = blocks.iter().map(|b| *b.cid()).collect();
        assert_eq!(got, order[..176], "raw_leaves={raw_leaves}");
        assert_eq!(order[176], second);
        // Hinted with its siblings, then once more when the look-ahead did not find it.
        assert_eq!(src.hints(second), 2, "raw_leaves={raw_leaves}");
    }
}
