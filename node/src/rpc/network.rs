//! Commands that need the libp2p network: `swarm/*`, `routing/*` and the `dht/*` aliases kubo
//! still accepts. Arguments are validated first (400 when malformed); without a network (see
//! [`CoreBuilder::network`](crate::core::CoreBuilder::network)) every command then answers
//! kubo's offline error.
//!
//! Output shapes follow kubo: `swarm/peers` lists one entry per connection, `swarm/connect`
//! and `swarm/disconnect` answer `{"Strings":[…]}`, and the routing commands stream kubo's
//! routing query events as NDJSON (`Type` 2 = final peer, 4 = provider). Unlike kubo,
//! chorus does not stream its intermediate DHT query events (types 0, 1, 6, 7): clients
//! without `--verbose` never show them.

use std::collections::{BTreeMap, HashMap, HashSet};

use axum::Json;
use axum::extract::State;
use axum::response::Response;
use chorus_storage::{Cid, PinMode};
use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};
use serde::Serialize;

use super::args::{Args, parse_cid_arg};
use super::error::ApiError;
use super::respond::{blocking, ndjson};
use crate::context::NodeContext;
use crate::core::{PinFilter, PinList};
use crate::network::{CommandError, ConnectedPeer, NetworkHandle};

/// kubo's default `--num-providers` of `routing/findprovs`.
pub(crate) const DEFAULT_NUM_PROVIDERS: usize = 20;

/// kubo's `routing.QueryEvent` type of a peer lookup's answer (`FinalPeer`).
const EVENT_FINAL_PEER: u8 = 2;

/// kubo's `routing.QueryEvent` type of a found provider (`Provider`).
const EVENT_PROVIDER: u8 = 4;

/// The yamux protocol the TCP transport negotiates (QUIC multiplexes natively: no muxer).
const TCP_MUXER: &str = "/yamux/1.0.0";

/// kubo's `routing.ErrNotFound` message.
const NOT_FOUND: &str = "routing: not found";

/// The running network, or kubo's offline error.
fn online(ctx: &NodeContext) -> Result<NetworkHandle, ApiError> {
    match ctx.network() {
        Some(handle) if handle.is_running() => Ok(handle),
        _ => Err(ApiError::Offline),
    }
}

/// A stopped network is reported as offline; anything else as a failed command.
fn command_error(e: CommandError) -> ApiError {
    match e {
        CommandError::Stopped => ApiError::Offline,
        other => ApiError::Failed(other.to_string()),
    }
}

/// `addr` without a trailing `/p2p/<id>` (kubo prints transport addresses in peer lists).
fn transport_addr(addr: &Multiaddr) -> Multiaddr {
    let mut addr = addr.clone();
    if let Some(Protocol::P2p(_)) = addr.iter().last() {
        addr.pop();
    }
    addr
}

/// The peer id an address ends with (`/p2p/<id>`), if any.
fn peer_of(addr: &Multiaddr) -> Option<PeerId> {
    match addr.iter().last() {
        Some(Protocol::P2p(peer)) => Some(peer),
        _ => None,
    }
}

/// Every positional argument parsed as a multiaddr (kubo's `address` argument).
fn multiaddr_args(args: &Args) -> Result<Vec<Multiaddr>, ApiError> {
    args.required("address")?;
    args.positional()
        .iter()
        .map(|a| {
            a.trim()
                .parse::<Multiaddr>()
                .map_err(|e| ApiError::invalid("address", a, e))
        })
        .collect()
}

/// kubo's `{"Strings":[…]}` output.
#[derive(Debug, Serialize)]
pub(crate) struct Strings {
    #[serde(rename = "Strings")]
    strings: Vec<String>,
}

/// One connection of `swarm/peers` (kubo's `connInfo`).
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub(crate) struct ConnInfo {
    addr: String,
    peer: String,
    /// Not measured per connection: always empty, as kubo prints it without `--latency`.
    latency: String,
    muxer: String,
    /// libp2p's `network.Direction`: 1 inbound, 2 outbound.
    direction: u8,
    /// Open streams are not tracked: always null, as kubo prints it without `--streams`.
    streams: Option<Vec<String>>,
}

