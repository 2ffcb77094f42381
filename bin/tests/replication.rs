//! Replication among real daemons on loopback: placement, the write quorum, repair after
//! kill -9, catch-up and cleanup after a restart (issue 15).

mod common;

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};

/// Seconds between repair passes in these tests (the default is an hour).
const REPAIR_SECS: u64 = 1;
/// Seconds a node must be unreachable before the others take over its share.
const DOWN_AFTER_SECS: u64 = 3;
/// Seconds an extra copy is kept.
const GRACE_SECS: u64 = 4;

struct Node {
    repo: Repo,
    id: String,
    port: u16,
    daemon: Option<Daemon>,
}

/// A community of `n` nodes, each listing all of them.
struct Community {
    nodes: Vec<Node>,
}

impl Community {
    fn new(n: usize, factor: usize, quorum: usize) -> Community {
        let mut nodes: Vec<Node> = (0..n)
            .map(|_| {
                let repo = Repo::init();
                let id = peer_id(&repo);
                Node {
                    repo,
                    id,
                    port: free_port(),
                    daemon: None,
                }
            })
            .collect();
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", n.port, n.id))
            .collect();
        for node in &mut nodes {
            let section = json!({
                "enabled": true,
                "nodes": addrs,
                "factor": factor,
                "write_quorum": quorum,
                "ack_timeout_secs": 30,
                "repair_interval": format!("{REPAIR_SECS}s"),
                "down_after": format!("{DOWN_AFTER_SECS}s"),
                "cleanup_grace": format!("{GRACE_SECS}s"),
                "repair_bytes_per_sec": 0,
            });
            node.repo
                .ok(&["config", "--json", "replication", &section.to_string()]);
            node.repo.ok(&["config", "swarm.routing", "none"]);
            node.repo
                .ok(&["config", "--json", "swarm.autonat", "false"]);
            node.repo
                .ok(&["config", "--json", "swarm.fetch_timeout_secs", "5"]);
        }
        Community { nodes }
    }

    fn start(&mut self, i: usize) {
        let listen = format!("/ip4/127.0.0.1/tcp/{}", self.nodes[i].port);
        let daemon = Daemon::start(&self.nodes[i].repo, &["--swarm-addr", &listen]);
        self.nodes[i].daemon = Some(daemon);
    }

    fn start_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.start(i);
        }
    }

    fn kill9(&mut self, i: usize) {
        self.nodes[i].daemon.take().unwrap().kill9();
    }

    fn daemon(&self, i: usize) -> &Daemon {
        self.nodes[i].daemon.as_ref().unwrap()
    }

    fn live(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].daemon.is_some())
            .collect()
    }

    fn index_of(&self, id: &str) -> usize {
        self.nodes.iter().position(|n| n.id == id).unwrap()
    }

    /// Adds `data` through node `i`'s RPC; the root and the holders its last line names.
    fn add(&self, i: usize, data: &[u8], name: &str) -> (String, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let file = write_file(dir.path(), name, data);
        let (status, body) = curl_upload(&self.daemon(i).api, "add", &file);
        assert_eq!(status, 200, "add on node {i}: {body}");
        let last: Value = serde_json::from_str(body.lines().last().unwrap()).unwrap();
        let holders = last["Holders"]
            .as_array()
            .unwrap_or_else(|| panic!("no Holders in {last}"))
            .iter()
            .map(|h| h.as_str().unwrap().to_owned())
            .collect();
        (last["Hash"].as_str().unwrap().to_owned(), holders)
    }

    /// Roots pinned recursively on node `i` (through its daemon).
    fn pins(&self, i: usize) -> BTreeSet<String> {
        self.nodes[i]
            .repo
            .ok(&["pin", "ls", "--type", "recursive"])
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect()
    }

    fn status(&self, i: usize, cid: &str) -> Value {
        let out = self.nodes[i]
            .repo
            .ok(&["replication", "status", "--json", cid]);
        serde_json::from_str(&out).unwrap()
    }

    fn overview(&self, i: usize) -> Value {
        serde_json::from_str(&self.nodes[i].repo.ok(&["replication", "status", "--json"])).unwrap()
    }

    /// For each root, the nodes (indices) holding it now.
    fn holders(&self, roots: &[String]) -> HashMap<String, BTreeSet<usize>> {
        let mut out: HashMap<String, BTreeSet<usize>> = HashMap::new();
        for i in self.live() {
            let pins = self.pins(i);
            for r in roots {
                if pins.contains(r) {
                    out.entry(r.clone()).or_default().insert(i);
                }
            }
        }
        out
    }

    /// The first `r` of `cid`'s ranking that are running.
    fn expected(&self, ranked: &[String], r: usize) -> BTreeSet<usize> {
        ranked
            .iter()
            .map(|id| self.index_of(id))
            .filter(|i| self.nodes[*i].daemon.is_some())
            .take(r)
            .collect()
    }
}

