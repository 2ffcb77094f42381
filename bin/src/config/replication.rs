//! `[replication]`: this node's community and how it replicates uploads within it. Each
//! default is the library's, named there with its origin and worst case
//! ([`chorus_node::replication::config`]).

use std::time::Duration;

use anyhow::{Context, Result};
use chorus_node::go_duration;
use chorus_node::replication::ReplicationConfig;
use chorus_node::replication::config::{self as defaults, parse_node};
use serde::{Deserialize, Serialize};

/// `[replication]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ReplicationSection {
    /// Replicate uploads within the community (off by default).
    pub enabled: bool,
    /// The community nodes, each `/…/p2p/<peer id>`.
    pub nodes: Vec<String>,
    /// R.
    pub factor: usize,
    /// W.
    pub write_quorum: usize,
    /// Seconds an upload waits for W copies.
    pub ack_timeout_secs: u64,
    /// Go duration between repair passes.
    pub repair_interval: String,
    /// Go duration a node must be unreachable before others take over its share.
    pub down_after: String,
    /// Go duration an extra copy is kept before cleanup.
    pub cleanup_grace: String,
    /// Bytes per second repair fetches (0: unlimited).
    pub repair_bytes_per_sec: u64,
    /// Also take the community from the chain's NodeRegistry (`[chain]`), read at start.
    pub nodes_from_chain: bool,
    /// Roots registered on chain join the content set.
    pub content_from_chain: bool,
}

impl Default for ReplicationSection {
    fn default() -> Self {
        let d = ReplicationConfig::default();
        ReplicationSection {
            enabled: false,
            nodes: Vec::new(),
            factor: d.factor,
            write_quorum: d.write_quorum,
            ack_timeout_secs: d.ack_timeout.as_secs(),
            repair_interval: go_duration::format_compact(defaults::DEFAULT_REPAIR_INTERVAL),
            down_after: go_duration::format_compact(defaults::DEFAULT_DOWN_AFTER),
            cleanup_grace: go_duration::format_compact(defaults::DEFAULT_CLEANUP_GRACE),
            repair_bytes_per_sec: d.repair_bytes_per_sec,
            nodes_from_chain: false,
            content_from_chain: false,
        }
    }
}

impl ReplicationSection {
    /// The library's settings, or `None` when replication is off.
    pub fn to_config(&self) -> Result<Option<ReplicationConfig>> {
        if !self.enabled {
            return Ok(None);
        }
        let duration = |value: &str, key: &str| -> Result<Duration> {
            go_duration::parse(value)
                .with_context(|| format!("invalid replication.{key} {value:?}"))
        };
        let mut nodes = Vec::new();
        for addr in &self.nodes {
            nodes.push(parse_node(addr).context("invalid replication.nodes")?);
        }
        let config = ReplicationConfig {
            nodes,
            factor: self.factor,
            write_quorum: self.write_quorum,
            ack_timeout: Duration::from_secs(self.ack_timeout_secs.max(1)),
            repair_interval: duration(&self.repair_interval, "repair_interval")?,
            down_after: duration(&self.down_after, "down_after")?,
            cleanup_grace: duration(&self.cleanup_grace, "cleanup_grace")?,
            repair_bytes_per_sec: self.repair_bytes_per_sec,
            content_from_chain: self.content_from_chain,
            ..ReplicationConfig::default()
        };
        config.validate().context("invalid [replication]")?;
        Ok(Some(config))
    }

    /// The `[replication]` section of the file `chorus init` writes.
    pub fn commented_toml(&self) -> String {
        let q = |s: &str| toml::Value::String(s.to_string()).to_string();
        let nodes = if self.nodes.is_empty() {
            "[]".to_owned()
        } else {
            let inner: Vec<String> = self.nodes.iter().map(|n| format!("  {},", q(n))).collect();
            format!("[\n{}\n]", inner.join("\n"))
        };
        format!(
            r#"[replication]
# Keep every upload on `factor` nodes of a community (README "Running a community of nodes").
enabled = {enabled}
# The community: every node's swarm address ending in /p2p/<peer id>, this one listed or not.
# All nodes must list the same set. They are also kept connected, as peering peers are.
nodes = {nodes}
# Copies of every root (R), placed by rendezvous hashing (Audius: 3 in dev, 4 in production).
factor = {factor}
# Durable copies before an upload is acknowledged (W, at most R).
write_quorum = {quorum}
# Seconds an upload waits for W copies before failing (copying goes on, nothing is lost).
ack_timeout_secs = {ack}
# Between repair passes: pull the others' logs, fetch what this node now holds (Go duration).
repair_interval = {repair}
# How long a node must be unreachable before the others take over its share.
down_after = {down}
# How long an extra copy (no longer assigned here) is kept before it is unpinned, and then
# only once every assigned holder confirms its copy (mediorum: a week).
cleanup_grace = {grace}
# Bytes per second repair may fetch (0: unlimited).
repair_bytes_per_sec = {rate}
# Also take the community from the chain's NodeRegistry (`chorus chain register-node`), read
# when the daemon starts (the list read last is kept for a start while the chain is down).
nodes_from_chain = {from_chain}
# Roots registered in the chain's ContentRegistry join the content set: the nodes placement
# assigns them to fetch and pin them, wherever they were uploaded.
content_from_chain = {content_from_chain}
"#,
            enabled = self.enabled,
            factor = self.factor,
            quorum = self.write_quorum,
            ack = self.ack_timeout_secs,
            repair = q(&self.repair_interval),
            down = q(&self.down_after),
            grace = q(&self.cleanup_grace),
            rate = self.repair_bytes_per_sec,
            from_chain = self.nodes_from_chain,
            content_from_chain = self.content_from_chain,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn off_by_default_and_on_with_its_nodes() {
        let mut s = ReplicationSection::default();
        assert!(s.to_config().unwrap().is_none());
        assert_eq!(s.repair_interval, "1h");
        assert_eq!(s.down_after, "5m");
        assert_eq!(s.cleanup_grace, "168h");
        s.enabled = true;
        let peer = libp2p::PeerId::random();
        s.nodes = vec![format!("/ip4/127.0.0.1/tcp/4001/p2p/{peer}")];
        s.repair_interval = "2s".into();
        let c = s.to_config().unwrap().unwrap();
        assert_eq!(c.nodes[0].0, peer);
        assert_eq!(c.repair_interval, Duration::from_secs(2));
    }

    #[test]
    fn bad_settings_name_their_key() {
        let mut s = ReplicationSection {
            enabled: true,
            ..Default::default()
        };
        s.nodes = vec!["/ip4/127.0.0.1/tcp/4001".into()];
        assert!(format!("{:#}", s.to_config().unwrap_err()).contains("/p2p/"));
        s.nodes.clear();
        s.down_after = "soon".into();
        assert!(format!("{:#}", s.to_config().unwrap_err()).contains("replication.down_after"));
        s.down_after = "5m".into();
        s.write_quorum = 5;
        assert!(format!("{:#}", s.to_config().unwrap_err()).contains("write_quorum"));
    }
}
