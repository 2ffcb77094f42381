//! `chorus add` without a daemon: the walk of [`crate::add_inputs`] fed into the core's
//! `Adder` in process (the same code RPC `add` runs), then kubo's lines.
//!
//! Durability: the adder's commit pins the roots and makes everything durable before it
//! returns, and only then are the `added` lines printed. A line on stdout therefore always
//! names content that survives a crash.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use chorus_node::core::{Added, Adder, Core};
use chorus_storage::{Blockstore, Cid};
use indicatif::ProgressBar;

use crate::add_inputs::{self, Entry, Line, Settings};
use crate::cli::AddArgs;
use crate::config::ImportConfig;
use crate::progress;
use crate::repo::RepoPaths;

/// Read buffer target: large reads keep syscalls off the profile.
const READ_BUFFER: usize = 1 << 20;

pub fn run(paths: &RepoPaths, args: AddArgs) -> Result<()> {
    paths.ensure_initialized()?;
    if args.sign.is_some() {
        anyhow::bail!(
            "a signed upload goes through a running daemon (it verifies and registers it on chain): start `chorus daemon`"
        );
    }
    let config = paths.load_config()?;
    let settings = Settings::new(&config.import, &args)?;
    let entries = add_inputs::walk(&args)?;
    let total: u64 = entries.iter().map(Entry::len).sum();
    let bar = progress::bytes_bar(progress::enabled(args.progress), Some(total), "adding");
    let rt = super::runtime()?;
    // --only-hash never touches the store (nor takes its lock).
    let core = if args.only_hash {
        None
    } else {
        Some(crate::store::offline_core(paths)?)
    };
    let lines = rt.block_on(add(core.as_ref(), &settings, &entries, &args, &bar))?;
    bar.finish_and_clear();
    add_inputs::print(&lines, &args)
}

/// Adds `entries` through `core` (or only hashes them) and returns the lines to print.
pub(crate) async fn add(
    core: Option<&Core>,
    settings: &Settings,
    entries: &[Entry],
    args: &AddArgs,
    bar: &ProgressBar,
) -> Result<Vec<Line>> {
    let opts = settings.options()?;
    let mut adder = match core {
        Some(core) => Adder::new(core, opts, false)?,
        None => Adder::hash_only(opts)?,
    };
    let files = feed(&mut adder, entries, bar).await?;
    let outcome = adder.finish(args.wrap, args.pin && core.is_some()).await?;
    if args.quieter {
        return Ok(outcome
            .roots
            .last()
            .map(|r| line(r, true))
            .into_iter()
            .collect());
    }
    let (file_entries, dirs) = outcome.entries.split_at(files.min(outcome.entries.len()));
    Ok(file_entries
        .iter()
        .map(|f| line(f, true))
        .chain(dirs.iter().map(|d| line(d, false)))
        .collect())
}

/// Feeds `entries` to `adder`; returns how many were files or symlinks (the entries the adder
/// reports before its directories).
async fn feed(adder: &mut Adder, entries: &[Entry], bar: &ProgressBar) -> Result<usize> {
    let mut files = 0;
    for entry in entries {
        match entry {
            Entry::Dir { name } => adder.dir(name)?,
            Entry::Symlink { name, target } => {
                adder.symlink(name, target).await?;
                files += 1;
            }
            Entry::File { name, path, .. } => {
                let f = std::fs::File::open(path)
                    .with_context(|| format!("cannot open {}", path.display()))?;
                add_stream(adder, name, f, bar)
                    .await
                    .with_context(|| format!("cannot read {}", path.display()))?;
                files += 1;
            }
            Entry::Stdin { name } => {
                add_stream(adder, name, std::io::stdin().lock(), bar)
                    .await
                    .context("cannot read standard input")?;
                files += 1;
            }
        }
    }
    Ok(files)
}

/// The report line of an entry; an unnamed stream is shown by its CID.
fn line(added: &Added, file: bool) -> Line {
    Line {
        cid: added.cid.to_string(),
        name: added.shown_name(file),
    }
}

/// Imports one byte stream as the file `name`.
async fn add_stream(
    adder: &mut Adder,
    name: &str,
    mut input: impl Read,
    bar: &ProgressBar,
) -> Result<Cid> {
    let mut file = adder.file(name)?;
    // A whole number of chunks per read, so the importer never copies into its pending buffer.
    let chunk = file.chunk_size();
    let mut buf = vec![0u8; chunk * (READ_BUFFER / chunk).max(1)];
    loop {
        let n = read_full(&mut input, &mut buf)?;
        if n == 0 {
            break;
        }
        file.push(&buf[..n]).await?;
        bar.inc(n as u64);
        if n < buf.len() {
            break;
        }
    }
    Ok(file.finish().await?.cid)
}

/// Reads until `buf` is full or the input ends; returns the bytes read.
fn read_full(input: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Stores the directory `dir` exactly as `chorus add -r -Q` stores its contents (the `[import]`
/// settings, hidden files skipped) through `store`, a writer's store whose commit is the
/// caller's; returns the root's (cid, tsize). `chorus track add` and the daemon's `track/add`
/// share this, so a track gets the same CID whichever path stored it.
pub(crate) async fn add_directory(
    import: &ImportConfig,
    dir: &Path,
    store: Arc<dyn Blockstore>,
) -> Result<(Cid, u64)> {
    let args = AddArgs::for_directory(dir.to_path_buf());
    let settings = Settings::new(import, &args)?;
    let mut adder = Adder::into_store(store, settings.options()?)?;
    let entries = add_inputs::walk_contents(dir, args.hidden)?;
    feed(&mut adder, &entries, &ProgressBar::hidden()).await?;
    let outcome = adder.finish(true, false).await?;
    let root = outcome
        .roots
        .last()
        .context("the track directory has no root")?;
    Ok((root.cid, root.tsize))
}

/// The CID `chorus add` would give `path` with the `[import]` settings, storing nothing.
pub(crate) async fn hash_file(import: &ImportConfig, path: &Path) -> Result<Cid> {
    let args = AddArgs::for_directory(path.to_path_buf());
    let settings = Settings::new(import, &args)?;
    let mut adder = Adder::hash_only(settings.options()?)?;
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    add_stream(&mut adder, "", f, &ProgressBar::hidden())
        .await
        .with_context(|| format!("cannot read {}", path.display()))
}
