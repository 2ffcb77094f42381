//! [`Adder`]: one `add`, the single implementation behind RPC `add`, the CLI's `add` (offline
//! and, through the RPC, with a daemon) and track imports.
//!
//! Entries come by `/`-separated path, in the order the front end walks them (multipart parts,
//! or a directory walk sorted by name): files as byte chunks, symlinks by target, directories
//! by name (so empty ones are kept). Directories are built from the paths when the add
//! finishes, as kubo's adder builds its MFS tree. Blocks go to the core's [`Writer`] in
//! batches; `--only-hash` writes nothing. [`Adder::finish`] commits (pins the top-level roots
//! when asked, makes everything durable) and returns the entries in the order kubo prints
//! them: every file and symlink as added, then every directory, then the wrapping directory.

use chorus_protocol::unixfs::{
    DirError, FileImporter, ImportError, ImportOptions, TreeBuilder, symlink_block,
};
use std::sync::Arc;

use chorus_storage::{Block, Blockstore, Cid};
use thiserror::Error;

use super::Core;
use super::error::{CoreError, blocking};
use super::writer::{Commit, Consent, Writer};
use chorus_chain::relay::Registration;

/// Blocks buffered before one batched write (at 256 KiB chunks: 16 MiB).
const PUT_BATCH: usize = 64;

/// Why an add failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AddError {
    /// An entry's path cannot go into the tree (an invalid or duplicate name).
    #[error("invalid entry {name:?}: {source}")]
    Entry {
        /// The entry's path.
        name: String,
        /// What is wrong with it.
        #[source]
        source: DirError,
    },
    /// Importing an entry failed (invalid options, unusable hash settings).
    #[error("importing {name:?}: {source}")]
    Import {
        /// The entry's path.
        name: String,
        /// The importer's error.
        #[source]
        source: ImportError,
    },
    /// Building the directories failed.
    #[error("building directories: {0}")]
    Directories(#[source] DirError),
    /// Storing failed.
    #[error(transparent)]
    Core(#[from] CoreError),
}

/// One added entry: its path as given (empty for an unnamed stream), root and cumulative size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Added {
    /// The `/`-separated path, `""` for an unnamed entry or the wrapping directory.
    pub name: String,
    /// Its root CID.
    pub cid: Cid,
    /// Its cumulative DAG size (kubo's `Size`).
    pub tsize: u64,
}

impl Added {
    /// The name kubo reports: the path, or for an unnamed file or stream (`file`) its CID; the
    /// wrapping directory keeps its empty name.
    pub fn shown_name(&self, file: bool) -> String {
        if self.name.is_empty() && file {
            self.cid.to_string()
        } else {
            self.name.clone()
        }
    }
}

/// What an add produced.
#[derive(Debug, Clone)]
pub struct AddOutcome {
    /// Every entry in kubo's output order: files and symlinks as added, then directories
    /// (children before parents), then the wrapping directory (named `""`).
    pub entries: Vec<Added>,
    /// The top-level roots (pinned when the add pins), the last one what `--quieter` prints.
    pub roots: Vec<Added>,
}

/// Where an add's blocks go.
enum Sink {
    /// Nowhere: `--only-hash`.
    Nowhere,
    /// The add's own writer, committed by [`Adder::finish`].
    Writer(Writer),
    /// A store the caller commits (a `track/add` writes the track's directory through the
    /// writer of the whole upload).
    Store(Arc<dyn Blockstore>),
}

/// One add in progress: entries by path (files, symlinks, directories), batched into the
/// core's writer; [`Adder::finish`] builds the directories and commits.
pub struct Adder {
    sink: Sink,
    opts: ImportOptions,
    tree: TreeBuilder,
    batch: Vec<Block>,
    files: Vec<Added>,
    /// Top-level entries in the order they first appeared: their roots, in that order, are
    /// what the add pins and reports as roots.
    tops: Vec<Top>,
    nested: bool,
    /// Set for an upload (RPC `add`): its consent, checked at the commit.
    consent: Option<Consent>,
}

/// A top-level entry.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Top {
    /// The first path segment of some entry (a file, or a directory holding entries).
    Named(String),
    /// An unnamed stream: the file at this index of `files`.
    Unnamed(usize),
}

impl Adder {
    /// An add storing through `core` (or, with `only_hash`, computing CIDs only).
    pub fn new(core: &Core, opts: ImportOptions, only_hash: bool) -> Result<Self, AddError> {
        let sink = if only_hash {
            Sink::Nowhere
        } else {
            Sink::Writer(core.writer())
        };
        Self::with_sink(sink, opts)
    }

