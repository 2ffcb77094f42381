//! The daemon's HTTP faces against real, unmodified clients: ipfshttpclient (PyPI),
//! kubo-rpc-client and @helia/verified-fetch (npm), curl, Prometheus and promtool (Debian).

mod common;

use std::process::{Command, Stdio};

use common::*;

#[test]
fn ipfshttpclient_works_unchanged() {
    let repo = Repo::init();
    let daemon = Daemon::start(&repo, &["--offline"]);
    let (host, port) = daemon.api.split_once(':').unwrap();
    let out = Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../tests/py/ipfshttpclient_check.py"
        ))
        .arg(format!("/ip4/{host}/tcp/{port}/http"))
        .arg(repo.dir.path())
        .env("PYTHONPATH", test_cache().join("python"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ipfshttpclient check failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("ok "));
}

#[test]
fn kubo_rpc_client_works_unchanged() {
    let repo = Repo::init();
    let daemon = Daemon::start(&repo, &["--offline"]);
    let out = run_node_script(
        "kubo_rpc_client_check.mjs",
        &[&format!("http://{}", daemon.api)],
    );
    assert!(out.starts_with("ok "), "{out}");
}

#[test]
fn verified_fetch_verifies_our_trustless_gateway() {
    let repo = Repo::init();
    let data = pseudo_random(900_000, 77);
    let f = write_file(repo.dir.path(), "v.bin", &data);
    let cid = repo.ok(&["add", "-Q", f.to_str().unwrap()]);
    let daemon = Daemon::start(&repo, &["--offline"]);
    let out = run_node_script(
        "verified_fetch_check.mjs",
        &[
            &format!("http://{}", daemon.gateway),
            cid.trim(),
            f.to_str().unwrap(),
        ],
    );
    assert_eq!(out.trim(), "ok 900000 bytes verified");
}

/// One curl request: (status, lower-cased headers, body).
fn curl(args: &[&str]) -> (u16, String, Vec<u8>) {
    let (status, head, body) = curl_raw(args);
    (status, head.to_lowercase(), body)
}

/// One curl request: (status, headers as sent, body).
fn curl_raw(args: &[&str]) -> (u16, String, Vec<u8>) {
    let dir = tempfile::tempdir().unwrap();
    let headers = dir.path().join("h");
    let out = Command::new("curl")
        .args(["-s", "-D"])
        .arg(&headers)
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "curl {args:?} failed");
    let head = std::fs::read_to_string(&headers).unwrap();
    let status = head
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap();
    (status, head, out.stdout)
}

