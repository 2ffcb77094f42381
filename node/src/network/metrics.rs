//! The network's Prometheus families: libp2p's own (swarm, identify, kad, ping) and the
//! exchange's counters, registered per instance into the binary's registry.

use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use libp2p::metrics::{Metrics, Recorder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use super::bandwidth::{Bandwidth, BandwidthFamilies};
use super::prefetch_pump::PrefetchGauges;
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
    /// Prefetches running (the node's prefetch slots in use).
    pub(crate) prefetches_running: Gauge,
    /// Prefetch hints waiting for a slot, over all requests.
    pub(crate) prefetch_hints_queued: Gauge,
    /// Keys the reprovider announced to at least one peer.
    pub(crate) reprovide_keys: Counter,
    /// Keyspace regions the reprovider swept.
    pub(crate) reprovide_regions: Counter,
    /// Reprovider failures: batches a peer did not take, unreadable keys, state errors.
    pub(crate) reprovide_errors: Counter,
    /// Duration of the last finished reprovide cycle, in seconds.
    pub(crate) reprovide_cycle_seconds: Gauge<f64, AtomicU64>,
    /// When the last reprovide cycle finished (Unix seconds; 0 before the first).
    pub(crate) reprovide_last_completed: Gauge,
    /// Stream bytes in and out, in total and per protocol (the meter behind `stats/bw`).
    pub(crate) bandwidth: Arc<Bandwidth>,
    /// AutoNAT's verdict: 0 unknown, 1 private, 2 public.
    pub(crate) nat_status: Gauge,
    /// AutoNAT probes finished, by role (client: we asked; server: we dialed back) and result.
    pub(crate) autonat_probes: Family<Vec<(String, String)>, Counter>,
}

impl std::fmt::Debug for NetworkMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NetworkMetrics").finish_non_exhaustive()
    }
}

impl NetworkMetrics {
    /// The gauges the prefetch pumps keep up to date.
    pub(crate) fn prefetch_gauges(&self) -> PrefetchGauges {
        PrefetchGauges {
            running: self.prefetches_running.clone(),
            queued: self.prefetch_hints_queued.clone(),
        }
    }

    /// Creates the families: libp2p's under `libp2p_`, ours under `chorus_network_`.
    ///
    /// Call once per registry: registering twice would expose duplicate series.
    pub fn register(registry: &mut Registry) -> Self {
        let libp2p = Arc::new(Metrics::new(registry));
        let bandwidth = BandwidthFamilies::default();
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
            prefetches_running: Gauge::default(),
            prefetch_hints_queued: Gauge::default(),
            reprovide_keys: Counter::default(),
            reprovide_regions: Counter::default(),
            reprovide_errors: Counter::default(),
            reprovide_cycle_seconds: Gauge::default(),
            reprovide_last_completed: Gauge::default(),
            bandwidth: Arc::new(Bandwidth::with_families(bandwidth.clone())),
            nat_status: Gauge::default(),
            autonat_probes: Family::default(),
        };
        let reg = registry
            .sub_registry_with_prefix(METRIC_PREFIX)
            .sub_registry_with_prefix("network");
        reg.register(
            "nat_status",
            "AutoNAT's verdict on this node's reachability: 0 unknown, 1 private, 2 public",
            m.nat_status.clone(),
        );
        reg.register(
            "autonat_probes",
            "AutoNAT probes finished, by role (client, server) and result (reachable, failed)",
            m.autonat_probes.clone(),
        );
        reg.register(
            "bandwidth_bytes",
            "Bytes of libp2p streams received (direction=in) and sent (out), as stats/bw counts",
            bandwidth.total,
        );
        reg.register(
            "protocol_bandwidth_bytes",
            "Bytes of libp2p streams per negotiated protocol, received (in) and sent (out)",
            bandwidth.protocols,
        );
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
        reg.register(
            "prefetches_running",
            "Blocks being fetched ahead of readers (the node's prefetch slots in use)",
            m.prefetches_running.clone(),
        );
        reg.register(
            "prefetch_hints_queued",
            "Blocks readers hinted that wait for a prefetch slot",
            m.prefetch_hints_queued.clone(),
        );
        reg.register(
            "reprovide_keys",
            "Keys the reprovider announced to at least one DHT peer",
            m.reprovide_keys.clone(),
        );
        reg.register(
            "reprovide_regions",
            "Keyspace regions swept by the reprovider",
            m.reprovide_regions.clone(),
        );
        reg.register(
            "reprovide_errors",
            "Reprovider failures (undelivered batches, unreadable keys, state errors)",
            m.reprovide_errors.clone(),
        );
        reg.register(
            "reprovide_cycle_seconds",
            "Duration of the last finished reprovide cycle in seconds",
            m.reprovide_cycle_seconds.clone(),
        );
        reg.register(
            "reprovide_last_completed_timestamp_seconds",
            "Unix time the last reprovide cycle finished (0 before the first)",
            m.reprovide_last_completed.clone(),
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
