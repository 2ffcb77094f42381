//! Ownership on Ethereum against a real local chain (anvil from npm) and a real wallet
//! library (ethers 6 signing EIP-712 typed data, as a browser wallet does): signed uploads
//! stored, relayed and registered; a second node following the chain; refusals that store
//! nothing; delisting (451 and unpinned); the chain going down and coming back; a reorg rolled
//! back; kill -9 with registrations queued (issue 16).

mod common;

use std::time::Duration;

use common::chain::*;
use common::community::eventually;
use common::*;
use serde_json::{Value, json};

/// An `add` of `file` with query `options` (`&`-joined, URL-safe): (status, body).
fn add(api: &str, file: &std::path::Path, options: &str) -> (u16, String) {
    curl_upload(api, &format!("add?{options}"), file)
}

/// The CID the node computes for `file` (what the artist signs).
fn only_hash(api: &str, file: &std::path::Path) -> String {
    let (status, body) = add(api, file, "only-hash=true&quieter=true");
    assert_eq!(status, 200, "{body}");
    json_line(&body)["Hash"].as_str().unwrap().to_owned()
}

fn json_line(body: &str) -> Value {
    serde_json::from_str(body.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

/// `chain/upload-request` for `cid` and `owner`.
fn upload_request(api: &str, cid: &str, owner: &str) -> Value {
    let (status, body) = curl_post(
        api,
        &format!("chain/upload-request?arg={cid}&owner={owner}"),
    );
    assert_eq!(status, 200, "{body}");
    json_line(&body)
}

/// The four query options of an upload signed with `signature` over `typed`.
fn signed_query(typed: &Value, signature: &str) -> String {
    let m = &typed["TypedData"]["message"];
    format!(
        "owner={}&timestamp={}&nonce={}&signature={signature}",
        m["owner"].as_str().unwrap(),
        m["timestamp"],
        m["nonce"].as_str().unwrap()
    )
}

/// `chain/owner` of `cid` on the daemon at `api`: the record, or `None` on 404.
fn owner_record(api: &str, cid: &str) -> Option<Value> {
    let (status, body) = curl_post(api, &format!("chain/owner?arg={cid}"));
    match status {
        200 => Some(json_line(&body)),
        404 => None,
        other => panic!("chain/owner answered {other}: {body}"),
    }
}

fn relay_state(api: &str, cid: &str) -> Value {
    let (status, body) = curl_post(api, &format!("chain/status?arg={cid}"));
    assert_eq!(status, 200, "{body}");
    json_line(&body)
}

fn pinned(api: &str, cid: &str) -> bool {
    curl_post(api, &format!("pin/ls?arg={cid}")).0 == 200
}

/// A signed upload of `file` by `artist_key` through ethers; returns (cid, options used).
fn signed_add(api: &str, file: &std::path::Path, artist: &(String, String)) -> (String, String) {
    let cid = only_hash(api, file);
    let typed = upload_request(api, &cid, &artist.1);
    let query = signed_query(&typed, &ethers_sign(&artist.0, &typed));
    let (status, body) = add(api, file, &query);
    assert_eq!(status, 200, "signed upload refused: {body}");
    assert_eq!(json_line(&body)["Hash"], cid.as_str());
    (cid, query)
}

fn gateway_status(gateway: &str, cid: &str) -> u16 {
    let out = std::process::Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("http://{gateway}/ipfs/{cid}"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[test]
fn signed_uploads_are_registered_followed_refused_and_delisted() {
    let anvil = Anvil::start();
    let a = Repo::init();
    let b = Repo::init();
    let registries = deploy(&anvil, &a);
    follow(&a, &anvil, &registries);
    follow(&b, &anvil, &registries);
    let da = Daemon::start(&a, &["--offline"]);
    let db = Daemon::start(&b, &["--offline"]);
    let dir = tempfile::tempdir().unwrap();
    let artist = new_key();

    // Signed by the artist's wallet → stored, relayed, mined; both nodes learn the owner.
    let song = write_file(dir.path(), "song.bin", &pseudo_random(300_000, 1));
    let (cid, accepted) = signed_add(&da.api, &song, &artist);
    assert!(pinned(&da.api, &cid));
    let mut tx = String::new();
    eventually(60, || {
        let s = relay_state(&da.api, &cid);
        if s["State"] == "mined" || s["State"] == "confirmed" {
            tx = s["Tx"].as_str().unwrap().to_owned();
            None
        } else {
            Some(format!("relay: {s}"))
        }
    });
    for api in [&da.api, &db.api] {
        eventually(60, || match owner_record(api, &cid) {
            Some(r) if r["Owner"] == artist.1.as_str() && r["Tx"] == tx.as_str() => None,
            other => Some(format!("owner on {api}: {other:?}")),
        });
    }
    let record = owner_record(&db.api, &cid).unwrap();
    assert_eq!(record["Kind"], "file");
    assert_eq!(record["Delisted"], false);
    assert!(record["Block"].as_u64().unwrap() > 0);

    // Refused, with a clear error and nothing stored.
    let other = new_key();
    let cases: Vec<(&str, u16, &str)> = vec![
        ("another key", 403, "recovers to"),
        ("other bytes", 403, "recovers to"),
        ("expired", 403, "old"),
        ("malformed", 400, "signature"),
    ];
    for (i, (case, want, says)) in cases.into_iter().enumerate() {
        let file = write_file(
            dir.path(),
            &format!("refused{i}"),
            &pseudo_random(50_000, 100 + i as u64),
        );
        let file_cid = only_hash(&da.api, &file);
        let query = match case {
            "another key" => {
                let typed = upload_request(&da.api, &file_cid, &artist.1);
                signed_query(&typed, &ethers_sign(&other.0, &typed))
            }
            "other bytes" => {
                // Signed for the song's bytes, sent with these.
                let typed = upload_request(&da.api, &cid, &artist.1);
                signed_query(&typed, &ethers_sign(&artist.0, &typed))
            }
            "expired" => {
                let mut typed = upload_request(&da.api, &file_cid, &artist.1);
                let old = typed["TypedData"]["message"]["timestamp"].as_u64().unwrap() - 49 * 3600;
                typed["TypedData"]["message"]["timestamp"] = json!(old);
                signed_query(&typed, &ethers_sign(&artist.0, &typed))
            }
            _ => {
                let typed = upload_request(&da.api, &file_cid, &artist.1);
                signed_query(&typed, "0x1234")
            }
        };
        let (status, body) = add(&da.api, &file, &query);
        assert_eq!(status, want, "{case}: {body}");
        assert!(body.contains(says), "{case}: {body}");
        assert!(!pinned(&da.api, &file_cid), "{case}: stored anyway");
    }
    // A replayed signature (the accepted one, again).
    let (status, body) = add(&da.api, &song, &accepted);
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("already used"), "{body}");
    let metrics = http_get(&da.metrics, "/metrics");
    assert!(
        sample(
            &metrics,
            "chorus_chain_signature_failures_total{reason=\"wrong_signer\"}"
        ) >= 2.0
    );
    assert!(
        sample(
            &metrics,
            "chorus_chain_signature_failures_total{reason=\"replayed\"}"
        ) >= 1.0
    );
    assert_eq!(
        sample(
            &metrics,
            "chorus_chain_relay_transactions_total{outcome=\"mined\"}"
        ),
        1.0
    );

    // The owner delists it from their own wallet: 451 on both gateways, unpinned on A.
    anvil.fund(&artist.1);
    delist(&anvil, &registries, &artist.0, &cid);
    for gateway in [&da.gateway, &db.gateway] {
        eventually(60, || match gateway_status(gateway, &cid) {
            451 => None,
            s => Some(format!("gateway {gateway} answered {s}")),
        });
    }
    eventually(30, || {
        (pinned(&da.api, &cid)).then(|| "still pinned".to_owned())
    });
    assert_eq!(owner_record(&db.api, &cid).unwrap()["Delisted"], true);
    // The same content named by its CIDv1 is the same record, delisted too.
    let v1 = chorus_storage::Cid::try_from(cid.as_str())
        .map(|c| chorus_storage::Cid::new_v1(c.codec(), *c.hash()).to_string())
        .unwrap();
    assert_ne!(v1, cid);
    assert_eq!(
        owner_record(&db.api, &v1).unwrap()["Owner"],
        artist.1.as_str()
    );
    assert_eq!(gateway_status(&db.gateway, &v1), 451);
}

/// The owner's own `delist(cid)` transaction, sent with alloy from the owner's key.
fn delist(anvil: &Anvil, r: &Registries, key: &str, cid: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let signer = chorus_chain::wallet::parse_hex_key(key).unwrap();
        let provider = chorus_chain::endpoint::writer(&anvil.url(), signer).unwrap();
        let registry =
            chorus_chain::contracts::ContentRegistry::new(r.content.parse().unwrap(), provider);
        let receipt = registry
            .delist(cid.to_owned())
            .send()
            .await
            .unwrap()
            .with_timeout(Some(Duration::from_secs(30)))
            .get_receipt()
            .await
            .unwrap();
        assert!(receipt.status());
    });
}

/// `ContentRegistered` events of the registry so far, as (cid, owner topic).
fn registered_events(anvil: &Anvil, r: &Registries) -> Vec<String> {
    use chorus_chain::SolEvent as _;
    let topic = chorus_chain::contracts::ContentRegistry::ContentRegistered::SIGNATURE_HASH;
    let logs = anvil.rpc(
        "eth_getLogs",
        json!([{"address": r.content, "fromBlock": "0x0", "toBlock": "latest", "topics": [topic.to_string()]}]),
    );
    logs.as_array()
        .unwrap()
        .iter()
        .map(|l| l["transactionHash"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn queued_registrations_survive_the_chain_going_down_and_kill_9_and_a_reorg_is_rolled_back() {
    let mut anvil = Anvil::start();
    let a = Repo::init();
    let b = Repo::init();
    let registries = deploy(&anvil, &a);
    follow(&a, &anvil, &registries);
    follow(&b, &anvil, &registries);
    // The relaying node waits 2 blocks before it counts a registration as done.
    a.ok(&["config", "chain.confirmations", "2", "--json"]);
    let da = Daemon::start(&a, &["--offline"]);
    let db = Daemon::start(&b, &["--offline"]);
    let dir = tempfile::tempdir().unwrap();
    let artist = new_key();

    // The chain goes down: uploads are still verified, stored and acknowledged; their
    // registrations wait in the queue; serving goes on.
    anvil.stop();
    let mut cids = Vec::new();
    for i in 0..3 {
        let file = write_file(
            dir.path(),
            &format!("t{i}"),
            &pseudo_random(80_000, 200 + i),
        );
        cids.push(signed_add(&da.api, &file, &artist).0);
    }
    // kill -9 right after the last acknowledgement.
    da.kill9();
    let da = Daemon::start(&a, &["--offline"]);
    for cid in &cids {
        assert_eq!(relay_state(&da.api, cid)["State"], "queued");
        assert!(pinned(&da.api, cid));
        assert_eq!(gateway_status(&da.gateway, cid), 200);
    }
    eventually(30, || {
        let (_, body) = curl_post(&da.api, "chain/status");
        let s = json_line(&body);
        (s["Reachable"] != false || s["RelayQueue"] != 3).then(|| format!("status: {s}"))
    });

    // The chain comes back: the queue drains, the follower catches up; nothing twice.
    anvil.resume();
    for cid in &cids {
        eventually(90, || {
            let s = relay_state(&da.api, cid);
            (s["State"] != "mined" && s["State"] != "confirmed")
                .then(|| format!("relay of {cid}: {s}"))
        });
        eventually(60, || match owner_record(&db.api, cid) {
            Some(r) if r["Owner"] == artist.1.as_str() => None,
            other => Some(format!("owner of {cid} on B: {other:?}")),
        });
    }
    assert_eq!(registered_events(&anvil, &registries).len(), 3);

    // A reorg drops a registration: the follower rolls back what it had applied, and the
    // relay, whose transaction is gone before it was 2 blocks deep, registers it again.
    let snapshot = anvil.rpc("evm_snapshot", json!([]));
    let file = write_file(dir.path(), "reorged", &pseudo_random(60_000, 300));
    let (cid, _) = signed_add(&da.api, &file, &artist);
    let mut first_tx = String::new();
    eventually(60, || match owner_record(&db.api, &cid) {
        Some(r) => {
            first_tx = r["Tx"].as_str().unwrap().to_owned();
            None
        }
        None => Some("not applied yet".to_owned()),
    });
    assert_eq!(anvil.rpc("evm_revert", json!([snapshot])), true);
    anvil.rpc("anvil_mine", json!(["0x3"]));
    eventually(90, || {
        let reorgs = sample(
            &http_get(&db.metrics, "/metrics"),
            "chorus_chain_reorgs_total",
        );
        match owner_record(&db.api, &cid) {
            Some(r) if reorgs >= 1.0 && r["Tx"] != first_tx.as_str() => None,
            other => Some(format!("reorgs {reorgs}, record {other:?}")),
        }
    });
    // Deep enough now: the relay's job is done, and only one registration stands.
    anvil.rpc("anvil_mine", json!(["0x3"]));
    eventually(30, || {
        let s = relay_state(&da.api, &cid);
        (s["State"] != "confirmed").then(|| format!("relay: {s}"))
    });
    assert_eq!(registered_events(&anvil, &registries).len(), 4);
    // What the reorg did not touch stays.
    for cid in &cids {
        assert!(owner_record(&db.api, cid).is_some());
    }
}

#[test]
fn cli_signs_tracks_and_files_and_a_node_can_require_signatures() {
    let anvil = Anvil::start();
    let a = Repo::init();
    let registries = deploy(&anvil, &a);
    follow(&a, &anvil, &registries);
    a.ok(&["config", "chain.require_signatures", "true", "--json"]);
    let daemon = Daemon::start(&a, &["--offline"]);
    let dir = tempfile::tempdir().unwrap();
    let artist = new_key();
    let key = key_file(dir.path(), "artist.key", &artist.0);

    // Unsigned uploads are refused (403) on every upload path, before anything is stored.
    let file = write_file(dir.path(), "plain", &pseudo_random(40_000, 400));
    for command in ["add", "dag/import", "block/put", "track/add"] {
        let (status, body) = curl_upload(&daemon.api, command, &file);
        assert_eq!(status, 403, "{command}: {body}");
        assert!(body.contains("require_signatures"), "{command}: {body}");
    }

    // `chorus add --sign` and `chorus track add --sign` sign as the artist and are registered.
    let out = a.ok(&[
        "add",
        "-Q",
        "--sign",
        key.to_str().unwrap(),
        file.to_str().unwrap(),
    ]);
    let file_cid = out.trim().to_owned();
    let wav = dir.path().join("tune.wav");
    let status = std::process::Command::new("ffmpeg")
        .args([
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "sine=frequency=440:duration=3",
        ])
        .arg(&wav)
        .status()
        .unwrap();
    assert!(status.success());
    let track = a
        .ok(&[
            "track",
            "add",
            "--sign",
            key.to_str().unwrap(),
            wav.to_str().unwrap(),
        ])
        .trim()
        .to_owned();
    let info: Value = serde_json::from_str(&a.ok(&["track", "info", &track])).unwrap();
    let source = info["source_cid"]
        .as_str()
        .or_else(|| info["SourceCid"].as_str())
        .unwrap_or_else(|| panic!("no source CID in track.json: {info}"))
        .to_owned();
    for (cid, kind) in [
        (&file_cid, "file"),
        (&track, "track"),
        (&source, "track-source"),
    ] {
        eventually(60, || match owner_record(&daemon.api, cid) {
            Some(r) if r["Owner"] == artist.1.as_str() && r["Kind"] == kind => None,
            other => Some(format!("owner of {cid} ({kind}): {other:?}")),
        });
    }
    let out = a.ok(&["chain", "owner", &track]);
    assert!(out.contains(&artist.1), "{out}");
    eventually(30, || {
        let out = a.ok(&["chain", "status"]);
        (!out.contains("relay queue 0")).then_some(out)
    });
}

#[test]
fn wallet_imports_a_keystore_made_by_ethers() {
    let repo = Repo::init();
    let dir = tempfile::tempdir().unwrap();
    let (key, address) = new_key();
    // ethers' encrypted JSON keystore (v3, scrypt), as MetaMask or geth export one.
    let script = format!(
        "import {{ Wallet }} from 'ethers'; const w = new Wallet('{key}'); process.stdout.write(await w.encrypt('hunter2'))"
    );
    let cache = test_cache().join("npm");
    let out = std::process::Command::new(node_bin())
        .args(["--input-type=module", "-e", &script])
        .current_dir(&cache)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keystore = write_file(dir.path(), "keystore.json", &out.stdout);
    let wrong = write_file(dir.path(), "wrong", b"nope\n");
    let err = repo.fails(&[
        "wallet",
        "import",
        keystore.to_str().unwrap(),
        "--password-file",
        wrong.to_str().unwrap(),
    ]);
    assert!(err.contains("keystore"), "{err}");
    let password = write_file(dir.path(), "password", b"hunter2\n");
    let printed = repo.ok(&[
        "wallet",
        "import",
        keystore.to_str().unwrap(),
        "--password-file",
        password.to_str().unwrap(),
    ]);
    assert_eq!(printed.trim(), address);
    assert_eq!(repo.ok(&["wallet", "address"]).trim(), address);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(repo.path().join("keystore/operator"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // Never replaced.
    let err = repo.fails(&["wallet", "new"]);
    assert!(err.contains("already has"), "{err}");
}

#[test]
fn a_community_takes_its_members_from_the_node_registry() {
    let anvil = Anvil::start();
    let a = Repo::init();
    let b = Repo::init();
    let registries = deploy(&anvil, &a);
    operator_wallet(&anvil, &b);
    let ports = [free_port(), free_port()];
    for (repo, port) in [(&a, ports[0]), (&b, ports[1])] {
        follow(repo, &anvil, &registries);
        let addr = format!("/ip4/127.0.0.1/tcp/{port}");
        let out = repo.ok(&[
            "chain",
            "register-node",
            "--addr",
            &addr,
            "--gateway-url",
            "http://gw.example",
        ]);
        assert!(out.contains("registered"), "{out}");
        // No node listed in the config: the community comes from the chain.
        let section = json!({
            "enabled": true, "nodes": [], "factor": 2, "write_quorum": 2,
            "ack_timeout_secs": 30, "nodes_from_chain": true,
        });
        repo.ok(&["config", "--json", "replication", &section.to_string()]);
        repo.ok(&["config", "swarm.routing", "none"]);
        repo.ok(&["config", "--json", "swarm.autonat", "false"]);
    }
    let (id_a, id_b) = (peer_id(&a), peer_id(&b));
    let listed = b.ok(&["chain", "nodes"]);
    for id in [&id_a, &id_b] {
        assert!(listed.contains(id.as_str()), "{listed}");
    }
    assert!(listed.contains("http://gw.example"), "{listed}");

    let listen = |port: u16| format!("/ip4/127.0.0.1/tcp/{port}");
    let da = Daemon::start(&a, &["--swarm-addr", &listen(ports[0])]);
    let _db = Daemon::start(&b, &["--swarm-addr", &listen(ports[1])]);
    // W = 2 of 2: the upload is acknowledged only once B, known only from the chain, holds it.
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "community", &pseudo_random(100_000, 500));
    let (status, body) = curl_upload(&da.api, "add", &file);
    assert_eq!(status, 200, "{body}");
    let holders = json_line(&body)["Holders"].clone();
    for id in [&id_a, &id_b] {
        assert!(holders.to_string().contains(id.as_str()), "{holders}");
    }

    // Deregistered: no longer listed.
    b.ok(&["chain", "deregister-node"]);
    let listed = a.ok(&["chain", "nodes"]);
    assert!(
        listed.contains(&id_a) && !listed.contains(&id_b),
        "{listed}"
    );
}

#[test]
fn a_community_replicates_what_the_chain_registers_wherever_it_was_uploaded() {
    let anvil = Anvil::start();
    // C is outside the community: it takes the signed upload and relays it.
    let c = Repo::init();
    let registries = deploy(&anvil, &c);
    let c_port = free_port();
    let c_addr = format!("/ip4/127.0.0.1/tcp/{c_port}/p2p/{}", peer_id(&c));
    let members = [Repo::init(), Repo::init()];
    let ports = [free_port(), free_port()];
    let nodes: Vec<String> = members
        .iter()
        .zip(ports)
        .map(|(r, p)| format!("/ip4/127.0.0.1/tcp/{p}/p2p/{}", peer_id(r)))
        .collect();
    for repo in [&c, &members[0], &members[1]] {
        follow(repo, &anvil, &registries);
        repo.ok(&["config", "swarm.routing", "none"]);
        repo.ok(&["config", "--json", "swarm.autonat", "false"]);
    }
    for repo in &members {
        let section = json!({
            "enabled": true, "nodes": nodes, "factor": 2, "write_quorum": 1,
            "ack_timeout_secs": 30, "content_from_chain": true,
        });
        repo.ok(&["config", "--json", "replication", &section.to_string()]);
        // Peered with C, so Bitswap finds C's blocks.
        repo.ok(&[
            "config",
            "--json",
            "swarm.peering",
            &json!([c_addr]).to_string(),
        ]);
    }
    let listen = |port: u16| format!("/ip4/127.0.0.1/tcp/{port}");
    let dc = Daemon::start(&c, &["--swarm-addr", &listen(c_port)]);
    let da = Daemon::start(&members[0], &["--swarm-addr", &listen(ports[0])]);
    let db = Daemon::start(&members[1], &["--swarm-addr", &listen(ports[1])]);

    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "from-outside", &pseudo_random(400_000, 600));
    let (cid, _) = signed_add(&dc.api, &file, &new_key());
    // Registered on chain → both members (R = 2) take it into the content set and pin it.
    for d in [&da, &db] {
        eventually(90, || {
            let (_, body) = curl_post(&d.api, &format!("replication/status?arg={cid}"));
            let s = json_line(&body);
            (!(pinned(&d.api, &cid) && s["InContentSet"] == true))
                .then(|| format!("on {}: {s}", d.api))
        });
    }
    let got = std::process::Command::new("curl")
        .args(["-sS", "--fail"])
        .arg(format!("http://{}/ipfs/{cid}", db.gateway))
        .output()
        .unwrap();
    assert_eq!(got.stdout, std::fs::read(&file).unwrap());
}

/// Runs `openssl` with `args` in `dir`.
fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = std::process::Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl (Debian openssl) missing");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// nginx terminating TLS (a certificate for 127.0.0.1 from a test CA) in front of `upstream`;
/// stopped on drop.
struct TlsProxy {
    child: std::process::Child,
    port: u16,
    ca: std::path::PathBuf,
}

impl TlsProxy {
    fn start(dir: &std::path::Path, upstream: &str) -> TlsProxy {
        openssl(
            dir,
            &[
                "req",
                "-x509",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=chorus test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
        );
        openssl(
            dir,
            &[
                "req",
                "-newkey",
                "rsa:2048",
                "-nodes",
                "-keyout",
                "leaf.key",
                "-out",
                "leaf.csr",
                "-subj",
                "/CN=127.0.0.1",
            ],
        );
        std::fs::write(
            dir.join("leaf.ext"),
            "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
        )
        .unwrap();
        openssl(
            dir,
            &[
                "x509",
                "-req",
                "-in",
                "leaf.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "leaf.pem",
                "-days",
                "2",
                "-extfile",
                "leaf.ext",
            ],
        );
        let port = free_port();
        let d = dir.display();
        std::fs::write(
            dir.join("nginx.conf"),
            format!(
                "daemon off; master_process off; pid {d}/nginx.pid; error_log {d}/nginx-error.log;\n\
                 events {{}}\n\
                 http {{ access_log off; client_body_temp_path {d}; proxy_temp_path {d};\n\
                   server {{ listen 127.0.0.1:{port} ssl; ssl_certificate {d}/leaf.pem;\n\
                     ssl_certificate_key {d}/leaf.key; location / {{ proxy_pass {upstream}; }} }} }}\n"
            ),
        )
        .unwrap();
        let child = std::process::Command::new("nginx")
            .arg("-c")
            .arg(dir.join("nginx.conf"))
            .arg("-p")
            .arg(dir)
            .stderr(std::process::Stdio::inherit())
            .spawn()
            .expect("nginx (Debian nginx-light) missing");
        let proxy = TlsProxy {
            child,
            port,
            ca: dir.join("ca.pem"),
        };
        eventually(30, || {
            let out = std::process::Command::new("curl")
                .args(["-sS", "--cacert"])
                .arg(&proxy.ca)
                .args(["-H", "content-type: application/json", "--data"])
                .arg(r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#)
                .arg(proxy.url())
                .output()
                .unwrap();
            (!String::from_utf8_lossy(&out.stdout).contains("result"))
                .then(|| format!("TLS proxy: {}", String::from_utf8_lossy(&out.stderr)))
        });
        proxy
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }
}

impl Drop for TlsProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn an_https_endpoint_is_verified_and_used() {
    let anvil = Anvil::start();
    let dir = tempfile::tempdir().unwrap();
    let proxy = TlsProxy::start(dir.path(), &anvil.url());
    let a = Repo::init();
    let operator = operator_wallet(&anvil, &a);
    let _ = operator;
    // A certificate from an authority the node does not trust is refused...
    let err = a.fails(&["chain", "deploy", "--rpc-url", &proxy.url()]);
    assert!(err.to_lowercase().contains("certificate"), "{err}");
    // ...and accepted once the authority is trusted (SSL_CERT_FILE, as OpenSSL tools read it).
    let ca = proxy.ca.to_str().unwrap().to_owned();
    let out = a
        .cmd(&["chain", "deploy", "--rpc-url", &proxy.url(), "--json"])
        .env("SSL_CERT_FILE", &ca)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let registries = Registries {
        content: v["ContentRegistry"].as_str().unwrap().to_owned(),
        nodes: v["NodeRegistry"].as_str().unwrap().to_owned(),
    };
    follow(&a, &anvil, &registries);
    a.ok(&["config", "chain.rpc_url", &proxy.url()]);
    let da = Daemon::start_with_env(&a, &["--offline"], &[("SSL_CERT_FILE", ca.as_str())]);
    let file = write_file(dir.path(), "over-tls", &pseudo_random(30_000, 700));
    let artist = new_key();
    let (cid, _) = signed_add(&da.api, &file, &artist);
    eventually(60, || match owner_record(&da.api, &cid) {
        Some(r) if r["Owner"] == artist.1.as_str() => None,
        other => Some(format!("owner over https: {other:?}")),
    });
}
