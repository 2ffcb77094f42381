//! UnixFS: the importer that reproduces kubo's CIDs, directories (plain and HAMT-sharded), and
//! the reader that resolves paths and streams byte ranges.
//!
//! Import is sans-I/O: [`FileImporter`] turns bytes into verified [`Block`](chorus_storage::Block)s
//! as they complete, and [`TreeBuilder`] turns finished entries into directory nodes. The caller
//! decides where blocks go (a store, or nowhere for `--only-hash`).

mod balanced;
mod decode;
mod dir;
mod file;
mod hamt;
mod listing;
mod node;
mod options;
pub(crate) mod pb;
mod reader;
pub mod shapes;
mod source;
mod symlink;
mod trickle;

pub use decode::{NodeKind, ReadError};
pub use dir::{
    DirEntryOut, DirError, DirImport, HAMT_SHARDING_THRESHOLD, TreeBuilder, TreeImport,
    build_directory,
};
pub use hamt::{HAMT_FANOUT, HAMT_HASH_MURMUR3, murmur3_x64_64};
pub use listing::{DEFAULT_MAX_DIRECTORY_ENTRIES, DirEntry, ListLimits, list_directory};
pub use reader::{Stat, UnixfsFile, lookup, parse_ipfs_path, read_symlink, resolve_path, stat};
pub use source::{BlockSource, LocalGetError, StoreSource};
pub use symlink::symlink_block;

pub use file::{FileImport, FileImporter, ImportError, import_bytes};
pub use options::{
    DEFAULT_CHUNK_SIZE, DEFAULT_MAX_LINKS, ImportOptions, Layout, MAX_CHUNK_SIZE, OptionsError,
    ResolvedOptions, TRICKLE_DEPTH_REPEAT, parse_chunker,
};
pub use pb::PbError;
