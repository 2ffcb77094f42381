//! The gateway's HLS look-ahead between daemons on loopback: a track held only by A, read
//! through the gateway of B (look-ahead on, the default) and of C (`hls_segments_ahead = 0`).
//! Serving the master playlist makes B fetch the first segments before any is asked for;
//! serving segment k moves the window to k+1 ..= k+5; a jump far ahead (a seek) starts a new
//! window there; C fetches only what it is asked for. D is only asked for the track's player
//! page, and fetches the first segments before the browser asks for anything of the track.

mod common;

use std::time::{Duration, Instant};

use common::*;

/// Segments in the look-ahead window (the default of `gateway.hls_segments_ahead`).
const AHEAD: usize = 5;

/// The 320k rendition's segments of `cid`, in playlist order, as `(name, cid)`.
fn segments(a: &Repo, cid: &str) -> Vec<(String, String)> {
    let playlist = a.ok(&["cat", &format!("/ipfs/{cid}/320k/index.m3u8")]);
    let listing = a.ok(&["ls", &format!("/ipfs/{cid}/320k")]);
    playlist
        .lines()
        .filter(|l| l.ends_with(".ts"))
        .map(|name| {
            let line = listing
                .lines()
                .find(|l| l.ends_with(&format!(" {name}")))
                .unwrap_or_else(|| panic!("{name} not in the listing:\n{listing}"));
            (name.to_owned(), line.split(' ').next().unwrap().to_owned())
        })
        .collect()
}

/// Segments B's look-ahead has fetched, from its metrics.
fn fetched_ahead(daemon: &Daemon) -> f64 {
    let text = http_get(&daemon.metrics, "/metrics");
    sample(&text, "chorus_gateway_hls_lookahead_segments_total")
}

/// Waits until B's look-ahead has fetched `n` segments (the event the test awaits; the
/// deadline only bounds a failure).
fn wait_fetched(daemon: &Daemon, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while fetched_ahead(daemon) < n as f64 {
        assert!(
            Instant::now() < deadline,
            "the look-ahead fetched {} segments, {n} expected",
            fetched_ahead(daemon)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Whether `repo` (no daemon running: the CLI reads the store only) holds block `cid`.
fn holds(repo: &Repo, cid: &str) -> bool {
    repo.run(&["block", "stat", cid]).status.success()
}

fn get(daemon: &Daemon, path: &str) {
    let out = std::process::Command::new("curl")
        .args(["-s", "-f", "-o", "/dev/null"])
        .arg(format!("http://{}{path}", daemon.gateway))
        .status()
        .unwrap();
    assert!(out.success(), "GET {path}");
}

#[test]
fn the_gateway_fetches_the_next_segments_before_the_player_asks() {
    let a = dht_server_repo();
    let a_id = peer_id(&a);
    let wav = a.dir.path().join("tone.wav");
    let made = std::process::Command::new("ffmpeg")
        .args(["-loglevel", "error", "-nostdin", "-y", "-f", "lavfi"])
        .args(["-i", "anoisesrc=duration=100:color=pink:seed=7", "-ac", "2"])
        .arg(&wav)
        .status()
        .unwrap();
    assert!(made.success(), "ffmpeg could not make the test tone");
    let cid = a
        .ok(&["track", "add", wav.to_str().unwrap()])
        .trim()
        .to_string();
    let segs = segments(&a, &cid);
    assert!(segs.len() >= 16, "{} segments", segs.len());
    let daemon_a = Daemon::start(&a, &["--swarm-addr", "/ip4/127.0.0.1/tcp/0"]);
    let a_addr = format!("{}/p2p/{a_id}", daemon_a.swarm[0]);

    let b = dht_server_repo();
    let c = dht_server_repo();
    let d = dht_server_repo();
    set_config(&c, "gateway", "hls_segments_ahead", "0");
    for r in [&b, &c, &d] {
        r.ok(&["bootstrap", "add", &a_addr]);
    }
    let daemon_b = Daemon::start(&b, &["--swarm-addr", "/ip4/127.0.0.1/tcp/0"]);
    let daemon_c = Daemon::start(&c, &["--swarm-addr", "/ip4/127.0.0.1/tcp/0"]);
    let daemon_d = Daemon::start(&d, &["--swarm-addr", "/ip4/127.0.0.1/tcp/0"]);
    wait_connected(&b, &a_id);
    wait_connected(&c, &a_id);
    wait_connected(&d, &a_id);

    // The player page alone: D starts as for the master playlist, segments 0..5; C, without
    // look-ahead, fetches nothing for it.
    get(&daemon_d, &format!("/player/{cid}"));
    get(&daemon_c, &format!("/player/{cid}"));
    wait_fetched(&daemon_d, AHEAD);

    // The master playlist: B looks ahead on its first variant, segments 0..5.
    get(&daemon_b, &format!("/ipfs/{cid}/master.m3u8"));
    get(&daemon_c, &format!("/ipfs/{cid}/master.m3u8"));
    wait_fetched(&daemon_b, AHEAD);
    // Segment 2: the window moves to 3..=7; 3 and 4 are at hand, 5, 6 and 7 come.
    get(&daemon_b, &format!("/ipfs/{cid}/320k/{}", segs[2].0));
    wait_fetched(&daemon_b, AHEAD + 3);
    // A seek to segment 10: a new window, which waits for 10 with the player, then 11..=15.
    get(&daemon_b, &format!("/ipfs/{cid}/320k/{}", segs[10].0));
    wait_fetched(&daemon_b, AHEAD + 3 + 1 + AHEAD);
    // C has no look-ahead: its counter stays at zero.
    assert_eq!(fetched_ahead(&daemon_c), 0.0);

    drop(daemon_b);
    drop(daemon_c);
    drop(daemon_d);
    drop(daemon_a);
    // What B holds: the segments asked for and the windows, nothing between or past them.
    let held: Vec<usize> = (0..segs.len()).filter(|&i| holds(&b, &segs[i].1)).collect();
    assert_eq!(held, [0, 1, 2, 3, 4, 5, 6, 7, 10, 11, 12, 13, 14, 15]);
    // D holds the first window (its page asked for nothing else); C holds none of them.
    let held: Vec<usize> = (0..segs.len()).filter(|&i| holds(&d, &segs[i].1)).collect();
    assert_eq!(held, [0, 1, 2, 3, 4]);
    assert!(!segs.iter().any(|(_, s)| holds(&c, s)));
}
