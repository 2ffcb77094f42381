//! Upgrading a format-1 store (one payload file per block) to pack files, on open.
//!
//! Format 1 kept each block above the inline limit in `blocks/<shard>/<base32 mh>.data` and its
//! index entry as tag 1 plus the length. The upgrade appends each such file to a pack, swaps
//! the entry to the pack location, makes packs and index durable, and only then writes the new
//! format marker and removes `blocks/`. A crash part-way leaves format 1 on disk with some
//! entries already moved; the next open carries on (moved entries are skipped, their files are
//! still there until the end). An entry whose file is missing or has the wrong size was absent
//! in format 1 too: it is dropped, and the counters are recomputed.

use std::io;
use std::path::Path;

use crate::Multihash;
use crate::index::{self, STAT_KEY};
use crate::pack::PackDir;
use crate::store::StoreError;

/// The format this module upgrades from.
pub(crate) const FROM_FORMAT: &[u8] = b"1";
/// Directory of format 1's payload files inside the store directory.
const V1_BLOCKS_DIR: &str = "blocks";
/// Tag of a format-1 index entry whose payload is in a file.
const V1_TAG_FILE: u8 = 1;

/// What an upgrade did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Upgrade {
    /// Payload files moved into packs.
    pub(crate) moved: u64,
    /// Entries dropped because their file was missing or damaged.
    pub(crate) dropped: u64,
}

/// Moves every format-1 payload file of `index` into `packs`, then removes `blocks/`. The
/// caller writes the new format marker after this returns.
pub(crate) fn upgrade_v1(
    dir: &Path,
    db: &sled::Db,
    index_tree: &sled::Tree,
    packs: &PackDir,
) -> Result<Upgrade, StoreError> {
    let blocks = dir.join(V1_BLOCKS_DIR);
    let mut done = Upgrade::default();
    for item in index_tree.iter() {
        let (key, value) = item?;
        if key.as_ref() == STAT_KEY {
            continue;
        }
        let Some(len) = v1_file_len(&value) else {
            continue; // inline, already moved, or damaged (left for `verify`)
        };
        let Ok(mh) = Multihash::from_bytes(&key) else {
            continue;
        };
        let path = blocks.join(v1_relative_path(&mh));
        let data = match std::fs::read(&path) {
            Ok(d) if d.len() as u64 == len => Some(d),
            Ok(_) => None,
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(StoreError::io(format!("reading {}", path.display()), e)),
        };
        match data {
            Some(data) => {
                let loc = packs
                    .append(&mut packs.begin(), &mh, &data)
                    .map_err(|e| StoreError::io("writing a pack file", e))?;
                index_tree.insert(&key, &index::encode_pack(&loc)[..])?;
                done.moved += 1;
            }
            None => {
                tracing::warn!(path = %path.display(), "format-1 payload missing or damaged; entry dropped");
                index_tree.remove(&key)?;
                done.dropped += 1;
            }
        }
    }
    // Counters are recomputed on open when their record is missing.
    index_tree.remove(STAT_KEY)?;
    packs
        .sync()
        .map_err(|e| StoreError::io("syncing pack files", e))?;
    db.flush()?;
    match std::fs::remove_dir_all(&blocks) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(StoreError::io(format!("removing {}", blocks.display()), e)),
    }
    Ok(done)
}

/// The payload length of a format-1 file entry.
fn v1_file_len(value: &[u8]) -> Option<u64> {
    match value.split_first() {
        Some((&V1_TAG_FILE, len)) => Some(u64::from_le_bytes(len.try_into().ok()?)),
        _ => None,
    }
}

/// `<shard>/<name>.data` of a format-1 payload: base32 of the multihash, sharded by the two
/// characters before the last one (flatfs's `next-to-last/2`).
pub(crate) fn v1_relative_path(mh: &Multihash) -> std::path::PathBuf {
    let stem = multibase::Base::Base32Lower.encode(mh.to_bytes());
    let n = stem.len();
    let shard = if n >= 3 { &stem[n - 3..n - 1] } else { "__" };
    Path::new(shard).join(format!("{stem}.data"))
}
