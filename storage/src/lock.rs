//! `RepoLock`: one process at a time per store directory.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::store::StoreError;

/// Name of the lock file inside the store directory.
pub const LOCK_FILE: &str = "repo.lock";

/// An exclusive `flock` on `<dir>/repo.lock`, holding this process's pid in the file.
///
/// `flock` locks belong to the open file description, so a second `RepoLock` on the same
/// directory fails even inside the same process, and the kernel releases the lock when the
/// process dies (even by SIGKILL): a stale lock file never blocks a restart. Dropping the value
/// releases the lock — unless a child process is being spawned at that moment: until its
/// `exec` it holds a copy of every descriptor (std opens them close-on-exec, so the copy goes
/// when `Command::spawn` returns). Code that closes and reopens a store while other threads
/// spawn processes must order the two (this crate's tests use a lock for that).
#[derive(Debug)]
pub struct RepoLock {
    file: File,
    path: PathBuf,
}

impl RepoLock {
    /// Takes the lock without waiting; [`StoreError::Locked`] names the holder's pid when
    /// another holder has it.
    pub fn acquire(dir: &Path) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::io(format!("creating {}", dir.display()), e))?;
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StoreError::io(format!("opening {}", path.display()), e))?;
        // SAFETY: `file` owns a valid open descriptor for the duration of the call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if rc != 0 {
            let err = std::io::Error::last_os_error();
            if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut text = String::new();
                // The holder may not have written its pid yet: then the pid is unknown.
                let pid = file
                    .read_to_string(&mut text)
                    .ok()
                    .and_then(|_| text.trim().parse().ok());
                return Err(StoreError::Locked { path, pid });
            }
            return Err(StoreError::io(format!("locking {}", path.display()), err));
        }
        let write_pid = |file: &mut File| -> std::io::Result<()> {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            writeln!(file, "{}", std::process::id())
        };
        write_pid(&mut file)
            .map_err(|e| StoreError::io(format!("writing pid to {}", path.display()), e))?;
        Ok(RepoLock { file, path })
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The open lock file (kept open for as long as the lock is held).
    pub fn file(&self) -> &File {
        &self.file
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHILD_ENV: &str = "CHORUS_STORAGE_LOCK_CHILD_DIR";
    const LOCKED_MARKER: &str = "chorus-lock-child-holds-the-lock";

    /// Runs only as the child of `second_process_gets_locked_error`: takes the lock, says so on
    /// stdout, and holds it until its stdin closes.
    #[test]
    fn lock_child_helper() {
        let Some(dir) = std::env::var_os(CHILD_ENV) else {
            return;
        };
        let _lock = RepoLock::acquire(Path::new(&dir)).unwrap();
        // libtest prints the test name on the same line first, so the parent matches a suffix.
        println!("{LOCKED_MARKER}");
        let mut sink = String::new();
        std::io::stdin().read_to_string(&mut sink).unwrap();
    }

    #[test]
    fn second_process_gets_locked_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut child = crate::tests::util::spawn_test_child(
            "lock::tests::lock_child_helper",
            CHILD_ENV,
            dir.path(),
        );
        let _stdout = crate::tests::util::wait_for_marker(&mut child, LOCKED_MARKER, "locking");
        match RepoLock::acquire(dir.path()) {
            Err(StoreError::Locked { pid, path }) => {
                assert_eq!(pid, Some(child.id()));
                assert_eq!(path, dir.path().join(LOCK_FILE));
            }
            other => panic!("expected Locked, got {other:?}"),
        }
        // The sled store refuses too, with the same error, before touching the index.
        match crate::SledStore::open(dir.path()) {
            Err(StoreError::Locked { pid, .. }) => assert_eq!(pid, Some(child.id())),
            other => panic!("expected Locked, got {:?}", other.map(|_| ())),
        }
        drop(child.stdin.take());
        assert!(child.wait().unwrap().success());
        let lock = RepoLock::acquire(dir.path()).unwrap();
        let text = std::fs::read_to_string(lock.path()).unwrap();
        assert_eq!(text.trim(), std::process::id().to_string());
    }

    #[test]
    fn same_process_second_handle_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let _no_spawns = crate::tests::util::no_spawns();
        let first = RepoLock::acquire(dir.path()).unwrap();
        assert!(matches!(
            RepoLock::acquire(dir.path()),
            Err(StoreError::Locked { pid: Some(p), .. }) if p == std::process::id()
        ));
        drop(first);
        RepoLock::acquire(dir.path()).unwrap();
    }
}
