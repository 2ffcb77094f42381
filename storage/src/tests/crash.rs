//! SIGKILL in the middle of writing, and in the middle of GC's pack compaction: everything
//! flushed (or pinned) before the kill is intact after reopen, and the store opens clean (no
//! corrupt entries, leftovers collectable).

use std::path::Path;

use super::util::{raw_block, spawn_test_child, wait_for_marker};
use crate::index::{self, STAT_KEY};
use crate::sled_store::{DEFAULT_CACHE_CAPACITY, open_sled};
use crate::{Block, Blockstore, SledStore};

const CHILD_ENV: &str = "CHORUS_STORAGE_CRASH_CHILD_DIR";
const FLUSHED_MARKER: &str = "chorus-crash-child-flushed";
/// Batches written (and flushed) before the child reports.
const FLUSHED_BATCHES: u64 = 6;
/// Upper bound on what the child writes if nobody kills it.
const MAX_BATCHES: u64 = 400;

/// Batch `i`: a mix of inline and file-backed blocks.
fn batch(i: u64) -> Vec<Block> {
    (0..8)
        .map(|j| raw_block(i * 100 + j, if j % 2 == 0 { 500 } else { 70_000 }))
        .collect()
}

/// Runs only as the child of `flushed_data_survives_sigkill`: writes and flushes some batches,
/// says so, then keeps writing (unflushed) until it is killed.
#[test]
fn crash_child_helper() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let store = SledStore::open(Path::new(&dir)).unwrap();
    for i in 0..FLUSHED_BATCHES {
        store.put_many(&batch(i)).unwrap();
    }
    store.flush().unwrap();
    println!("{FLUSHED_MARKER}");
    for i in FLUSHED_BATCHES..MAX_BATCHES {
        store.put_many(&batch(i)).unwrap();
    }
    // Not killed (the parent failed): wait for stdin to close rather than exit "cleanly".
    let mut sink = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut sink).unwrap();
}

/// Written and closed cleanly before the child opens the store: the counters record of that
/// close must not survive the child's open, or the kill would leave it stale.
const BEFORE_CHILD: u64 = 1000;

#[test]
fn flushed_data_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    {
        let _g = super::util::no_spawns();
        let store = SledStore::open(dir.path()).unwrap();
        store.put_many(&batch(BEFORE_CHILD)).unwrap();
    }
    let mut child = spawn_test_child("tests::crash::crash_child_helper", CHILD_ENV, dir.path());
    let _stdout = wait_for_marker(&mut child, FLUSHED_MARKER, "flushing");
    child.kill().unwrap(); // SIGKILL, somewhere in the unflushed writes
    child.wait().unwrap();

    let store = SledStore::open(dir.path()).unwrap();
    for i in 0..FLUSHED_BATCHES {
        for b in batch(i) {
            assert_eq!(store.get(b.cid()).unwrap().as_ref(), Some(&b), "batch {i}");
        }
    }
    let report = store.verify().unwrap();
    assert!(report.is_ok(), "{report:?}");
    let listed = store.list().count() as u64;
    assert_eq!(
        store.stat().unwrap().blocks,
        listed,
        "recounted after the kill"
    );
    assert!(listed >= (FLUSHED_BATCHES + 1) * 8);
    // Dead records from the interrupted batch (record written, index not) are reclaimed with
    // the rest: nothing is pinned, so every pack goes.
    let gc = store.gc().unwrap();
    assert_eq!(gc.removed.len() as u64, listed, "nothing is pinned");
    assert!(gc.packs_removed >= 1, "{gc:?}");
    assert!(store.verify().unwrap().is_ok());
    assert_eq!(store.inner.packs.list().unwrap(), Vec::<u32>::new());
}

const COMPACT_CHILD_ENV: &str = "CHORUS_STORAGE_COMPACT_CHILD_DIR";
const COMPACTING_MARKER: &str = "chorus-compact-child-compacting";

/// Pinned blocks of the compaction crash test: written and flushed before any GC.
fn pinned(i: u64) -> Block {
    raw_block(50_000 + i, 30_000)
}

/// Runs only as the child of `compaction_survives_sigkill`: keeps writing garbage between
/// pinned blocks and collecting it, so GC is compacting packs (moving the pinned blocks'
/// records) when the parent kills it.
#[test]
fn compact_child_helper() {
    let Some(dir) = std::env::var_os(COMPACT_CHILD_ENV) else {
        return;
    };
    let config = crate::Config::default().with_pack_target(128 * 1024);
    let store = SledStore::open_with(Path::new(&dir), config).unwrap();
    for i in 0..40 {
        let b = pinned(i);
        store.put(&b).unwrap();
        store.pins().add(b.cid(), crate::PinMode::Direct).unwrap();
        store.put(&raw_block(60_000 + i, 30_000)).unwrap();
    }
    store.flush().unwrap();
    let mut announced = false;
    for round in 0..10_000u64 {
        let report = store.gc().unwrap();
        if report.packs_removed > 0 && !announced {
            println!("{COMPACTING_MARKER}");
            announced = true;
        }
        for j in 0..4 {
            store
                .put(&raw_block(70_000 + round * 4 + j, 30_000))
                .unwrap();
        }
    }
    let mut sink = String::new();
    std::io::Read::read_to_string(&mut std::io::stdin(), &mut sink).unwrap();
}

#[test]
fn compaction_survives_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_test_child(
        "tests::crash::compact_child_helper",
        COMPACT_CHILD_ENV,
        dir.path(),
    );
    let _stdout = wait_for_marker(&mut child, COMPACTING_MARKER, "compacting");
    child.kill().unwrap(); // SIGKILL, somewhere in the GC/compaction/put loop
    child.wait().unwrap();

    let store = SledStore::open(dir.path()).unwrap();
    for i in 0..40 {
        let b = pinned(i);
        assert_eq!(store.get(b.cid()).unwrap().as_ref(), Some(&b), "pinned {i}");
    }
    let report = store.verify().unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(store.stat().unwrap().blocks, store.list().count() as u64);
    let gc = store.gc().unwrap();
    assert_eq!(gc.live_blocks, 40);
    assert_eq!(store.list().count(), 40);
    assert!(store.verify().unwrap().is_ok());
}

/// A clean close leaves the counters in the index, so the next open needs no scan; the open
/// takes them out again until its own clean close.
#[test]
fn clean_close_records_the_counters() {
    let dir = tempfile::tempdir().unwrap();
    let _g = super::util::no_spawns();
    let stat = {
        let store = SledStore::open(dir.path()).unwrap();
        store.put_many(&batch(0)).unwrap();
        assert!(store.delete(batch(0)[0].cid().hash()).unwrap());
        store.stat().unwrap()
    };
    assert_eq!(stat.blocks, 7);
    let recorded = |dir: &Path| {
        // Waits out sled's own file lock, which the closed store's I/O threads may hold for
        // a moment after the close.
        let db = open_sled(&dir.join("index"), DEFAULT_CACHE_CAPACITY).unwrap();
        let v = db.open_tree("blocks").unwrap().get(STAT_KEY).unwrap();
        v.and_then(|v| index::decode_stat(&v))
    };
    assert_eq!(recorded(dir.path()), Some(stat));
    let store = SledStore::open(dir.path()).unwrap();
    assert_eq!(store.stat().unwrap(), stat);
    drop(store);
    assert_eq!(recorded(dir.path()), Some(stat));
}
