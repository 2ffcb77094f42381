//! `chorus add`: import files and directories as UnixFS, store, pin, print kubo's lines.
//!
//! Durability: blocks go to the store in batches through a GC session; when everything is
//! imported the root(s) are pinned and the store flushed, and only then are the `added` lines
//! printed. A line on stdout therefore always names content that survives a crash.

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chorus_protocol::unixfs::{FileImporter, ImportOptions, Layout, TreeBuilder, symlink_block};
use chorus_storage::{Block, Blockstore, Cid, HashAlg, PinMode};
use indicatif::ProgressBar;

use crate::cli::AddArgs;
use crate::config::ImportConfig;
use crate::progress;
use crate::repo::RepoPaths;

/// Blocks buffered before one `put_many` (at 256 KiB chunks: 16 MiB).
const PUT_BATCH: usize = 64;
/// Read buffer target: large reads keep syscalls off the profile.
const READ_BUFFER: usize = 1 << 20;

pub fn run(paths: &RepoPaths, args: AddArgs) -> Result<()> {
    paths.ensure_initialized()?;
    let config = paths.load_config()?;
    let opts = import_options(&config.import, &args)?;
    // --only-hash never touches the store (nor takes its lock).
    let store = if args.only_hash {
        None
    } else {
        Some(crate::store::open(paths)?)
    };
    let session = store.as_ref().map(|s| s.session());
    let inputs = collect_inputs(&args)?;
    let total: u64 = inputs.iter().map(|i| i.total_bytes).sum();
    let bar = progress::bytes_bar(progress::enabled(args.progress), Some(total), "adding");
    let mut sink = Sink {
        session: session.as_ref().map(|s| s as &dyn Blockstore),
        batch: Vec::with_capacity(PUT_BATCH),
        bar: &bar,
    };

    let mut lines: Vec<(Cid, String)> = Vec::new();
    let mut tops: Vec<(String, Cid, u64)> = Vec::new();
    for input in &inputs {
        let (cid, tsize) = match &input.kind {
            InputKind::Stdin => {
                let (cid, tsize) = import_reader(&opts, std::io::stdin().lock(), &mut sink)
                    .context("cannot read standard input")?;
                let name = if args.stdin_name.is_empty() {
                    cid.to_string()
                } else {
                    args.stdin_name.clone()
                };
                lines.push((cid, name));
                (cid, tsize)
            }
            InputKind::File(path) => {
                let f =
                    File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
                let (cid, tsize) = import_reader(&opts, f, &mut sink)
                    .with_context(|| format!("cannot read {}", path.display()))?;
                lines.push((cid, input.name.clone()));
                (cid, tsize)
            }
            InputKind::Dir { root, files, dirs } => {
                import_tree(&opts, root, &input.name, files, dirs, &mut sink, &mut lines)?
            }
        };
        tops.push((input.name.clone(), cid, tsize));
    }

    let roots: Vec<Cid> = if args.wrap {
        let mut tree = TreeBuilder::new(&opts)?;
        for (name, cid, tsize) in &tops {
            tree.add(name, *cid, *tsize)
                .with_context(|| format!("cannot wrap {name:?}"))?;
        }
        let mut blocks = Vec::new();
        let built = tree.finish(&mut blocks)?;
        sink.put_all(blocks)?;
        lines.push((built.root.cid, String::new()));
        vec![built.root.cid]
    } else {
        tops.iter().map(|(_, cid, _)| *cid).collect()
    };
    sink.flush_batch()?;
    bar.finish_and_clear();

    if let (Some(store), Some(session)) = (&store, &session) {
        if args.pin {
            for root in &roots {
                session.pin(root, PinMode::Recursive)?;
            }
        }
        store
            .flush()
            .context("cannot make the added content durable")?;
    }

    let mut out = std::io::stdout().lock();
    if args.quieter {
        if let Some((cid, _)) = lines.last() {
            writeln!(out, "{cid}")?;
        }
    } else if args.quiet {
        for (cid, _) in &lines {
            writeln!(out, "{cid}")?;
        }
    } else {
        for (cid, name) in &lines {
            if name.is_empty() {
                writeln!(out, "added {cid}")?;
            } else {
                writeln!(out, "added {cid} {name}")?;
            }
        }
    }
    out.flush()?;
    Ok(())
}

