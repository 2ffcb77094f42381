//! `config.toml`: the operator's settings, written out in full (with comments) by `chorus init`.
//!
//! Every key has a default, so a config from an older chorus keeps loading; unknown keys are an
//! error, so a typo is reported instead of silently ignored.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

// An explicit path: the config fuzz target (fuzz/fuzz_targets/config_file.rs) includes this
// file by path, where the default lookup of a submodule would miss it.
#[path = "config/chain.rs"]
mod chain;
#[path = "config/env.rs"]
mod env;
#[path = "config/limits.rs"]
mod limits;
#[path = "config/replication.rs"]
mod replication;

pub use chain::ChainSection;
pub use limits::LimitsConfig;
pub use replication::ReplicationSection;

/// kubo's default chunk size (boxo `chunk.DefaultBlockSize`).
pub const DEFAULT_CHUNKER: &str = "size-262144";
/// kubo's default API address.
pub const DEFAULT_API_ADDR: &str = "/ip4/127.0.0.1/tcp/5001";
/// kubo's default gateway address.
pub const DEFAULT_GATEWAY_ADDR: &str = "/ip4/127.0.0.1/tcp/8080";
/// Metrics on their own loopback port so Prometheus can scrape without API access.
pub const DEFAULT_METRICS_ADDR: &str = "/ip4/127.0.0.1/tcp/9464";
/// The version the RPC reports: ipfshttpclient 0.7.0 accepts 0.4.23 <= v < 0.8.0.
pub const DEFAULT_REPORTED_VERSION: &str = "0.7.0";

/// The whole configuration file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Node identity (informational; the key is in `identity.key`).
    pub identity: IdentityConfig,
    /// Defaults for `chorus add` and RPC `add`.
    pub import: ImportConfig,
    /// The `/api/v0` RPC listener.
    pub api: ApiConfig,
    /// The HTTP gateway listener.
    pub gateway: GatewayConfig,
    /// The Prometheus listener.
    pub metrics: MetricsConfig,
    /// The libp2p network.
    pub swarm: SwarmConfig,
    /// The blockstore.
    pub datastore: DatastoreConfig,
    /// The audio transcoder behind `chorus track add` and RPC `track/add`.
    pub transcode: TranscodeConfig,
    /// Resource bounds of requests, uploads and content.
    pub limits: LimitsConfig,
    /// Logging of the daemon and the CLI.
    pub log: LogConfig,
    /// Replication within a community of nodes.
    pub replication: ReplicationSection,
    /// Ownership on Ethereum.
    pub chain: ChainSection,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// `[log]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    /// `text` (for a terminal or journald) or `json` (one object per line, for log shippers).
    pub format: LogFormat,
    /// A `tracing` filter (`warn`, `info`, `chorus_node=debug,info`); `RUST_LOG` wins.
    pub level: String,
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: LogFormat::Text,
            level: "warn".to_owned(),
        }
    }
}

/// `[transcode]`: the worker pool and input limits of `chorus track add` and RPC `track/add`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct TranscodeConfig {
    /// Worker processes transcoding at once (the daemon's pool).
    pub workers: usize,
    /// Jobs allowed to wait for a worker before uploads are refused as busy.
    pub queue: usize,
    /// Seconds one job may run before its worker is killed.
    pub job_timeout_secs: u64,
    /// Largest accepted upload in bytes.
    pub max_input_bytes: u64,
    /// Longest accepted audio in seconds.
    pub max_duration_secs: u64,
    /// Memory one worker process may use, in bytes (its job fails past it).
    pub max_memory_bytes: u64,
    /// HLS renditions every track gets, in kbps, in master playlist order (players start with
    /// the first); `--rendition` / `rendition=` add more.
    pub renditions: Vec<u32>,
}

impl Default for TranscodeConfig {
    fn default() -> Self {
        TranscodeConfig {
            workers: chorus_transcoder::DEFAULT_WORKERS,
            queue: chorus_transcoder::DEFAULT_QUEUE,
            job_timeout_secs: chorus_transcoder::DEFAULT_JOB_TIMEOUT.as_secs(),
            max_input_bytes: chorus_transcoder::DEFAULT_MAX_INPUT_BYTES,
            max_duration_secs: chorus_transcoder::DEFAULT_MAX_DURATION_SECS,
            max_memory_bytes: chorus_transcoder::DEFAULT_MAX_MEMORY_BYTES,
            renditions: vec![chorus_transcoder::DEFAULT_BITRATE / 1000],
        }
    }
}

