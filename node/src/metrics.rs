//! The node's Prometheus metric families, registered per instance into a registry the binary
//! owns (several nodes can run in one test process; libp2p-metrics shares the same registry so
//! one `/metrics` page covers everything).
//!
//! Names get the `chorus_` prefix from a sub-registry; `prometheus-client` appends `_total` to
//! counters and the unit (`_bytes`, `_seconds`) itself, so the names below carry neither.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// Prefix of every metric registered by this crate.
pub const METRIC_PREFIX: &str = "chorus";

/// Latency buckets: 100 µs doubling up to ~105 s (21 buckets) covers a cached block read as
/// well as a slow network fetch of a large file.
fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 21))
}

/// Which HTTP listener served a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Face {
    /// The kubo-compatible RPC API.
    Api,
    /// The path and trustless gateway.
    Gateway,
    /// The metrics and health listener.
    Metrics,
}

impl Face {
    /// Label value.
    pub const fn as_str(self) -> &'static str {
        match self {
            Face::Api => "api",
            Face::Gateway => "gateway",
            Face::Metrics => "metrics",
        }
    }
}

/// Labels of a finished HTTP request.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RequestLabels {
    /// `api`, `gateway` or `metrics`.
    pub face: &'static str,
    /// The route pattern (e.g. `/api/v0/cat`, `/ipfs/{*path}`), never the raw path, so the
    /// label set stays bounded.
    pub route: String,
    /// HTTP method.
    pub method: String,
    /// Response status code.
    pub status: u16,
}

/// Labels of per-route timing and volume.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct RouteLabels {
    /// `api`, `gateway` or `metrics`.
    pub face: &'static str,
    /// The route pattern.
    pub route: String,
}

type HistogramFamily<L> = Family<L, Histogram, fn() -> Histogram>;

/// HTTP request metrics of the API, gateway and metrics listeners.
#[derive(Debug, Clone)]
pub struct HttpMetrics {
    /// `chorus_http_requests_total{face,route,method,status}`.
    pub requests: Family<RequestLabels, Counter>,
    /// `chorus_http_time_to_first_byte_seconds{face,route}`: until the response head is ready.
    pub ttfb: HistogramFamily<RouteLabels>,
    /// `chorus_http_request_duration_seconds{face,route}`: until the body is fully sent or
    /// the client went away.
    pub duration: HistogramFamily<RouteLabels>,
    /// `chorus_http_response_body_bytes_total{face,route}`.
    pub sent_bytes: Family<RouteLabels, Counter>,
    /// `chorus_http_requests_in_flight{face}`.
    pub in_flight: Family<FaceLabels, Gauge>,
}

/// Label set with only the listener.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct FaceLabels {
    /// `api`, `gateway` or `metrics`.
    pub face: &'static str,
}

/// Outcome of a block read, as a label.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct GetLabels {
    /// `hit`, `miss` or `error`.
    pub result: &'static str,
}

/// Blockstore content and traffic, updated by [`crate::MeteredBlockstore`].
#[derive(Debug, Clone)]
pub struct BlockstoreMetrics {
    /// `chorus_blockstore_blocks`: blocks stored.
    pub blocks: Gauge,
    /// `chorus_blockstore_size_bytes`: payload bytes stored.
    pub size: Gauge,
    /// `chorus_blockstore_puts_total`: blocks newly written.
    pub puts: Counter,
    /// `chorus_blockstore_put_bytes_total`: payload bytes newly written.
    pub put_bytes: Counter,
    /// `chorus_blockstore_gets_total{result}`.
    pub gets: Family<GetLabels, Counter>,
    /// `chorus_blockstore_deletes_total`.
    pub deletes: Counter,
    /// `chorus_blockstore_put_duration_seconds`.
    pub put_duration: Histogram,
    /// `chorus_blockstore_get_duration_seconds`.
    pub get_duration: Histogram,
}

/// The `type` label of pin metrics.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
pub struct PinKindLabel {
    /// `recursive` or `direct`.
    pub r#type: &'static str,
}

