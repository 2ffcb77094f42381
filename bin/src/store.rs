//! Opening the repo's blockstore from the CLI, with errors that say what to do.

use anyhow::{Context, Result};
use chorus_storage::SledStore;

use crate::repo::RepoPaths;

/// Opens (creating if needed) the store of `paths`; takes the repo lock.
pub fn open(paths: &RepoPaths) -> Result<SledStore> {
    let dir = paths.store();
    SledStore::open(&dir)
        .with_context(|| format!("cannot open the repo at {}", paths.root().display()))
}

/// Opens the store of an initialised repo.
pub fn open_existing(paths: &RepoPaths) -> Result<SledStore> {
    paths.ensure_initialized()?;
    open(paths)
}