impl ConnInfo {
    fn new(c: &ConnectedPeer) -> Self {
        let addr = transport_addr(&c.address);
        let over_tcp = addr.iter().any(|p| matches!(p, Protocol::Tcp(_)));
        ConnInfo {
            addr: addr.to_string(),
            peer: c.peer.to_string(),
            latency: String::new(),
            muxer: if over_tcp { TCP_MUXER } else { "" }.to_owned(),
            direction: if c.outbound { 2 } else { 1 },
            streams: None,
        }
    }
}

/// `swarm/peers` output; `Peers` is null without connections, as in kubo.
#[derive(Debug, Serialize)]
pub(crate) struct SwarmPeers {
    #[serde(rename = "Peers")]
    peers: Option<Vec<ConnInfo>>,
}

/// `swarm/peers`: every open connection, sorted by address like kubo.
pub(crate) async fn swarm_peers(
    State(ctx): State<NodeContext>,
) -> Result<Json<SwarmPeers>, ApiError> {
    let handle = online(&ctx)?;
    let mut peers: Vec<ConnInfo> = handle
        .peers()
        .await
        .map_err(command_error)?
        .iter()
        .map(ConnInfo::new)
        .collect();
    peers.sort_by(|a, b| a.addr.cmp(&b.addr).then_with(|| a.peer.cmp(&b.peer)));
    Ok(Json(SwarmPeers {
        peers: (!peers.is_empty()).then_some(peers),
    }))
}

/// `swarm/addrs` output.
#[derive(Debug, Serialize)]
pub(crate) struct SwarmAddrs {
    #[serde(rename = "Addrs")]
    addrs: BTreeMap<String, Vec<String>>,
}

/// `swarm/addrs`: the addresses of connected peers, by peer. kubo lists its whole peerstore;
/// chorus keeps no peerstore apart from the DHT routing table, so only peers with an open
/// connection are listed.
pub(crate) async fn swarm_addrs(
    State(ctx): State<NodeContext>,
) -> Result<Json<SwarmAddrs>, ApiError> {
    let handle = online(&ctx)?;
    let mut addrs: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for c in handle.peers().await.map_err(command_error)? {
        let list = addrs.entry(c.peer.to_string()).or_default();
        let addr = transport_addr(&c.address).to_string();
        if !list.contains(&addr) {
            list.push(addr);
        }
    }
    for list in addrs.values_mut() {
        list.sort();
    }
    Ok(Json(SwarmAddrs { addrs }))
}

/// `swarm/addrs/listen`: the addresses the swarm listens on.
pub(crate) async fn swarm_addrs_listen(
    State(ctx): State<NodeContext>,
) -> Result<Json<Strings>, ApiError> {
    let handle = online(&ctx)?;
    let strings = handle
        .listen_addrs()
        .await
        .map_err(command_error)?
        .iter()
        .map(ToString::to_string)
        .collect();
    Ok(Json(Strings { strings }))
}

/// `swarm/addrs/local`: the addresses announced to peers, with `/p2p/<id>` when `id` is set.
pub(crate) async fn swarm_addrs_local(
    State(ctx): State<NodeContext>,
    args: Args,
) -> Result<Json<Strings>, ApiError> {
    let with_id = args.bool("id", false)?;
    let handle = online(&ctx)?;
    let peer = handle.peer_id();
    let strings = handle
        .swarm_info()
        .await
        .map_err(command_error)?
        .addresses
        .into_iter()
        .map(|a| {
            if with_id {
                a.with(Protocol::P2p(peer)).to_string()
            } else {
                a.to_string()
            }
        })
        .collect();
    Ok(Json(Strings { strings }))
}

/// `swarm/connect?arg=<multiaddr>/p2p/<id>` (repeatable; a bare `/p2p/<id>` is looked up
/// first): dials each address in turn and fails with kubo's `connect <id> failure: …` at
/// the first that does not connect.
pub(crate) async fn swarm_connect(
    State(ctx): State<NodeContext>,
    args: Args,
) -> Result<Json<Strings>, ApiError> {
    let addrs = multiaddr_args(&args)?;
    let handle = online(&ctx)?;
    let mut strings = Vec::with_capacity(addrs.len());
    for addr in addrs {
        let expected = required_peer(&addr)?;
        match connect_one(&handle, addr, expected).await {
            Ok(peer) => strings.push(format!("connect {peer} success")),
            Err(CommandError::Stopped) => return Err(ApiError::Offline),
            Err(e) => return Err(ApiError::Failed(format!("connect {expected} failure: {e}"))),
        }
    }
    Ok(Json(Strings { strings }))
}

