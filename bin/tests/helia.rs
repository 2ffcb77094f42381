//! Interop with a real Helia node (helia 7 on libp2p 3, `tests/js/helia_peer.mjs`) over
//! TCP + noise + yamux and `/ipfs/bitswap/1.2.0`, both directions, and through the
//! `/ipfs/kad/1.0.0` DHT. Everything stays on 127.0.0.1.

mod common;

use common::*;
use std::io::{BufRead, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::Duration;

/// How long one Helia command may take (its own per-command deadline is 60 s).
const STEP: Duration = Duration::from_secs(90);

/// Chorus node A, a DHT server, and a Helia DHT client that has A in its routing table.
/// Returns A's repo, peer id and daemon, and Helia.
fn dht_server_with_helia_client() -> (Repo, String, Daemon, Helia) {
    let a = dht_server_repo();
    let a_id = peer_id(&a);
    let daemon_a = Daemon::start(&a, &["--swarm-addr", "/ip4/127.0.0.1/tcp/0"]);
    let mut helia = Helia::start_with(&["--dht-client"]);
    helia.call(&format!("dial {}", dial_addr(&daemon_a, &a_id)), "dialed");
    let w = helia.call("waitdht", "dht");
    assert_eq!(w[1], "1", "Helia's routing table holds A");
    (a, a_id, daemon_a, helia)
}

/// The daemon's loopback TCP listen address with `/p2p/<id>`.
fn dial_addr(daemon: &Daemon, id: &str) -> String {
    let a = daemon
        .swarm
        .iter()
        .find(|s| s.starts_with("/ip4/127.0.0.1/tcp/"))
        .unwrap_or_else(|| panic!("no loopback TCP listen address in {:?}", daemon.swarm));
    if a.contains("/p2p/") {
        a.clone()
    } else {
        format!("{a}/p2p/{id}")
    }
}

/// A running `helia_peer.mjs`, one command per line; killed on drop.
struct Helia {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
    peer: String,
    /// Its listen multiaddrs, each ending in `/p2p/<peer>`.
    listen: Vec<String>,
}

impl Helia {
    fn start() -> Helia {
        Helia::start_with(&[])
    }

    /// Starts with extra argv (`--dht-client`).
    fn start_with(args: &[&str]) -> Helia {
        let cache = test_cache().join("npm");
        let mut child = Command::new(node_bin())
            .arg(cache.join("helia_peer.mjs"))
            .args(args)
            .current_dir(&cache)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        // The Helia process's stdout lines, read by the test as they come.
        #[allow(clippy::disallowed_methods)]
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut helia = Helia {
            child,
            stdin,
            lines,
            peer: String::new(),
            listen: Vec::new(),
        };
        loop {
            let line = helia.next_line("startup");
            if let Some(p) = line.strip_prefix("peer ") {
                helia.peer = p.to_string();
            } else if let Some(a) = line.strip_prefix("listen ") {
                helia.listen.push(a.to_string());
            } else if line == "ready" {
                break;
            } else {
                panic!("unexpected Helia startup line {line:?}");
            }
        }
        assert!(helia.peer.starts_with("12D3KooW"), "{}", helia.peer);
        assert!(
            helia
                .listen
                .iter()
                .all(|a| a.starts_with("/ip4/127.0.0.1/tcp/")),
            "Helia listens outside loopback: {:?}",
            helia.listen
        );
        assert!(!helia.listen.is_empty());
        helia
    }

    fn next_line(&self, what: &str) -> String {
        match self.lines.recv_timeout(STEP) {
            Ok(l) => l,
            Err(RecvTimeoutError::Timeout) => panic!("Helia: no answer to {what} within {STEP:?}"),
            Err(RecvTimeoutError::Disconnected) => panic!("Helia exited during {what}"),
        }
    }

    /// Sends one command and returns the words of its answer, which must start with `want`.
    fn call(&mut self, cmd: &str, want: &str) -> Vec<String> {
        writeln!(self.stdin, "{cmd}").unwrap();
        self.stdin.flush().unwrap();
        let line = self.next_line(cmd);
        let words: Vec<String> = line.split_whitespace().map(str::to_string).collect();
        assert_eq!(
            words.first().map(String::as_str),
            Some(want),
            "Helia `{cmd}` answered {line:?}"
        );
        words
    }

    /// `add`: Helia imports `pseudo_random(len, seed)`; returns (CID, sha256 hex).
    fn add(&mut self, len: usize, seed: u64) -> (String, String) {
        let w = self.call(&format!("add {len} {seed}"), "added");
        assert_eq!(w[2], len.to_string());
        (w[1].clone(), w[3].clone())
    }

    /// Providers Helia finds for `cid` (stops after `n`).
    fn findprovs(&mut self, cid: &str, n: usize) -> Vec<String> {
        let cmd = format!("findprovs {cid} {n}");
        writeln!(self.stdin, "{cmd}").unwrap();
        self.stdin.flush().unwrap();
        let mut provs = Vec::new();
        loop {
            let line = self.next_line(&cmd);
            if let Some(p) = line.strip_prefix("provider ") {
                provs.push(p.to_string());
            } else if line == "findprovs done" {
                return provs;
            } else {
                panic!("Helia `{cmd}` answered {line:?}");
            }
        }
    }
}

impl Drop for Helia {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Helia's `cat` writes what it fetched to a file; this reads it back.
fn helia_cat(helia: &mut Helia, dir: &std::path::Path, cid: &str) -> Vec<u8> {
    let out = dir.join("helia-cat.bin");
    let w = helia.call(&format!("cat {cid} {}", out.display()), "cat");
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(w[1], bytes.len().to_string());
    bytes
}

#[test]
fn chorus_cats_a_multi_block_file_added_by_helia() {
    let mut helia = Helia::start();
    let len = 3_500_000; // 1 MiB chunks: 4 raw leaves under a dag-pb root
    let (cid, _sha) = helia.add(len, 51);
    assert!(
        cid.starts_with("bafy"),
        "Helia's unixfs default is CIDv1: {cid}"
    );

    let repo = dht_server_repo();
    repo.ok(&["bootstrap", "add", &helia.listen[0]]);
    let daemon = Daemon::start(&repo, &["--swarm-addr", "/ip4/127.0.0.1/tcp/0"]);
    wait_connected(&repo, &helia.peer);
    let got = repo.ok_bytes(&["cat", &cid]);
    assert_eq!(got.len(), len);
    assert!(
        got == pseudo_random(len, 51),
        "chorus cat differs from Helia's file"
    );
    drop(daemon);
}

#[test]
fn helia_fetches_a_multi_block_file_added_by_chorus() {
    let repo = dht_server_repo();
    let id = peer_id(&repo);
    let daemon = Daemon::start(&repo, &["--swarm-addr", "/ip4/127.0.0.1/tcp/0"]);
    let data = pseudo_random(3_000_000, 52);
    let f = write_file(repo.dir.path(), "c.bin", &data);
    let cid = repo
        .ok(&["add", "-Q", f.to_str().unwrap()])
        .trim()
        .to_string();
    assert!(cid.starts_with("Qm"), "kubo-default add is CIDv0: {cid}");

    let mut helia = Helia::start();
    let w = helia.call(&format!("dial {}", dial_addr(&daemon, &id)), "dialed");
    assert_eq!(w[1], id);
    let got = helia_cat(&mut helia, repo.dir.path(), &cid);
    assert_eq!(got.len(), data.len());
    assert!(got == data, "Helia's bytes differ from what chorus added");
    drop(helia);
    drop(daemon);
}

/// Helia announces a file to chorus A over the DHT; chorus B, whose only peer is A (which does
/// not have the file), finds Helia through A's provider record and fetches from it over Bitswap.
/// Helia's DHT is in client mode, so A's routing table never names it: the provider record is
/// what leads B to Helia.
#[test]
fn chorus_finds_helia_as_a_provider_through_the_dht_and_fetches_from_it() {
    let (a, a_id, daemon_a, mut helia) = dht_server_with_helia_client();
    let len = 2_500_000;
    let (cid, _) = helia.add(len, 53);

    let b = dht_server_repo();
    set_config(&b, "swarm", "fetch_timeout_secs", "8");
    b.ok(&["bootstrap", "add", &dial_addr(&daemon_a, &a_id)]);
    let daemon_b = Daemon::start(&b, &["--swarm-addr", "/ip4/127.0.0.1/tcp/0"]);
    wait_connected(&b, &a_id);
    // (No "B cannot find it yet" check: Helia may announce new blocks on its own as soon as
    // they are added, so the record can exist before the explicit provide below.)
    helia.call(&format!("provide {cid}"), "provided");
    let got = b.ok_bytes(&["cat", &cid]);
    assert_eq!(got.len(), len);
    assert!(
        got == pseudo_random(len, 53),
        "chorus B's bytes differ from Helia's file"
    );
    drop(daemon_b);
    drop(helia);
    drop(daemon_a);
    // A only relayed the provider record; it never held the file (asked with A offline).
    let out = a.run(&["block", "stat", &cid]);
    assert!(!out.status.success(), "A has the root block");
}

/// `chorus routing provide|findprovs` against Helia's DHT, each way.
#[test]
fn chorus_and_helia_find_each_other_as_providers_with_the_routing_commands() {
    let repo = dht_server_repo();
    let id = peer_id(&repo);
    let daemon = Daemon::start(&repo, &["--swarm-addr", "/ip4/127.0.0.1/tcp/0"]);
    let mut helia = Helia::start();
    helia.call(&format!("dial {}", dial_addr(&daemon, &id)), "dialed");
    let w = helia.call("waitdht", "dht");
    assert_eq!(w[1], "1", "Helia's routing table holds chorus");

    // Helia announces; chorus finds Helia.
    let (helia_cid, _) = helia.add(1_200_000, 55);
    helia.call(&format!("provide {helia_cid}"), "provided");
    let provs = repo.ok(&["routing", "findprovs", "-n", "1", &helia_cid]);
    assert_eq!(
        provs.lines().collect::<Vec<_>>(),
        vec![helia.peer.as_str()],
        "chorus's providers for {helia_cid}"
    );

    // chorus announces; Helia finds chorus.
    let data = pseudo_random(1_300_000, 56);
    let f = write_file(repo.dir.path(), "p.bin", &data);
    let cid = repo
        .ok(&["add", "-Q", f.to_str().unwrap()])
        .trim()
        .to_string();
    repo.ok(&["routing", "provide", &cid]);
    assert_eq!(
        helia.findprovs(&cid, 1),
        vec![id.clone()],
        "Helia's providers for {cid}"
    );
    drop(helia);
    drop(daemon);
}

/// The mirror of the test above: chorus B announces a file to chorus A; Helia, connected only to
/// A, finds B through A's provider record, dials it and fetches the file over Bitswap. B and
/// Helia are both DHT clients, so neither is in any routing table: B can announce only to A, and
/// only A's provider record tells Helia where B is.
#[test]
fn helia_finds_chorus_as_a_provider_through_the_dht_and_fetches_from_it() {
    let (_a, a_id, daemon_a, mut helia) = dht_server_with_helia_client();

    let b = Repo::init();
    let b_id = peer_id(&b);
    set_config(&b, "swarm", "routing", "\"dhtclient\"");
    b.ok(&["bootstrap", "add", &dial_addr(&daemon_a, &a_id)]);
    let daemon_b = Daemon::start(&b, &["--swarm-addr", "/ip4/127.0.0.1/tcp/0"]);
    let data = pseudo_random(2_200_000, 57);
    let f = write_file(b.dir.path(), "m.bin", &data);
    let cid = b.ok(&["add", "-Q", f.to_str().unwrap()]).trim().to_string();
    b.ok(&["routing", "provide", &cid]);

    assert_eq!(
        helia.findprovs(&cid, 1),
        vec![b_id.clone()],
        "Helia's providers for {cid}"
    );
    let got = helia_cat(&mut helia, b.dir.path(), &cid);
    assert_eq!(got.len(), data.len());
    assert!(got == data, "Helia's bytes differ from what chorus B added");
    drop(helia);
    drop(daemon_b);
    drop(daemon_a);
}