/// Imports one walked directory tree (from [`walk`]) under `name`; returns the root's
/// (cid, tsize) and pushes an output line per entry.
fn import_tree(
    opts: &ImportOptions,
    root: &Path,
    name: &str,
    files: &[(String, Entry)],
    dirs: &[String],
    sink: &mut Sink<'_>,
    lines: &mut Vec<(Cid, String)>,
) -> Result<(Cid, u64)> {
    let mut tree = TreeBuilder::new(opts)?;
    for rel in dirs {
        tree.add_dir(rel)?;
    }
    for (rel, entry) in files {
        let path = root.join(rel);
        let (cid, tsize) = match entry {
            Entry::File => {
                let f =
                    File::open(&path).with_context(|| format!("cannot open {}", path.display()))?;
                import_reader(opts, f, sink)
                    .with_context(|| format!("cannot read {}", path.display()))?
            }
            Entry::Symlink(target) => {
                // Stored as a UnixFS symlink, not followed (as kubo does).
                let block = symlink_block(opts, target)?;
                let (cid, len) = (*block.cid(), block.len() as u64);
                sink.put_all(vec![block])?;
                (cid, len)
            }
        };
        tree.add(rel, cid, tsize)?;
        lines.push((cid, format!("{name}/{rel}")));
    }
    let mut blocks = Vec::new();
    let built = tree.finish(&mut blocks)?;
    sink.put_all(blocks)?;
    for (rel, dir) in &built.dirs {
        let line = if rel.is_empty() {
            name.to_owned()
        } else {
            format!("{name}/{rel}")
        };
        lines.push((dir.cid, line));
    }
    Ok((built.root.cid, built.root.tsize))
}

/// Stores the directory `dir` exactly as `chorus add -r -Q <dir>` does (the `[import]`
/// settings, hidden files skipped), writing every block through `store`; returns the root's
/// (cid, tsize). Pinning and durability are the caller's: `chorus track add` and the daemon's
/// `track/add` share this so a track gets the same CID whichever path stored it.
pub fn add_directory(
    import: &ImportConfig,
    dir: &Path,
    store: &dyn Blockstore,
) -> Result<(Cid, u64)> {
    let args = AddArgs::for_directory(dir.to_path_buf());
    let opts = import_options(import, &args)?;
    let (mut files, mut dirs, mut total) = (Vec::new(), Vec::new(), 0);
    walk(dir, "", args.hidden, &mut files, &mut dirs, &mut total)?;
    let bar = ProgressBar::hidden();
    let mut sink = Sink {
        session: Some(store),
        batch: Vec::with_capacity(PUT_BATCH),
        bar: &bar,
    };
    let mut lines = Vec::new();
    let root = import_tree(&opts, dir, "", &files, &dirs, &mut sink, &mut lines)?;
    sink.flush_batch()?;
    Ok(root)
}

/// The CID `chorus add` would give `path` with the `[import]` settings, storing nothing.
pub fn hash_file(import: &ImportConfig, path: &Path) -> Result<Cid> {
    let args = AddArgs::for_directory(path.to_path_buf());
    let opts = import_options(import, &args)?;
    let bar = ProgressBar::hidden();
    let mut sink = Sink {
        session: None,
        batch: Vec::new(),
        bar: &bar,
    };
    let f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let (cid, _) = import_reader(&opts, f, &mut sink)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(cid)
}

/// The import options: config defaults, overridden by flags.
fn import_options(cfg: &ImportConfig, args: &AddArgs) -> Result<ImportOptions> {
    let mut opts = ImportOptions::default();
    if let Some(v) = args.cid_version.or(Some(cfg.cid_version)) {
        opts = opts.with_cid_version(v);
    }
    if let Some(raw) = args.raw_leaves.or(cfg.raw_leaves) {
        opts = opts.with_raw_leaves(raw);
    }
    let chunker = args.chunker.as_deref().unwrap_or(&cfg.chunker);
    opts = opts
        .with_chunker(chunker)
        .with_context(|| format!("invalid chunker {chunker:?}"))?;
    let hash_name = args.hash.as_deref().unwrap_or(&cfg.hash);
    let hash = HashAlg::from_name(hash_name)
        .with_context(|| format!("unknown hash function {hash_name:?} (sha2-256 or blake3)"))?;
    if hash != HashAlg::Sha2_256 && args.cid_version.is_none() {
        // kubo: a non-default hash implies CIDv1.
        opts = opts.with_cid_version(1);
    }
    opts = opts.with_hash(hash);
    let layout = if args.trickle {
        Layout::Trickle
    } else {
        match cfg.layout.as_str() {
            "balanced" => Layout::Balanced,
            "trickle" => Layout::Trickle,
            other => bail!("invalid layout {other:?} in config (balanced or trickle)"),
        }
    };
    opts = opts.with_layout(layout);
    opts.resolve().context("invalid add options")?;
    Ok(opts)
}

/// Where finished blocks go: batched into the session's store, or nowhere for `--only-hash`.
struct Sink<'a> {
    session: Option<&'a dyn Blockstore>,
    batch: Vec<Block>,
    bar: &'a ProgressBar,
}

impl Sink<'_> {
    fn put_all(&mut self, blocks: Vec<Block>) -> Result<()> {
        if self.session.is_none() {
            return Ok(());
        }
        self.batch.extend(blocks);
        if self.batch.len() >= PUT_BATCH {
            self.flush_batch()?;
        }
        Ok(())
    }

    fn flush_batch(&mut self) -> Result<()> {
        if let Some(session) = self.session
            && !self.batch.is_empty()
        {
            session
                .put_many(&self.batch)
                .context("cannot write blocks to the store")?;
        }
        self.batch.clear();
        Ok(())
    }
}

