//! `chorus_chain_*`: the follower's head, cursor and lag, events applied, reorgs, the relay
//! queue, transactions by outcome, gas spent, and signature refusals by reason. The first
//! ones are read from the workers' counters at scrape time (a collector); refusals are a
//! counter family the gate's callers bump.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use chorus_chain::follower::FollowerState;
use chorus_chain::relay::RelayState;
use chorus_chain::store::ChainStore;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::{ConstCounter, Counter};
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use crate::metrics::METRIC_PREFIX;

/// Labels of a refused signature.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct ReasonLabels {
    /// `missing`, `malformed`, `wrong_signer`, `expired`, `future`, `replayed`,
    /// `not_configured`.
    pub reason: &'static str,
}

/// The chain's metric families.
#[derive(Debug, Clone)]
pub struct ChainMetrics {
    refusals: Family<ReasonLabels, Counter>,
    collector: Arc<ChainCollector>,
}

#[derive(Debug)]
struct ChainCollector {
    relay: Arc<RelayState>,
    follower: Arc<FollowerState>,
    store: ChainStore,
}

impl ChainMetrics {
    pub(super) fn new(
        relay: Arc<RelayState>,
        follower: Arc<FollowerState>,
        store: ChainStore,
    ) -> Self {
        ChainMetrics {
            refusals: Family::default(),
            collector: Arc::new(ChainCollector {
                relay,
                follower,
                store,
            }),
        }
    }

    pub(super) fn refused(&self, reason: &'static str) {
        self.refusals.get_or_create(&ReasonLabels { reason }).inc();
    }

    /// Registers the families under `chorus_`.
    pub fn register(&self, registry: &mut Registry) {
        let reg = registry.sub_registry_with_prefix(METRIC_PREFIX);
        reg.register(
            "chain_signature_failures",
            "Upload signatures refused, by reason",
            self.refusals.clone(),
        );
        reg.register_collector(Box::new(Shared(self.collector.clone())));
    }
}

#[derive(Debug)]
struct Shared(Arc<ChainCollector>);

impl Collector for Shared {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let c = &self.0;
        let f = &c.follower;
        let r = &c.relay;
        let gauge = |v: u64| ConstGauge::new(v as i64);
        for (name, help, value) in [
            (
                "chain_head_block",
                "The chain's head at the follower's last poll",
                f.head.load(Ordering::Relaxed),
            ),
            (
                "chain_cursor_block",
                "The last block the follower applied",
                f.cursor().unwrap_or(0),
            ),
            (
                "chain_lag_blocks",
                "Blocks between the chain's head and the follower's cursor",
                f.lag(),
            ),
            (
                "chain_reachable",
                "Whether the follower's last poll reached the chain (1) or not (0)",
                u64::from(f.reachable.load(Ordering::Relaxed)),
            ),
            (
                "chain_relay_queue",
                "Relay jobs not yet mined or failed",
                c.store.queue_len() as u64,
            ),
        ] {
            let g = gauge(value);
            g.encode(encoder.encode_descriptor(name, help, None, g.metric_type())?)?;
        }
        for (name, help, value) in [
            (
                "chain_events_applied",
                "Registry events the follower applied",
                f.events_applied.load(Ordering::Relaxed),
            ),
            (
                "chain_reorgs",
                "Reorgs the follower rolled back",
                f.reorgs.load(Ordering::Relaxed),
            ),
            (
                "chain_gas_spent_wei",
                "Gas the relay paid for mined transactions, in wei",
                r.gas_wei.load(Ordering::Relaxed),
            ),
        ] {
            let counter = ConstCounter::new(value);
            counter.encode(encoder.encode_descriptor(
                name,
                help,
                None,
                counter.metric_type(),
            )?)?;
        }
        let outcomes = [
            ("mined", r.mined.load(Ordering::Relaxed)),
            ("failed", r.failed.load(Ordering::Relaxed)),
            ("retried", r.retried.load(Ordering::Relaxed)),
            ("already_registered", r.already.load(Ordering::Relaxed)),
        ];
        let family: Family<OutcomeLabels, Counter> = Family::default();
        for (outcome, n) in outcomes {
            family.get_or_create(&OutcomeLabels { outcome }).inc_by(n);
        }
        family.encode(encoder.encode_descriptor(
            "chain_relay_transactions",
            "Relay attempts by outcome",
            None,
            family.metric_type(),
        )?)?;
        Ok(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}
