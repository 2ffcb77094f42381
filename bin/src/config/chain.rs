//! `[chain]`: the Ethereum chain this node follows, verifies uploads against and registers
//! them on. Each default is the library's, named there with its origin and worst case
//! ([`chorus_node::onchain::config`]).

use std::str::FromStr;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use chorus_node::go_duration;
use chorus_node::onchain::config::{self as defaults, Address, ChainConfig};
use serde::{Deserialize, Serialize};

/// `[chain]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ChainSection {
    /// JSON-RPC endpoint, `http://…` or `https://…` ("" : no chain).
    pub rpc_url: String,
    /// The chain's id (0: unset).
    pub chain_id: u64,
    /// ContentRegistry's address ("" : unset).
    pub content_registry: String,
    /// NodeRegistry's address ("" : unset).
    pub node_registry: String,
    /// Blocks an event must be buried under before it is applied.
    pub confirmations: u64,
    /// Go duration a signature stays good.
    pub max_signature_age: String,
    /// Refuse unsigned uploads.
    pub require_signatures: bool,
    /// Go duration between polls of the chain.
    pub poll_interval: String,
    /// The first block the follower reads.
    pub start_block: u64,
}

impl Default for ChainSection {
    fn default() -> Self {
        let d = ChainConfig::default();
        ChainSection {
            rpc_url: String::new(),
            chain_id: 0,
            content_registry: String::new(),
            node_registry: String::new(),
            confirmations: d.confirmations,
            max_signature_age: go_duration::format_compact(defaults::DEFAULT_MAX_SIGNATURE_AGE),
            require_signatures: false,
            poll_interval: go_duration::format_compact(defaults::DEFAULT_POLL_INTERVAL),
            start_block: 0,
        }
    }
}

fn address(value: &str, key: &str) -> Result<Option<Address>> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    Address::from_str(value.trim())
        .map(Some)
        .with_context(|| format!("invalid chain.{key} {value:?}: expected a 0x address"))
}

impl ChainSection {
    /// The library's settings.
    pub fn to_config(&self) -> Result<ChainConfig> {
        let duration = |value: &str, key: &str| -> Result<Duration> {
            go_duration::parse(value).with_context(|| format!("invalid chain.{key} {value:?}"))
        };
        let config = ChainConfig {
            rpc_url: self.rpc_url.trim().to_owned(),
            chain_id: self.chain_id,
            content_registry: address(&self.content_registry, "content_registry")?,
            node_registry: address(&self.node_registry, "node_registry")?,
            confirmations: self.confirmations,
            max_signature_age: duration(&self.max_signature_age, "max_signature_age")?,
            require_signatures: self.require_signatures,
            poll_interval: duration(&self.poll_interval, "poll_interval")?
                .max(Duration::from_millis(100)),
            start_block: self.start_block,
            ..ChainConfig::default()
        };
        if !config.rpc_url.is_empty() && !config.can_verify() {
            bail!(
                "chain.rpc_url is set: set chain.chain_id and chain.content_registry too (`chorus chain deploy` prints them)"
            );
        }
        if config.require_signatures && !config.can_verify() {
            bail!("chain.require_signatures needs chain.chain_id and chain.content_registry");
        }
        Ok(config)
    }

    /// The `[chain]` section of the file `chorus init` writes.
    pub fn commented_toml(&self) -> String {
        let q = |s: &str| toml::Value::String(s.to_string()).to_string();
        format!(
            r#"[chain]
# Ownership on Ethereum (README "Ownership on Ethereum"): uploads signed by the artist's wallet
# (EIP-712), registered on chain by this node's operator wallet (`chorus wallet new`), and the
# registry followed by every node. Empty: no chain (unsigned uploads only).
# The chain's JSON-RPC endpoint, http:// or https:// (verified against the system's roots).
rpc_url = {rpc_url}
# The chain's id and the registry contracts (`chorus chain deploy` prints them).
chain_id = {chain_id}
content_registry = {content_registry}
node_registry = {node_registry}
# Blocks an event must be buried under before this node acts on it (0 on a dev chain).
confirmations = {confirmations}
# How old a signature may be when its upload arrives (mediorum: 48h).
max_signature_age = {max_age}
# Refuse unsigned uploads (add, dag/import, track/add, block/put) with 403.
require_signatures = {require}
# Between polls of the chain's head.
poll_interval = {poll}
# The first block the follower reads (the registry's deployment block on a long chain).
start_block = {start}
"#,
            rpc_url = q(&self.rpc_url),
            chain_id = self.chain_id,
            content_registry = q(&self.content_registry),
            node_registry = q(&self.node_registry),
            confirmations = self.confirmations,
            max_age = q(&self.max_signature_age),
            require = self.require_signatures,
            poll = q(&self.poll_interval),
            start = self.start_block,
        )
    }
}
