//! Commands that need the libp2p network (`swarm/*`, `routing/*`, `dht/*`). Until the network
//! is wired in they validate their arguments and answer kubo's offline error.

use axum::extract::State;

use super::args::Args;
use super::error::ApiError;
use crate::context::NodeContext;

/// `swarm/peers`, `swarm/addrs`: nothing to list and nothing to do offline.
pub(crate) async fn needs_network(State(ctx): State<NodeContext>) -> Result<(), ApiError> {
    offline_error(&ctx)
}

/// `swarm/connect`: the address must parse before the offline answer.
pub(crate) async fn swarm_connect(
    State(ctx): State<NodeContext>,
    args: Args,
) -> Result<(), ApiError> {
    let addr = args.required("address")?;
    addr.parse::<libp2p::Multiaddr>()
        .map_err(|e| ApiError::invalid("address", addr, e))?;
    offline_error(&ctx)
}

/// `routing/findprovs`, `routing/provide`, `dht/*`: the key must be a CID.
pub(crate) async fn routing_with_key(
    State(ctx): State<NodeContext>,
    args: Args,
) -> Result<(), ApiError> {
    let key = args.required("key")?;
    super::args::parse_cid_arg("key", key)?;
    offline_error(&ctx)
}

fn offline_error(ctx: &NodeContext) -> Result<(), ApiError> {
    if ctx.is_online() {
        // An online fetcher exists but this build has no swarm commands yet.
        return Err(ApiError::Failed(
            "this command is not available in this version of chorus".to_owned(),
        ));
    }
    Err(ApiError::Offline)
}
