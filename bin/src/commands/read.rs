//! `chorus cat`, `get` and `ls`: reading UnixFS content from the local store.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chorus_protocol::unixfs::{
    NodeKind, StoreSource, UnixfsFile, list_directory, read_symlink, resolve_path, stat,
};
use chorus_storage::{Cid, SledStore};
use futures::StreamExt;

use super::{parse_path, runtime};
use crate::cli::{CatArgs, GetArgs, LsArgs};
use crate::progress;
use crate::repo::RepoPaths;

type Source = StoreSource<SledStore>;

fn source(paths: &RepoPaths) -> Result<Source> {
    Ok(StoreSource::new(std::sync::Arc::new(
        crate::store::open_existing(paths)?,
    )))
}

async fn resolve(source: &Source, arg: &str) -> Result<Cid> {
    let (root, segments) = parse_path(arg)?;
    resolve_path(source, &root, &segments)
        .await
        .with_context(|| format!("cannot resolve {arg}"))
}

pub fn cat(paths: &RepoPaths, args: CatArgs) -> Result<()> {
    let source = source(paths)?;
    runtime()?.block_on(async {
        let cid = resolve(&source, &args.path).await?;
        let file = UnixfsFile::open(&source, &cid)
            .await
            .with_context(|| format!("cannot cat {}", args.path))?;
        let mut out = std::io::stdout().lock();
        let mut chunks = std::pin::pin!(file.read(source.clone(), args.offset, args.length));
        while let Some(chunk) = chunks.next().await {
            let chunk = chunk.with_context(|| format!("cannot read {}", args.path))?;
            out.write_all(&chunk)?;
        }
        out.flush()?;
        Ok(())
    })
}

pub fn ls(paths: &RepoPaths, args: LsArgs) -> Result<()> {
    let source = source(paths)?;
    runtime()?.block_on(async {
        let cid = resolve(&source, &args.path).await?;
        let node = stat(&source, &cid)
            .await
            .with_context(|| format!("cannot list {}", args.path))?;
        let mut out = std::io::stdout().lock();
        if !matches!(node.kind, NodeKind::Directory | NodeKind::HamtShard) {
            // kubo lists a file as itself.
            writeln!(out, "{} {} {}", cid, node.size, args.path)?;
            return Ok(());
        }
        for entry in list_directory(&source, &cid).await? {
            let child = stat(&source, &entry.cid)
                .await
                .with_context(|| format!("cannot stat {}/{}", args.path, entry.name))?;
            match child.kind {
                NodeKind::Directory | NodeKind::HamtShard => {
                    writeln!(out, "{} - {}/", entry.cid, entry.name)?
                }
                _ => writeln!(out, "{} {} {}", entry.cid, child.size, entry.name)?,
            }
        }
        out.flush()?;
        Ok(())
    })
}

pub fn get(paths: &RepoPaths, args: GetArgs) -> Result<()> {
    let source = source(paths)?;
    let show = progress::enabled(args.progress);
    runtime()?.block_on(async {
        let cid = resolve(&source, &args.path).await?;
        let dest = match &args.output {
            Some(p) => p.clone(),
            None => PathBuf::from(args.path.trim_start_matches("/ipfs/").replace('/', "_")),
        };
        if dest.exists() && !dest.is_dir() || dest.is_dir() && dest.read_dir()?.next().is_some() {
            bail!("{} already exists", dest.display());
        }
        let bar = progress::bytes_bar(show, None, "getting");
        write_node(&source, cid, &dest, &bar).await?;
        bar.finish_and_clear();
        println!("Saving file(s) to {}", dest.display());
        Ok(())
    })
}

/// Writes `cid` (file or directory tree) to `dest`, one file streamed at a time.
async fn write_node(
    source: &Source,
    root: Cid,
    dest: &Path,
    bar: &indicatif::ProgressBar,
) -> Result<()> {
    // Iterative to keep deep trees off the stack.
    let mut pending = vec![(root, dest.to_path_buf())];
    while let Some((cid, path)) = pending.pop() {
        let node = stat(source, &cid)
            .await
            .with_context(|| format!("cannot fetch {cid}"))?;
        match node.kind {
            NodeKind::Directory | NodeKind::HamtShard => {
                std::fs::create_dir_all(&path)
                    .with_context(|| format!("cannot create {}", path.display()))?;
                for entry in list_directory(source, &cid).await? {
                    if entry.name.contains('/') || entry.name == ".." || entry.name == "." {
                        bail!("refusing unsafe entry name {:?} in {cid}", entry.name);
                    }
                    pending.push((entry.cid, path.join(&entry.name)));
                }
            }
            NodeKind::File => {
                let file = UnixfsFile::open(source, &cid).await?;
                let mut out = std::io::BufWriter::with_capacity(
                    1 << 20,
                    std::fs::File::create(&path)
                        .with_context(|| format!("cannot create {}", path.display()))?,
                );
                let mut chunks = std::pin::pin!(file.read(source.clone(), 0, None));
                while let Some(chunk) = chunks.next().await {
                    let chunk = chunk.with_context(|| format!("cannot read {cid}"))?;
                    out.write_all(&chunk)
                        .with_context(|| format!("cannot write {}", path.display()))?;
                    bar.inc(chunk.len() as u64);
                }
                out.flush()
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            NodeKind::Symlink => {
                let target = read_symlink(source, &cid).await?;
                std::os::unix::fs::symlink(&target, &path)
                    .with_context(|| format!("cannot create symlink {}", path.display()))?;
            }
            other => bail!("cannot write {cid} to disk: it is a {other}"),
        }
    }
    Ok(())
}