/// Polls `check` until it returns `None` (done) or `secs` pass; the last complaint is the
/// failure message.
fn eventually(secs: u64, mut check: impl FnMut() -> Option<String>) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let Some(complaint) = check() else {
            return;
        };
        assert!(Instant::now() < deadline, "after {secs} s: {complaint}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

fn ranked(status: &Value) -> Vec<String> {
    status["Ranked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect()
}

/// Waits until every root is pinned on exactly its first `r` live ranked nodes.
fn wait_placed(
    c: &Community,
    roots: &[String],
    rankings: &HashMap<String, Vec<String>>,
    r: usize,
    secs: u64,
) {
    eventually(secs, || {
        let held = c.holders(roots);
        for root in roots {
            let want = c.expected(&rankings[root], r);
            let have = held.get(root).cloned().unwrap_or_default();
            if have != want {
                return Some(format!("{root} held by {have:?}, placement says {want:?}"));
            }
        }
        None
    });
}

#[test]
fn uploads_land_on_their_ranked_nodes_survive_two_kills_and_rebalance_after_restart() {
    let mut c = Community::new(5, 3, 2);
    c.start_all();
    for i in 0..5 {
        for j in 0..5 {
            if i != j {
                wait_connected(&c.nodes[i].repo, &c.nodes[j].id);
            }
        }
    }

    // 30 uploads to pseudo-randomly chosen nodes; each acknowledged by at least W = 2.
    let mut roots = Vec::new();
    let mut files: HashMap<String, Vec<u8>> = HashMap::new();
    for k in 0..30u64 {
        let data = pseudo_random(50_000 + (k as usize) * 3_000, 1000 + k);
        let at = (k * 7 + 3) as usize % 5;
        let (cid, holders) = c.add(at, &data, &format!("track{k}.bin"));
        assert!(holders.len() >= 2, "upload {k} acknowledged by {holders:?}");
        files.insert(cid.clone(), data);
        roots.push(cid);
    }

    // Every node ranks every root the same way, and the acknowledged holders are ranked
    // in the first three.
    let mut rankings = HashMap::new();
    for root in &roots {
        let first = ranked(&c.status(0, root));
        assert_eq!(first.len(), 5);
        for i in 1..5 {
            assert_eq!(
                ranked(&c.status(i, root)),
                first,
                "node {i} ranks {root} differently"
            );
        }
        rankings.insert(root.clone(), first);
    }

    // After repair and the cleanup grace: exactly R copies, on the ranked first three, and
    // replication/status agrees with the pins.
    wait_placed(&c, &roots, &rankings, 3, 60);
    for root in &roots {
        let s = c.status(2, root);
        let holders: BTreeSet<usize> = s["Holders"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| c.index_of(h.as_str().unwrap()))
            .collect();
        assert_eq!(
            holders,
            c.expected(&rankings[root], 3),
            "status of {root}: {s}"
        );
        assert_eq!(s["UnderReplicated"], false);
        assert_eq!(s["Factor"], 3);
    }

    // kill -9 two nodes: within a few repair intervals past down_after, every root is on three
    // live nodes again and reads back byte-equal through a surviving gateway.
    c.kill9(1);
    c.kill9(3);
    wait_placed(&c, &roots, &rankings, 3, DOWN_AFTER_SECS + 60);
    let gateway = c.daemon(0).gateway.clone();
    for root in &roots {
        let out = std::process::Command::new("curl")
            .args(["-sS", "--fail", &format!("http://{gateway}/ipfs/{root}")])
            .output()
            .unwrap();
        assert!(out.status.success(), "GET {root}");
        assert!(
            out.stdout == files[root],
            "{root} reads back different bytes"
        );
    }
    let view = c.overview(0);
    let down = view["Nodes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["Up"] == false)
        .count();
    assert_eq!(down, 2, "node 0 sees the two killed nodes down: {view}");

    // Restart them: they catch up on the log, and after the grace the extra copies are
    // cleaned: each root is back on exactly its ranked first three.
    c.start(1);
    c.start(3);
    let entries = c.overview(0)["LogEntries"].as_u64().unwrap();
    eventually(30, || {
        let n = c.overview(1)["LogEntries"].as_u64().unwrap();
        (n < entries).then(|| format!("node 1 has {n} of {entries} log entries"))
    });
    wait_placed(&c, &roots, &rankings, 3, GRACE_SECS + 60);
    let _ = PathBuf::new();
}
