//! The network's Prometheus families: libp2p's own (swarm, identify, kad, ping) and the
//! exchange's counters, registered per instance into the binary's registry.

use std::sync::Arc;

use libp2p::metrics::{Metrics, Recorder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::metrics::METRIC_PREFIX;

/// Network metric families. Register once per registry with [`register`](Self::register)
/// (before the registry is frozen for `/metrics`), then hand a clone to
/// [`NetworkConfig::with_metrics`](super::NetworkConfig::with_metrics).
#[derive(Clone)]
pub struct NetworkMetrics {
    libp2p: Arc<Metrics>,
    /// Blocks fetched from peers (verified and stored).
    pub(crate) blocks_received: Counter,
    /// Blocks sent to peers in answer to their wants.
    pub(crate) blocks_served: Counter,
    /// HAVE / DONT_HAVE answers sent.
    pub(crate) presences_served: Counter,
    /// Fetches that timed out.
    pub(crate) fetch_timeouts: Counter,
    /// DHT provider lookups started (by fetches and `find_providers`).
    pub(crate) provider_lookups: Counter,
    /// Provider announcements started.
    pub(crate) provides: Counter,
    /// Peers with at least one connection.
    pub(crate) peers: Gauge,
    /// CIDs being fetched.
    pub(crate) fetches_in_flight: Gauge,
    /// CIDs waiting in the background provide queue.
    pub(crate) provide_queue: Gauge,
}

impl std::fmt::Debug for NetworkMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkMetrics").finish_non_exhaustive()
    }
}

impl NetworkMetrics {
    /// Creates the families: libp2p's under `libp2p_`, ours under `chorus_network_`.
    ///
    /// Call once per registry: registering twice would expose duplicate series.
    pub fn register(registry: &mut Registry) -> Self {
        let libp2p = Arc::new(Metrics::new(registry));
        let m = NetworkMetrics {
            libp2p,
            blocks_received: Counter::default(),
            blocks_served: Counter::default(),
            presences_served: Counter::default(),
            fetch_timeouts: Counter::default(),
            provider_lookups: Counter::default(),
            provides: Counter::default(),
            peers: Gauge::default(),
            fetches_in_flight: Gauge::default(),
            provide_queue: Gauge::default(),
        };
        let reg = registry
            .sub_registry_with_prefix(METRIC_PREFIX)
            .sub_registry_with_prefix("network");
        reg.register(
            "blocks_received",
            "Blocks fetched from peers over Bitswap (verified and stored)",
            m.blocks_received.clone(),
        );
        reg.register(
            "blocks_served",
            "Blocks sent to peers in answer to their wants",
            m.blocks_served.clone(),
        );
        reg.register(
            "presences_served",
            "HAVE and DONT_HAVE answers sent to peers",
            m.presences_served.clone(),
        );
        reg.register(
            "fetch_timeouts",
            "Block fetches that found no source in time",
            m.fetch_timeouts.clone(),
        );
        reg.register(
            "provider_lookups",
            "DHT provider lookups started",
            m.provider_lookups.clone(),
        );
        reg.register(
            "provides",
            "Provider announcements started",
            m.provides.clone(),
        );
        reg.register("peers", "Connected peers", m.peers.clone());
        reg.register(
            "fetches_in_flight",
            "CIDs being fetched from the network",
            m.fetches_in_flight.clone(),
        );
        reg.register(
            "provide_queue",
            "CIDs waiting in the background provide queue",
            m.provide_queue.clone(),
        );
        m
    }

    /// Records a libp2p event (swarm, identify, kad, ping).
    pub(crate) fn record<E>(&self, event: &E)
    where
        Metrics: Recorder<E>,
    {
        self.libp2p.record(event);
    }
}
