//! Payload files for blocks too large to live inline in the index.
//!
//! Layout (flatfs-like, one file per block so GC is an `unlink`):
//! `blocks/<shard>/<base32 multihash>.data`, where `<shard>` is the two characters before the
//! last one of the name (flatfs's `next-to-last/2`: 1,024 evenly used directories). A block is
//! written to `blocks/.tmp/<unique>` and renamed into place, so a reader never sees a partial
//! file under a final name. Files written since the last [`PayloadDir::sync`] are remembered
//! (up to a bound) so that `sync` can fsync just them; past the bound one `syncfs` covers all.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use crate::Multihash;

/// Directory for temp files, inside the blocks directory (same filesystem, so rename works).
const TMP_DIR: &str = ".tmp";
/// Suffix of payload files.
const DATA_SUFFIX: &str = ".data";

/// Payload files not yet known to be durable.
#[derive(Debug, Default)]
struct Pending {
    files: Vec<PathBuf>,
    /// More files were written than the list keeps: the next sync must cover everything.
    overflow: bool,
}

/// The directory of payload files.
#[derive(Debug)]
pub(crate) struct PayloadDir {
    root: PathBuf,
    tmp: PathBuf,
    /// Open handle on `root`, for `syncfs`.
    root_handle: File,
    pending: Mutex<Pending>,
    /// Held for a whole `sync`, so a concurrent `sync` that finds the list already taken waits
    /// until the files it names are durable instead of returning early.
    syncing: Mutex<()>,
    /// Above this many unsynced files, `sync` uses one `syncfs` instead of per-file fsyncs.
    sync_files_max: usize,
    /// Start writeback of each payload as soon as it is written (see [`start_writeback`]).
    early_writeback: bool,
    tmp_counter: AtomicU64,
}

impl PayloadDir {
    /// Opens (creating if needed) `root` and removes temp files left by a crash. Only call this
    /// while holding the repo lock: another process's temp files would be in-flight puts.
    pub(crate) fn open(
        root: PathBuf,
        sync_files_max: usize,
        early_writeback: bool,
    ) -> io::Result<Self> {
        let tmp = root.join(TMP_DIR);
        fs::create_dir_all(&tmp)?;
        for entry in fs::read_dir(&tmp)? {
            let entry = entry?;
            match fs::remove_file(entry.path()) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let root_handle = File::open(&root)?;
        Ok(PayloadDir {
            root,
            tmp,
            root_handle,
            pending: Mutex::new(Pending::default()),
            syncing: Mutex::new(()),
            sync_files_max,
            early_writeback,
            tmp_counter: AtomicU64::new(0),
        })
    }

    /// File name (without directory) of a multihash's payload.
    fn file_name(mh: &Multihash) -> String {
        let mut name = multibase::Base::Base32Lower.encode(mh.to_bytes());
        name.push_str(DATA_SUFFIX);
        name
    }

    /// Shard directory name for a file name stem (`next-to-last/2`).
    fn shard(stem: &str) -> &str {
        let n = stem.len();
        // Multihash names are at least 4 characters (2+ bytes in base32).
        if n >= 3 { &stem[n - 3..n - 1] } else { "__" }
    }

    /// Final path of a multihash's payload.
    pub(crate) fn path(&self, mh: &Multihash) -> PathBuf {
        let name = Self::file_name(mh);
        let stem = &name[..name.len() - DATA_SUFFIX.len()];
        self.root.join(Self::shard(stem)).join(&name)
    }

    /// Writes `data` as the payload of `mh` (temp file, then rename). Not durable until
    /// [`PayloadDir::sync`].
    pub(crate) fn write(&self, mh: &Multihash, data: &[u8]) -> io::Result<()> {
        let n = self.tmp_counter.fetch_add(1, Ordering::Relaxed);
        let tmp = self.tmp.join(format!("{}-{n}", std::process::id()));
        let result = (|| {
            let mut f = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
            f.write_all(data)?;
            if self.early_writeback {
                start_writeback(&f);
            }
            drop(f);
            let dest = self.path(mh);
            match fs::rename(&tmp, &dest) {
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    // First file in this shard: create the directory and retry.
                    if let Some(parent) = dest.parent() {
                        fs::create_dir_all(parent)?;
                    }
                    fs::rename(&tmp, &dest)?;
                }
                other => other?,
            }
            Ok(dest)
        })();
        match result {
            Ok(dest) => {
                let mut p = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
                if p.files.len() < self.sync_files_max {
                    p.files.push(dest);
                } else {
                    p.overflow = true;
                }
                Ok(())
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                Err(e)
            }
        }
    }

    /// Reads the payload of `mh` if its file exists with exactly `len` bytes; `None` when the
    /// file is missing or has another size (a torn or damaged write: treated as absent).
    pub(crate) fn read(&self, mh: &Multihash, len: u64) -> io::Result<Option<Vec<u8>>> {
        let path = self.path(mh);
        let mut f = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        if f.metadata()?.len() != len {
            tracing::warn!(path = %path.display(), "payload file has the wrong size");
            return Ok(None);
        }
        let cap = usize::try_from(len).map_err(|_| io::Error::other("payload too large"))?;
        let mut buf = Vec::with_capacity(cap);
        // One byte past `len` detects a file that grew after the size check.
        (&mut f).take(len + 1).read_to_end(&mut buf)?;
        if buf.len() as u64 != len {
            return Ok(None);
        }
        Ok(Some(buf))
    }

