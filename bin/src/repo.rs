//! The repo directory: where it is, what `chorus init` puts in it, and how it is opened.
//!
//! Layout (kept close to kubo's so operators recognise it):
//! - `config.toml`: settings, every default written out ([`crate::config`]).
//! - `identity.key`: the libp2p ed25519 key (protobuf encoding, mode 0600).
//! - `store/`: the blockstore (sled index + pack files), its `repo.lock`, pins.
//! - `api`: the running daemon's API multiaddr (present only while a daemon runs).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use libp2p::identity::Keypair;

use crate::config::Config;

/// Environment variable naming the repo, as `IPFS_PATH` does for kubo.
pub const REPO_ENV: &str = "CHORUS_PATH";
/// Directory name under `$HOME` when neither `--repo` nor `$CHORUS_PATH` is given.
pub const DEFAULT_REPO_DIR: &str = ".chorus";
const CONFIG_FILE: &str = "config.toml";
const IDENTITY_FILE: &str = "identity.key";
const STORE_DIR: &str = "store";
const API_FILE: &str = "api";

/// Where the repo is: `--repo`, else `$CHORUS_PATH`, else `~/.chorus`.
pub fn resolve_path(flag: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = flag {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os(REPO_ENV).filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .context("cannot find the repo: set --repo, $CHORUS_PATH or $HOME")?;
    Ok(PathBuf::from(home).join(DEFAULT_REPO_DIR))
}

/// Paths of one repo.
#[derive(Debug, Clone)]
pub struct RepoPaths {
    root: PathBuf,
}

impl RepoPaths {
    /// Paths under `root`.
    pub fn new(root: PathBuf) -> Self {
        RepoPaths { root }
    }

    /// The repo directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// `config.toml`.
    pub fn config(&self) -> PathBuf {
        self.root.join(CONFIG_FILE)
    }

    /// `identity.key`.
    pub fn identity(&self) -> PathBuf {
        self.root.join(IDENTITY_FILE)
    }

    /// The blockstore directory.
    pub fn store(&self) -> PathBuf {
        self.root.join(STORE_DIR)
    }

    /// The daemon's API address file.
    pub fn api_file(&self) -> PathBuf {
        self.root.join(API_FILE)
    }

    /// Whether `chorus init` has run here.
    pub fn is_initialized(&self) -> bool {
        self.config().is_file() && self.identity().is_file()
    }

    /// Fails with the hint kubo gives when the repo does not exist.
    pub fn ensure_initialized(&self) -> Result<()> {
        if !self.is_initialized() {
            bail!(
                "no chorus repo found at {} (run `chorus init`, or point --repo / ${REPO_ENV} at one)",
                self.root.display()
            );
        }
        Ok(())
    }

    /// Loads `config.toml`.
    pub fn load_config(&self) -> Result<Config> {
        Config::load(&self.config())
    }

    /// Loads the node's key.
    pub fn load_identity(&self) -> Result<Keypair> {
        let path = self.identity();
        let bytes =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        Keypair::from_protobuf_encoding(&bytes)
            .with_context(|| format!("{} does not hold a valid libp2p key", path.display()))
    }
}

/// What `init` created.
pub struct Initialized {
    /// The new node's peer id.
    pub peer_id: String,
}

/// Creates a repo: config with every default, a fresh ed25519 identity, an empty store.
///
/// Refuses to touch an existing repo. The key is written to a temp file with mode 0600 and
/// renamed, so a crash never leaves a half-written identity.
pub fn init(paths: &RepoPaths) -> Result<Initialized> {
    if paths.config().exists() || paths.identity().exists() {
        bail!("a chorus repo already exists at {}", paths.root().display());
    }
    std::fs::create_dir_all(paths.root())
        .with_context(|| format!("cannot create {}", paths.root().display()))?;

    let key = Keypair::generate_ed25519();
    let peer_id = key.public().to_peer_id().to_string();
    let encoded = key
        .to_protobuf_encoding()
        .context("cannot encode the new identity key")?;
    crate::config_edit::write_private(&paths.identity(), &encoded)?;

    let mut config = Config::default();
    config.identity.peer_id = peer_id.clone();
    // 0600: the file can hold the API token.
    crate::config_edit::write_private(&paths.config(), config.to_commented_toml().as_bytes())?;

    // Create the store now so `init` fails early on a read-only or full disk.
    chorus_storage::Blockstore::flush(&crate::store::open(paths)?)?;
    Ok(Initialized { peer_id })
}
