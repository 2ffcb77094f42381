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
    let config = chorus_storage::Config::default()
        .with_verify_reads(settings.hash_on_read)
        .with_pack_target(settings.pack_size_bytes.max(1));
    SledStore::open_with(paths.store(), config)
        .with_context(|| format!("cannot open the repo at {}", paths.root().display()))
}

/// Opens the store of an initialised repo.
pub fn open_existing(paths: &RepoPaths) -> Result<SledStore> {
    paths.ensure_initialized()?;
    open(paths)
}

/// The core of a node without a daemon, over the repo's store (taking its lock): the offline
/// CLI commands run on it in process, exactly as the daemon's RPC handlers do.
pub fn offline_core(paths: &RepoPaths) -> Result<chorus_node::core::Core> {
    let store = open_existing(paths)?;
    let limits = paths.load_config()?.limits;
    let mut registry = prometheus_client::registry::Registry::default();
    let metrics = chorus_node::NodeMetrics::register(&mut registry);
    Ok(chorus_node::core::CoreBuilder::new(store, metrics)
        .context("cannot read the store's statistics")?
        .list_limits(limits.list())
        .build())
}
