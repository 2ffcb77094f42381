//! Writing a `get` tar stream to disk, for `chorus get` with or without a daemon (both read the
//! same stream: the daemon's RPC `get`, or the core's `tar_stream` in process).
//!
//! Nothing in the archive can write outside the destination: its top-level name is replaced by
//! the destination; every other path must be plain names; an entry may appear only once; a
//! file or link is only ever created inside a directory this unpack created itself (never
//! through a symlink, its own or one found on disk); files are created new (`O_EXCL`, which
//! does not follow a link either). Symlinks are recreated as symlinks, never followed.

use std::collections::HashSet;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use futures::{Stream, TryStreamExt};

/// Unpacks the tar `stream` into `dest` (which must not exist, or be an empty directory).
pub async fn save<S>(stream: S, dest: &Path) -> Result<()>
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Send + Unpin + 'static,
{
    let reader = tokio_util::io::StreamReader::new(stream.map_err(std::io::Error::other));
    let dest = dest.to_path_buf();
    tokio::task::spawn_blocking(move || unpack(tokio_util::io::SyncIoBridge::new(reader), &dest))
        .await
        .context("unpacking failed")?
}

/// Refuses a destination that exists and is not an empty directory.
pub fn check_destination(dest: &Path) -> Result<()> {
    if dest.exists() && !dest.is_dir() || dest.is_dir() && dest.read_dir()?.next().is_some() {
        bail!("{} already exists", dest.display());
    }
    Ok(())
}

/// Unpacks kubo's `get` tar, replacing its top-level name with `dest`.
pub fn unpack(reader: impl Read, dest: &Path) -> Result<()> {
    let mut archive = tar::Archive::new(reader);
    // Paths (relative to `dest`) written so far, and the directories among them.
    let mut written: HashSet<PathBuf> = HashSet::new();
    let mut dirs: HashSet<PathBuf> = HashSet::new();
    for entry in archive.entries().context("invalid tar stream")? {
        let mut entry = entry.context("invalid tar stream")?;
        let path = entry.path().context("invalid tar stream")?.into_owned();
        let mut parts = path.components();
        parts.next();
        let rel: PathBuf = parts.collect();
        if rel.components().any(|c| !matches!(c, Component::Normal(_))) {
            bail!("refusing unsafe path {} in the archive", path.display());
        }
        if !written.insert(rel.clone()) {
            bail!(
                "refusing {}: it appears twice in the archive",
                path.display()
            );
        }
        // Every directory above the entry must be one this unpack made.
        let mut above = rel.parent();
        while let Some(dir) = above.filter(|d| !d.as_os_str().is_empty()) {
            if !dirs.contains(dir) {
                bail!(
                    "refusing {}: {} is not a directory of the archive",
                    path.display(),
                    dir.display()
                );
            }
            above = dir.parent();
        }
        if !rel.as_os_str().is_empty() && !dirs.contains(Path::new("")) {
            bail!(
                "refusing {}: the archive's top is not a directory",
                path.display()
            );
        }
        let target = if rel.as_os_str().is_empty() {
            dest.to_path_buf()
        } else {
            dest.join(&rel)
        };
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            match std::fs::create_dir(&target) {
                // The destination may be an empty directory already (checked by the caller).
                Err(e)
                    if e.kind() == std::io::ErrorKind::AlreadyExists
                        && rel.as_os_str().is_empty() =>
                {
                    if std::fs::symlink_metadata(&target)?.file_type().is_symlink() {
                        bail!("{} is a symbolic link", target.display());
                    }
                }
                other => other.with_context(|| format!("cannot create {}", target.display()))?,
            }
            dirs.insert(rel);
        } else if kind.is_file() {
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&target)
                .with_context(|| format!("cannot create {}", target.display()))?;
            std::io::copy(&mut entry, &mut f)
                .with_context(|| format!("cannot write {}", target.display()))?;
        } else if kind.is_symlink() {
            let link = entry
                .link_name()
                .context("invalid tar stream")?
                .with_context(|| format!("symlink {} has no target", path.display()))?;
            std::os::unix::fs::symlink(&link, &target)
                .with_context(|| format!("cannot create symlink {}", target.display()))?;
        } else {
            bail!("refusing {}: unsupported entry type", path.display());
        }
    }
    Ok(())
}