/// The peer an address names, or kubo's error for an address without `/p2p/<id>`.
fn required_peer(addr: &Multiaddr) -> Result<PeerId, ApiError> {
    peer_of(addr).ok_or_else(|| {
        ApiError::Failed(format!(
            "invalid peer address {addr}: it must end in /p2p/<peer id>"
        ))
    })
}

/// Dials `addr`; a bare `/p2p/<id>` is first looked up (open connections, else the DHT) and
/// each address found is tried in turn, as kubo does.
async fn connect_one(
    handle: &NetworkHandle,
    addr: Multiaddr,
    peer: PeerId,
) -> Result<PeerId, CommandError> {
    if addr.iter().count() > 1 {
        return handle.connect(addr).await;
    }
    let mut last = CommandError::PeerNotFound { peer };
    for found in handle.find_peer(peer).await? {
        match handle
            .connect(transport_addr(&found).with(Protocol::P2p(peer)))
            .await
        {
            Ok(connected) => return Ok(connected),
            Err(CommandError::Stopped) => return Err(CommandError::Stopped),
            Err(e) => last = e,
        }
    }
    Err(last)
}

/// `swarm/disconnect?arg=<multiaddr>/p2p/<id>` (repeatable): closes every connection to each
/// peer; like kubo, a peer that cannot be disconnected is reported in its line, not as an
/// error.
pub(crate) async fn swarm_disconnect(
    State(ctx): State<NodeContext>,
    args: Args,
) -> Result<Json<Strings>, ApiError> {
    let addrs = multiaddr_args(&args)?;
    let handle = online(&ctx)?;
    let mut strings = Vec::with_capacity(addrs.len());
    for addr in addrs {
        let peer = required_peer(&addr)?;
        match handle.disconnect(peer).await {
            Ok(()) => strings.push(format!("disconnect {peer} success")),
            Err(CommandError::Stopped) => return Err(ApiError::Offline),
            Err(e) => strings.push(format!("disconnect {peer} failure: {e}")),
        }
    }
    Ok(Json(Strings { strings }))
}

/// kubo's `peer.AddrInfo` in JSON (`Addrs` is always an array).
#[derive(Debug, Serialize)]
pub(crate) struct AddrInfo {
    #[serde(rename = "Addrs")]
    addrs: Vec<String>,
    #[serde(rename = "ID")]
    id: String,
}

/// kubo's `routing.QueryEvent` in JSON.
#[derive(Debug, Serialize)]
pub(crate) struct QueryEvent {
    #[serde(rename = "Extra")]
    extra: String,
    #[serde(rename = "ID")]
    id: String,
    #[serde(rename = "Responses")]
    responses: Vec<AddrInfo>,
    #[serde(rename = "Type")]
    kind: u8,
}

impl QueryEvent {
    fn answer(kind: u8, peer: PeerId, addrs: &[Multiaddr]) -> Self {
        let mut list: Vec<String> = Vec::with_capacity(addrs.len());
        for a in addrs {
            let a = transport_addr(a).to_string();
            if !list.contains(&a) {
                list.push(a);
            }
        }
        QueryEvent {
            extra: String::new(),
            id: String::new(),
            responses: vec![AddrInfo {
                addrs: list,
                id: peer.to_string(),
            }],
            kind,
        }
    }
}

/// `routing/findprovs?arg=<cid>&num-providers=N` (also `dht/findprovs`): one `Type` 4 event
/// per provider the DHT knows. A provider's `Addrs` are those of its open connections (empty
/// when it is not connected; dial it with `routing/findpeer`).
pub(crate) async fn find_providers(
    State(ctx): State<NodeContext>,
    args: Args,
) -> Result<Response, ApiError> {
    let key = args.required("key")?;
    let cid = parse_cid_arg("key", key)?;
    let limit = match args.parsed::<i64>("num-providers")? {
        None => DEFAULT_NUM_PROVIDERS,
        Some(n) if n >= 1 => usize::try_from(n).unwrap_or(usize::MAX),
        Some(n) => {
            return Err(ApiError::invalid(
                "num-providers",
                &n.to_string(),
                "number of providers must be greater than 0",
            ));
        }
    };
    let handle = online(&ctx)?;
    let providers = handle
        .find_providers(cid, limit)
        .await
        .map_err(command_error)?;
    let mut connected: HashMap<PeerId, Vec<Multiaddr>> = HashMap::new();
    for c in handle.peers().await.map_err(command_error)? {
        connected.entry(c.peer).or_default().push(c.address);
    }
    let events: Vec<QueryEvent> = providers
        .into_iter()
        .map(|p| {
            let addrs = connected.get(&p).map(Vec::as_slice).unwrap_or_default();
            QueryEvent::answer(EVENT_PROVIDER, p, addrs)
        })
        .collect();
    ndjson(&events)
}

