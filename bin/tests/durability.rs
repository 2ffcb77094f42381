//! Acknowledged means durable, through the daemon: every write the RPC API (and the CLI
//! through it) acknowledges survives a SIGKILL that lands right after the acknowledgement.
//!
//! Each test writes through a running daemon, kills it with SIGKILL the moment the response
//! is complete (no shutdown, no flush), reopens the repo offline and checks that the
//! acknowledged content reads back byte-equal, is pinned, and that `repo verify` is clean.
//! Before the core's single durability point the RPC paths acknowledged from memory and lost
//! the content every time (sled's buffered log died with the process).

mod common;

use common::*;

/// The `Hash` of the last NDJSON line of an `add` answer.
fn last_hash(body: &str) -> String {
    let line = body.lines().rfind(|l| !l.trim().is_empty()).unwrap();
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    v["Hash"].as_str().unwrap().to_string()
}

/// After a crash: the repo opens, verifies clean, and holds `cid` pinned with `mode`.
fn assert_intact(repo: &Repo, cid: &str, mode: &str) {
    let verify = repo.run(&["repo", "verify"]);
    assert!(
        verify.status.success(),
        "repo verify after the crash: {}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    let pins = repo.ok(&["pin", "ls", "--type", mode]);
    assert!(
        pins.contains(cid),
        "{cid} not pinned {mode} after the crash: {pins}"
    );
}

#[test]
fn rpc_add_survives_a_kill_right_after_the_answer() {
    let repo = Repo::init();
    let data = pseudo_random(3 << 20, 601);
    let file = write_file(repo.dir.path(), "track.bin", &data);
    let daemon = Daemon::start(&repo, &["--offline"]);
    let (status, body) = curl_upload(&daemon.api, "add?cid-version=1", &file);
    assert_eq!(status, 200, "{body}");
    daemon.kill9();
    let cid = last_hash(&body);
    assert_eq!(repo.ok_bytes(&["cat", &cid]), data);
    assert_intact(&repo, &cid, "recursive");
}

#[test]
fn rpc_dag_import_survives_a_kill_right_after_the_answer() {
    // The CAR comes from another repo, so only the import can have stored its blocks.
    let source = Repo::init();
    let data = pseudo_random(2 << 20, 602);
    let file = write_file(source.dir.path(), "a.bin", &data);
    let cid = source
        .ok(&["add", "-Q", file.to_str().unwrap()])
        .trim()
        .to_string();
    let car = source.ok_bytes(&["dag", "export", &cid]);
    let car_file = write_file(source.dir.path(), "a.car", &car);

    let repo = Repo::init();
    let daemon = Daemon::start(&repo, &["--offline"]);
    let (status, body) = curl_upload(&daemon.api, "dag/import", &car_file);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains(&cid), "{body}");
    daemon.kill9();
    assert_eq!(repo.ok_bytes(&["cat", &cid]), data);
    assert_intact(&repo, &cid, "recursive");
}

#[test]
fn rpc_block_put_survives_a_kill_right_after_the_answer() {
    let repo = Repo::init();
    let data = pseudo_random(200_000, 603);
    let file = write_file(repo.dir.path(), "block.bin", &data);
    let daemon = Daemon::start(&repo, &["--offline"]);
    let (status, body) = curl_upload(&daemon.api, "block/put?pin=true", &file);
    assert_eq!(status, 200, "{body}");
    daemon.kill9();
    let v: serde_json::Value = serde_json::from_str(body.trim()).unwrap();
    let cid = v["Key"].as_str().unwrap().to_string();
    assert_eq!(repo.ok_bytes(&["block", "get", &cid]), data);
    assert_intact(&repo, &cid, "recursive");
}

#[test]
fn rpc_pin_add_of_fetched_content_survives_a_kill_right_after_the_answer() {
    let a = dht_server_repo();
    let a_id = peer_id(&a);
    let daemon_a = Daemon::start(&a, &["--swarm-addr", "/ip4/127.0.0.1/tcp/0"]);
    let data = pseudo_random(3 << 20, 604);
    let file = write_file(a.dir.path(), "held.bin", &data);
    let cid = a
        .ok(&["add", "-Q", file.to_str().unwrap()])
        .trim()
        .to_string();

    let b = dht_server_repo();
    b.ok(&[
        "bootstrap",
        "add",
        &format!("{}/p2p/{a_id}", daemon_a.swarm[0]),
    ]);
    let daemon_b = Daemon::start(&b, &["--swarm-addr", "/ip4/127.0.0.1/tcp/0"]);
    wait_connected(&b, &a_id);
    let (status, body) = curl_post(&daemon_b.api, &format!("pin/add?arg={cid}"));
    assert_eq!(status, 200, "{body}");
    daemon_b.kill9();
    drop(daemon_a);
    // Offline, with the source gone: everything must have come from B's own disk.
    assert_eq!(b.ok_bytes(&["cat", &cid]), data);
    assert_intact(&b, &cid, "recursive");
}

#[test]
fn cli_add_through_the_daemon_survives_a_kill_right_after_the_line() {
    let repo = Repo::init();
    let daemon = Daemon::start(&repo, &["--offline"]);
    let mut added = Vec::new();
    for i in 0..3 {
        let data = pseudo_random(1 << 20, 610 + i);
        let file = write_file(repo.dir.path(), &format!("f{i}.bin"), &data);
        // The CLI finds the daemon through <repo>/api and adds through its RPC API.
        let cid = repo
            .ok(&["add", "-Q", file.to_str().unwrap()])
            .trim()
            .to_string();
        added.push((cid, data));
    }
    daemon.kill9();
    for (cid, data) in &added {
        assert_eq!(&repo.ok_bytes(&["cat", cid]), data);
        assert_intact(&repo, cid, "recursive");
    }
}

#[test]
fn rpc_track_add_survives_a_kill_right_after_the_answer() {
    let repo = Repo::init();
    let audio = repo.dir.path().join("tone.wav");
    let status = std::process::Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("sine=frequency=440:duration=4")
        .arg(&audio)
        .status()
        .expect("ffmpeg (Debian ffmpeg) missing");
    assert!(status.success());
    let daemon = Daemon::start(&repo, &["--offline"]);
    let (status, body) = curl_upload(&daemon.api, "track/add", &audio);
    assert_eq!(status, 200, "{body}");
    daemon.kill9();
    let line = body.lines().rfind(|l| !l.trim().is_empty()).unwrap();
    let done: serde_json::Value = serde_json::from_str(line).unwrap();
    let cid = done["Cid"].as_str().unwrap_or_else(|| panic!("{body}"));
    // Every block of the track's DAG is on disk: exporting it offline walks them all.
    let car = repo.ok_bytes(&["dag", "export", cid]);
    assert!(
        car.len() > 10_000,
        "a 4 s track exported as {} bytes",
        car.len()
    );
    assert_intact(&repo, cid, "recursive");
}
