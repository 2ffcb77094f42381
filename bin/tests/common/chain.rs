//! A real local chain for the chain tests: anvil from npm (`@foundry-rs/anvil`, installed into
//! the test cache), on a free loopback port, plus JSON-RPC calls to it, ethers-made signatures
//! (`tests/js/chain_sign.mjs`, as a browser wallet signs) and nodes configured to follow it.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chorus_chain::PrivateKeySigner;
use serde_json::{Value, json};

use super::{Repo, node_bin, test_cache};

/// anvil's binary in the test cache.
pub fn anvil_bin() -> PathBuf {
    let bin = test_cache().join("npm/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil");
    assert!(
        bin.is_file(),
        "anvil missing at {}: run scripts/install-test-peers.sh",
        bin.display()
    );
    bin
}

/// A running anvil (auto-mining, chain id 31337); killed on drop.
pub struct Anvil {
    child: Option<Child>,
    pub port: u16,
    /// Its state file (kept across a stop and a start: the chain survives).
    pub state: PathBuf,
    _dir: tempfile::TempDir,
}

impl Anvil {
    pub fn start() -> Anvil {
        let dir = tempfile::tempdir().unwrap();
        let mut anvil = Anvil {
            child: None,
            port: super::free_port(),
            state: dir.path().join("state.json"),
            _dir: dir,
        };
        anvil.resume();
        anvil
    }

    /// The endpoint.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops it (its state is dumped to the state file: SIGTERM lets it).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port from its state file.
    pub fn resume(&mut self) {
        assert!(self.child.is_none());
        let child = Command::new(anvil_bin())
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--chain-id", "31337", "--accounts", "1", "--silent"])
            .arg("--state")
            .arg(&self.state)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("cannot start anvil");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(30);
        while rpc_raw(&self.url(), "eth_chainId", json!([])).is_none() {
            assert!(Instant::now() < deadline, "anvil did not answer");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// A JSON-RPC call that must succeed; its `result`.
    pub fn rpc(&self, method: &str, params: Value) -> Value {
        rpc_raw(&self.url(), method, params).unwrap_or_else(|| panic!("{method} failed"))
    }

    /// Gives `address` 100 ether.
    pub fn fund(&self, address: &str) {
        self.rpc("anvil_setBalance", json!([address, "0x56bc75e2d63100000"]));
    }

    /// The chain's head.
    pub fn block_number(&self) -> u64 {
        let v = self.rpc("eth_blockNumber", json!([]));
        u64::from_str_radix(v.as_str().unwrap().trim_start_matches("0x"), 16).unwrap()
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A JSON-RPC call with curl; `None` when unreachable or an error.
pub fn rpc_raw(url: &str, method: &str, params: Value) -> Option<Value> {
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params});
    let out = Command::new("curl")
        .args([
            "-sS",
            "-m",
            "10",
            "-H",
            "content-type: application/json",
            "--data",
        ])
        .arg(body.to_string())
        .arg(url)
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    v.get("result").cloned()
}

/// A fresh key: (0x-hex private key, checksummed address).
pub fn new_key() -> (String, String) {
    let key = PrivateKeySigner::random();
    (key.to_bytes().to_string(), key.address().to_checksum(None))
}

/// Signs `typed` (`{"TypedData": …}`) with ethers' `Wallet.signTypedData`, as a browser wallet.
pub fn ethers_sign(key: &str, typed: &Value) -> String {
    let cache = test_cache().join("npm");
    let mut child = Command::new(node_bin())
        .arg(cache.join("chain_sign.mjs"))
        .arg(key)
        .current_dir(&cache)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(typed.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "chain_sign.mjs: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// The two registries' addresses, deployed by `chorus chain deploy` from `repo`'s wallet.
pub struct Registries {
    pub content: String,
    pub nodes: String,
}

/// Deploys the registries with `repo`'s operator wallet (created and funded here).
pub fn deploy(anvil: &Anvil, repo: &Repo) -> Registries {
    let operator = operator_wallet(anvil, repo);
    let _ = operator;
    let out = repo.ok(&["chain", "deploy", "--rpc-url", &anvil.url(), "--json"]);
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["ChainId"], 31337);
    Registries {
        content: v["ContentRegistry"].as_str().unwrap().to_owned(),
        nodes: v["NodeRegistry"].as_str().unwrap().to_owned(),
    }
}

/// Creates `repo`'s operator wallet (`chorus wallet new`) and funds it; its address.
pub fn operator_wallet(anvil: &Anvil, repo: &Repo) -> String {
    let address = repo.ok(&["wallet", "new"]).trim().to_owned();
    anvil.fund(&address);
    address
}

/// Points `repo` at the chain through `chorus config` (0 confirmations: a dev chain; quick
/// polls so the tests wait on events, not on intervals).
pub fn follow(repo: &Repo, anvil: &Anvil, r: &Registries) {
    repo.ok(&["config", "chain.rpc_url", &anvil.url()]);
    repo.ok(&["config", "chain.chain_id", "31337", "--json"]);
    repo.ok(&["config", "chain.content_registry", &r.content]);
    repo.ok(&["config", "chain.node_registry", &r.nodes]);
    repo.ok(&["config", "chain.confirmations", "0", "--json"]);
    repo.ok(&["config", "chain.poll_interval", "200ms"]);
}

/// Writes `key` to a file (for `--sign` and `--key-file`).
pub fn key_file(dir: &Path, name: &str, key: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{key}\n")).unwrap();
    path
}