/// `[datastore]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct DatastoreConfig {
    /// Re-hash every block on read (kubo's `Datastore.HashOnRead`, off by default as in kubo).
    pub hash_on_read: bool,
    /// Size at which a pack file is sealed and the next one started.
    pub pack_size_bytes: u64,
    /// The storage bound (kubo's `Datastore.StorageMax`): what `repo stat` reports and what
    /// automatic GC keeps the repo under.
    pub storage_max_bytes: u64,
    /// Percent of `storage_max_bytes` at which automatic GC starts (kubo's
    /// `StorageGCWatermark`).
    pub storage_gc_watermark: u64,
    /// Time between automatic GC runs (kubo's `GCPeriod`), a Go duration.
    pub gc_period: String,
    /// Run GC automatically (as `chorus daemon --enable-gc`).
    pub auto_gc: bool,
}

impl Default for DatastoreConfig {
    fn default() -> Self {
        DatastoreConfig {
            hash_on_read: false,
            pack_size_bytes: chorus_storage::DEFAULT_PACK_TARGET,
            storage_max_bytes: chorus_node::DEFAULT_STORAGE_MAX,
            storage_gc_watermark: 90,
            gc_period: "1h".to_owned(),
            auto_gc: false,
        }
    }
}

/// kubo's public bootstrap peers (`ipfs bootstrap add --default`), for joining the public
/// network. Never in the default config: a fresh chorus dials nobody.
pub const KUBO_DEFAULT_BOOTSTRAP: &[&str] = &[
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmNnooDu7bfjPFoTZYxMNLWUQJyrVwtbZg5gBMjTezGAJN",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmQCU2EcMqAqQPR2i9bChDtGNJchTbq5TbXJJ16u19uLTa",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmbLHAnMoJPWSCR5Zhtx6BHJX9KiKNN6tpvbUcqanj75Nb",
    "/dnsaddr/bootstrap.libp2p.io/p2p/QmcZf59bWwK5XFi76CZX8cbJ4BhTzzA3gU1ZjYZcYW3dwt",
    "/ip4/104.131.131.82/tcp/4001/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ",
    "/ip4/104.131.131.82/udp/4001/quic-v1/p2p/QmaCpDMGvV2BGHeYERUEnRQAwe3N8SzbUtfsmvsqQLuvuJ",
];

/// `[swarm]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct SwarmConfig {
    /// Listen multiaddrs (TCP and QUIC-v1).
    pub listen: Vec<String>,
    /// Peers dialed at start-up (kubo's `Bootstrap`).
    pub bootstrap: Vec<String>,
    /// Peers kept connected, redialed with backoff (kubo's `Peering.Peers`).
    pub peering: Vec<String>,
    /// DHT mode, like kubo's `Routing.Type`: auto, dht, dhtclient, dhtserver, none.
    pub routing: String,
    /// Seconds the gateway, `cat`, `get` and `pin add` wait for a block from the network.
    pub fetch_timeout_secs: u64,
    /// Time between reprovide cycles, kubo's `Reprovider.Interval` (`22h`; `0` disables).
    pub reprovide_interval: String,
    /// What is reprovided, kubo's `Reprovider.Strategy`: all, pinned or roots.
    pub reprovide_strategy: String,
    /// AutoNAT v1 client and server (kubo's `AutoNAT.ServiceMode` enabled/disabled).
    pub autonat: bool,
}

impl Default for SwarmConfig {
    fn default() -> Self {
        SwarmConfig {
            listen: vec![
                "/ip4/0.0.0.0/tcp/4001".to_owned(),
                "/ip4/0.0.0.0/udp/4001/quic-v1".to_owned(),
            ],
            bootstrap: Vec::new(),
            peering: Vec::new(),
            routing: "auto".to_owned(),
            fetch_timeout_secs: 30,
            reprovide_interval: chorus_node::network::reprovide::format_interval(Some(
                chorus_node::network::reprovide::DEFAULT_REPROVIDE_INTERVAL,
            )),
            reprovide_strategy: chorus_node::network::ReprovideStrategy::default()
                .name()
                .to_owned(),
            autonat: true,
        }
    }
}

/// `[identity]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct IdentityConfig {
    /// The peer id derived from `identity.key`, for reference.
    pub peer_id: String,
}

/// `[import]`: kubo's `add` defaults unless changed here.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ImportConfig {
    /// CID version of new content (kubo: 0).
    pub cid_version: u8,
    /// Raw leaves; unset means "as kubo": true exactly when `cid_version = 1`.
    pub raw_leaves: Option<bool>,
    /// Chunker, `size-N` with 1 <= N <= 1 MiB.
    pub chunker: String,
    /// Hash function: `sha2-256` or `blake3`.
    pub hash: String,
    /// DAG layout: `balanced` or `trickle`.
    pub layout: String,
}

