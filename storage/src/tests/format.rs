//! The on-disk format marker: a store written by an incompatible build is refused, not read;
//! a format-1 store (one file per block) is upgraded to packs.

use super::util::raw_block;
use crate::{Block, Blockstore, FORMAT_VERSION, SledStore, StoreError, StoreStat};

#[test]
fn unknown_format_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let _no_spawns = super::util::no_spawns();
    drop(SledStore::open(dir.path()).unwrap());
    {
        let db = sled::open(dir.path().join("index")).unwrap();
        let found = db.get(b"chorus-storage-format").unwrap().unwrap();
        assert_eq!(found.as_ref(), FORMAT_VERSION.to_string().as_bytes());
        db.insert(b"chorus-storage-format", &b"999"[..]).unwrap();
        db.flush().unwrap();
    }
    match SledStore::open(dir.path()) {
        Err(StoreError::IncompatibleFormat {
            found, expected, ..
        }) => {
            assert_eq!(found, "999");
            assert_eq!(expected, FORMAT_VERSION);
        }
        other => panic!("expected IncompatibleFormat, got {:?}", other.map(|_| ())),
    }
}

/// Writes a store of format 1 by hand: the marker, inline entries (tag 0), and payload-file
/// entries (tag 1 + length) with their files under `blocks/<shard>/`.
fn write_v1_store(dir: &std::path::Path, inline: &[&Block], files: &[&Block], lost: &Block) {
    let db = sled::open(dir.join("index")).unwrap();
    db.insert(b"chorus-storage-format", &b"1"[..]).unwrap();
    let index = db.open_tree("blocks").unwrap();
    for b in inline {
        let mut v = vec![0u8];
        v.extend_from_slice(b.data());
        index.insert(b.cid().hash().to_bytes(), v).unwrap();
    }
    for b in files.iter().copied().chain([lost]) {
        let mut v = vec![1u8];
        v.extend_from_slice(&(b.len() as u64).to_le_bytes());
        index.insert(b.cid().hash().to_bytes(), v).unwrap();
        if b.cid() == lost.cid() {
            continue; // its file never made it to disk
        }
        let path = dir
            .join("blocks")
            .join(crate::migrate::v1_relative_path(b.cid().hash()));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, b.data()).unwrap();
    }
    // A stale counters record: the upgrade must recompute it.
    index.insert(b"", &[9u8; 16][..]).unwrap();
    db.flush().unwrap();
}

#[test]
fn a_format_1_store_is_upgraded_to_packs_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let _no_spawns = super::util::no_spawns();
    let small = raw_block(1, 100);
    let big: Vec<Block> = (2..6).map(|i| raw_block(i, 70_000)).collect();
    let lost = raw_block(9, 70_000);
    write_v1_store(
        dir.path(),
        &[&small],
        &big.iter().collect::<Vec<_>>(),
        &lost,
    );

    let store = SledStore::open(dir.path()).unwrap();
    for b in big.iter().chain([&small]) {
        assert_eq!(store.get(b.cid()).unwrap().as_ref(), Some(b));
    }
    assert!(!store.has(lost.cid().hash()).unwrap());
    assert_eq!(
        store.stat().unwrap(),
        StoreStat {
            blocks: 5,
            bytes: 100 + 4 * 70_000
        }
    );
    assert!(store.verify().unwrap().is_ok());
    assert!(
        !dir.path().join("blocks").exists(),
        "format 1's files are gone"
    );
    drop(store);

    // The marker now says 2, and the store reopens as such.
    {
        let db = sled::open(dir.path().join("index")).unwrap();
        let found = db.get(b"chorus-storage-format").unwrap().unwrap();
        assert_eq!(found.as_ref(), FORMAT_VERSION.to_string().as_bytes());
    }
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.get(big[0].cid()).unwrap().as_ref(), Some(&big[0]));
}