#[test]
fn gateway_rules_with_curl() {
    let repo = Repo::init();
    let data = pseudo_random(2_000_000, 5);
    let site = repo.dir.path().join("site");
    write_file(&site, "track.bin", &data);
    write_file(&site, "hls/index.m3u8", b"#EXTM3U\n#EXT-X-ENDLIST\n");
    write_file(&site, "hls/seg00000.ts", &[0x47; 188 * 4]);
    write_file(&site, "song.mp3", b"ID3\x03\x00\x00\x00\x00\x00\x00");
    write_file(&site, "meta.json", b"{\"a\":1}");
    write_file(&site, "www/index.html", b"<html><body>hi</body></html>");
    let root = last_added_cid(&repo.ok(&["add", "-r", site.to_str().unwrap()]));
    let daemon = Daemon::start(&repo, &["--offline"]);
    let gw = format!("http://{}", daemon.gateway);
    let url = |p: &str| format!("{gw}/ipfs/{root}/{p}");

    // Whole file, immutable caching headers.
    let (status, h, body) = curl(&[&url("track.bin")]);
    assert_eq!(status, 200);
    assert_eq!(body, data);
    assert!(
        h.contains("cache-control: public, max-age=29030400, immutable"),
        "{h}"
    );
    assert!(
        h.contains(&format!(
            "x-ipfs-path: /ipfs/{}/track.bin",
            root.to_lowercase()
        )),
        "{h}"
    );
    assert!(h.contains("x-ipfs-roots:"), "{h}");
    let (_, raw_head, _) = curl_raw(&["-I", &url("track.bin")]);
    let etag = raw_head
        .lines()
        .find_map(|l| {
            l.strip_prefix("etag: ")
                .or_else(|| l.strip_prefix("ETag: "))
        })
        .unwrap()
        .trim()
        .to_string();
    assert!(
        etag.starts_with("\"Qm") || etag.starts_with("\"baf"),
        "{etag}"
    );
    // Ranges: plain, open-ended, suffix; 416 beyond the end.
    let (status, h, body) = curl(&["-H", "Range: bytes=100-199", &url("track.bin")]);
    assert_eq!(status, 206);
    assert_eq!(body, &data[100..200]);
    assert!(h.contains("content-range: bytes 100-199/2000000"), "{h}");
    let (status, _, body) = curl(&["-H", "Range: bytes=1999990-", &url("track.bin")]);
    assert_eq!((status, body.as_slice()), (206, &data[1_999_990..]));
    let (status, _, body) = curl(&["-H", "Range: bytes=-10", &url("track.bin")]);
    assert_eq!((status, body.as_slice()), (206, &data[1_999_990..]));
    let (status, h, _) = curl(&["-H", "Range: bytes=2000000-", &url("track.bin")]);
    assert_eq!(status, 416);
    assert!(h.contains("content-range: bytes */2000000"), "{h}");
    // Conditional request.
    let (status, _, body) = curl(&["-H", &format!("If-None-Match: {etag}"), &url("track.bin")]);
    assert_eq!(status, 304);
    assert!(body.is_empty());
    // HEAD: headers, no body.
    let (status, h, body) = curl(&["-I", &url("track.bin")]);
    assert_eq!(status, 200);
    assert!(h.contains("content-length: 2000000"), "{h}");
    assert!(
        body.iter().all(|b| b.is_ascii()),
        "HEAD printed headers only"
    );
    // Content types.
    for (path, ct) in [
        ("hls/index.m3u8", "application/vnd.apple.mpegurl"),
        ("hls/seg00000.ts", "video/mp2t"),
        ("song.mp3", "audio/mpeg"),
        ("meta.json", "application/json"),
    ] {
        let (status, h, _) = curl(&[&url(path)]);
        assert_eq!(status, 200, "{path}");
        assert!(h.contains(&format!("content-type: {ct}")), "{path}: {h}");
    }
    // Directories: index.html served, otherwise an HTML listing.
    let (status, h, body) = curl(&["-L", &url("www/")]);
    assert_eq!(status, 200);
    assert!(h.contains("content-type: text/html"), "{h}");
    assert_eq!(body, b"<html><body>hi</body></html>");
    let (status, _, body) = curl(&["-L", &url("hls/")]);
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("seg00000.ts"));
    // Errors: bad CID 400, missing path 404, never 500.
    let (status, _, _) = curl(&[&format!("{gw}/ipfs/not-a-cid")]);
    assert_eq!(status, 400);
    let (status, _, _) = curl(&[&url("nope.txt")]);
    assert_eq!(status, 404);
    // Trustless: one raw block, and a CAR that imports into another repo.
    let (status, h, body) = curl(&[&format!("{gw}/ipfs/{root}?format=raw")]);
    assert_eq!(status, 200);
    assert!(h.contains("content-type: application/vnd.ipld.raw"), "{h}");
    assert!(!body.is_empty());
    let (status, h, car) = curl(&["-H", "Accept: application/vnd.ipld.car", &url("track.bin")]);
    assert_eq!(status, 200);
    assert!(h.contains("content-type: application/vnd.ipld.car"), "{h}");
    let other = Repo::init();
    let car_path = write_file(other.dir.path(), "t.car", &car);
    // The CAR holds the path to track.bin, not the whole directory: its root cannot be pinned
    // (kubo refuses too), so it is imported without pinning.
    other.ok(&[
        "dag",
        "import",
        "--pin-roots=false",
        car_path.to_str().unwrap(),
    ]);
    let file_cid = repo_cid_of(&repo, &root, "track.bin");
    assert_eq!(other.ok_bytes(&["cat", &file_cid]), data);
}

fn repo_cid_of(repo: &Repo, root: &str, name: &str) -> String {
    repo.ok(&["ls", root])
        .lines()
        .find(|l| l.ends_with(&format!(" {name}")))
        .and_then(|l| l.split_whitespace().next())
        .unwrap()
        .to_string()
}

