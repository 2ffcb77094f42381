//! The local `chorus chain` commands (they talk to the chain with the repo's settings and
//! wallet, not to the daemon): `deploy` puts both registries on a chain; `register-node`,
//! `deregister-node` and `nodes` manage and list the NodeRegistry. `chain owner` and
//! `chain status` go through the daemon.

use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use chorus_chain::{ChainConfig, wallet};

use crate::cli::ChainCommand;
use crate::repo::RepoPaths;

pub fn run(paths: &RepoPaths, cmd: ChainCommand) -> Result<()> {
    match cmd {
        ChainCommand::Deploy {
            rpc_url,
            key_file,
            password_file,
            json,
        } => deploy(paths, &rpc_url, key_file, password_file, json),
        ChainCommand::RegisterNode { addrs, gateway_url } => {
            register_node(paths, addrs, &gateway_url)
        }
        ChainCommand::DeregisterNode => {
            let (config, registry) = node_registry(paths)?;
            let key = wallet::load(paths.root())?;
            let peer = paths.load_config()?.identity.peer_id;
            let tx = super::runtime()?.block_on(chorus_chain::nodes::deregister(
                &config.rpc_url,
                registry,
                key,
                &peer,
            ))?;
            println!("deregistered {peer} (transaction {tx})");
            Ok(())
        }
        ChainCommand::Nodes { json } => {
            let (config, registry) = node_registry(paths)?;
            let nodes = super::runtime()?
                .block_on(chorus_chain::nodes::registered(&config.rpc_url, registry))?;
            for n in &nodes {
                if json {
                    println!("{}", serde_json::to_string(n)?);
                } else {
                    println!(
                        "{} {} {} {}",
                        n.peer_id,
                        n.operator.to_checksum(None),
                        n.multiaddrs.join(","),
                        n.gateway_url
                    );
                }
            }
            Ok(())
        }
        ChainCommand::Owner { .. } | ChainCommand::Status { .. } => {
            paths.ensure_initialized()?;
            bail!("{}", super::net::NEEDS_DAEMON)
        }
    }
}

/// The repo's `[chain]` settings and NodeRegistry address.
fn node_registry(paths: &RepoPaths) -> Result<(ChainConfig, chorus_chain::Address)> {
    paths.ensure_initialized()?;
    let config = paths.load_config()?.chain.to_config()?;
    let registry = config
        .node_registry
        .context("set chain.node_registry (chorus chain deploy prints it)")?;
    if config.rpc_url.is_empty() {
        bail!("set chain.rpc_url");
    }
    Ok((config, registry))
}

fn register_node(paths: &RepoPaths, addrs: Vec<String>, gateway_url: &str) -> Result<()> {
    let (config, registry) = node_registry(paths)?;
    let key = wallet::load(paths.root())?;
    let repo_config = paths.load_config()?;
    let peer = repo_config.identity.peer_id.clone();
    let addrs = if addrs.is_empty() {
        let usable: Vec<String> = repo_config
            .swarm
            .listen
            .iter()
            .filter(|a| !a.contains("/0.0.0.0/") && !a.contains("/::/"))
            .cloned()
            .collect();
        if usable.is_empty() {
            bail!(
                "swarm.listen has only unspecified addresses: pass --addr with the address other nodes reach this one at"
            );
        }
        usable
    } else {
        addrs
    };
    let full: Vec<String> = addrs
        .iter()
        .map(|a| chorus_chain::nodes::with_peer(a, &peer))
        .collect();
    for a in &full {
        chorus_node::replication::config::parse_node(a)
            .with_context(|| format!("invalid --addr {a}"))?;
    }
    let tx = super::runtime()?.block_on(chorus_chain::nodes::register(
        &config.rpc_url,
        registry,
        key,
        &peer,
        full.clone(),
        gateway_url,
    ))?;
    println!(
        "registered {peer} at {} (transaction {tx})",
        full.join(", ")
    );
    Ok(())
}

fn deploy(
    paths: &RepoPaths,
    rpc_url: &str,
    key_file: Option<PathBuf>,
    password_file: Option<PathBuf>,
    json: bool,
) -> Result<()> {
    let key = match key_file {
        Some(file) => super::wallet::read_key(&file, password_file.as_deref())?,
        None => {
            paths.ensure_initialized()?;
            wallet::load(paths.root())?
        }
    };
    let rt = super::runtime()?;
    let deployed = rt
        .block_on(chorus_chain::deploy::deploy(rpc_url, key))
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