impl Default for ImportConfig {
    fn default() -> Self {
        ImportConfig {
            cid_version: 0,
            raw_leaves: None,
            chunker: DEFAULT_CHUNKER.to_string(),
            hash: "sha2-256".to_string(),
            layout: "balanced".to_string(),
        }
    }
}

/// `[api]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ApiConfig {
    /// Listen address (multiaddr or `host:port`).
    pub address: String,
    /// Accept GET as well as POST (kubo < 0.5 clients).
    pub allow_get: bool,
    /// Bearer token required on every request when non-empty.
    pub auth_token: String,
    /// Allow a non-loopback bind without a token (not recommended).
    pub allow_unauthenticated_remote: bool,
    /// Version string reported by `/api/v0/version`.
    pub reported_version: String,
}

impl Default for ApiConfig {
    fn default() -> Self {
        ApiConfig {
            address: DEFAULT_API_ADDR.to_string(),
            allow_get: false,
            auth_token: String::new(),
            allow_unauthenticated_remote: false,
            reported_version: DEFAULT_REPORTED_VERSION.to_string(),
        }
    }
}

/// `[gateway]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct GatewayConfig {
    /// Listen address (multiaddr or `host:port`).
    pub address: String,
    /// Requests in progress at once; one more gets 429 with `Retry-After` (0: no bound).
    pub max_concurrent_requests: usize,
    /// Sustained requests per second per client address; 0 turns the limit off.
    pub rate_limit_per_ip: u32,
    /// Requests a client address may make at once before the rate applies.
    pub rate_limit_burst: u32,
    /// HLS segments the gateway fetches ahead of the one a player asked for; 0: off.
    pub hls_segments_ahead: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            address: DEFAULT_GATEWAY_ADDR.to_string(),
            max_concurrent_requests: chorus_node::gateway::DEFAULT_MAX_CONCURRENT_REQUESTS,
            rate_limit_per_ip: 0,
            rate_limit_burst: 100,
            hls_segments_ahead: chorus_node::gateway::DEFAULT_HLS_SEGMENTS_AHEAD,
        }
    }
}

/// `[metrics]`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Listen address for `/metrics` and `/health`; empty disables the listener
    /// (both stay available on the API).
    pub address: String,
}

impl Default for MetricsConfig {
    fn default() -> Self {
        MetricsConfig {
            address: DEFAULT_METRICS_ADDR.to_string(),
        }
    }
}

