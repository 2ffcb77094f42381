//! `chorus chain deploy`: both registry contracts onto a chain (a local command: it talks to
//! the chain, not to the daemon). `chain owner` and `chain status` go through the daemon.

use anyhow::{Context, Result};
use chorus_chain::wallet;

use crate::cli::ChainCommand;
use crate::repo::RepoPaths;

pub fn run(paths: &RepoPaths, cmd: ChainCommand) -> Result<()> {
    let ChainCommand::Deploy {
        rpc_url,
        key_file,
        password_file,
        json,
    } = cmd
    else {
        paths.ensure_initialized()?;
        anyhow::bail!("{}", super::net::NEEDS_DAEMON);
    };
    let key = match key_file {
        Some(file) => super::wallet::read_key(&file, password_file.as_deref())?,
        None => {
            paths.ensure_initialized()?;
            wallet::load(paths.root())?
        }
    };
    let rt = super::runtime()?;
    let deployed = rt
        .block_on(chorus_chain::deploy::deploy(&rpc_url, key))
        .context("cannot deploy the registries")?;
    let content = deployed.content_registry.to_checksum(None);
    let nodes = deployed.node_registry.to_checksum(None);
    if json {
        println!(
            "{}",
            serde_json::json!({
                "ContentRegistry": content,
                "NodeRegistry": nodes,
                "ChainId": deployed.chain_id,
            })
        );
    } else {
        println!("ContentRegistry {content}");
        println!("NodeRegistry {nodes}");
        println!("ChainId {}", deployed.chain_id);
        eprintln!(
            "point nodes at them: chorus config chain.rpc_url {rpc_url}; chorus config chain.chain_id {} --json; chorus config chain.content_registry {content}; chorus config chain.node_registry {nodes}",
            deployed.chain_id
        );
    }
    Ok(())
}
