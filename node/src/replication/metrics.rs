//! Replication's metric families (`chorus_replication_*`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

use crate::metrics::METRIC_PREFIX;

/// Labels of a replication request this node answered or sent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabels {
    /// `offer`, `holds` or `log`.
    pub kind: &'static str,
    /// `inbound` or `outbound`.
    pub direction: &'static str,
    /// `ok`, `refused`, `failed`, or the refusal's reason for inbound ones (`unknown_node`,
    /// `bad_entry`, `busy`, `oversize`).
    pub outcome: &'static str,
}

/// Labels of the node-set gauge.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct StateLabels {
    /// `up` or `down`.
    pub state: &'static str,
}

/// The families.
#[derive(Debug, Clone)]
pub struct ReplicationMetrics {
    /// `chorus_replication_nodes{state}`: community nodes up and down as this node sees them.
    pub nodes: Family<StateLabels, Gauge>,
    /// `chorus_replication_content_roots`: roots in the content set.
    pub content_roots: Gauge,
    /// `chorus_replication_log_entries`: entries in the content log.
    pub log_entries: Gauge,
    /// `chorus_replication_under_replicated_roots`: roots this node is assigned and lacks,
    /// plus roots with fewer live ranked nodes than R (after the last repair pass).
    pub under_replicated: Gauge,
    /// `chorus_replication_repair_bytes_total`: bytes of DAGs fetched and pinned by repair.
    pub repair_bytes: Counter,
    /// `chorus_replication_repair_roots_total`: roots pinned by repair.
    pub repair_roots: Counter,
    /// `chorus_replication_cleaned_roots_total`: extra copies unpinned after the grace.
    pub cleaned_roots: Counter,
    /// `chorus_replication_repair_pass_seconds`: wall time of one repair pass.
    pub repair_pass: Histogram,
    /// `chorus_replication_requests_total{kind,direction,outcome}`.
    pub requests: Family<RequestLabels, Counter>,
    /// `chorus_replication_ack_seconds`: from an upload's local durability to W copies.
    pub ack: Histogram,
}

impl ReplicationMetrics {
    /// Registers the families under `chorus_`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::unregistered();
        let reg = registry.sub_registry_with_prefix(METRIC_PREFIX);
        reg.register(
            "replication_nodes",
            "Community nodes up and down, as this node sees them",
            m.nodes.clone(),
        );
        reg.register(
            "replication_content_roots",
            "Roots in the replicated content set",
            m.content_roots.clone(),
        );
        reg.register(
            "replication_log_entries",
            "Entries in the content log",
            m.log_entries.clone(),
        );
        reg.register(
            "replication_under_replicated_roots",
            "Roots this node is assigned and lacks, plus roots with fewer live ranked nodes than the factor",
            m.under_replicated.clone(),
        );
        reg.register_with_unit(
            "replication_repair",
            "Bytes of DAGs fetched and pinned by repair",
            Unit::Bytes,
            m.repair_bytes.clone(),
        );
        reg.register(
            "replication_repair_roots",
            "Roots pinned by repair",
            m.repair_roots.clone(),
        );
        reg.register(
            "replication_cleaned_roots",
            "Extra copies unpinned after the cleanup grace",
            m.cleaned_roots.clone(),
        );
        reg.register_with_unit(
            "replication_repair_pass",
            "Wall time of one repair pass",
            Unit::Seconds,
            m.repair_pass.clone(),
        );
        reg.register(
            "replication_requests",
            "Replication requests by kind, direction and outcome",
            m.requests.clone(),
        );
        reg.register_with_unit(
            "replication_ack",
            "Time from an upload's local durability to its write quorum",
            Unit::Seconds,
            m.ack.clone(),
        );
        m
    }

    /// Families no registry exports (tests, tools).
    pub fn unregistered() -> Self {
        ReplicationMetrics {
            nodes: Family::default(),
            content_roots: Gauge::default(),
            log_entries: Gauge::default(),
            under_replicated: Gauge::default(),
            repair_bytes: Counter::default(),
            repair_roots: Counter::default(),
            cleaned_roots: Counter::default(),
            // 1 s doubling to about 9 h.
            repair_pass: Histogram::new(exponential_buckets(1.0, 2.0, 16)),
            requests: Family::default(),
            // 1 ms doubling to about 65 s: a small upload on a LAN to a slow large one.
            ack: Histogram::new(exponential_buckets(0.001, 2.0, 17)),
        }
    }

    /// Counts one request.
    pub fn request(&self, kind: &'static str, direction: &'static str, outcome: &'static str) {
        self.requests
            .get_or_create(&RequestLabels {
                kind,
                direction,
                outcome,
            })
            .inc();
    }
}
