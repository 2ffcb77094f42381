//! `/api/v0/version`, `/api/v0/id` and `/api/v0/stats/bw`: who this node is.

use axum::Json;
use axum::extract::State;
use base64::Engine as _;
use serde::Serialize;

use super::args::Args;
use super::error::ApiError;
use crate::context::{NodeContext, PROTOCOL_VERSION};

/// kubo's `version` object.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct VersionInfo {
    version: String,
    commit: String,
    repo: String,
    system: String,
    golang: String,
}

/// The repo version chorus reports (its own numbering; kubo clients only display it).
const REPO_VERSION: &str = "1";

/// Go's name for the running architecture, as kubo prints it in `System`.
fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        other => other,
    }
}

pub(crate) async fn version(State(ctx): State<NodeContext>) -> Json<VersionInfo> {
    Json(VersionInfo {
        version: ctx.identity().reported_version.clone(),
        commit: String::new(),
        repo: REPO_VERSION.to_owned(),
        system: format!("{}/{}", go_arch(), std::env::consts::OS),
        // Not Go: name the toolchain honestly; clients only display this field.
        golang: "rust".to_owned(),
    })
}

/// kubo's `id` object.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct IdInfo {
    #[serde(rename = "ID")]
    id: String,
    public_key: String,
    addresses: Vec<String>,
    agent_version: String,
    protocol_version: String,
    protocols: Vec<String>,
}

pub(crate) async fn id(
    State(ctx): State<NodeContext>,
    args: Args,
) -> Result<Json<IdInfo>, ApiError> {
    let identity = ctx.identity();
    let peer_id = identity.peer_id();
    if let Some(other) = args.positional().first()
        && other.trim() != peer_id.to_string()
    {
        // Looking up another peer needs the network (identify / DHT).
        if other.parse::<libp2p::PeerId>().is_err() {
            return Err(ApiError::invalid("peerid", other, "not a valid peer ID"));
        }
        return Err(ApiError::Offline);
    }
    let swarm = ctx.swarm_info();
    Ok(Json(IdInfo {
        id: peer_id.to_string(),
        public_key: base64::engine::general_purpose::STANDARD
            .encode(identity.public_key.encode_protobuf()),
        addresses: swarm
            .addresses
            .iter()
            .map(|a| format!("{a}/p2p/{peer_id}"))
            .collect(),
        agent_version: identity.agent_version.clone(),
        protocol_version: PROTOCOL_VERSION.to_owned(),
        protocols: swarm.protocols,
    }))
}

/// kubo's `stats/bw` object.
#[derive(Debug, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct BandwidthStats {
    total_in: u64,
    total_out: u64,
    rate_in: f64,
    rate_out: f64,
}

/// Bandwidth totals. Swarm traffic is the only traffic kubo counts here, so the offline node
/// reports zeros; the network issue replaces this with its bandwidth sink.
pub(crate) async fn stats_bw() -> Json<BandwidthStats> {
    Json(BandwidthStats::default())
}