    /// Size of the payload file of `mh`, if it exists.
    pub(crate) fn file_len(&self, mh: &Multihash) -> io::Result<Option<u64>> {
        match fs::metadata(self.path(mh)) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes the payload of `mh`; returns whether a file was there.
    pub(crate) fn remove(&self, mh: &Multihash) -> io::Result<bool> {
        match fs::remove_file(self.path(mh)) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Makes every payload file written before this call durable, with the directory entries
    /// that name them.
    pub(crate) fn sync(&self) -> io::Result<()> {
        let _one = self.syncing.lock().unwrap_or_else(PoisonError::into_inner);
        let taken =
            std::mem::take(&mut *self.pending.lock().unwrap_or_else(PoisonError::into_inner));
        if taken.files.is_empty() && !taken.overflow {
            return Ok(());
        }
        let result = if taken.overflow {
            self.syncfs()
        } else {
            self.sync_files(&taken.files)
        };
        if result.is_err() {
            // Nothing may be assumed durable: make the next sync cover everything.
            self.pending
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .overflow = true;
        }
        result
    }

    fn sync_files(&self, files: &[PathBuf]) -> io::Result<()> {
        let mut dirs: Vec<&Path> = Vec::new();
        for path in files {
            match File::open(path) {
                Ok(f) => f.sync_all()?,
                // Deleted since it was written (GC or `delete`): nothing to make durable.
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            }
            if let Some(d) = path.parent()
                && !dirs.contains(&d)
            {
                dirs.push(d);
            }
        }
        for d in dirs {
            File::open(d)?.sync_all()?;
        }
        // Shard directories created since the last sync are entries of the root.
        self.root_handle.sync_all()
    }

    fn syncfs(&self) -> io::Result<()> {
        // SAFETY: `root_handle` is an open descriptor owned by `self`.
        let rc = unsafe { libc::syncfs(self.root_handle.as_raw_fd()) };
        if rc == 0 {
            Ok(())
        } else {
            Err(io::Error::last_os_error())
        }
    }

    /// Every payload file present, as (multihash, path); names that are not a multihash are
    /// reported as `Err(path)`.
    pub(crate) fn list(&self) -> io::Result<Vec<Result<(Multihash, PathBuf), PathBuf>>> {
        let mut out = Vec::new();
        for shard in fs::read_dir(&self.root)? {
            let shard = shard?;
            if shard.file_name() == TMP_DIR || !shard.file_type()?.is_dir() {
                continue;
            }
            let entries = match fs::read_dir(shard.path()) {
                Ok(e) => e,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for entry in entries {
                let entry = entry?;
                let path = entry.path();
                let parsed = entry
                    .file_name()
                    .to_str()
                    .and_then(|n| n.strip_suffix(DATA_SUFFIX))
                    .and_then(|stem| multibase::Base::Base32Lower.decode(stem).ok())
                    .and_then(|bytes| Multihash::from_bytes(&bytes).ok());
                out.push(parsed.map(|mh| (mh, path.clone())).ok_or(path));
            }
        }
        Ok(out)
    }
}

/// Asks the kernel to start writing `f`'s dirty pages to disk now, without waiting for it, so
/// the disk works while the importer hashes the next chunks and `flush` has less left to wait
/// for. Advisory: errors are ignored (the later fsync/syncfs reports real write errors).
fn start_writeback(f: &File) {
    #[cfg(target_os = "linux")]
    // SAFETY: `f` is an open descriptor; the call only schedules I/O on it.
    unsafe {
        libc::sync_file_range(f.as_raw_fd(), 0, 0, libc::SYNC_FILE_RANGE_WRITE);
    }
    #[cfg(not(target_os = "linux"))]
    let _ = f;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HashAlg, hash_data};

    #[test]
    fn layout_round_trips() {
        let dir = tempfile::tempdir().unwrap();
        let p = PayloadDir::open(dir.path().join("blocks"), 4, true).unwrap();
        let mh = hash_data(HashAlg::Sha2_256, b"abc").unwrap();
        p.write(&mh, b"abc").unwrap();
        let path = p.path(&mh);
        let name = path.file_name().unwrap().to_str().unwrap();
        let shard = path
            .parent()
            .unwrap()
            .file_name()
            .unwrap()
            .to_str()
            .unwrap();
        assert_eq!(shard, &name[name.len() - 8..name.len() - 6]);
        assert_eq!(p.read(&mh, 3).unwrap().unwrap(), b"abc");
        assert_eq!(p.read(&mh, 4).unwrap(), None);
        let listed = p.list().unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].as_ref().unwrap().0, mh);
        p.sync().unwrap();
        assert!(p.remove(&mh).unwrap());
        assert!(!p.remove(&mh).unwrap());
        assert_eq!(p.read(&mh, 3).unwrap(), None);
    }

    #[test]
    fn open_removes_leftover_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("blocks");
        drop(PayloadDir::open(root.clone(), 4, false).unwrap());
        std::fs::write(root.join(TMP_DIR).join("123-0"), b"torn").unwrap();
        drop(PayloadDir::open(root.clone(), 4, false).unwrap());
        assert_eq!(std::fs::read_dir(root.join(TMP_DIR)).unwrap().count(), 0);
    }

    #[test]
    fn sync_overflow_uses_syncfs() {
        let dir = tempfile::tempdir().unwrap();
        let p = PayloadDir::open(dir.path().join("blocks"), 2, true).unwrap();
        for i in 0..5u8 {
            let mh = hash_data(HashAlg::Sha2_256, &[i]).unwrap();
            p.write(&mh, &[i]).unwrap();
        }
        assert!(p.pending.lock().unwrap().overflow);
        p.sync().unwrap();
        let pending = p.pending.lock().unwrap();
        assert!(!pending.overflow && pending.files.is_empty());
    }
}
