//! What `chorus add` adds and how it reports it, shared by the offline path (which feeds the
//! core's `Adder` in process) and the path through a daemon (which sends the same entries as
//! multipart parts to RPC `add`): one walk, one set of options, one printer.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use chorus_protocol::unixfs::{ImportOptions, Layout};
use chorus_storage::HashAlg;

use crate::cli::AddArgs;
use crate::config::ImportConfig;

/// One thing to add, by the `/`-separated path it gets in the added tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// Standard input, named `name` (empty: shown by its CID).
    Stdin { name: String },
    /// A regular file.
    File {
        name: String,
        path: PathBuf,
        len: u64,
    },
    /// A directory (listed before what it holds, so empty ones are kept).
    Dir { name: String },
    /// A symbolic link, stored as a UnixFS symlink and never followed (as kubo).
    Symlink { name: String, target: String },
}

impl Entry {
    /// Bytes to read for this entry (for progress).
    pub fn len(&self) -> u64 {
        match self {
            Entry::File { len, .. } => *len,
            _ => 0,
        }
    }
}

/// The entries of `args`' paths (standard input when none, or `-`), in kubo's order: each path
/// in turn, directories depth-first in name order, hidden names skipped unless `--hidden`.
/// Everything is checked before anything is added, so a bad path fails fast.
pub fn walk(args: &AddArgs) -> Result<Vec<Entry>> {
    if args.paths.is_empty() || args.paths.iter().all(|p| p.as_os_str() == "-") {
        return Ok(vec![Entry::Stdin {
            name: args.stdin_name.clone(),
        }]);
    }
    let mut entries = Vec::new();
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
            entries.push(Entry::Dir { name: name.clone() });
            walk_dir(path, &name, args.hidden, &mut entries)?;
        } else if md.is_file() {
            entries.push(Entry::File {
                name,
                path: path.clone(),
                len: md.len(),
            });
        } else {
            bail!("{} is neither a file nor a directory", path.display());
        }
    }
    Ok(entries)
}

/// The entries below `dir` with paths relative to it (no top-level name): what a track's
/// directory holds.
pub fn walk_contents(dir: &Path, hidden: bool) -> Result<Vec<Entry>> {
    let mut entries = Vec::new();
    walk_dir(dir, "", hidden, &mut entries)?;
    Ok(entries)
}

/// Depth-first, name-sorted walk of `dir` whose entries are named `prefix/...`; iterative, so a
/// deep tree cannot exhaust the stack.
fn walk_dir(dir: &Path, prefix: &str, hidden: bool, out: &mut Vec<Entry>) -> Result<()> {
    // Each level: the entries still to visit, in reverse name order (popped from the end).
    let mut stack: Vec<(String, Vec<std::fs::DirEntry>)> =
        vec![(prefix.to_owned(), sorted_entries(dir)?)];
    while let Some((rel, pending)) = stack.last_mut() {
        let Some(entry) = pending.pop() else {
            stack.pop();
            continue;
        };
        let rel = rel.clone();
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
            out.push(Entry::Dir {
                name: child.clone(),
            });
            let below = sorted_entries(&entry.path())?;
            stack.push((child, below));
        } else if ft.is_file() {
            let len = entry.metadata().map(|m| m.len()).unwrap_or(0);
            out.push(Entry::File {
                name: child,
                path: entry.path(),
                len,
            });
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
            out.push(Entry::Symlink {
                name: child,
                target,
            });
        } else {
            bail!(
                "{} is a special file; only files, directories and symlinks can be added",
                entry.path().display()
            );
        }
    }
    Ok(())
}

/// The entries of `dir`, in reverse name order (the walk pops the first name first).
fn sorted_entries(dir: &Path) -> Result<Vec<std::fs::DirEntry>> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read directory {}", dir.display()))?
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("cannot read directory {}", dir.display()))?;
    entries.sort_by_key(|e| std::cmp::Reverse(e.file_name()));
    Ok(entries)
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

/// The import settings of one add: the repo's `[import]`, overridden by flags. Both paths send
/// or use exactly these, so an add gives the same CIDs with or without a daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub cid_version: u8,
    pub raw_leaves: Option<bool>,
    pub chunker: String,
    pub hash: String,
    pub trickle: bool,
}

impl Settings {
    pub fn new(cfg: &ImportConfig, args: &AddArgs) -> Result<Self> {
        let hash = args.hash.clone().unwrap_or_else(|| cfg.hash.clone());
        let alg = HashAlg::from_name(&hash)
            .with_context(|| format!("unknown hash function {hash:?} (sha2-256 or blake3)"))?;
        let cid_version = match args.cid_version {
            Some(v) => v,
            // kubo: a non-default hash implies CIDv1.
            None if alg != HashAlg::Sha2_256 => 1,
            None => cfg.cid_version,
        };
        let trickle = args.trickle
            || match cfg.layout.as_str() {
                "balanced" => false,
                "trickle" => true,
                other => bail!("invalid layout {other:?} in config (balanced or trickle)"),
            };
        let settings = Settings {
            cid_version,
            raw_leaves: args.raw_leaves.or(cfg.raw_leaves),
            chunker: args.chunker.clone().unwrap_or_else(|| cfg.chunker.clone()),
            hash,
            trickle,
        };
        settings.options()?;
        Ok(settings)
    }

    /// The importer's options.
    pub fn options(&self) -> Result<ImportOptions> {
        let mut opts = ImportOptions::default().with_cid_version(self.cid_version);
        if let Some(raw) = self.raw_leaves {
            opts = opts.with_raw_leaves(raw);
        }
        opts = opts
            .with_chunker(&self.chunker)
            .with_context(|| format!("invalid chunker {:?}", self.chunker))?;
        let alg = HashAlg::from_name(&self.hash)
            .with_context(|| format!("unknown hash function {:?}", self.hash))?;
        opts = opts.with_hash(alg);
        if self.trickle {
            opts = opts.with_layout(Layout::Trickle);
        }
        opts.resolve().context("invalid add options")?;
        Ok(opts)
    }

    /// The same settings as RPC `add` options.
    pub fn query(&self) -> Vec<(&'static str, String)> {
        let mut q = vec![
            ("cid-version", self.cid_version.to_string()),
            ("chunker", self.chunker.clone()),
            ("hash", self.hash.clone()),
            ("trickle", self.trickle.to_string()),
        ];
        if let Some(raw) = self.raw_leaves {
            q.push(("raw-leaves", raw.to_string()));
        }
        q
    }
}

/// One line of `add`'s report: a CID and the name shown for it (empty: none).
pub struct Line {
    pub cid: String,
    pub name: String,
}

/// Prints `add`'s report as kubo's CLI does: `added <cid> <name>` per entry, CIDs only with
/// `-q`, only the last root with `-Q` (`lines` then holds just it).
pub fn print(lines: &[Line], args: &AddArgs) -> Result<()> {
    let mut out = std::io::stdout().lock();
    if args.quieter {
        if let Some(line) = lines.last() {
            writeln!(out, "{}", line.cid)?;
        }
    } else {
        for line in lines {
            match (args.quiet, line.name.is_empty()) {
                (true, _) => writeln!(out, "{}", line.cid)?,
                (false, true) => writeln!(out, "added {}", line.cid)?,
                (false, false) => writeln!(out, "added {} {}", line.cid, line.name)?,
            }
        }
    }
    Ok(out.flush()?)
}
