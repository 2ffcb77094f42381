//! The on-disk format marker: a store written by an incompatible build is refused, not read.

use crate::{FORMAT_VERSION, SledStore, StoreError};

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
