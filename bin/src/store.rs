//! Opening the repo's blockstore from the CLI, with errors that say what to do.

use anyhow::{Context, Result};
use chorus_storage::SledStore;

use crate::repo::RepoPaths;

/// Opens (creating if needed) the store of `paths` with the config's `[datastore]` settings;
/// takes the repo lock.
pub fn open(paths: &RepoPaths) -> Result<SledStore> {
    let settings = if paths.config().is_file() {
        paths.load_config()?.datastore
    } else {
        crate::config::DatastoreConfig::default()
    };
    let config = chorus_storage::Config::default().with_verify_reads(settings.hash_on_read);
    SledStore::open_with(paths.store(), config)
        .with_context(|| format!("cannot open the repo at {}", paths.root().display()))
}

/// Opens the store of an initialised repo.
pub fn open_existing(paths: &RepoPaths) -> Result<SledStore> {
    paths.ensure_initialized()?;
    open(paths)
}
