//! What an operator's dashboard and alerts need besides the node's own counters: the build
//! (`chorus_build_info`), the process (Prometheus's standard `process_*` families, as every
//! official client library exports them) and the file system holding the repo
//! (`chorus_repo_disk_*`). Read from `/proc` and `statvfs` at scrape time, so they cost nothing
//! between scrapes.

use std::fmt;
use std::path::PathBuf;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::registry::{Registry, Unit};

use crate::metrics::METRIC_PREFIX;

/// Labels of `chorus_build_info`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, EncodeLabelSet)]
struct BuildLabels {
    version: String,
    commit: String,
}

/// Registers `chorus_build_info{version,commit} 1`, the `process_*` families and the repo's
/// file-system figures (`repo_dir`) into `registry`.
pub fn register_runtime_metrics(
    registry: &mut Registry,
    repo_dir: PathBuf,
    version: &str,
    commit: &str,
) {
    let info: Family<BuildLabels, Gauge> = Family::default();
    info.get_or_create(&BuildLabels {
        version: version.to_owned(),
        commit: commit.to_owned(),
    })
    .set(1);
    let chorus = registry.sub_registry_with_prefix(METRIC_PREFIX);
    chorus.register("build_info", "The running build: version and commit", info);
    chorus.register_collector(Box::new(RepoDisk { dir: repo_dir }));
    registry.register_collector(Box::new(Process));
}

/// `process_*`: resident memory, CPU time, open and allowed file descriptors, start time.
#[derive(Debug)]
struct Process;

impl Collector for Process {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let Some(stat) = ProcStat::read() else {
            return Ok(());
        };
        let cpu = ConstCounter::new(stat.cpu_seconds);
        cpu.encode(encoder.encode_descriptor(
            "process_cpu",
            "Total user and system CPU time spent",
            Some(&Unit::Seconds),
            cpu.metric_type(),
        )?)?;
        let rss = ConstGauge::new(stat.resident_bytes as i64);
        rss.encode(encoder.encode_descriptor(
            "process_resident_memory",
            "Resident memory size",
            Some(&Unit::Bytes),
            rss.metric_type(),
        )?)?;
        let start = ConstGauge::new(stat.start_time_seconds);
        start.encode(encoder.encode_descriptor(
            "process_start_time",
            "Start time of the process since the Unix epoch",
            Some(&Unit::Seconds),
            start.metric_type(),
        )?)?;
        if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
            let open = ConstGauge::new(fds.count() as i64);
            open.encode(encoder.encode_descriptor(
                "process_open_fds",
                "Open file descriptors",
                None,
                open.metric_type(),
            )?)?;
        }
        if let Some(max) = rustix::process::getrlimit(rustix::process::Resource::Nofile).current {
            let max = ConstGauge::new(i64::try_from(max).unwrap_or(i64::MAX));
            max.encode(encoder.encode_descriptor(
                "process_max_fds",
                "Maximum number of open file descriptors",
                None,
                max.metric_type(),
            )?)?;
        }
        Ok(())
    }
}

/// The figures of `/proc/self/stat` and `/proc/self/statm` a dashboard shows.
struct ProcStat {
    cpu_seconds: f64,
    resident_bytes: u64,
    start_time_seconds: f64,
}

impl ProcStat {
    fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        // The command name is in parentheses and may hold spaces: fields count after it.
        let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
        let ticks = rustix::param::clock_ticks_per_second() as f64;
        let cpu_seconds = (field(14)? + field(15)?) as f64 / ticks;
        let start_ticks = field(22)?;
        let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
        let resident_pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
        let boot = std::fs::read_to_string("/proc/stat")
            .ok()?
            .lines()
            .find_map(|l| l.strip_prefix("btime ")?.trim().parse::<u64>().ok())?;
        Some(ProcStat {
            cpu_seconds,
            resident_bytes: resident_pages * rustix::param::page_size() as u64,
            start_time_seconds: boot as f64 + start_ticks as f64 / ticks,
        })
    }
}

/// `chorus_repo_disk_{free,total}_bytes`: the file system the repo lives on.
#[derive(Debug)]
struct RepoDisk {
    dir: PathBuf,
}

impl Collector for RepoDisk {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        let Ok(fs) = rustix::fs::statvfs(&self.dir) else {
            return Ok(());
        };
        let free = ConstGauge::new((fs.f_bavail.saturating_mul(fs.f_frsize)) as i64);
        free.encode(encoder.encode_descriptor(
            "repo_disk_free",
            "Bytes available to the node on the repo's file system",
            Some(&Unit::Bytes),
            free.metric_type(),
        )?)?;
        let total = ConstGauge::new((fs.f_blocks.saturating_mul(fs.f_frsize)) as i64);
        total.encode(encoder.encode_descriptor(
            "repo_disk_total",
            "Size of the repo's file system",
            Some(&Unit::Bytes),
            total.metric_type(),
        )?)?;
        Ok(())
    }
}