/// Pin counts.
#[derive(Debug, Clone)]
pub struct PinMetrics {
    /// `chorus_pins{type}`.
    pub pins: Family<PinKindLabel, Gauge>,
}

impl PinMetrics {
    /// Publishes the current pin counts.
    pub fn set(&self, recursive: u64, direct: u64) {
        self.pins
            .get_or_create(&PinKindLabel {
                r#type: "recursive",
            })
            .set(saturating_i64(recursive));
        self.pins
            .get_or_create(&PinKindLabel { r#type: "direct" })
            .set(saturating_i64(direct));
    }
}

/// Garbage-collection runs.
#[derive(Debug, Clone)]
pub struct GcMetrics {
    /// `chorus_gc_runs_total`.
    pub runs: Counter,
    /// `chorus_gc_failures_total`: runs that ended in an error (an incomplete pin, I/O).
    pub failures: Counter,
    /// `chorus_gc_removed_blocks_total`.
    pub removed_blocks: Counter,
    /// `chorus_gc_removed_bytes_total`.
    pub removed_bytes: Counter,
    /// `chorus_gc_duration_seconds`.
    pub duration: Histogram,
}

impl GcMetrics {
    /// Records one finished GC run.
    pub fn record_run(&self, removed_blocks: u64, removed_bytes: u64, took: Duration) {
        self.runs.inc();
        self.removed_blocks.inc_by(removed_blocks);
        self.removed_bytes.inc_by(removed_bytes);
        self.duration.observe(took.as_secs_f64());
    }
}

/// The gateway's HLS look-ahead.
#[derive(Debug, Clone, Default)]
pub struct HlsMetrics {
    /// Segments fetched ahead of a player's request.
    pub segments: Counter,
    /// Streams being looked ahead.
    pub sessions: Gauge,
}

/// Every metric family of the node crate.
#[derive(Debug, Clone)]
pub struct NodeMetrics {
    /// HTTP listeners.
    pub http: HttpMetrics,
    /// Blockstore.
    pub blockstore: BlockstoreMetrics,
    /// Pins.
    pub pins: PinMetrics,
    /// Garbage collection.
    pub gc: GcMetrics,
    /// The gateway's HLS look-ahead.
    pub hls: HlsMetrics,
}

impl NodeMetrics {
    /// Creates the families and registers them under `chorus_` in `registry`.
    ///
    /// Call once per registry: registering twice would expose duplicate series.
    pub fn register(registry: &mut Registry) -> Self {
        let reg = registry.sub_registry_with_prefix(METRIC_PREFIX);
        let http = HttpMetrics {
            requests: Family::default(),
            ttfb: Family::new_with_constructor(latency_histogram),
            duration: Family::new_with_constructor(latency_histogram),
            sent_bytes: Family::default(),
            in_flight: Family::default(),
        };
        reg.register(
            "http_requests",
            "HTTP requests answered, by listener, route, method and status",
            http.requests.clone(),
        );
        reg.register_with_unit(
            "http_time_to_first_byte",
            "Time from request to response head, by listener and route",
            Unit::Seconds,
            http.ttfb.clone(),
        );
        reg.register_with_unit(
            "http_request_duration",
            "Time from request to the end of the response body, by listener and route",
            Unit::Seconds,
            http.duration.clone(),
        );
        reg.register_with_unit(
            "http_response_body",
            "Response body bytes sent, by listener and route",
            Unit::Bytes,
            http.sent_bytes.clone(),
        );
        reg.register(
            "http_requests_in_flight",
            "HTTP requests being answered, by listener",
            http.in_flight.clone(),
        );

        let blockstore = BlockstoreMetrics {
            blocks: Gauge::default(),
            size: Gauge::default(),
            puts: Counter::default(),
            put_bytes: Counter::default(),
            gets: Family::default(),
            deletes: Counter::default(),
            put_duration: latency_histogram(),
            get_duration: latency_histogram(),
        };
        reg.register(
            "blockstore_blocks",
            "Blocks in the blockstore",
            blockstore.blocks.clone(),
        );
        reg.register_with_unit(
            "blockstore_size",
            "Payload bytes in the blockstore",
            Unit::Bytes,
            blockstore.size.clone(),
        );
        reg.register(
            "blockstore_puts",
            "Blocks newly written to the blockstore",
            blockstore.puts.clone(),
        );
        reg.register_with_unit(
            "blockstore_put",
            "Payload bytes newly written to the blockstore",
            Unit::Bytes,
            blockstore.put_bytes.clone(),
        );
        reg.register(
            "blockstore_gets",
            "Blockstore reads by result",
            blockstore.gets.clone(),
        );
        reg.register(
            "blockstore_deletes",
            "Blocks deleted from the blockstore",
            blockstore.deletes.clone(),
        );
        reg.register_with_unit(
            "blockstore_put_duration",
            "Latency of blockstore write calls (one put, or one batch of an import)",
            Unit::Seconds,
            blockstore.put_duration.clone(),
        );
        reg.register_with_unit(
            "blockstore_get_duration",
            "Latency of blockstore reads",
            Unit::Seconds,
            blockstore.get_duration.clone(),
        );

        let pins = PinMetrics {
            pins: Family::default(),
        };
        reg.register("pins", "Pins by type", pins.pins.clone());

        let gc = GcMetrics {
            runs: Counter::default(),
            failures: Counter::default(),
            removed_blocks: Counter::default(),
            removed_bytes: Counter::default(),
            duration: latency_histogram(),
        };
        reg.register("gc_runs", "Garbage-collection runs", gc.runs.clone());
        reg.register(
            "gc_failures",
            "Garbage-collection runs that failed",
            gc.failures.clone(),
        );
        reg.register(
            "gc_removed_blocks",
            "Blocks removed by garbage collection",
            gc.removed_blocks.clone(),
        );
        reg.register_with_unit(
            "gc_removed",
            "Payload bytes removed by garbage collection",
            Unit::Bytes,
            gc.removed_bytes.clone(),
        );
        reg.register_with_unit(
            "gc_duration",
            "Duration of garbage-collection runs",
            Unit::Seconds,
            gc.duration.clone(),
        );

        let hls = HlsMetrics::default();
        reg.register(
            "gateway_hls_lookahead_segments",
            "HLS segments the gateway fetched ahead of a player's request",
            hls.segments.clone(),
        );
        reg.register(
            "gateway_hls_lookahead_sessions",
            "HLS streams the gateway is looking ahead on",
            hls.sessions.clone(),
        );

        NodeMetrics {
            http,
            blockstore,
            pins,
            gc,
            hls,
        }
    }
}

/// Converts a count to a gauge value, saturating instead of wrapping.
pub(crate) fn saturating_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// Renders `registry` in the OpenMetrics text format.
pub fn encode_registry(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry)?;
    Ok(out)
}

/// Content type of [`encode_registry`]'s output.
pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Content type of [`to_prometheus_text`]'s output (the classic text format).
pub const PROMETHEUS_TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Converts an OpenMetrics exposition to the classic Prometheus text format (0.0.4), for
/// scrapers and linters that do not ask for OpenMetrics (`promtool check metrics`): counter
/// families are named with their `_total` suffix, `info` becomes a gauge named `_info`,
/// `unknown` becomes `untyped`, and `# UNIT` / `# EOF` lines are dropped.
pub fn to_prometheus_text(openmetrics: &str) -> String {
    let mut kinds: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    for line in openmetrics.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ")
            && let Some((name, kind)) = rest.split_once(' ')
        {
            kinds.insert(name, kind);
        }
    }
    let renamed = |name: &str| -> String {
        match kinds.get(name).copied() {
            Some("counter") => format!("{name}_total"),
            Some("info") => format!("{name}_info"),
            _ => name.to_owned(),
        }
    };
    let mut out = String::with_capacity(openmetrics.len());
    for line in openmetrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        if let Some(rest) = line.strip_prefix("# TYPE ")
            && let Some((name, kind)) = rest.split_once(' ')
        {
            let kind = match kind {
                "info" => "gauge",
                "unknown" | "gaugehistogram" | "stateset" => "untyped",
                other => other,
            };
            out.push_str(&format!("# TYPE {} {kind}\n", renamed(name)));
            continue;
        }
        if let Some(rest) = line.strip_prefix("# HELP ")
            && let Some((name, help)) = rest.split_once(' ')
        {
            out.push_str(&format!("# HELP {} {help}\n", renamed(name)));
            continue;
        }
        // Samples: drop an exemplar (` # {...} v`), which 0.0.4 cannot carry.
        let sample = match line.find(" # {") {
            Some(i) => &line[..i],
            None => line,
        };
        out.push_str(sample);
        out.push('\n');
    }
    out
}

