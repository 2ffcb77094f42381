//! The kubo-compatible RPC API under `/api/v0`.
//!
//! Every command answers POST (GET only when [`ApiConfig::allow_get`] is set), reads its
//! arguments from the query string ([`Args`]), ignores options it does not know, and fails with
//! kubo's JSON error object ([`ApiError`]).

mod add;
mod args;
mod block;
mod cat;
mod chain;
mod config;
mod dag;
mod error;
mod get;
mod guard;
mod info;
mod line_stream;
mod ls;
mod network;
mod pin;
mod refs_local;
mod replication;
mod repo;
mod respond;
mod settings;
mod track;
pub(crate) mod upload_guard;

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::middleware::from_fn_with_state;
use axum::routing::{any, get};

pub use args::{Args, parse_bool, parse_cid_arg};
pub use block::MAX_BLOCK_SIZE;
pub use config::ApiConfig;
pub use error::{ApiError, ErrorCode, OFFLINE_MESSAGE};
pub use upload_guard::{
    DEFAULT_MAX_PART_HEADER_BYTES, DEFAULT_MAX_UPLOAD_PARTS, UploadLimitError, UploadLimits,
};

use crate::context::NodeContext;
use crate::http_metrics::{Tracker, track};
use crate::metrics::Face;
use crate::status;

/// Builds the API listener's router: `/api/v0/*`, plus `/metrics` and `/health`.
///
/// With bearer tokens configured, everything but `/health` requires one.
pub fn router(ctx: NodeContext, config: ApiConfig) -> Router {
    let config = Arc::new(config);
    let commands = Router::new()
        .route("/version", any(info::version))
        .route("/id", any(info::id))
        .route("/stats/bw", any(info::stats_bw))
        .route("/add", any(add::add))
        .route("/track/add", any(track::add))
        .route("/cat", any(cat::cat))
        .route("/get", any(get::get))
        .route("/ls", any(ls::ls))
        .route("/refs", any(ls::refs))
        .route("/refs/local", any(refs_local::refs_local))
        .route("/files/stat", any(ls::files_stat))
        .route("/block/put", any(block::put))
        .route("/block/get", any(block::get))
        .route("/block/stat", any(block::stat))
        .route("/block/rm", any(block::rm))
        .route("/pin/add", any(pin::add))
        .route("/pin/rm", any(pin::rm))
        .route("/pin/ls", any(pin::ls))
        .route("/dag/export", any(dag::export))
        .route("/dag/import", any(dag::import))
        .route("/config", any(settings::config))
        .route("/config/show", any(settings::show))
        .route("/config/replace", any(settings::replace))
        .route("/repo/stat", any(repo::stat))
        .route("/repo/gc", any(repo::gc))
        .route("/repo/verify", any(repo::verify))
        .route("/replication/status", any(replication::status))
        .route("/replication/remove", any(replication::remove))
        .route("/chain/upload-request", any(chain::upload_request))
        .route("/chain/owner", any(chain::owner))
        .route("/chain/status", any(chain::status))
        .route("/swarm/peers", any(network::swarm_peers))
        .route("/swarm/addrs", any(network::swarm_addrs))
        .route("/swarm/addrs/listen", any(network::swarm_addrs_listen))
        .route("/swarm/addrs/local", any(network::swarm_addrs_local))
        .route("/swarm/connect", any(network::swarm_connect))
        .route("/swarm/disconnect", any(network::swarm_disconnect))
        .route("/routing/findprovs", any(network::find_providers))
        .route("/routing/findpeer", any(network::find_peer))
        .route("/routing/provide", any(network::provide))
        .route("/dht/findprovs", any(network::find_providers))
        .route("/dht/findpeer", any(network::find_peer))
        .route("/dht/provide", any(network::provide))
        .fallback(unknown_endpoint)
        .layer(axum::Extension(config.upload))
        .layer(from_fn_with_state(config.clone(), guard::require_method));
    let tracker = Tracker {
        face: Face::Api,
        metrics: ctx.metrics().http.clone(),
    };
    Router::new()
        .nest("/api/v0", commands)
        .route("/metrics", get(status::metrics))
        .route("/debug/metrics/prometheus", get(status::metrics))
        .fallback(unknown_endpoint)
        .layer(from_fn_with_state(config, guard::require_auth))
        .route("/health", get(status::health))
        .with_state(ctx)
        .layer(from_fn_with_state(tracker, track))
}

async fn unknown_endpoint(req: Request) -> ApiError {
    ApiError::UnknownEndpoint {
        path: req.uri().path().to_owned(),
    }
}
