//! A write that the filesystem refuses (as on a full disk) fails the put with an I/O error and
//! loses nothing: earlier blocks stay readable, the pack's tail is given back, and puts work
//! again once space is back.
//!
//! The refusal is real, from the kernel: a child process lowers its file-size limit
//! (`RLIMIT_FSIZE`, with `SIGXFSZ` ignored) so appends past it fail with `EFBIG`, which takes
//! the same path as `ENOSPC`. A child, because the limit is per process.

use std::path::Path;

use super::util::{raw_block, spawn_test_child};
use crate::{Blockstore, Config, SledStore, StoreError};

const CHILD_ENV: &str = "CHORUS_STORAGE_FULL_DISK_CHILD_DIR";
const PASSED_MARKER: &str = "chorus-full-disk-child-passed";
/// The child's file-size limit: the pack file cannot grow past it.
const LIMIT: u64 = 2 * 1024 * 1024;
const BLOCK: usize = 256 * 1024;

/// Sets the soft file-size limit of this process.
fn set_fsize_limit(bytes: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: plain syscalls on a valid rlimit struct.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_FSIZE, &mut lim), 0);
        lim.rlim_cur = bytes.min(lim.rlim_max);
        assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
    }
}

/// Runs only as the child of `a_refused_write_fails_the_put_and_loses_nothing`.
#[test]
fn full_disk_child_helper() {
    let Some(dir) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    // SAFETY: ignoring SIGXFSZ makes an over-limit write fail with EFBIG instead of killing us.
    unsafe { libc::signal(libc::SIGXFSZ, libc::SIG_IGN) };
    let store = SledStore::open_with(Path::new(&dir), Config::default()).unwrap();
    let mut hard = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a plain syscall on a valid rlimit struct.
    unsafe { libc::getrlimit(libc::RLIMIT_FSIZE, &mut hard) };

    let before: Vec<_> = (0..4).map(|i| raw_block(i, BLOCK)).collect();
    store.put_many(&before).unwrap();
    store.flush().unwrap();
    let stat = store.stat().unwrap();
    let pack = store.inner.packs.list().unwrap()[0];
    let len_before = store.inner.packs.file_len(pack).unwrap().unwrap();

    set_fsize_limit(LIMIT);
    let too_many: Vec<_> = (10..20).map(|i| raw_block(i, BLOCK)).collect();
    match store.put_many(&too_many) {
        Err(StoreError::Io { .. }) => {}
        other => panic!("expected an I/O error, got {other:?}"),
    }
    // Nothing of the failed put is visible; what was there still reads.
    assert_eq!(store.stat().unwrap(), stat);
    for b in &too_many {
        assert!(!store.has(b.cid().hash()).unwrap());
    }
    for b in &before {
        assert_eq!(store.get(b.cid()).unwrap().as_ref(), Some(b));
    }
    // The records that did fit count as dead; the one that failed was cut off.
    let len_after = store.inner.packs.file_len(pack).unwrap().unwrap();
    assert!(len_after <= LIMIT, "{len_after}");
    assert!(len_after >= len_before);
    let walked: u64 = store
        .inner
        .packs
        .records(pack)
        .unwrap()
        .iter()
        .map(|(mh, loc)| loc.record_len(mh))
        .sum();
    assert_eq!(walked, len_after, "no torn record at the pack's end");
    // Small blocks live in the index, which still has room.
    let small = raw_block(30, 100);
    store.put(&small).unwrap();

    // Space is back: the same put succeeds and everything verifies.
    set_fsize_limit(hard.rlim_cur);
    store.put_many(&too_many).unwrap();
    store.flush().unwrap();
    assert!(store.verify().unwrap().is_ok());
    assert_eq!(store.stat().unwrap().blocks, stat.blocks + 11);
    println!("{PASSED_MARKER}");
}

#[test]
fn a_refused_write_fails_the_put_and_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_test_child(
        "tests::full_disk::full_disk_child_helper",
        CHILD_ENV,
        dir.path(),
    );
    drop(child.stdin.take()); // the child does not read it
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(PASSED_MARKER),
        "child failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // The store the child left opens clean here too.
    let store = SledStore::open(dir.path()).unwrap();
    assert!(store.verify().unwrap().is_ok());
    assert_eq!(store.stat().unwrap().blocks, 4 + 1 + 10);
}
