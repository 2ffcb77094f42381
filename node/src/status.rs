//! `/metrics` and `/health`, served on the metrics listener and on the API.

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;

use crate::context::NodeContext;
use crate::http_metrics::{Tracker, track};
use crate::metrics::{
    Face, OPENMETRICS_CONTENT_TYPE, PROMETHEUS_TEXT_CONTENT_TYPE, encode_registry,
    to_prometheus_text, wants_openmetrics,
};

/// Renders the whole registry (ours and libp2p's): OpenMetrics when the scraper asks for it
/// (Prometheus does), the classic text format otherwise.
pub(crate) async fn metrics(State(ctx): State<NodeContext>, headers: HeaderMap) -> Response {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    match encode_registry(ctx.registry()) {
        Ok(text) if wants_openmetrics(accept) => {
            ([(header::CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE)], text).into_response()
        }
        Ok(text) => (
            [(header::CONTENT_TYPE, PROMETHEUS_TEXT_CONTENT_TYPE)],
            to_prometheus_text(&text),
        )
            .into_response(),
        Err(_) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "failed to encode metrics\n",
        )
            .into_response(),
    }
}

/// The `/health` document.
#[derive(Debug, Serialize)]
pub(crate) struct Health {
    version: String,
    peer_id: String,
    uptime_seconds: u64,
    repo_size_bytes: Option<u64>,
    repo_blocks: Option<u64>,
    ready: bool,
    online: bool,
    /// Why the repo figures are missing, if they are.
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// 200 with the health document when ready, 503 (same document) while starting, stopping or
/// when the store cannot be read.
pub(crate) async fn health(State(ctx): State<NodeContext>) -> Response {
    let store = ctx.store().clone();
    let stat = tokio::task::spawn_blocking(move || store.stat()).await;
    let (stat, error) = match stat {
        Ok(Ok(stat)) => (Some(stat), None),
        Ok(Err(e)) => (None, Some(e.to_string())),
        Err(_) => (None, Some("blockstore stat task failed".to_owned())),
    };
    let ready = ctx.is_ready() && error.is_none();
    let body = Health {
        // chorus's own version; the kubo compatibility string stays on /api/v0/version.
        version: env!("CARGO_PKG_VERSION").to_owned(),
        peer_id: ctx.identity().peer_id().to_string(),
        uptime_seconds: ctx.uptime().as_secs(),
        repo_size_bytes: stat.map(|s| s.bytes),
        repo_blocks: stat.map(|s| s.blocks),
        ready,
        online: ctx.is_online(),
        error,
    };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(body)).into_response()
}

/// The router of the metrics listener: `/metrics` and `/health`.
pub fn metrics_router(ctx: NodeContext) -> Router {
    let tracker = Tracker {
        face: Face::Metrics,
        metrics: ctx.metrics().http.clone(),
    };
    Router::new()
        .route("/metrics", get(metrics))
        // kubo's path, so existing scrape configs keep working.
        .route("/debug/metrics/prometheus", get(metrics))
        .route("/health", get(health))
        .with_state(ctx)
        .layer(axum::middleware::from_fn_with_state(tracker, track))
}