/// `routing/findpeer?arg=<peer>` (also `dht/findpeer`): one `Type` 2 event with the peer's
/// addresses (its open connections', else what the DHT lookups return).
pub(crate) async fn find_peer(
    State(ctx): State<NodeContext>,
    args: Args,
) -> Result<Response, ApiError> {
    let arg = args.required("peerID")?;
    let peer: PeerId = arg
        .trim()
        .parse()
        .map_err(|e| ApiError::invalid("peerID", arg, e))?;
    let handle = online(&ctx)?;
    if peer == handle.peer_id() {
        return Err(ApiError::Failed("cannot search for yourself".to_owned()));
    }
    let addrs = match handle.find_peer(peer).await {
        Ok(addrs) if !addrs.is_empty() => addrs,
        Ok(_) | Err(CommandError::PeerNotFound { .. }) => {
            return Err(ApiError::Failed(NOT_FOUND.to_owned()));
        }
        Err(e) => return Err(command_error(e)),
    };
    ndjson(&[QueryEvent::answer(EVENT_FINAL_PEER, peer, &addrs)])
}

/// `routing/provide?arg=<cid>…[&recursive=true]` (also `dht/provide`): announces each CID
/// (which must be in the local store, and at least one peer must be connected, as kubo
/// requires) and waits until each announcement was sent. With `recursive`, the blocks
/// linked from each CID that are in the local store are queued on the network's bounded
/// background provide queue instead of being announced one by one before answering; the
/// command fails if the queue cannot take them all (nothing is lost: ask again later).
///
/// The answer body is empty: kubo streams DHT query events here that its CLI prints only
/// with `--verbose`, and chorus does not report them.
pub(crate) async fn provide(
    State(ctx): State<NodeContext>,
    args: Args,
) -> Result<Response, ApiError> {
    args.required("key")?;
    let roots = args
        .positional()
        .iter()
        .map(|k| parse_cid_arg("key", k))
        .collect::<Result<Vec<Cid>, ApiError>>()?;
    let recursive = args.bool("recursive", false)?;
    let handle = online(&ctx)?;

    let store = ctx.store();
    let (missing, linked) = blocking("checking the blocks to provide", {
        let roots = roots.clone();
        move || {
            let mut missing = None;
            for cid in &roots {
                let has = store
                    .has(cid.hash())
                    .map_err(|e| ApiError::store("reading", cid, e))?;
                if !has {
                    missing = Some(*cid);
                    break;
                }
            }
            let mut linked = HashSet::new();
            if recursive && missing.is_none() {
                // What the roots reach in the local store, each once, the roots themselves
                // left out: the indirect pins a recursive pin of them would have (a block
                // that cannot be read ends its branch).
                let pins = roots.iter().map(|c| (*c, PinMode::Recursive)).collect();
                let below = PinList::new(store.clone(), pins, PinFilter::Indirect);
                linked.extend(below.filter_map(|row| row.ok()).map(|(cid, _)| cid));
            }
            Ok::<_, ApiError>((missing, linked))
        }
    })
    .await?;
    if let Some(cid) = missing {
        return Err(ApiError::Failed(format!(
            "block {cid} not found locally, cannot provide"
        )));
    }
    if handle.peers().await.map_err(command_error)?.is_empty() {
        return Err(ApiError::Failed(
            "cannot provide, no connected peers".to_owned(),
        ));
    }
    for cid in &roots {
        handle.provide(*cid).await.map_err(command_error)?;
    }
    if !linked.is_empty() {
        let wanted = linked.len();
        let accepted = handle
            .provide_later(linked.into_iter().collect())
            .await
            .map_err(command_error)?;
        if accepted < wanted {
            return Err(ApiError::Failed(format!(
                "provided the roots, but the provide queue took only {accepted} of {wanted} \
                 linked blocks: try again later"
            )));
        }
    }
    ndjson::<QueryEvent>(&[])
}
