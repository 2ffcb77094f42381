//! Model test: random operation sequences against a `BTreeMap`, including reopening the store.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use bytes::Bytes;
use proptest::prelude::*;

use super::util::raw_block;
use crate::{Block, Blockstore, MemoryStore, Multihash, SledStore, StoreStat};

/// Sizes around the inline limit (16 KiB) and the empty block.
const SIZES: [usize; 8] = [0, 1, 700, 16 * 1024, 16 * 1024 + 1, 20_000, 70_000, 5];

fn pool() -> &'static [Block] {
    static POOL: OnceLock<Vec<Block>> = OnceLock::new();
    POOL.get_or_init(|| {
        (0..12)
            .map(|i| raw_block(1000 + i as u64, SIZES[i % SIZES.len()]))
            .collect()
    })
}

#[derive(Debug, Clone)]
enum Op {
    Put(usize),
    PutMany(Vec<usize>),
    Get(usize),
    Has(usize),
    Delete(usize),
    List,
    Flush,
    Reopen,
}

fn op() -> impl Strategy<Value = Op> {
    let n = pool().len();
    prop_oneof![
        4 => (0..n).prop_map(Op::Put),
        2 => prop::collection::vec(0..n, 0..5).prop_map(Op::PutMany),
        3 => (0..n).prop_map(Op::Get),
        2 => (0..n).prop_map(Op::Has),
        3 => (0..n).prop_map(Op::Delete),
        1 => Just(Op::List),
        1 => Just(Op::Flush),
        1 => Just(Op::Reopen),
    ]
}

type Reopen<'a> = dyn FnMut(Box<dyn Blockstore>) -> Box<dyn Blockstore> + 'a;

fn run(ops: &[Op], mut store: Box<dyn Blockstore>, reopen: &mut Reopen<'_>) {
    let mut model: BTreeMap<Vec<u8>, Bytes> = BTreeMap::new();
    let blocks = pool();
    for op in ops {
        match op {
            Op::Put(i) => {
                let b = &blocks[*i];
                let key = b.cid().hash().to_bytes();
                let new = !model.contains_key(&key);
                assert_eq!(store.put(b).unwrap(), new, "{op:?}");
                model.insert(key, b.data().clone());
            }
            Op::PutMany(is) => {
                let bs: Vec<Block> = is.iter().map(|i| blocks[*i].clone()).collect();
                store.put_many(&bs).unwrap();
                for b in bs {
                    model.insert(b.cid().hash().to_bytes(), b.data().clone());
                }
            }
            Op::Get(i) => {
                let b = &blocks[*i];
                let want = model.get(&b.cid().hash().to_bytes());
                let got = store.get(b.cid()).unwrap();
                assert_eq!(got.as_ref().map(|b| b.data()), want, "{op:?}");
            }
            Op::Has(i) => {
                let mh = blocks[*i].cid().hash();
                let want = model.contains_key(&mh.to_bytes());
                assert_eq!(store.has(mh).unwrap(), want, "{op:?}");
                let size = model.get(&mh.to_bytes()).map(|d| d.len() as u64);
                assert_eq!(store.size(mh).unwrap(), size, "{op:?}");
            }
            Op::Delete(i) => {
                let mh = blocks[*i].cid().hash();
                let want = model.remove(&mh.to_bytes()).is_some();
                assert_eq!(store.delete(mh).unwrap(), want, "{op:?}");
            }
            Op::List => {
                let mut got: Vec<Vec<u8>> = store
                    .list()
                    .map(|r| r.map(|mh: Multihash| mh.to_bytes()))
                    .collect::<Result<_, _>>()
                    .unwrap();
                got.sort();
                let want: Vec<Vec<u8>> = model.keys().cloned().collect();
                assert_eq!(got, want);
            }
            Op::Flush => store.flush().unwrap(),
            Op::Reopen => store = reopen(store),
        }
        let want = StoreStat {
            blocks: model.len() as u64,
            bytes: model.values().map(|d| d.len() as u64).sum(),
        };
        assert_eq!(store.stat().unwrap(), want, "after {op:?}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn sled_store_matches_model(ops in prop::collection::vec(op(), 1..40)) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().to_path_buf();
        let store = Box::new(SledStore::open(&path).unwrap());
        run(&ops, store, &mut |old| {
            // The old handle must be gone (lock released) before the reopen.
            let _no_spawns = super::util::no_spawns();
            drop(old);
            Box::new(SledStore::open(&path).unwrap())
        });
    }

    #[test]
    fn memory_store_matches_model(ops in prop::collection::vec(op(), 1..40)) {
        run(&ops, Box::new(MemoryStore::new()), &mut |same| same);
    }
}