    /// An add that stores nothing and needs no repo (`add --only-hash`).
    pub fn hash_only(opts: ImportOptions) -> Result<Self, AddError> {
        Self::with_sink(Sink::Nowhere, opts)
    }

    /// An add writing into `store` (a [`Writer::store`]) whose commit is the caller's:
    /// [`Adder::finish`] then pins nothing and leaves durability to that commit.
    pub fn into_store(store: Arc<dyn Blockstore>, opts: ImportOptions) -> Result<Self, AddError> {
        Self::with_sink(Sink::Store(store), opts)
    }

    fn with_sink(sink: Sink, opts: ImportOptions) -> Result<Self, AddError> {
        let tree = TreeBuilder::new(&opts).map_err(|source| AddError::Entry {
            name: String::new(),
            source,
        })?;
        Ok(Adder {
            sink,
            opts,
            tree,
            batch: Vec::with_capacity(PUT_BATCH),
            files: Vec::new(),
            tops: Vec::new(),
            nested: false,
            consent: None,
        })
    }

    /// Makes this add an upload with `consent` (RPC `add`): the chain's gate decides at the
    /// commit, on the upload's root, before anything is pinned.
    pub fn with_consent(mut self, consent: Consent) -> Self {
        self.consent = Some(consent);
        self
    }