/// Imports one byte stream as a UnixFS file; returns (root, tsize).
fn import_reader(
    opts: &ImportOptions,
    mut input: impl Read,
    sink: &mut Sink<'_>,
) -> Result<(Cid, u64)> {
    let mut importer = FileImporter::new(opts)?;
    let chunk = importer.options().chunk_size;
    // A whole number of chunks per read, so the importer never copies into its pending buffer.
    let mut buf = vec![0u8; chunk * (READ_BUFFER / chunk).max(1)];
    let mut blocks = Vec::new();
    loop {
        let n = read_full(&mut input, &mut buf)?;
        if n == 0 {
            break;
        }
        importer.push_into(&buf[..n], &mut blocks)?;
        sink.put_all(std::mem::take(&mut blocks))?;
        sink.bar.inc(n as u64);
        if n < buf.len() {
            break;
        }
    }
    let (done, tail) = importer.finish()?;
    sink.put_all(tail)?;
    Ok((done.root, done.tsize))
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

/// One command-line argument, resolved before anything is imported (so a bad path fails fast).
struct Input {
    name: String,
    kind: InputKind,
    total_bytes: u64,
}

enum InputKind {
    Stdin,
    File(PathBuf),
    Dir {
        root: PathBuf,
        /// Relative `/`-separated paths of files and symlinks, in walk order (sorted by name).
        files: Vec<(String, Entry)>,
        /// Relative paths of every directory below the root (so empty ones are kept).
        dirs: Vec<String>,
    },
}

/// A non-directory entry of a walked tree.
enum Entry {
    File,
    /// A symbolic link and its target.
    Symlink(String),
}

fn collect_inputs(args: &AddArgs) -> Result<Vec<Input>> {
    if args.paths.is_empty() || args.paths.iter().all(|p| p.as_os_str() == "-") {
        return Ok(vec![Input {
            name: args.stdin_name.clone(),
            kind: InputKind::Stdin,
            total_bytes: 0,
        }]);
    }
    let mut inputs = Vec::new();
    for path in &args.paths {
        let md =
            std::fs::metadata(path).with_context(|| format!("cannot add {}", path.display()))?;
        let name = base_name(path)?;
        if md.is_dir() {
            if !args.recursive {
                bail!(
                    "{} is a directory, use -r to add directories",
                    path.display()
                );
            }
            let mut files = Vec::new();
            let mut dirs = Vec::new();
            let mut total = 0;
            walk(path, "", args.hidden, &mut files, &mut dirs, &mut total)?;
            inputs.push(Input {
                name,
                kind: InputKind::Dir {
                    root: path.clone(),
                    files,
                    dirs,
                },
                total_bytes: total,
            });
        } else if md.is_file() {
            inputs.push(Input {
                name,
                kind: InputKind::File(path.clone()),
                total_bytes: md.len(),
            });
        } else {
            bail!("{} is neither a file nor a directory", path.display());
        }
    }
    Ok(inputs)
}

fn base_name(path: &Path) -> Result<String> {
    let canonical;
    let named = match path.file_name() {
        Some(_) => path,
        None => {
            // `.` or `dir/..`: name it after what it resolves to, as kubo does.
            canonical = path
                .canonicalize()
                .with_context(|| format!("cannot resolve {}", path.display()))?;
            &canonical
        }
    };
    let name = named
        .file_name()
        .with_context(|| format!("{} has no name to add it under", path.display()))?;
    name.to_str()
        .map(str::to_owned)
        .with_context(|| format!("{} is not valid UTF-8", path.display()))
}

/// Depth-first, name-sorted walk; symlinks are recorded (not followed), special files refused.
fn walk(
    dir: &Path,
    rel: &str,
    hidden: bool,
    files: &mut Vec<(String, Entry)>,
    dirs: &mut Vec<String>,
    total: &mut u64,
) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read directory {}", dir.display()))?
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("cannot read directory {}", dir.display()))?;
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let os_name = entry.file_name();
        let name = os_name
            .to_str()
            .with_context(|| format!("{} is not valid UTF-8", entry.path().display()))?;
        if !hidden && name.starts_with('.') {
            continue;
        }
        let child = if rel.is_empty() {
            name.to_owned()
        } else {
            format!("{rel}/{name}")
        };
        let ft = entry
            .file_type()
            .with_context(|| format!("cannot stat {}", entry.path().display()))?;
        if ft.is_dir() {
            dirs.push(child.clone());
            walk(&entry.path(), &child, hidden, files, dirs, total)?;
        } else if ft.is_file() {
            *total += entry.metadata().map(|m| m.len()).unwrap_or(0);
            files.push((child, Entry::File));
        } else if ft.is_symlink() {
            let target = std::fs::read_link(entry.path())
                .with_context(|| format!("cannot read link {}", entry.path().display()))?;
            let target = target
                .to_str()
                .with_context(|| {
                    format!(
                        "link target of {} is not valid UTF-8",
                        entry.path().display()
                    )
                })?
                .to_owned();
            files.push((child, Entry::Symlink(target)));
        } else {
            bail!(
                "{} is a special file; only files, directories and symlinks can be added",
                entry.path().display()
            );
        }
    }
    Ok(())
}
