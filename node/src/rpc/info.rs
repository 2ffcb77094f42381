//! `/api/v0/version`, `/api/v0/id` and `/api/v0/stats/bw`: who this node is, and how much
//! it talks.

use std::time::Duration;

use axum::Json;
use axum::body::Body;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use bytes::Bytes;
use serde::Serialize;

use super::args::Args;
use super::error::ApiError;
use super::respond::ndjson_body;
use crate::context::{NodeContext, PROTOCOL_VERSION};
use crate::network::{Bandwidth, BandwidthStats, CommandError, NetworkHandle};
use libp2p::multiaddr::Protocol;

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

/// `id`: this node, with the swarm's announced addresses (each with `/p2p/<id>`) and
/// protocols, read from the network when one is installed (else from
/// [`NodeContext::swarm_info`]). With another peer's id as argument the node must be online:
/// that peer's addresses are looked up (open connections, else the DHT) and its public key
/// is decoded from the id when the id inlines it (Ed25519); its agent and protocols are not
/// known and left empty.
pub(crate) async fn id(
    State(ctx): State<NodeContext>,
    args: Args,
) -> Result<Json<IdInfo>, ApiError> {
    let identity = ctx.identity();
    let peer_id = identity.peer_id();
    let network = ctx.network().filter(|n| n.is_running());
    if let Some(other) = args.positional().first()
        && other.trim() != peer_id.to_string()
    {
        let other_id: libp2p::PeerId = other
            .trim()
            .parse()
            .map_err(|_| ApiError::invalid("peerid", other, "not a valid peer ID"))?;
        let network = network.ok_or(ApiError::Offline)?;
        return remote_id(&network, other_id).await.map(Json);
    }
    let swarm = match &network {
        Some(n) => n.swarm_info().await.unwrap_or_else(|_| ctx.swarm_info()),
        None => ctx.swarm_info(),
    };
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

/// What `id <peer>` can say about another peer.
async fn remote_id(network: &NetworkHandle, peer: libp2p::PeerId) -> Result<IdInfo, ApiError> {
    let addrs = match network.find_peer(peer).await {
        Ok(addrs) => addrs,
        Err(CommandError::Stopped) => return Err(ApiError::Offline),
        Err(CommandError::PeerNotFound { .. }) => {
            return Err(ApiError::Failed("routing: not found".to_owned()));
        }
        Err(e) => return Err(ApiError::Failed(e.to_string())),
    };
    let mut addresses: Vec<String> = Vec::with_capacity(addrs.len());
    for mut a in addrs {
        if let Some(Protocol::P2p(_)) = a.iter().last() {
            a.pop();
        }
        let a = format!("{a}/p2p/{peer}");
        if !addresses.contains(&a) {
            addresses.push(a);
        }
    }
    // An identity multihash (code 0) carries the protobuf-encoded public key itself.
    let multihash: &libp2p::multihash::Multihash<64> = peer.as_ref();
    let public_key = if multihash.code() == 0 {
        libp2p::identity::PublicKey::try_decode_protobuf(multihash.digest())
            .map(|k| base64::engine::general_purpose::STANDARD.encode(k.encode_protobuf()))
            .unwrap_or_default()
    } else {
        String::new()
    };
    Ok(IdInfo {
        id: peer.to_string(),
        public_key,
        addresses,
        agent_version: String::new(),
        protocol_version: String::new(),
        protocols: Vec::new(),
    })
}

/// kubo's `stats/bw` object.
#[derive(Debug, Serialize, Default)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct BandwidthReport {
    total_in: u64,
    total_out: u64,
    rate_in: f64,
    rate_out: f64,
}

impl From<BandwidthStats> for BandwidthReport {
    fn from(s: BandwidthStats) -> Self {
        BandwidthReport {
            total_in: s.total_in,
            total_out: s.total_out,
            rate_in: s.rate_in,
            rate_out: s.rate_out,
        }
    }
}

/// kubo's default `stats bw --interval` when polling.
const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Which traffic `stats/bw` reports.
#[derive(Debug, Clone)]
enum BandwidthScope {
    All,
    Peer(libp2p::PeerId),
    Protocol(String),
}

impl BandwidthScope {
    /// Counters never seen read as zeros, as in kubo.
    fn read(&self, meter: &Bandwidth) -> BandwidthReport {
        match self {
            BandwidthScope::All => meter.total(),
            BandwidthScope::Peer(p) => meter.peer(p).unwrap_or_default(),
            BandwidthScope::Protocol(p) => meter.protocol(p).unwrap_or_default(),
        }
        .into()
    }
}

/// `stats/bw`: bytes of libp2p streams in and out, with smoothed rates, for all traffic or
/// one `peer` or one `proto`col (not both, as in kubo). With `poll`, a report follows every
/// `interval` (Go duration, default 1s) as NDJSON until the client goes away or the network
/// stops. Needs the network, as in kubo.
pub(crate) async fn stats_bw(
    State(ctx): State<NodeContext>,
    args: Args,
) -> Result<Response, ApiError> {
    let network = ctx
        .network()
        .filter(|n| n.is_running())
        .ok_or(ApiError::Offline)?;
    let peer = args.option("peer").filter(|p| !p.is_empty());
    let proto = args.option("proto").filter(|p| !p.is_empty());
    let scope = match (peer, proto) {
        (Some(_), Some(_)) => {
            return Err(ApiError::Failed(
                "both peer ID and protocol specified".to_owned(),
            ));
        }
        (Some(p), None) => BandwidthScope::Peer(
            p.trim()
                .parse()
                .map_err(|_| ApiError::invalid("peer", p, "not a valid peer ID"))?,
        ),
        (None, Some(p)) => BandwidthScope::Protocol(p.to_owned()),
        (None, None) => BandwidthScope::All,
    };
    if !args.bool("poll", false)? {
        return Ok(Json(scope.read(network.bandwidth())).into_response());
    }
    let interval = match args.option("interval") {
        None => DEFAULT_POLL_INTERVAL,
        Some(v) => crate::go_duration::parse(v)
            .ok()
            .filter(|d| !d.is_zero())
            .ok_or_else(|| {
                ApiError::invalid(
                    "interval",
                    v,
                    "expected a positive duration such as 500ms or 2s",
                )
            })?,
    };
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let reports = futures::stream::unfold(
        (tick, network, scope),
        |(mut tick, network, scope)| async move {
            tick.tick().await;
            if !network.is_running() {
                return None;
            }
            let mut line = serde_json::to_vec(&scope.read(network.bandwidth())).ok()?;
            line.push(b'\n');
            Some((
                Ok::<_, std::io::Error>(Bytes::from(line)),
                (tick, network, scope),
            ))
        },
    );
    Ok(ndjson_body(Body::from_stream(reports)))
}