    /// Starts a file at `name` (`""`: an unnamed stream, shown by its CID); feed it with
    /// [`FileAdd::push`], end it with [`FileAdd::finish`].
    pub fn file(&mut self, name: &str) -> Result<FileAdd<'_>, AddError> {
        let importer = FileImporter::new(&self.opts).map_err(|source| AddError::Import {
            name: name.to_owned(),
            source,
        })?;
        Ok(FileAdd {
            adder: self,
            importer,
            name: name.to_owned(),
            bytes: 0,
            blocks: Vec::new(),
        })
    }

    /// A directory at `name` (kept even when nothing is added below it).
    pub fn dir(&mut self, name: &str) -> Result<(), AddError> {
        let name = name.trim_matches('/');
        if name.is_empty() {
            return Ok(());
        }
        self.tree.add_dir(name).map_err(|source| AddError::Entry {
            name: name.to_owned(),
            source,
        })?;
        self.nested = true;
        self.note_top(name);
        Ok(())
    }

    /// A symbolic link at `name` pointing to `target`, stored as a UnixFS symlink (never
    /// followed), as kubo does.
    pub async fn symlink(&mut self, name: &str, target: &str) -> Result<Added, AddError> {
        let block = symlink_block(&self.opts, target).map_err(|source| AddError::Import {
            name: name.to_owned(),
            source,
        })?;
        let added = Added {
            name: name.to_owned(),
            cid: *block.cid(),
            tsize: block.len() as u64,
        };
        self.put(vec![block]).await?;
        self.place(&added)?;
        Ok(added)
    }

    /// Builds the directories, then commits: pins the top-level roots when `pin` is set,
    /// makes everything durable and announces the roots (for [`Adder::into_store`], the
    /// caller's commit does that). With `wrap`, everything goes into one directory named `""`.
    pub async fn finish(mut self, wrap: bool, pin: bool) -> Result<AddOutcome, AddError> {
        let mut entries = self.files.clone();
        let mut roots = Vec::new();
        if !self.nested && !wrap {
            roots.extend(self.files.iter().cloned());
        } else {
            let tree = std::mem::replace(
                &mut self.tree,
                TreeBuilder::new(&self.opts).map_err(AddError::Directories)?,
            );
            let mut blocks = Vec::new();
            let built = tree.finish(&mut blocks).map_err(AddError::Directories)?;
            self.put(blocks).await?;
            let mut dirs = std::collections::HashMap::new();
            for (path, dir) in &built.dirs {
                if path.is_empty() {
                    continue;
                }
                let added = Added {
                    name: path.clone(),
                    cid: dir.cid,
                    tsize: dir.tsize,
                };
                dirs.insert(path.as_str(), added.clone());
                entries.push(added);
            }
            if wrap {
                let root = Added {
                    name: String::new(),
                    cid: built.root.cid,
                    tsize: built.root.tsize,
                };
                roots.push(root.clone());
                entries.push(root);
            } else {
                for top in &self.tops {
                    let root = match top {
                        Top::Named(name) => dirs
                            .get(name.as_str())
                            .or_else(|| self.files.iter().find(|f| f.name == *name)),
                        Top::Unnamed(index) => self.files.get(*index),
                    };
                    roots.extend(root.cloned());
                }
            }
        }
        self.flush().await?;
        if let Sink::Writer(writer) = std::mem::replace(&mut self.sink, Sink::Nowhere) {
            let cids: Vec<Cid> = roots.iter().map(|r| r.cid).collect();
            let mut commit = if pin {
                Commit::pin_and_announce(&cids)
            } else {
                Commit::announce_only(&cids)
            };
            if let Some(consent) = self.consent.take() {
                // A signature covers one CID: the upload's single root (wrap several files).
                if consent.proof.is_some() && cids.len() != 1 {
                    return Err(AddError::Core(CoreError::Refused(
                        chorus_chain::Refusal::Malformed(format!(
                            "a signed upload has one root; this one has {} (add with wrap-with-directory)",
                            cids.len()
                        )),
                    )));
                }
                if let Some(root) = cids.last() {
                    let registration = Registration::File {
                        cid: root.to_string(),
                    };
                    commit = commit.upload(consent, registration);
                }
            }
            // The durability point: the caller reports the entries only after this.
            writer.commit(commit).await?;
        }
        Ok(AddOutcome { entries, roots })
    }

    /// Remembers the top-level entry of `name` the first time it appears.
    fn note_top(&mut self, name: &str) {
        let top = name.split('/').next().unwrap_or_default();
        if !self
            .tops
            .iter()
            .any(|t| matches!(t, Top::Named(n) if n == top))
        {
            self.tops.push(Top::Named(top.to_owned()));
        }
    }

    /// Records a finished entry and places it in the tree when it has a name.
    fn place(&mut self, added: &Added) -> Result<(), AddError> {
        if added.name.is_empty() {
            self.tops.push(Top::Unnamed(self.files.len()));
        } else {
            self.note_top(&added.name);
            self.nested |= added.name.contains('/');
            self.tree
                .add(&added.name, added.cid, added.tsize)
                .map_err(|source| AddError::Entry {
                    name: added.name.clone(),
                    source,
                })?;
        }
        self.files.push(added.clone());
        Ok(())
    }

    /// Queues blocks for the writer, writing a batch once it is full.
    async fn put(&mut self, blocks: Vec<Block>) -> Result<(), AddError> {
        if matches!(self.sink, Sink::Nowhere) {
            return Ok(());
        }
        self.batch.extend(blocks);
        if self.batch.len() >= PUT_BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), AddError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(PUT_BATCH));
        match &self.sink {
            Sink::Nowhere => {}
            Sink::Writer(writer) => {
                writer.put_many(batch).await?;
            }
            Sink::Store(store) => {
                let store = store.clone();
                blocking("storing blocks", move || {
                    store.put_many(&batch).map_err(|source| CoreError::Store {
                        context: "storing blocks".to_owned(),
                        source,
                    })
                })
                .await?;
            }
        }
        Ok(())
    }
}

/// One file being added; see [`Adder::file`].
pub struct FileAdd<'a> {
    adder: &'a mut Adder,
    importer: FileImporter,
    name: String,
    bytes: u64,
    blocks: Vec<Block>,
}

impl FileAdd<'_> {
    /// Feeds the file's next bytes.
    pub async fn push(&mut self, data: &[u8]) -> Result<(), AddError> {
        self.bytes += data.len() as u64;
        self.importer
            .push_into(data, &mut self.blocks)
            .map_err(|source| AddError::Import {
                name: self.name.clone(),
                source,
            })?;
        let blocks = std::mem::take(&mut self.blocks);
        self.adder.put(blocks).await
    }

    /// Bytes fed so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// The chunk size: feeding whole multiples of it saves the importer a copy.
    pub fn chunk_size(&self) -> usize {
        self.importer.options().chunk_size
    }

    /// Ends the file; returns its entry.
    pub async fn finish(self) -> Result<Added, AddError> {
        let FileAdd {
            adder,
            importer,
            name,
            ..
        } = self;
        let (done, tail) = importer.finish().map_err(|source| AddError::Import {
            name: name.clone(),
            source,
        })?;
        adder.put(tail).await?;
        let added = Added {
            name,
            cid: done.root,
            tsize: done.tsize,
        };
        adder.place(&added)?;
        Ok(added)
    }
}
