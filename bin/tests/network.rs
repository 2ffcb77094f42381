//! Two daemons on loopback: one finds the other through its bootstrap list and fetches content
//! it does not have over Bitswap, for `cat` and for its gateway.

mod common;

use common::*;

#[test]
fn a_daemon_fetches_from_its_bootstrap_peer_over_bitswap() {
    let a = dht_server_repo();
    let a_id = peer_id(&a);
    let daemon_a = Daemon::start(&a, &["--swarm-addr", "/ip4/127.0.0.1/tcp/0"]);
    let a_addr = daemon_a
        .swarm
        .iter()
        .find(|s| s.starts_with("/ip4/127.0.0.1/tcp/"))
        .expect("A listens on loopback TCP")
        .clone();
    let data = pseudo_random(3_000_000, 41);
    let f = write_file(a.dir.path(), "song.bin", &data);
    let cid = a.ok(&["add", "-Q", f.to_str().unwrap()]).trim().to_string();

    let b = dht_server_repo();
    let out = b.ok(&["bootstrap", "add", &format!("{a_addr}/p2p/{a_id}")]);
    assert!(out.contains(&a_id), "{out}");
    assert!(b.ok(&["bootstrap", "list"]).contains(&a_id));
    // B has nothing of the file; it must come over the network.
    let daemon_b = Daemon::start(&b, &["--swarm-addr", "/ip4/127.0.0.1/tcp/0"]);
    wait_connected(&b, &a_id);
    assert_eq!(b.ok_bytes(&["cat", &cid]), data, "cat through B's daemon");
    let ranged = b.ok_bytes(&["cat", "--offset", "2500000", "--length", "1000", &cid]);
    assert_eq!(ranged, &data[2_500_000..2_501_000]);
    // The 3 MB came in over Bitswap, from A: `stats bw` (kubo's format) counts them.
    for args in [
        vec!["stats", "bw"],
        vec!["stats", "bw", "--peer", &a_id],
        vec!["stats", "bw", "--proto", "/ipfs/bitswap/1.2.0"],
    ] {
        let out = b.ok(&args);
        assert!(out.starts_with("Bandwidth\nTotalIn: 3."), "{args:?}: {out}");
        assert!(out.contains(" MB\nTotalOut: "), "{args:?}: {out}");
    }

    // B's id reports where it listens, with /p2p/<id>.
    let id: serde_json::Value = serde_json::from_str(&b.ok(&["id"])).unwrap();
    let addrs = id["Addresses"].as_array().unwrap();
    assert!(
        addrs
            .iter()
            .any(|a| a.as_str().unwrap().contains("/p2p/12D3KooW")),
        "{id}"
    );

    // Offline B cannot do network commands, and says why.
    drop(daemon_b);
    let err = b.fails(&["swarm", "peers"]);
    assert!(err.contains("online"), "{err}");
    drop(daemon_a);
}

#[test]
fn the_gateway_of_one_daemon_serves_content_held_by_another() {
    let a = dht_server_repo();
    let a_id = peer_id(&a);
    let daemon_a = Daemon::start(&a, &["--swarm-addr", "/ip4/127.0.0.1/tcp/0"]);
    let a_addr = daemon_a.swarm[0].clone();
    let data = pseudo_random(1_500_000, 43);
    let f = write_file(a.dir.path(), "t.bin", &data);
    let cid = a.ok(&["add", "-Q", f.to_str().unwrap()]).trim().to_string();

    let b = dht_server_repo();
    b.ok(&["bootstrap", "add", &format!("{a_addr}/p2p/{a_id}")]);
    let daemon_b = Daemon::start(&b, &["--swarm-addr", "/ip4/127.0.0.1/tcp/0"]);
    wait_connected(&b, &a_id);
    let out = std::process::Command::new("curl")
        .args(["-s", "-f"])
        .arg(format!("http://{}/ipfs/{cid}", daemon_b.gateway))
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout, data);
    drop(daemon_b);
    drop(daemon_a);
}

/// `swarm.routing = "none"` runs no DHT at all, as kubo's `Routing.Type=none`: no Kademlia
/// protocol is announced and DHT lookups fail clearly, while Bitswap is still offered.
#[test]
fn routing_none_runs_the_daemon_without_a_dht() {
    let repo = Repo::init();
    set_config(&repo, "swarm", "routing", "\"none\"");
    let f = write_file(repo.dir.path(), "a.bin", &pseudo_random(10_000, 3));
    let cid = repo
        .ok(&["add", "-Q", f.to_str().unwrap()])
        .trim()
        .to_string();
    let _daemon = Daemon::start(&repo, &["--swarm-addr", "/ip4/127.0.0.1/tcp/0"]);
    let id: serde_json::Value = serde_json::from_str(&repo.ok(&["id"])).unwrap();
    let protocols: Vec<&str> = id["Protocols"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p.as_str())
        .collect();
    assert!(!protocols.iter().any(|p| p.contains("/kad/")), "{id}");
    assert!(protocols.contains(&"/ipfs/bitswap/1.2.0"), "{id}");
    // Peer lookups need the DHT; so would announcements (refused earlier here: no peers).
    let stranger = "12D3KooWJKtwLfwz3s2nKRKmevdePzwJqc6G2MPXPM7EUDriEPA5";
    let err = repo.fails(&["routing", "findpeer", stranger]);
    assert!(err.contains("routing is disabled"), "{err}");
    assert_eq!(repo.ok_bytes(&["cat", &cid]).len(), 10_000);
}

/// A track added through an online daemon (`chorus track add` → RPC `track/add`) is pinned
/// and announced: the daemon it is connected to finds it as the provider of the track's root
/// and fetches the master playlist from it.
#[test]
fn a_track_added_online_is_announced_to_the_dht() {
    let a = dht_server_repo();
    let a_id = peer_id(&a);
    let daemon_a = Daemon::start(&a, &["--swarm-addr", "/ip4/127.0.0.1/tcp/0"]);
    let a_addr = daemon_a.swarm[0].clone();

    let b = dht_server_repo();
    let b_id = peer_id(&b);
    b.ok(&["bootstrap", "add", &format!("{a_addr}/p2p/{a_id}")]);
    let daemon_b = Daemon::start(&b, &["--swarm-addr", "/ip4/127.0.0.1/tcp/0"]);
    wait_connected(&b, &a_id);

    let wav = b.dir.path().join("tune.wav");
    let made = std::process::Command::new("ffmpeg")
        .args([
            "-hide_banner",
            "-loglevel",
            "error",
            "-nostdin",
            "-y",
            "-f",
            "lavfi",
        ])
        .args(["-i", "sine=frequency=330:duration=8", "-ac", "2"])
        .arg(&wav)
        .status()
        .unwrap();
    assert!(made.success(), "ffmpeg could not make the test tone");
    let cid = b
        .ok(&["track", "add", wav.to_str().unwrap()])
        .trim()
        .to_string();
    assert!(b.ok(&["pin", "ls", "--type", "recursive"]).contains(&cid));

    // B announced the root when the daemon stored it; wait until A's DHT holds the record.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let out = a.run(&["routing", "findprovs", "-n", "1", &cid]);
        if String::from_utf8_lossy(&out.stdout).contains(&b_id) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "B's provider record for the track never reached A"
        );
    }
    let master = a.ok(&["cat", &format!("/ipfs/{cid}/master.m3u8")]);
    assert!(master.starts_with("#EXTM3U"), "{master}");
    drop(daemon_b);
    drop(daemon_a);
}