#[test]
fn two_hundred_parallel_range_requests() {
    let repo = Repo::init();
    let data = std::sync::Arc::new(pseudo_random(24 << 20, 9));
    let f = write_file(repo.dir.path(), "big.bin", &data);
    let cid = repo
        .ok(&["add", "-Q", f.to_str().unwrap()])
        .trim()
        .to_string();
    let daemon = Daemon::start(&repo, &["--offline"]);
    let url = format!("http://{}/ipfs/{cid}", daemon.gateway);
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..200u64 {
            let (client, url, data) = (client.clone(), url.clone(), data.clone());
            tasks.spawn(async move {
                let len = data.len() as u64;
                let start = (i * 7_919_993) % (len - 300_000);
                let end = start + 1000 + (i * 1511) % 250_000;
                let resp = client
                    .get(&url)
                    .header("Range", format!("bytes={start}-{end}"))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(resp.status(), 206);
                let body = resp.bytes().await.unwrap();
                assert_eq!(
                    &body[..],
                    &data[start as usize..=end as usize],
                    "range {start}-{end}"
                );
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.unwrap();
        }
    });
}

#[test]
fn prometheus_scrapes_our_metrics_and_promtool_accepts_them() {
    let repo = Repo::init();
    let f = write_file(repo.dir.path(), "m.bin", &pseudo_random(600_000, 3));
    repo.ok(&["add", f.to_str().unwrap()]);
    let daemon = Daemon::start(&repo, &["--offline"]);

    // promtool lints the exposition as Prometheus itself would read it.
    let (status, _, exposition) = curl(&[&format!("http://{}/metrics", daemon.metrics)]);
    assert_eq!(status, 200);
    let mut lint = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    lint.stdin.take().unwrap().write_all(&exposition).unwrap();
    let lint = lint.wait_with_output().unwrap();
    assert!(
        lint.status.success(),
        "promtool: {}{}",
        String::from_utf8_lossy(&lint.stdout),
        String::from_utf8_lossy(&lint.stderr)
    );

    // A real Prometheus scrapes the daemon on loopback.
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: chorus\n    static_configs:\n      - targets: ['{}']\n",
            daemon.metrics
        ),
    )
    .unwrap();
    let port = free_port();
    let mut prom = Command::new("prometheus")
        .arg(format!("--config.file={}", config.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let query = format!("http://127.0.0.1:{port}/api/v1/query?query=chorus_blockstore_blocks");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let mut last;
    let found = loop {
        let out = Command::new("curl").args(["-s", &query]).output().unwrap();
        last = String::from_utf8_lossy(&out.stdout).into_owned();
        if last.contains("\"job\":\"chorus\"") {
            break true;
        }
        if std::time::Instant::now() > deadline {
            break false;
        }
        // Wait for Prometheus's next scrape (1 s interval) before asking again.
        std::thread::sleep(std::time::Duration::from_millis(250));
    };
    let _ = prom.kill();
    let _ = prom.wait();
    assert!(found, "Prometheus never returned our series: {last}");
    let v: serde_json::Value = serde_json::from_str(&last).unwrap();
    let blocks: f64 = v["data"]["result"][0]["value"][1]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(blocks >= 3.0, "{last}");
}

/// Peak resident memory of a process, from /proc (kB).
fn peak_rss_kb(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
        .unwrap()
}

#[test]
fn serving_a_large_file_streams_with_flat_memory() {
    let repo = Repo::init();
    let size = 192usize << 20;
    let f = write_file(repo.dir.path(), "large.bin", &pseudo_random(size, 17));
    let cid = repo
        .ok(&["add", "-Q", f.to_str().unwrap()])
        .trim()
        .to_string();
    std::fs::remove_file(&f).unwrap();
    let daemon = Daemon::start(&repo, &["--offline"]);
    let before = peak_rss_kb(daemon.child.id());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let received = rt.block_on(async {
        let client = reqwest::Client::builder().no_proxy().build().unwrap();
        let mut resp = client
            .get(format!("http://{}/ipfs/{cid}", daemon.gateway))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
        let mut n = 0usize;
        while let Some(chunk) = resp.chunk().await.unwrap() {
            n += chunk.len();
        }
        n
    });
    assert_eq!(received, size);
    let growth_mb = peak_rss_kb(daemon.child.id()).saturating_sub(before) / 1024;
    // The body streams block by block: a buffered response would grow by the file's 192 MiB.
    assert!(
        growth_mb < 48,
        "daemon peak memory grew by {growth_mb} MiB serving 192 MiB"
    );
}
