//! Chorus node: the core API ([`core`]), the HTTP faces of a chorus daemon over it
//! (kubo-compatible RPC API, path and trustless gateway, metrics and health), and the libp2p
//! network.
//!
//! Wiring, as the daemon does it:
//! 1. register [`NodeMetrics`] (and libp2p's metrics) into one `Registry`, then freeze it in an
//!    `Arc`;
//! 2. start a [`core::CoreBuilder`] over the opened `SledStore` (it wraps the store in a
//!    [`MeteredBlockstore`]); start the network on [`core::CoreBuilder::store`] and hand its
//!    fetcher and handle to [`core::CoreBuilder::network`], the transcoder to
//!    [`core::CoreBuilder::track_service`]; [`core::CoreBuilder::build`] the [`core::Core`];
//! 3. wrap it in a [`NodeContext`] with [`NodeContext::from_core`] (identity, registry, the
//!    swarm's addresses);
//! 4. build routers with [`rpc::router`], [`gateway::router`] and [`metrics_router`], bind each
//!    with [`HttpServer::bind`] (the API address checked first with [`check_api_bind`] or
//!    [`rpc::ApiConfig::check_bind`]), then [`HttpServer::serve`] them with a shared shutdown
//!    signal and call [`NodeContext::set_ready`].
//!
//! `examples/serve.rs` does all of this in 70 lines for trying the faces with real clients.

// Errors carry CIDs (a 64-byte digest capacity each) for context, as the house style asks; they
// are the cold path, so their size is accepted rather than boxed at every layer.
#![allow(clippy::result_large_err)]
#![forbid(unsafe_code)]

mod addr;
pub mod auto_gc;
mod config_service;
mod context;
pub mod core;
mod fetch;
pub mod go_duration;
mod http_metrics;
mod metered_store;
mod metrics;
pub mod onchain;
mod prefetch_queue;
mod process_metrics;
pub mod replication;
mod server;
mod status;
mod track;

pub mod gateway;
pub mod network;
pub mod rpc;

#[cfg(fuzzing)]
#[doc(hidden)]
pub mod fuzz_api;

pub use addr::{
    AddrError, DEFAULT_API_ADDR, DEFAULT_GATEWAY_ADDR, ListenAddr, check_api_bind,
    socket_to_multiaddr,
};
pub use config_service::{ConfigError, ConfigService};
pub use context::{
    DEFAULT_REPORTED_VERSION, DEFAULT_STORAGE_MAX, NodeContext, NodeIdentity, PROTOCOL_VERSION,
};
pub use fetch::{BlockFetcher, FetchError, FetcherSource, LocalFetcher};
pub use metered_store::MeteredBlockstore;
pub use metrics::{
    BlockstoreMetrics, Face, GcMetrics, HttpMetrics, METRIC_PREFIX, NodeMetrics,
    OPENMETRICS_CONTENT_TYPE, PROMETHEUS_TEXT_CONTENT_TYPE, PinMetrics, encode_registry,
    to_prometheus_text, wants_openmetrics,
};
pub use network::SwarmInfo;
pub use prefetch_queue::{
    MAX_HINT_BATCHES, MAX_QUEUED_HINTS, PREFETCHES_PER_REQUEST, PrefetchHints, PrefetchQueue,
};
pub use process_metrics::register_runtime_metrics;
pub use server::{
    DEFAULT_BODY_IDLE_TIMEOUT, DEFAULT_HEADER_TIMEOUT, DEFAULT_MAX_CONNECTIONS, HttpLimits,
    HttpServer, ServeError,
};
pub use status::metrics_router;
pub use track::{
    TRACK_PROGRESS_CAPACITY, TrackAdded, TrackError, TrackErrorKind, TrackProgress, TrackRequest,
    TrackService,
};
