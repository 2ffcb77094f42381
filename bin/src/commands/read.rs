//! `chorus cat`, `get` and `ls`: reading UnixFS content from the local store.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};
use chorus_node::FetcherSource;
use chorus_node::core::{tar_name, tar_stream};
use chorus_protocol::unixfs::{
    NodeKind, StoreSource, UnixfsFile, list_directory, resolve_path, stat,
};
use chorus_storage::{Cid, IdStore, SledStore};
use futures::StreamExt;

use super::{parse_path, runtime};
use crate::cli::{CatArgs, GetArgs, LsArgs};
use crate::progress;
use crate::repo::RepoPaths;

type Source = StoreSource<IdStore<SledStore>>;

fn source(paths: &RepoPaths) -> Result<Source> {
    Ok(StoreSource::new(std::sync::Arc::new(IdStore::new(
        std::sync::Arc::new(crate::store::open_existing(paths)?),
    ))))
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
        let limits = paths.load_config()?.limits.list();
        for entry in list_directory(&source, &cid, limits).await? {
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

/// Where `get` writes: `-o PATH`, else the argument with `/` as `_` (kubo).
pub(crate) fn get_destination(args: &GetArgs) -> PathBuf {
    match &args.output {
        Some(p) => p.clone(),
        None => PathBuf::from(args.path.trim_start_matches("/ipfs/").replace('/', "_")),
    }
}

/// `get` without a daemon: the same tar stream RPC `get` sends, made in process by the core,
/// unpacked by the same code as through a daemon.
pub fn get(paths: &RepoPaths, args: GetArgs) -> Result<()> {
    let core = crate::store::offline_core(paths)?;
    let show = progress::enabled(args.progress);
    runtime()?.block_on(async {
        let source = FetcherSource::new(core.fetcher());
        let (root, segments) = parse_path(&args.path)?;
        let cid = resolve_path(&source, &root, &segments)
            .await
            .with_context(|| format!("cannot resolve {}", args.path))?;
        let dest = get_destination(&args);
        crate::unpack::check_destination(&dest)?;
        // Fail before writing anything when the root is unreadable.
        stat(&source, &cid)
            .await
            .with_context(|| format!("cannot fetch {cid}"))?;
        let name = tar_name(&args.path, &cid);
        let bar = progress::bytes_bar(show, None, "getting");
        let counted = bar.clone();
        let stream = tar_stream(&core, cid, name).inspect(move |chunk| {
            if let Ok(chunk) = chunk {
                counted.inc(chunk.len() as u64);
            }
        });
        crate::unpack::save(Box::pin(stream), &dest).await?;
        bar.finish_and_clear();
        println!("Saving file(s) to {}", dest.display());
        Ok(())
    })
}
