//! Damaged payload files: `verify` reports them and reads never return wrong bytes.

use std::io::{Seek, SeekFrom, Write};

use super::util::raw_block;
use crate::{Blockstore, SledStore, StoreError};

#[test]
fn damaged_payloads_are_reported_and_never_served() {
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let flipped = raw_block(1, 50_000);
    let truncated = raw_block(2, 50_000);
    let missing = raw_block(3, 50_000);
    let intact = raw_block(4, 50_000);
    let inline = raw_block(5, 100);
    store
        .put_many(&[
            flipped.clone(),
            truncated.clone(),
            missing.clone(),
            intact.clone(),
            inline.clone(),
        ])
        .unwrap();
    store.flush().unwrap();
    assert!(store.verify().unwrap().is_ok());

    let path = |b: &crate::Block| store.inner.payloads.path(b.cid().hash());
    let mut f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path(&flipped))
        .unwrap();
    f.seek(SeekFrom::Start(1234)).unwrap();
    let byte = flipped.data()[1234] ^ 0x40;
    f.write_all(&[byte]).unwrap();
    drop(f);
    std::fs::OpenOptions::new()
        .write(true)
        .open(path(&truncated))
        .unwrap()
        .set_len(49_999)
        .unwrap();
    std::fs::remove_file(path(&missing)).unwrap();

    let report = store.verify().unwrap();
    assert_eq!(report.checked, 5);
    let mut corrupt = report.corrupt.clone();
    corrupt.sort();
    let mut want = vec![*flipped.cid().hash(), *truncated.cid().hash()];
    want.sort();
    assert_eq!(corrupt, want);
    assert_eq!(report.missing, vec![*missing.cid().hash()]);
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
    // Wrong size or missing: absent.
    for b in [&truncated, &missing] {
        assert!(store.get(b.cid()).unwrap().is_none());
        assert!(!store.has(b.cid().hash()).unwrap());
        assert_eq!(store.size(b.cid().hash()).unwrap(), None);
    }
    assert_eq!(store.get(intact.cid()).unwrap().as_ref(), Some(&intact));
    assert_eq!(store.get(inline.cid()).unwrap().as_ref(), Some(&inline));

    // Putting the blocks again repairs the absent ones without double counting.
    let stat = store.stat().unwrap();
    assert!(!store.put(&truncated).unwrap());
    assert!(!store.put(&missing).unwrap());
    assert_eq!(store.stat().unwrap(), stat);
    // The flipped one still looks present by size; delete and re-put repairs it.
    assert!(store.delete(flipped.cid().hash()).unwrap());
    assert!(store.put(&flipped).unwrap());
    let report = store.verify().unwrap();
    assert!(report.is_ok(), "{report:?}");
    for b in [&flipped, &truncated, &missing] {
        assert_eq!(store.get(b.cid()).unwrap().as_ref(), Some(b));
    }
}

#[test]
fn without_read_verification_reads_trust_stored_bytes_and_verify_still_finds_damage() {
    let dir = tempfile::tempdir().unwrap();
    let config = crate::Config::default().with_verify_reads(false);
    let store = SledStore::open_with(dir.path(), config).unwrap();
    let flipped = raw_block(7, 50_000);
    let truncated = raw_block(8, 50_000);
    store
        .put_many(&[flipped.clone(), truncated.clone()])
        .unwrap();
    store.flush().unwrap();
    // Intact bytes read back as they were written.
    assert_eq!(store.get(flipped.cid()).unwrap().unwrap(), flipped);

    let path = |b: &crate::Block| store.inner.payloads.path(b.cid().hash());
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .open(path(&flipped))
        .unwrap();
    f.seek(SeekFrom::Start(99)).unwrap();
    f.write_all(&[flipped.data()[99] ^ 1]).unwrap();
    drop(f);
    std::fs::OpenOptions::new()
        .write(true)
        .open(path(&truncated))
        .unwrap()
        .set_len(10)
        .unwrap();

    // The length check still holds on every read: a truncated payload is absent.
    assert!(store.get(truncated.cid()).unwrap().is_none());
    // Same-length damage is what this mode trusts; `verify` is where it is found.
    let report = store.verify().unwrap();
    assert!(report.corrupt.contains(flipped.cid().hash()), "{report:?}");
    assert!(
        report.corrupt.contains(truncated.cid().hash()),
        "{report:?}"
    );
    assert_eq!(report.corrupt.len(), 2, "{report:?}");
}
