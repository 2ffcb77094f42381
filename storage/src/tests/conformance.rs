//! One body of `Blockstore` contract checks, run against every implementation.

use std::collections::BTreeSet;

use super::util::raw_block;
use crate::{
    Block, BlockError, Blockstore, Cid, HashAlg, IdStore, MemoryStore, Multihash, SledStore,
    StoreStat, codec,
};

/// The contract every `Blockstore` must meet. `big` is a size stored out of line by the sled
/// store (so both of its paths are covered).
fn conformance(store: &dyn Blockstore, big: usize) {
    let small = raw_block(1, 100);
    let large = raw_block(2, big);
    let empty = Block::from_data(codec::RAW, HashAlg::Sha2_256, Vec::new()).unwrap();
    assert_eq!(store.stat().unwrap(), StoreStat::default());
    assert!(store.get(small.cid()).unwrap().is_none());
    assert!(!store.has(small.cid().hash()).unwrap());
    assert_eq!(store.size(small.cid().hash()).unwrap(), None);

    // put / get / has / size
    assert!(store.put(&small).unwrap());
    assert!(!store.put(&small).unwrap(), "second put reports present");
    store
        .put_many(&[large.clone(), empty.clone(), large.clone()])
        .unwrap();
    for b in [&small, &large, &empty] {
        assert_eq!(store.get(b.cid()).unwrap().as_ref(), Some(b));
        assert_eq!(
            store.get_data(b.cid().hash()).unwrap().as_ref(),
            Some(b.data())
        );
        assert!(store.has(b.cid().hash()).unwrap());
        assert_eq!(store.size(b.cid().hash()).unwrap(), Some(b.len() as u64));
    }
    assert_eq!(
        store.stat().unwrap(),
        StoreStat {
            blocks: 3,
            bytes: (100 + big) as u64
        }
    );

    // CIDv0 and CIDv1 (dag-pb) of the same bytes share one entry.
    let v0 = Block::from_data_v0(&b"\x0a\x02\x08\x01"[..]).unwrap();
    let v1 = v0
        .clone()
        .with_cid(Cid::new_v1(codec::DAG_PB, *v0.cid().hash()))
        .unwrap();
    assert!(store.put(&v0).unwrap());
    assert!(!store.put(&v1).unwrap(), "v1 dedups against v0");
    assert_eq!(store.get(v1.cid()).unwrap().unwrap().cid(), v1.cid());
    // A raw CID of the same multihash reads the same bytes too.
    let raw = Cid::new_v1(codec::RAW, *v0.cid().hash());
    assert_eq!(store.get(&raw).unwrap().unwrap().data(), v0.data());
    assert_eq!(store.stat().unwrap().blocks, 4);

    // list: every stored multihash once.
    let listed: BTreeSet<Multihash> = store.list().map(|r| r.unwrap()).collect();
    let want: BTreeSet<Multihash> = [&small, &large, &empty, &v0]
        .iter()
        .map(|b| *b.cid().hash())
        .collect();
    assert_eq!(listed, want);

    // Wrong hashes never become blocks, so they can never be stored.
    let wrong = Block::new(*small.cid(), &b"not the bytes"[..]);
    assert!(matches!(wrong, Err(BlockError::HashMismatch { .. })));

    // delete
    assert!(store.delete(large.cid().hash()).unwrap());
    assert!(!store.delete(large.cid().hash()).unwrap());
    assert!(store.get(large.cid()).unwrap().is_none());
    assert!(!store.has(large.cid().hash()).unwrap());
    assert_eq!(
        store.stat().unwrap(),
        StoreStat {
            blocks: 3,
            bytes: 100 + v0.len() as u64
        }
    );
    // ...and a deleted block can be put again.
    assert!(store.put(&large).unwrap());
    assert_eq!(store.get(large.cid()).unwrap().as_ref(), Some(&large));
    store.flush().unwrap();
}

/// Identity CIDs through the [`IdStore`] wrapper: answered from the digest, never stored,
/// listed or counted, whatever the store underneath.
fn identity_through_the_wrapper(store: &dyn Blockstore) {
    let id = Block::from_data(codec::RAW, HashAlg::Identity, &b"inline me"[..]).unwrap();
    let other = raw_block(3, 100);
    assert!(store.has(id.cid().hash()).unwrap());
    assert_eq!(store.get(id.cid()).unwrap().as_ref(), Some(&id));
    assert_eq!(
        store.get_data(id.cid().hash()).unwrap().as_deref(),
        Some(&b"inline me"[..])
    );
    assert_eq!(store.size(id.cid().hash()).unwrap(), Some(9));
    assert!(!store.put(&id).unwrap());
    let report = store.put_many(&[id.clone(), other.clone()]).unwrap();
    assert_eq!(report.new_blocks, 1, "only the real block is stored");
    assert!(!store.delete(id.cid().hash()).unwrap());
    assert_eq!(store.stat().unwrap().blocks, 1);
    let listed: Vec<Multihash> = store.list().map(|r| r.unwrap()).collect();
    assert_eq!(listed, vec![*other.cid().hash()]);
}

#[test]
fn identity_cids_are_answered_by_the_wrapper_over_every_store() {
    identity_through_the_wrapper(&IdStore::new(std::sync::Arc::new(MemoryStore::new())));
    let dir = tempfile::tempdir().unwrap();
    let sled = SledStore::open(dir.path()).unwrap();
    identity_through_the_wrapper(&IdStore::new(std::sync::Arc::new(sled.clone())));
    let dir = tempfile::tempdir().unwrap();
    let sled = SledStore::open(dir.path()).unwrap();
    identity_through_the_wrapper(&IdStore::new(std::sync::Arc::new(sled.session())));
}

#[test]
fn memory_store_conforms() {
    conformance(&MemoryStore::new(), 40_000);
}

#[test]
fn sled_store_conforms() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    conformance(&store, 40_000);
}

#[test]
fn sled_store_conforms_through_a_session() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let session = store.session();
    conformance(&session, 40_000);
}

#[test]
fn sled_store_conforms_all_inline_and_all_files() {
    for inline_max in [0, 1 << 20] {
        let dir = tempfile::tempdir().unwrap();
        let config = crate::Config::default().with_inline_max(inline_max);
        let store = SledStore::open_with(dir.path(), config).unwrap();
        conformance(&store, 40_000);
    }
}

#[test]
fn sled_store_keeps_everything_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let blocks: Vec<Block> = (0..20).map(|i| raw_block(i, (i as usize) * 3000)).collect();
    let _no_spawns = super::util::no_spawns();
    {
        let store = SledStore::open(dir.path()).unwrap();
        store.put_many(&blocks).unwrap();
        store.flush().unwrap();
    }
    let store = SledStore::open(dir.path()).unwrap();
    for b in &blocks {
        assert_eq!(store.get(b.cid()).unwrap().as_ref(), Some(b));
    }
    let bytes: u64 = blocks.iter().map(|b| b.len() as u64).sum();
    assert_eq!(store.stat().unwrap(), StoreStat { blocks: 20, bytes });
}
