//! A replication community of real daemons on loopback, for the replication tests.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::*;

/// Seconds between repair passes in these tests (the default is an hour).
pub const REPAIR_SECS: u64 = 1;
/// Seconds a node must be unreachable before the others take over its share.
pub const DOWN_AFTER_SECS: u64 = 3;
/// Seconds an extra copy is kept.
pub const GRACE_SECS: u64 = 4;

/// The replication tests start five daemons each: one test at a time (a poisoned lock from a
/// failed test does not stop the next).
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

pub struct Node {
    pub repo: Repo,
    pub id: String,
    pub port: u16,
    pub daemon: Option<Daemon>,
}

/// A community of `n` nodes, each listing all of them.
pub struct Community {
    pub nodes: Vec<Node>,
    pub factor: usize,
    pub quorum: usize,
}

impl Community {
    pub fn new(n: usize, factor: usize, quorum: usize) -> Community {
        let mut c = Community {
            nodes: Vec::new(),
            factor,
            quorum,
        };
        for _ in 0..n {
            c.nodes.push(Community::fresh_node());
        }
        c.configure();
        c
    }

    fn fresh_node() -> Node {
        let repo = Repo::init();
        let id = peer_id(&repo);
        Node {
            repo,
            id,
            port: free_port(),
            daemon: None,
        }
    }

    /// A new node (not started); every node's config lists it (running daemons read it at
    /// their next start).
    pub fn grow(&mut self) -> usize {
        self.nodes.push(Community::fresh_node());
        self.configure();
        self.nodes.len() - 1
    }

    /// Writes `[replication]` (every node listed) and the test's network settings into every
    /// node's config.
    fn configure(&self) {
        let addrs: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("/ip4/127.0.0.1/tcp/{}/p2p/{}", n.port, n.id))
            .collect();
        for node in &self.nodes {
            let section = json!({
                "enabled": true,
                "nodes": addrs,
                "factor": self.factor,
                "write_quorum": self.quorum,
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
    }

    /// Stops node `i` cleanly (SIGTERM).
    pub fn stop(&mut self, i: usize) {
        let status = self.nodes[i].daemon.take().unwrap().stop();
        assert!(status.success(), "node {i} exited with {status}");
    }

    /// Waits until every running node is connected to every other running node.
    pub fn wait_meshed(&self) {
        for i in self.live() {
            for j in self.live() {
                if i != j {
                    wait_connected(&self.nodes[i].repo, &self.nodes[j].id);
                }
            }
        }
    }

    /// Adds `data` through node `i`'s RPC: (HTTP status, body).
    pub fn try_add(&self, i: usize, data: &[u8], name: &str) -> (u16, String) {
        let dir = tempfile::tempdir().unwrap();
        let file = write_file(dir.path(), name, data);
        curl_upload(&self.daemon(i).api, "add", &file)
    }

    pub fn start(&mut self, i: usize) {
        let listen = format!("/ip4/127.0.0.1/tcp/{}", self.nodes[i].port);
        let daemon = Daemon::start(&self.nodes[i].repo, &["--swarm-addr", &listen]);
        self.nodes[i].daemon = Some(daemon);
    }

    pub fn start_all(&mut self) {
        for i in 0..self.nodes.len() {
            self.start(i);
        }
    }

    pub fn kill9(&mut self, i: usize) {
        self.nodes[i].daemon.take().unwrap().kill9();
    }

    pub fn daemon(&self, i: usize) -> &Daemon {
        self.nodes[i].daemon.as_ref().unwrap()
    }

    pub fn live(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|i| self.nodes[*i].daemon.is_some())
            .collect()
    }

    pub fn index_of(&self, id: &str) -> usize {
        self.nodes.iter().position(|n| n.id == id).unwrap()
    }

    /// Adds `data` through node `i`'s RPC; the root and the holders its last line names.
    pub fn add(&self, i: usize, data: &[u8], name: &str) -> (String, Vec<String>) {
        let (status, body) = self.try_add(i, data, name);
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
    pub fn pins(&self, i: usize) -> BTreeSet<String> {
        self.nodes[i]
            .repo
            .ok(&["pin", "ls", "--type", "recursive"])
            .lines()
            .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
            .collect()
    }

    pub fn status(&self, i: usize, cid: &str) -> Value {
        let out = self.nodes[i]
            .repo
            .ok(&["replication", "status", "--json", cid]);
        serde_json::from_str(&out).unwrap()
    }

    pub fn overview(&self, i: usize) -> Value {
        serde_json::from_str(&self.nodes[i].repo.ok(&["replication", "status", "--json"])).unwrap()
    }

    /// For each root, the nodes (indices) holding it now.
    pub fn holders(&self, roots: &[String]) -> HashMap<String, BTreeSet<usize>> {
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
    pub fn expected(&self, ranked: &[String], r: usize) -> BTreeSet<usize> {
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
pub fn eventually(secs: u64, mut check: impl FnMut() -> Option<String>) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let Some(complaint) = check() else {
            return;
        };
        assert!(Instant::now() < deadline, "after {secs} s: {complaint}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

pub fn ranked(status: &Value) -> Vec<String> {
    status["Ranked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap().to_owned())
        .collect()
}

/// Every root's ranking, as node `i` reports it.
pub fn rankings(c: &Community, i: usize, roots: &[String]) -> HashMap<String, Vec<String>> {
    roots
        .iter()
        .map(|r| (r.clone(), ranked(&c.status(i, r))))
        .collect()
}

/// GETs `/ipfs/<root>` from a gateway: the bytes, or `None` on any failure.
pub fn gateway_bytes(gateway: &str, root: &str) -> Option<Vec<u8>> {
    let out = std::process::Command::new("curl")
        .args(["-sS", "--fail", &format!("http://{gateway}/ipfs/{root}")])
        .output()
        .ok()?;
    out.status.success().then_some(out.stdout)
}

/// Waits until every root is pinned on exactly its first `r` live ranked nodes.
pub fn wait_placed(
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