/// Whether an `Accept` header asks for OpenMetrics.
pub fn wants_openmetrics(accept: Option<&str>) -> bool {
    accept.is_some_and(|a| a.contains("application/openmetrics-text"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_conventions() {
        let mut registry = Registry::default();
        let m = NodeMetrics::register(&mut registry);
        m.http
            .requests
            .get_or_create(&RequestLabels {
                face: "api",
                route: "/api/v0/version".into(),
                method: "POST".into(),
                status: 200,
            })
            .inc();
        m.http
            .sent_bytes
            .get_or_create(&RouteLabels {
                face: "gateway",
                route: "/ipfs/{*path}".into(),
            })
            .inc_by(10);
        m.http
            .ttfb
            .get_or_create(&RouteLabels {
                face: "gateway",
                route: "/ipfs/{*path}".into(),
            })
            .observe(0.01);
        m.blockstore.size.set(42);
        m.pins.set(3, 1);
        m.gc.record_run(2, 100, Duration::from_millis(5));
        let text = encode_registry(&registry).unwrap();
        for needle in [
            "chorus_http_requests_total{face=\"api\",route=\"/api/v0/version\",method=\"POST\",status=\"200\"} 1",
            "chorus_http_response_body_bytes_total{face=\"gateway\",route=\"/ipfs/{*path}\"} 10",
            "# TYPE chorus_http_time_to_first_byte_seconds histogram",
            "chorus_blockstore_size_bytes 42",
            "chorus_blockstore_put_bytes_total 0",
            "chorus_pins{type=\"recursive\"} 3",
            "chorus_pins{type=\"direct\"} 1",
            "chorus_gc_runs_total 1",
            "chorus_gc_removed_bytes_total 100",
            "chorus_gc_removed_blocks_total 2",
            "# TYPE chorus_gc_duration_seconds histogram",
        ] {
            assert!(text.contains(needle), "missing {needle} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"));
    }

    #[test]
    fn classic_text_format() {
        let mut registry = Registry::default();
        let m = NodeMetrics::register(&mut registry);
        m.gc.record_run(1, 2, Duration::from_millis(1));
        let text = to_prometheus_text(&encode_registry(&registry).unwrap());
        assert!(text.contains("# TYPE chorus_gc_runs_total counter\n"));
        assert!(text.contains("# HELP chorus_gc_runs_total Garbage-collection runs.\n"));
        assert!(text.contains("chorus_gc_runs_total 1\n"));
        assert!(text.contains("# TYPE chorus_gc_duration_seconds histogram\n"));
        assert!(!text.contains("# UNIT"));
        assert!(!text.contains("# EOF"));
        let info = "# HELP x_build Build.\n# TYPE x_build info\nx_build_info{v=\"1\"} 1\n# EOF\n";
        assert_eq!(
            to_prometheus_text(info),
            "# HELP x_build_info Build.\n# TYPE x_build_info gauge\nx_build_info{v=\"1\"} 1\n"
        );
        assert!(wants_openmetrics(Some(
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
        )));
        assert!(!wants_openmetrics(Some("text/plain")));
        assert!(!wants_openmetrics(None));
    }

    #[test]
    fn two_instances_in_one_process() {
        let mut a = Registry::default();
        let mut b = Registry::default();
        let ma = NodeMetrics::register(&mut a);
        let _mb = NodeMetrics::register(&mut b);
        ma.gc.runs.inc();
        assert!(
            encode_registry(&a)
                .unwrap()
                .contains("chorus_gc_runs_total 1")
        );
        assert!(
            encode_registry(&b)
                .unwrap()
                .contains("chorus_gc_runs_total 0")
        );
    }
}
