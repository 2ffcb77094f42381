//! What an operator's monitoring reads from a running daemon: the build, the process and the
//! repo's disk on `/metrics` (and at kubo's `/debug/metrics/prometheus`), and chorus's own
//! version on `/health`.

mod common;

use std::process::Command;

use common::{Daemon, Repo};

fn get(addr: &str, path: &str) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--fail"])
        .arg(format!("http://{addr}{path}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{path}");
    String::from_utf8(out.stdout).unwrap()
}

fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{series} not in metrics:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn metrics_and_health_tell_the_operator_what_runs() {
    let repo = Repo::init();
    let daemon = Daemon::start(&repo, &["--offline"]);
    let text = get(&daemon.metrics, "/metrics");

    let version = env!("CARGO_PKG_VERSION");
    let build = text
        .lines()
        .find(|l| l.starts_with("chorus_build_info{"))
        .unwrap_or_else(|| panic!("no build info:\n{text}"));
    assert!(build.contains(&format!("version=\"{version}\"")), "{build}");
    assert!(build.contains("commit=\""), "{build}");
    assert!(build.ends_with(" 1"), "{build}");

    assert!(sample(&text, "process_resident_memory_bytes") > 1_000_000.0);
    assert!(sample(&text, "process_open_fds") > 3.0);
    assert!(sample(&text, "process_max_fds") >= sample(&text, "process_open_fds"));
    assert!(sample(&text, "process_start_time_seconds") > 1.7e9);
    assert!(sample(&text, "process_cpu_seconds_total") >= 0.0);
    let free = sample(&text, "chorus_repo_disk_free_bytes");
    assert!(free > 0.0 && free <= sample(&text, "chorus_repo_disk_total_bytes"));
    assert_eq!(sample(&text, "chorus_gc_failures_total"), 0.0);
    assert!(
        text.contains("# TYPE chorus_transcode_queue_length gauge"),
        "{text}"
    );

    // kubo's path for the same page, on the metrics listener and the API.
    for addr in [&daemon.metrics, &daemon.api] {
        let kubo = get(addr, "/debug/metrics/prometheus");
        assert!(kubo.contains("chorus_build_info{"), "{addr}");
    }

    let health: serde_json::Value = serde_json::from_str(&get(&daemon.metrics, "/health")).unwrap();
    assert_eq!(health["version"], version);
    let api_version = Command::new("curl")
        .args(["-sS", "-X", "POST"])
        .arg(format!("http://{}/api/v0/version", daemon.api))
        .output()
        .unwrap();
    let api_version: serde_json::Value = serde_json::from_slice(&api_version.stdout).unwrap();
    assert_eq!(
        api_version["Version"], "0.7.0",
        "the kubo compatibility string stays"
    );
}
