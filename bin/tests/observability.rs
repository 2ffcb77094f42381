//! What an operator's monitoring reads from a running daemon: the build, the process and the
//! repo's disk on `/metrics` (and at kubo's `/debug/metrics/prometheus`), and chorus's own
//! version on `/health`.

mod common;

use std::process::Command;

use common::{Daemon, Repo, http_get as get, sample};

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

#[test]
fn environment_overrides_apply_and_show_in_the_effective_config() {
    let repo = Repo::init();
    let out = repo
        .cmd(&["config", "show", "--effective"])
        .env("CHORUS_SWARM_FETCH_TIMEOUT_SECS", "77")
        .env("CHORUS_API_AUTH_TOKEN", "from-env")
        .env("CHORUS_LIMITS_HTTP_MAX_CONNECTIONS", "9")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let effective: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(effective["swarm"]["fetch_timeout_secs"], 77);
    assert_eq!(effective["api"]["auth_token"], "from-env");
    assert_eq!(effective["limits"]["http_max_connections"], 9);
    // The file is not changed.
    assert!(!repo.ok(&["config", "show"]).contains("from-env"));

    let bad = repo
        .cmd(&["config", "show", "--effective"])
        .env("CHORUS_SWARM_FETCH_TIMEOUT_SECS", "soon")
        .output()
        .unwrap();
    assert!(!bad.status.success());
    let err = String::from_utf8_lossy(&bad.stderr);
    assert!(err.contains("CHORUS_SWARM_FETCH_TIMEOUT_SECS"), "{err}");
}

#[test]
fn logs_can_be_json_lines() {
    let repo = Repo::init();
    // At debug level, opening the repo logs (sled, the store): every line must be JSON.
    let out = repo
        .cmd(&["--log-format", "json", "repo", "stat"])
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    assert!(out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "debug logging printed nothing");
    for line in lines {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON: {line:?}: {e}"));
        assert!(v["level"].is_string() && v["fields"].is_object(), "{line}");
    }
    repo.ok(&["config", "log.format", "json"]);
    let out = repo
        .cmd(&["repo", "stat"])
        .env("RUST_LOG", "debug")
        .output()
        .unwrap();
    let first = String::from_utf8_lossy(&out.stderr)
        .lines()
        .next()
        .unwrap_or("")
        .to_owned();
    assert!(
        first.starts_with('{'),
        "log.format = json in the config: {first:?}"
    );
}

#[test]
fn completions_and_the_man_page_are_generated() {
    let repo = Repo::init();
    let bash = repo.ok(&["completions", "bash"]);
    assert!(bash.contains("_chorus()"), "{bash}");
    assert!(bash.contains("daemon"), "the subcommands are completed");
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("chorus.bash");
    std::fs::write(&script, &bash).unwrap();
    let syntax = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .status()
        .unwrap();
    assert!(syntax.success(), "the bash completion script parses");
    for shell in ["zsh", "fish"] {
        assert!(!repo.ok(&["completions", shell]).is_empty(), "{shell}");
    }
    let man = repo.ok(&["man"]);
    assert!(man.contains(".TH chorus 1"), "{man}");
    assert!(man.contains("daemon"), "{man}");
}

/// `--enable-gc` keeps the repo under its watermark while unpinned content keeps arriving;
/// pinned content stays.
#[test]
fn automatic_gc_keeps_the_repo_under_its_watermark() {
    let repo = Repo::init();
    repo.ok(&["config", "--json", "datastore.storage_max_bytes", "1000000"]);
    repo.ok(&["config", "--json", "datastore.storage_gc_watermark", "50"]);
    let dir = tempfile::tempdir().unwrap();
    let keep = dir.path().join("keep.bin");
    std::fs::write(&keep, vec![7u8; 100_000]).unwrap();
    let kept = repo
        .ok(&["add", "-Q", keep.to_str().unwrap()])
        .trim()
        .to_owned();
    assert!(
        repo.ok(&["repo", "stat"]).contains("StorageMax: 1000000"),
        "offline"
    );
    let daemon = Daemon::start(&repo, &["--offline", "--enable-gc"]);
    let stat = repo.ok(&["repo", "stat"]);
    assert!(stat.contains("StorageMax: 1000000"), "{stat}");
    for i in 0..4u8 {
        let f = dir.path().join(format!("drop{i}.bin"));
        std::fs::write(&f, vec![i; 600_000]).unwrap();
        repo.ok(&["add", "-Q", "--pin=false", f.to_str().unwrap()]);
    }
    // Past the watermark (500 kB): a GC starts within the watermark check (10 s).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let text = get(&daemon.metrics, "/metrics");
        if sample(&text, "chorus_gc_runs_total") >= 1.0 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "no automatic GC ran");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let size: u64 = repo
        .ok(&["repo", "stat", "--size-only"])
        .lines()
        .find_map(|l| l.strip_prefix("RepoSize:")?.trim().parse().ok())
        .unwrap();
    assert!(size < 500_000, "repo still holds {size} bytes");
    assert_eq!(
        repo.ok(&["cat", &kept]).len(),
        100_000,
        "pinned content stays"
    );
}
