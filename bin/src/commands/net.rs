//! `chorus id`, `bootstrap`, `swarm` and `routing`: the network commands.
//!
//! `swarm` and `routing` act on the running daemon's network, so without a daemon they fail
//! with kubo's advice; `id` works either way; `bootstrap` edits the config (the daemon reads it
//! at start-up).

use std::io::Write;

use anyhow::{Context, Result, bail};
use base64::Engine as _;

use crate::cli::BootstrapCommand;
use crate::config::KUBO_DEFAULT_BOOTSTRAP;
use crate::config_edit::ConfigFile;
use crate::repo::RepoPaths;

/// What `swarm`/`routing` say without a daemon (kubo's wording).
pub const NEEDS_DAEMON: &str =
    "this action must be run in online mode, try running 'chorus daemon' first";

/// `chorus id` without a daemon: the identity, no addresses (nothing is listening).
pub fn id_offline(paths: &RepoPaths) -> Result<()> {
    paths.ensure_initialized()?;
    let key = paths.load_identity()?;
    let public = key.public();
    let doc = serde_json::json!({
        "ID": public.to_peer_id().to_string(),
        "PublicKey": base64::engine::general_purpose::STANDARD.encode(public.encode_protobuf()),
        "Addresses": [],
        "AgentVersion": concat!("chorus/", env!("CARGO_PKG_VERSION")),
        "ProtocolVersion": "ipfs/0.1.0",
        "Protocols": [],
    });
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
    Ok(())
}

/// `chorus bootstrap ...` edits `swarm.bootstrap` through [`ConfigFile`], so the rest of the
/// file (the operator's comments and edits) is left as it was.
pub fn bootstrap(paths: &RepoPaths, cmd: BootstrapCommand) -> Result<()> {
    paths.ensure_initialized()?;
    let file = ConfigFile::new(paths.config());
    let mut list: Vec<String> = serde_json::from_value(file.get(BOOTSTRAP_KEY)?)
        .context("swarm.bootstrap is not a list of strings")?;
    let mut out = std::io::stdout().lock();
    match cmd {
        BootstrapCommand::List => {
            for a in &list {
                writeln!(out, "{a}")?;
            }
        }
        BootstrapCommand::Add { addrs, default } => {
            let mut added = Vec::new();
            let defaults = KUBO_DEFAULT_BOOTSTRAP.iter().map(|s| s.to_string());
            let wanted: Vec<String> = if default {
                defaults.chain(addrs).collect()
            } else {
                addrs
            };
            if wanted.is_empty() {
                bail!("nothing to add: give multiaddrs or --default");
            }
            for a in wanted {
                check_peer_addr(&a)?;
                if !list.contains(&a) {
                    list.push(a.clone());
                    added.push(a);
                }
            }
            file.set(BOOTSTRAP_KEY, &serde_json::json!(list))?;
            writeln!(out, "added {}", added.join("\nadded "))?;
        }
        BootstrapCommand::Rm { addrs, all } => {
            let removed: Vec<String> = if all {
                std::mem::take(&mut list)
            } else {
                let before = list.clone();
                list.retain(|a| !addrs.contains(a));
                before.into_iter().filter(|a| !list.contains(a)).collect()
            };
            file.set(BOOTSTRAP_KEY, &serde_json::json!(list))?;
            for a in removed {
                writeln!(out, "removed {a}")?;
            }
        }
    }
    Ok(())
}

/// The config key `bootstrap` edits.
const BOOTSTRAP_KEY: &str = "swarm.bootstrap";

fn check_peer_addr(a: &str) -> Result<()> {
    let ma: libp2p::Multiaddr = a
        .parse()
        .with_context(|| format!("invalid multiaddr {a:?}"))?;
    if !ma
        .iter()
        .any(|p| matches!(p, libp2p::multiaddr::Protocol::P2p(_)))
    {
        bail!("{a} has no /p2p/<peer id>");
    }
    Ok(())
}
