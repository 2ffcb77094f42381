//! Layout tests for options no kubo oracle here can run.
//!
//! - Balanced: compared with `rust-unixfs`'s `FileAdder`, whose balanced builder was checked
//!   against real kubo (design.md), across chunk sizes, widths, CID versions, raw leaves and
//!   blake3.
//! - Trickle: the streamed DAG's shape is compared with a direct transcription of boxo's
//!   recursive `fillTrickleRec`, and its leaves with boxo's `VerifyTrickleDagStructure` rules
//!   (UnixFS `Raw` leaves unless raw leaves are on).

use bytes::Bytes;
use chorus_protocol::unixfs::{FileImporter, ImportOptions, Layout, import_bytes};
use chorus_storage::{Block, HashAlg, codec};
use cid::Cid;
use multihash_codetable::Code;
use proptest::prelude::*;
use rust_unixfs::file::adder::{BalancedCollector, Chunker, FileAdder};
use std::collections::HashMap;

fn pattern(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed ^ 0x5851_f42d_4c95_7f2d;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn reference_root(
    data: &[u8],
    chunk: usize,
    links: usize,
    v1: bool,
    raw: bool,
    blake3: bool,
) -> String {
    let version = if v1 {
        ipld_core::cid::Version::V1
    } else {
        ipld_core::cid::Version::V0
    };
    let mut adder = FileAdder::builder()
        .with_chunker(Chunker::Size(chunk))
        .with_collector(BalancedCollector::with_branching_factor(links))
        .with_cid_version(version)
        .with_raw_leaves(raw)
        .with_hasher(if blake3 {
            Code::Blake3_256
        } else {
            Code::Sha2_256
        })
        .build();
    let mut last = None;
    let mut rest = data;
    while !rest.is_empty() {
        let (blocks, used) = adder.push(rest);
        last = blocks.last().map(|(c, _)| c).or(last);
        rest = &rest[used..];
    }
    for (c, _) in adder.finish() {
        last = Some(c);
    }
    last.map(|c| c.to_string()).unwrap_or_default()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn balanced_matches_reference(
        size in 0usize..40_000,
        chunk in 1usize..2000,
        links in 2usize..10,
        v1 in any::<bool>(),
        raw in any::<bool>(),
        blake3 in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let v1 = v1 || blake3;
        let data = pattern(size, seed);
        let mut opts = ImportOptions::default()
            .with_chunk_size(chunk)
            .with_max_links(links)
            .with_cid_version(u8::from(v1))
            .with_raw_leaves(raw);
        if blake3 {
            opts = opts.with_hash(HashAlg::Blake3);
        }
        let (imp, _) = import_bytes(&opts, &data).unwrap();
        prop_assert_eq!(imp.root.to_string(), reference_root(&data, chunk, links, v1, raw, blake3));
    }
}

#[test]
fn cid_version_1_defaults_to_raw_leaves() {
    // `echo hello | ipfs add --cid-version 1` is a single raw leaf.
    let opts = ImportOptions::default().with_cid_version(1);
    let (imp, _) = import_bytes(&opts, b"hello\n").unwrap();
    assert_eq!(
        imp.root.to_string(),
        "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am"
    );
    // The empty file with raw leaves is the empty raw block (kubo: `ipfs add --cid-version 1`).
    let (imp, _) = import_bytes(&opts, b"").unwrap();
    assert_eq!(
        imp.root.to_string(),
        "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    );
}

/// The shape of a DAG: a leaf, or a node with children.
#[derive(Debug, PartialEq, Eq)]
enum Shape {
    Leaf,
    Node(Vec<Shape>),
}

/// boxo's `trickle.Layout` over `n` chunks, transcribed recursively: returns the root shape.
fn trickle_reference(n: usize, max_links: usize) -> Shape {
    fn fill(left: &mut usize, max_links: usize, max_depth: Option<usize>) -> Shape {
        let mut children = Vec::new();
        while children.len() < max_links && *left > 0 {
            children.push(Shape::Leaf);
            *left -= 1;
        }
        let mut depth = 1;
        while max_depth.is_none_or(|m| depth < m) && *left > 0 {
            let mut r = 0;
            while r < 4 && *left > 0 {
                children.push(fill(left, max_links, Some(depth)));
                r += 1;
            }
            depth += 1;
        }
        Shape::Node(children)
    }
    let mut left = n;
    fill(&mut left, max_links, None)
}

fn shape_of(blocks: &HashMap<Cid, Block>, cid: &Cid, raw_leaves: bool, is_root: bool) -> Shape {
    let block = &blocks[cid];
    if cid.codec() == codec::RAW {
        assert!(raw_leaves, "raw leaf without raw leaves");
        return Shape::Leaf;
    }
    let node = ipld_dagpb::PbNode::from_bytes(block.data().clone()).unwrap();
    let data: Bytes = node.data.clone().unwrap();
    if node.links.is_empty() && !is_root {
        assert!(!raw_leaves, "dag-pb leaf with raw leaves on");
        // UnixFS Type = Raw (0), as boxo's FillNodeLayer makes trickle leaves.
        assert_eq!(&data[..2], &[0x08, 0x00]);
        return Shape::Leaf;
    }
    assert_eq!(&data[..2], &[0x08, 0x02], "branch must be a File node");
    Shape::Node(
        node.links
            .iter()
            .map(|l| shape_of(blocks, &l.cid, raw_leaves, false))
            .collect(),
    )
}

#[test]
fn trickle_shape_matches_boxo_recursion() {
    for max_links in [2usize, 3, 5] {
        for raw in [false, true] {
            for n in (0..400).chain([1000, 2500]) {
                let opts = ImportOptions::default()
                    .with_layout(Layout::Trickle)
                    .with_chunk_size(3)
                    .with_max_links(max_links)
                    .with_raw_leaves(raw);
                let data = pattern(n * 3, n as u64);
                let mut imp = FileImporter::new(&opts).unwrap();
                let mut blocks = imp.push(&data).unwrap();
                let (summary, rest) = imp.finish().unwrap();
                blocks.extend(rest);
                let map: HashMap<Cid, Block> = blocks.into_iter().map(|b| (*b.cid(), b)).collect();
                let got = shape_of(&map, &summary.root, raw, true);
                assert_eq!(
                    got,
                    trickle_reference(n, max_links),
                    "n={n} max_links={max_links} raw={raw}"
                );
            }
        }
    }
}

#[test]
fn trickle_differs_from_balanced_and_always_has_a_root_node() {
    let data = pattern(1000, 1);
    let t = ImportOptions::default().with_layout(Layout::Trickle);
    let (tr, blocks) = import_bytes(&t, &data).unwrap();
    let (bal, _) = import_bytes(&ImportOptions::default(), &data).unwrap();
    assert_ne!(tr.root, bal.root);
    // One Raw leaf plus the File root that links it.
    assert_eq!(blocks.len(), 2);
    // An empty trickle file is the same node as an empty balanced file.
    let (empty, _) = import_bytes(&t, b"").unwrap();
    assert_eq!(
        empty.root.to_string(),
        "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
    );
}
