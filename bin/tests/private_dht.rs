//! Five daemons in a private DHT on loopback: content added on A is found by E, which knows
//! only B, through provider records, and fetched byte-equal over Bitswap.

mod common;

use common::*;

fn start_knowing(repo: &Repo, bootstrap: Option<&str>) -> Daemon {
    if let Some(addr) = bootstrap {
        repo.ok(&["bootstrap", "add", addr]);
    }
    Daemon::start(repo, &["--swarm-addr", "/ip4/127.0.0.1/tcp/0"])
}

#[test]
fn e_finds_a_through_provider_records_and_fetches_a_multi_level_dag() {
    // B is everyone's only bootstrap peer.
    let b = dht_server_repo();
    let b_id = peer_id(&b);
    let daemon_b = start_knowing(&b, None);
    let b_addr = format!("{}/p2p/{b_id}", daemon_b.swarm[0]);

    let a = dht_server_repo();
    let c = dht_server_repo();
    let d = dht_server_repo();
    let e = dht_server_repo();
    let a_id = peer_id(&a);
    let _daemon_a = start_knowing(&a, Some(&b_addr));
    wait_connected(&a, &b_id);
    let _daemon_c = start_knowing(&c, Some(&b_addr));
    let _daemon_d = start_knowing(&d, Some(&b_addr));

    // 4 MB in 4 KiB chunks: ~1000 leaves under intermediate nodes under the root.
    let data = pseudo_random(4_000_000, 99);
    let f = write_file(a.dir.path(), "album.bin", &data);
    let cid = a
        .ok(&["add", "-Q", "--chunker", "size-4096", f.to_str().unwrap()])
        .trim()
        .to_string();
    // 977 leaves > 174 links per node: the balanced layout needs an intermediate level.
    let root = a.ok_bytes(&["block", "get", &cid]);
    assert!(
        root.len() < 174 * 60,
        "the root links intermediate nodes, not 977 leaves"
    );

    // A announced the root on add; wait until the DHT (asked through B) knows it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let out = b.run(&["routing", "findprovs", "-n", "1", &cid]);
        if String::from_utf8_lossy(&out.stdout).contains(&a_id) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "A's provider record never appeared"
        );
    }

    let _daemon_e = start_knowing(&e, Some(&b_addr));
    wait_connected(&e, &b_id);
    assert_eq!(
        e.ok(&["bootstrap", "list"]).trim(),
        b_addr,
        "E is configured with B only"
    );
    // E's DHT names A as the provider (E may also meet A through its DHT bootstrap walk).
    let provs = e.ok(&["routing", "findprovs", "-n", "1", &cid]);
    assert!(provs.contains(&a_id), "E's findprovs: {provs}");
    let got = e.ok_bytes(&["cat", &cid]);
    assert_eq!(got.len(), data.len());
    assert!(got == data, "E's copy differs");
    // E fetched from A itself (B never held the content).
    assert!(e.ok(&["swarm", "peers"]).contains(&a_id));
    drop(daemon_b);
}
