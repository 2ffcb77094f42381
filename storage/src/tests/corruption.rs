//! Damaged pack records: `verify` reports them and reads never return wrong bytes.

use std::io::{Seek, SeekFrom, Write};
use std::path::PathBuf;

use super::util::raw_block;
use crate::index::{self, Entry};
use crate::pack::Location;
use crate::{Block, Blockstore, Config, SledStore, StoreError};

/// One record per pack (every append seals its pack), so each block can be damaged, truncated
/// or removed on its own, as a file of its own.
fn one_record_per_pack() -> Config {
    Config::default().with_pack_target(1)
}

/// Where the index says `b`'s record is, and the path of its pack.
fn record(store: &SledStore, b: &Block) -> (Location, PathBuf) {
    let key = b.cid().hash().to_bytes();
    let value = store.inner.index.get(&key).unwrap().unwrap();
    let Ok(Entry::Pack(loc)) = index::decode(&key, &value) else {
        panic!("{} is not in a pack", b.cid());
    };
    (loc, store.inner.packs.file_path(loc.pack))
}

/// Overwrites the byte at `offset` of `path` with `byte`.
fn poke(path: &PathBuf, offset: u64, byte: u8) {
    let mut f = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(&[byte]).unwrap();
}

#[test]
fn damaged_payloads_are_reported_and_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open_with(dir.path(), one_record_per_pack()).unwrap();
    let flipped = raw_block(1, 50_000);
    let truncated = raw_block(2, 50_000);
    let missing = raw_block(3, 50_000);
    let intact = raw_block(4, 50_000);
    let inline = raw_block(5, 100);
    let misdirected = raw_block(6, 50_000);
    store
        .put_many(&[
            flipped.clone(),
            truncated.clone(),
            missing.clone(),
            intact.clone(),
            inline.clone(),
            misdirected.clone(),
        ])
        .unwrap();
    store.flush().unwrap();
    assert!(store.verify().unwrap().is_ok());

    // Damage done while the store is closed (a running store keeps its packs open, so it would
    // still read a pack deleted under it), then found by the reopened store.
    let [flipped_at, truncated_at, missing_at, misdirected_at] =
        [&flipped, &truncated, &missing, &misdirected].map(|b| record(&store, b));
    // No child process may be spawned (and inherit the lock) between the close and the reopen.
    let no_spawns = super::util::no_spawns();
    drop(store);
    let (loc, path) = flipped_at;
    poke(&path, loc.offset + 1234, flipped.data()[1234] ^ 0x40);
    let (loc, path) = truncated_at;
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(loc.offset + 49_999)
        .unwrap();
    std::fs::remove_file(missing_at.1).unwrap();
    // A damaged header: the record no longer names the block the index sends readers to.
    let (loc, path) = misdirected_at;
    poke(&path, loc.offset - 5, 0xff);
    let store = SledStore::open_with(dir.path(), one_record_per_pack()).unwrap();
    drop(no_spawns);

    let report = store.verify().unwrap();
    assert_eq!(report.checked, 6);
    let mut corrupt = report.corrupt.clone();
    corrupt.sort();
    let mut want = vec![*flipped.cid().hash(), *misdirected.cid().hash()];
    want.sort();
    assert_eq!(corrupt, want);
    let mut missing_found = report.missing.clone();
    missing_found.sort();
    let mut want = vec![*truncated.cid().hash(), *missing.cid().hash()];
    want.sort();
    assert_eq!(missing_found, want);
    assert!(!report.is_ok());

    // Wrong bytes: an error, from every read path.
    assert!(matches!(
        store.get(flipped.cid()),
        Err(StoreError::Corrupt { .. })
    ));
    assert!(matches!(
        store.get_data(flipped.cid().hash()),
        Err(StoreError::Corrupt { .. })
    ));
    // Short or missing: absent.
    for b in [&truncated, &missing] {
        assert!(store.get(b.cid()).unwrap().is_none());
        assert!(!store.has(b.cid().hash()).unwrap());
        assert_eq!(store.size(b.cid().hash()).unwrap(), None);
    }
    // A record of another block is never served as this one.
    assert!(store.get(misdirected.cid()).unwrap().is_none());
    assert_eq!(store.get(intact.cid()).unwrap().as_ref(), Some(&intact));
    assert_eq!(store.get(inline.cid()).unwrap().as_ref(), Some(&inline));

    // Putting the blocks again repairs the absent ones without double counting.
    let stat = store.stat().unwrap();
    assert!(!store.put(&truncated).unwrap());
    assert!(!store.put(&missing).unwrap());
    assert_eq!(store.stat().unwrap(), stat);
    // The flipped and misdirected ones still look present by size; delete and re-put
    // repairs them.
    for b in [&flipped, &misdirected] {
        assert!(store.delete(b.cid().hash()).unwrap());
        assert!(store.put(b).unwrap());
    }
    let report = store.verify().unwrap();
    assert!(report.is_ok(), "{report:?}");
    for b in [&flipped, &truncated, &missing, &misdirected] {
        assert_eq!(store.get(b.cid()).unwrap().as_ref(), Some(b));
    }
}

#[test]
fn without_read_verification_reads_trust_stored_bytes_and_verify_still_finds_damage() {
    let dir = tempfile::tempdir().unwrap();
    let config = one_record_per_pack().with_verify_reads(false);
    let store = SledStore::open_with(dir.path(), config).unwrap();
    let flipped = raw_block(7, 50_000);
    let truncated = raw_block(8, 50_000);
    store
        .put_many(&[flipped.clone(), truncated.clone()])
        .unwrap();
    store.flush().unwrap();
    // Intact bytes read back as they were written.
    assert_eq!(store.get(flipped.cid()).unwrap().unwrap(), flipped);

    let (loc, path) = record(&store, &flipped);
    poke(&path, loc.offset + 99, flipped.data()[99] ^ 1);
    let (loc, path) = record(&store, &truncated);
    std::fs::OpenOptions::new()
        .write(true)
        .open(path)
        .unwrap()
        .set_len(loc.offset + 10)
        .unwrap();

    // The length check still holds on every read: a truncated payload is absent.
    assert!(store.get(truncated.cid()).unwrap().is_none());
    // Same-length damage is what this mode trusts; `verify` is where it is found.
    let report = store.verify().unwrap();
    assert!(report.corrupt.contains(flipped.cid().hash()), "{report:?}");
    assert_eq!(report.corrupt.len(), 1, "{report:?}");
    assert_eq!(report.missing, vec![*truncated.cid().hash()], "{report:?}");
}