impl Config {
    /// Reads and parses `path`.
    /// Reads and parses `path`, then applies the `CHORUS_<SECTION>_<KEY>` environment
    /// overrides (see `config/env.rs`).
    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config {}", path.display()))?;
        let config: Config =
            toml::from_str(&text).with_context(|| format!("invalid config {}", path.display()))?;
        env::apply(config, std::env::vars())
    }

    /// The file `chorus init` writes: every key with its value and a comment saying what it does.
    pub fn to_commented_toml(&self) -> String {
        let q = |s: &str| toml::Value::String(s.to_string()).to_string();
        let list = |items: &[String]| {
            if items.is_empty() {
                "[]".to_owned()
            } else {
                let inner: Vec<String> = items.iter().map(|i| format!("  {},", q(i))).collect();
                format!("[\n{}\n]", inner.join("\n"))
            }
        };
        let raw_leaves = match self.import.raw_leaves {
            Some(b) => format!("raw_leaves = {b}"),
            None => "# raw_leaves = false   # unset: true exactly when cid_version = 1 (as kubo)"
                .to_string(),
        };
        format!(
            r#"# chorus configuration. Every key is written out with its value; edit and restart.

[identity]
# Peer id of this node, derived from the key in identity.key (kept out of this file so the
# config can be shared without leaking the key). Informational.
peer_id = {peer_id}

[import]
# Defaults for `chorus add` and RPC `add`; the same as kubo's, so CIDs match kubo's.
# CID version of new content: 0 (kubo's default) or 1.
cid_version = {cid_version}
{raw_leaves}
# Chunker: size-N, 1 <= N <= 1048576 (kubo's limit).
chunker = {chunker}
# Hash function: sha2-256 (kubo's default) or blake3 (implies CIDv1).
hash = {hash}
# DAG layout: balanced (kubo's default) or trickle.
layout = {layout}

[api]
# RPC API (/api/v0), kubo-compatible. Multiaddr or host:port; port 0 picks a free port.
address = {api_addr}
# Accept GET requests as well as POST (kubo >= 0.5 refuses GET; some old clients need it).
allow_get = {allow_get}
# When non-empty, every API request must carry "Authorization: Bearer <token>".
auth_token = {auth_token}
# The API refuses a non-loopback address unless auth_token is set or this is true.
allow_unauthenticated_remote = {allow_remote}
# Version reported by /api/v0/version (ipfshttpclient 0.7.0 wants 0.4.23 <= v < 0.8.0).
reported_version = {reported_version}

[gateway]
# Read-only HTTP gateway (/ipfs/<cid>, trustless ?format=raw|car).
address = {gateway_addr}
# Requests in progress at once (each until its body is sent); one more is answered 429 with
# Retry-After (kubo's Gateway.MaxConcurrentRequests, same default). 0: no bound.
max_concurrent_requests = {gateway_max_concurrent}
# Requests per second per client address, with a burst allowance; past it 429 + Retry-After.
# 0 turns it off (the default): behind a reverse proxy every client has the proxy's address.
rate_limit_per_ip = {gateway_rate}
rate_limit_burst = {gateway_burst}
# HLS look-ahead: serving a playlist or segment k of a stream (a chorus track), the gateway
# fetches segments k+1 ..= k+N into the store before the player asks (5 x 6 s = 30 s of audio,
# hls.js's buffer target). 0 turns it off.
hls_segments_ahead = {gateway_hls_ahead}

[metrics]
# Prometheus /metrics and /health; empty string disables this listener (both stay on the API).
address = {metrics_addr}

[swarm]
# libp2p listen addresses (kubo's Addresses.Swarm): TCP and QUIC-v1.
listen = {swarm_listen}
# Peers dialed at start-up. Empty: this node dials nobody until told to.
# `chorus bootstrap add --default` adds kubo's public list (to join the public network).
bootstrap = {swarm_bootstrap}
# Peers kept connected and redialed with backoff (kubo's Peering.Peers), as /.../p2p/<id>.
peering = {swarm_peering}
# DHT mode (kubo's Routing.Type): auto (server once publicly reachable), dht (= auto),
# dhtclient, dhtserver, none (no DHT: bitswap with connected peers only).
routing = {swarm_routing}
# Seconds the gateway, cat, get and pin add wait for a block from the network.
fetch_timeout_secs = {fetch_timeout}
# Provider records are announced again every reprovide_interval (kubo's Reprovider.Interval;
# "22h", "1h30m", "0" disables) as a keyspace sweep: one DHT lookup per region, many records
# per peer stream, progress saved so a restart resumes the cycle.
reprovide_interval = {reprovide_interval}
# What is reprovided (kubo's Reprovider.Strategy): all (every stored block), pinned (every
# block reachable from a pin), roots (only the pinned CIDs themselves).
reprovide_strategy = {reprovide_strategy}
# AutoNAT v1 (kubo's AutoNAT.ServiceMode): ask peers whether our addresses are reachable, and
# answer their probes (rate-limited as kubo). A public verdict makes `auto` a DHT server.
autonat = {autonat}

[datastore]
# Re-hash every block on read (kubo's Datastore.HashOnRead; off by default, as in kubo).
# Blocks are always verified when written; `chorus repo verify` re-hashes everything on demand.
# On, every read also detects disk corruption, at about 3x the CPU cost of a read.
hash_on_read = {hash_on_read}
# Blocks over 16 KiB are appended to pack files; a pack is sealed at this size and the next
# one started. GC rewrites a sealed pack once less than half of it is live, so smaller packs
# give space back sooner, larger ones mean fewer files (8,192 per TiB at the default).
pack_size_bytes = {pack_size}
# The storage bound (kubo's Datastore.StorageMax, 10 GB): reported by `repo stat`, and kept by
# automatic GC, which runs every gc_period and as soon as the blocks pass
# storage_gc_watermark percent of it. Off unless auto_gc = true or `chorus daemon --enable-gc`
# (kubo's flag). Only unpinned blocks are removed: pinned content can still fill the disk.
storage_max_bytes = {storage_max}
storage_gc_watermark = {gc_watermark}
gc_period = {gc_period}
auto_gc = {auto_gc}

[transcode]
# `chorus track add` and RPC track/add: audio becomes HLS (AAC-LC in MPEG-TS) + an MP3 download.
# Worker processes transcoding at once in the daemon (Audius's mediorum runs 2); each job runs
# in its own process, so a codec crash or hang costs that job only.
workers = {transcode_workers}
# Jobs waiting for a worker before new uploads are refused as busy.
queue = {transcode_queue}
# Seconds one job may run before its worker is killed (a 4-hour mix takes ~12 min at 20x).
job_timeout_secs = {transcode_timeout}
# Largest accepted upload in bytes (2 GiB: a 4-hour 24-bit/48 kHz stereo WAV).
max_input_bytes = {transcode_max_bytes}
# Longest accepted audio in seconds (4 hours: DJ mixes, whole albums).
max_duration_secs = {transcode_max_secs}
# Memory one worker may use, in bytes. Each worker also runs under CPU, file-size and
# open-file limits and, on Linux 5.13+, a Landlock sandbox: it can read its upload and write
# its output directory, nothing of the repo. A job measured ~60 MB; past this one, it fails.
max_memory_bytes = {transcode_max_memory}
# HLS renditions of every track in kbps, first one first in the master playlist (Audius: 320).
renditions = {transcode_renditions}

{limits}
{replication}
{chain}
[log]
# Log lines on stderr: "text", or "json" (one object per line, for log shippers).
# `--log-format` on the command line wins.
format = {log_format}
# What is logged: a tracing filter ("warn", "info", "chorus_node=debug,info"); RUST_LOG wins.
level = {log_level}
"#,
            peer_id = q(&self.identity.peer_id),
            cid_version = self.import.cid_version,
            chunker = q(&self.import.chunker),
            hash = q(&self.import.hash),
            layout = q(&self.import.layout),
            api_addr = q(&self.api.address),
            allow_get = self.api.allow_get,
            auth_token = q(&self.api.auth_token),
            allow_remote = self.api.allow_unauthenticated_remote,
            reported_version = q(&self.api.reported_version),
            gateway_addr = q(&self.gateway.address),
            gateway_max_concurrent = self.gateway.max_concurrent_requests,
            gateway_hls_ahead = self.gateway.hls_segments_ahead,
            gateway_rate = self.gateway.rate_limit_per_ip,
            gateway_burst = self.gateway.rate_limit_burst,
            metrics_addr = q(&self.metrics.address),
            swarm_listen = list(&self.swarm.listen),
            swarm_bootstrap = list(&self.swarm.bootstrap),
            swarm_peering = list(&self.swarm.peering),
            swarm_routing = q(&self.swarm.routing),
            fetch_timeout = self.swarm.fetch_timeout_secs,
            reprovide_interval = q(&self.swarm.reprovide_interval),
            reprovide_strategy = q(&self.swarm.reprovide_strategy),
            autonat = self.swarm.autonat,
            hash_on_read = self.datastore.hash_on_read,
            pack_size = self.datastore.pack_size_bytes,
            storage_max = self.datastore.storage_max_bytes,
            gc_watermark = self.datastore.storage_gc_watermark,
            gc_period = q(&self.datastore.gc_period),
            auto_gc = self.datastore.auto_gc,
            transcode_workers = self.transcode.workers,
            transcode_queue = self.transcode.queue,
            transcode_timeout = self.transcode.job_timeout_secs,
            transcode_max_bytes = self.transcode.max_input_bytes,
            transcode_max_secs = self.transcode.max_duration_secs,
            transcode_max_memory = self.transcode.max_memory_bytes,
            limits = self.limits.commented_toml(),
            replication = self.replication.commented_toml(),
            chain = self.chain.commented_toml(),
            log_format = q(match self.log.format {
                LogFormat::Text => "text",
                LogFormat::Json => "json",
            }),
            log_level = q(&self.log.level),
            transcode_renditions = toml::Value::Array(
                self.transcode
                    .renditions
                    .iter()
                    .map(|k| toml::Value::Integer(i64::from(*k)))
                    .collect()
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commented_template_round_trips() {
        let mut c = Config::default();
        c.identity.peer_id = "12D3KooWtest".into();
        let parsed: Config = toml::from_str(&c.to_commented_toml()).unwrap();
        assert_eq!(parsed, c);
        c.import.raw_leaves = Some(true);
        c.swarm.bootstrap = KUBO_DEFAULT_BOOTSTRAP
            .iter()
            .map(|s| s.to_string())
            .collect();
        let parsed: Config = toml::from_str(&c.to_commented_toml()).unwrap();
        assert_eq!(parsed, c);
        c.transcode.renditions = vec![320, 128];
        c.transcode.job_timeout_secs = 5;
        let parsed: Config = toml::from_str(&c.to_commented_toml()).unwrap();
        assert_eq!(parsed, c);
    }

    #[test]
    fn unknown_keys_are_errors() {
        assert!(toml::from_str::<Config>("[import]\nchunkr = \"size-1\"\n").is_err());
    }
}
