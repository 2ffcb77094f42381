//! Replication among real daemons on loopback: placement, the write quorum, repair after
//! kill -9, catch-up and cleanup after a restart (issue 15).

mod common;

use std::collections::{BTreeSet, HashMap};

use common::community::*;
use common::*;

#[test]
fn uploads_land_on_their_ranked_nodes_survive_two_kills_and_rebalance_after_restart() {
    let _serial = serial();
    let mut c = Community::new(5, 3, 2);
    c.start_all();
    c.wait_meshed();

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
}

#[test]
fn an_upload_short_of_its_quorum_fails_naming_its_copies_and_an_acknowledged_one_survives_its_uploader()
 {
    let _serial = serial();
    let mut c = Community::new(3, 2, 2);
    c.start_all();
    c.wait_meshed();

    // Acknowledged, then the uploader is killed at once: the other copy serves it.
    let data = pseudo_random(400_000, 7);
    let (root, holders) = c.add(0, &data, "kept.bin");
    assert_eq!(holders.len(), 2, "W = 2: {holders:?}");
    c.kill9(0);
    let other = holders
        .iter()
        .map(|h| c.index_of(h))
        .find(|i| *i != 0)
        .unwrap();
    let got = gateway_bytes(&c.daemon(other).gateway, &root).expect("read after the kill");
    assert!(got == data, "the surviving copy differs");
    c.start(0);
    c.wait_meshed();

    // Both other nodes gone: one copy (the uploader's own, if it is ranked) cannot make W.
    c.kill9(1);
    c.kill9(2);
    let lonely = pseudo_random(100_000, 8);
    let (status, body) = c.try_add(0, &lonely, "lonely.bin");
    assert_eq!(status, 500, "{body}");
    let error: serde_json::Value = serde_json::from_str(body.lines().last().unwrap()).unwrap();
    let message = error["Message"].as_str().unwrap();
    assert!(message.contains("of 2 durable copies"), "{message}");
    assert!(message.contains("repair continues"), "{message}");
    // The content is kept where it was uploaded; once the others are back, repair places it.
    let lonely_root = c.nodes[0]
        .repo
        .ok(&[
            "add",
            "-Q",
            "--only-hash",
            &write_file(c.nodes[0].repo.dir.path(), "l.bin", &lonely).to_string_lossy(),
        ])
        .trim()
        .to_owned();
    assert!(
        c.pins(0).contains(&lonely_root),
        "the failed upload is kept"
    );
    c.start(1);
    c.start(2);
    let rankings = rankings(&c, 0, std::slice::from_ref(&lonely_root));
    wait_placed(
        &c,
        std::slice::from_ref(&lonely_root),
        &rankings,
        2,
        GRACE_SECS + 60,
    );

    // A removal is a tombstone in the log: the other nodes learn it and drop the root from
    // the content set; no copy is unpinned by it.
    let before = c.overview(1)["ContentRoots"].as_u64().unwrap();
    assert_eq!(c.status(1, &lonely_root)["InContentSet"], true);
    let out = c.nodes[0].repo.ok(&["replication", "remove", &lonely_root]);
    assert_eq!(out.trim(), format!("removed {lonely_root}"));
    eventually(30, || {
        let now = c.overview(1)["ContentRoots"].as_u64().unwrap();
        (now != before - 1)
            .then(|| format!("node 1 counts {now} roots, {before} before the removal"))
    });
    assert_eq!(c.status(1, &lonely_root)["InContentSet"], false);
    let held = c.holders(std::slice::from_ref(&lonely_root));
    assert_eq!(held[&lonely_root].len(), 2, "the copies stay pinned");
}

#[test]
fn every_upload_path_answers_with_its_holders() {
    let _serial = serial();
    let mut c = Community::new(3, 2, 2);
    c.start_all();
    c.wait_meshed();
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("tone.wav");
    let status = std::process::Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg("sine=frequency=440:duration=3")
        .args(["-ac", "2", "-ar", "44100"])
        .arg(&wav)
        .status()
        .expect("ffmpeg (Debian ffmpeg) missing");
    assert!(status.success());
    let (code, body) = curl_upload(&c.daemon(0).api, "track/add?progress=false", &wav);
    assert_eq!(code, 200, "{body}");
    let last: serde_json::Value = serde_json::from_str(body.lines().last().unwrap()).unwrap();
    let root = last["Cid"].as_str().unwrap().to_owned();
    let holders: Vec<usize> = last["Holders"]
        .as_array()
        .unwrap_or_else(|| panic!("no Holders in {last}"))
        .iter()
        .map(|h| c.index_of(h.as_str().unwrap()))
        .collect();
    assert_eq!(holders.len(), 2, "{last}");
    for i in holders {
        assert!(
            c.pins(i).contains(&root),
            "node {i} was named a holder of the track"
        );
    }

    // Every named holder pins the root; `check` asserts it for one answer's holder list.
    let check = |root: &str, holders: &serde_json::Value, what: &str| {
        let holders = holders
            .as_array()
            .unwrap_or_else(|| panic!("{what}: no holders"));
        assert_eq!(holders.len(), 2, "{what}: {holders:?}");
        for h in holders {
            let i = c.index_of(h.as_str().unwrap());
            assert!(
                c.pins(i).contains(root),
                "{what}: node {i} named but not pinning"
            );
        }
    };
    let api = c.daemon(0).api.clone();
    // block/put with a pin: each block's line.
    let block = write_file(dir.path(), "block.bin", &pseudo_random(5_000, 77));
    let (code, body) = curl_upload(&api, "block/put?pin=true", &block);
    assert_eq!(code, 200, "{body}");
    let line: serde_json::Value = serde_json::from_str(body.lines().last().unwrap()).unwrap();
    check(line["Key"].as_str().unwrap(), &line["Holders"], "block/put");
    // pin/add of content added unpinned: the Holders of each root.
    let file = write_file(dir.path(), "later.bin", &pseudo_random(200_000, 78));
    let (code, body) = curl_upload(&api, "add?pin=false", &file);
    assert_eq!(code, 200, "{body}");
    let added: serde_json::Value = serde_json::from_str(body.lines().last().unwrap()).unwrap();
    assert!(
        added.get("Holders").is_none(),
        "an unpinned add is not replicated"
    );
    let root = added["Hash"].as_str().unwrap().to_owned();
    let (code, body) = curl_post(&api, &format!("pin/add?arg={root}"));
    assert_eq!(code, 200, "{body}");
    let line: serde_json::Value = serde_json::from_str(body.lines().last().unwrap()).unwrap();
    check(&root, &line["Holders"][&root], "pin/add");
    // dag/import of a CAR exported elsewhere: each root's line.
    let other = Repo::init();
    let file = write_file(other.dir.path(), "car-src.bin", &pseudo_random(120_000, 79));
    let root = other
        .ok(&["add", "-Q", file.to_str().unwrap()])
        .trim()
        .to_owned();
    let car = write_file(
        dir.path(),
        "import.car",
        &other.ok_bytes(&["dag", "export", &root]),
    );
    let (code, body) = curl_upload(&api, "dag/import", &car);
    assert_eq!(code, 200, "{body}");
    let line: serde_json::Value = serde_json::from_str(body.lines().next().unwrap()).unwrap();
    assert_eq!(line["Root"]["Cid"]["/"], root.as_str(), "{line}");
    check(&root, &line["Root"]["Holders"], "dag/import");
}

#[test]
fn no_acknowledged_upload_is_lost_while_nodes_are_killed_and_restarted() {
    let _serial = serial();
    let mut c = Community::new(5, 3, 2);
    c.start_all();
    c.wait_meshed();

    // 100 uploads through node 0 in one thread, while the others are killed with kill -9 and
    // restarted, one at a time, in this one.
    let api = c.daemon(0).api.clone();
    let uploads = std::thread::spawn(move || {
        let dir = tempfile::tempdir().unwrap();
        let mut acknowledged = Vec::new();
        let mut failed = 0;
        for k in 0..100u64 {
            let data = pseudo_random(20_000 + (k as usize % 7) * 10_000, 5000 + k);
            let file = write_file(dir.path(), &format!("u{k}.bin"), &data);
            let (status, body) = curl_upload(&api, "add", &file);
            if status == 200 {
                let last: serde_json::Value =
                    serde_json::from_str(body.lines().last().unwrap()).unwrap();
                acknowledged.push((last["Hash"].as_str().unwrap().to_owned(), data));
            } else {
                failed += 1;
            }
        }
        (acknowledged, failed)
    });
    let mut seed = 42u64;
    let mut kills = 0;
    while !uploads.is_finished() {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let victim = 1 + (seed >> 33) as usize % 4;
        c.kill9(victim);
        kills += 1;
        // Chaos schedule, not synchronisation: the node stays dead for a moment.
        std::thread::sleep(std::time::Duration::from_millis(300 + (seed >> 40) % 700));
        c.start(victim);
    }
    let (acknowledged, failed) = uploads.join().unwrap();
    eprintln!(
        "campaign: {} of 100 uploads acknowledged, {failed} refused, {kills} kill -9s",
        acknowledged.len()
    );
    assert!(kills >= 3, "only {kills} kills happened during the uploads");
    assert!(
        acknowledged.len() >= 90,
        "{} of 100 acknowledged ({failed} failed)",
        acknowledged.len()
    );

    // Every acknowledged upload: placed on exactly R nodes after repair, and byte-equal
    // through another node's gateway.
    c.wait_meshed();
    let roots: Vec<String> = acknowledged.iter().map(|(r, _)| r.clone()).collect();
    let rankings = rankings(&c, 0, &roots);
    wait_placed(&c, &roots, &rankings, 3, GRACE_SECS + 90);
    let gateway = c.daemon(4).gateway.clone();
    for (root, data) in &acknowledged {
        let got = gateway_bytes(&gateway, root).unwrap_or_else(|| panic!("{root} lost"));
        assert!(got == *data, "{root} reads back different bytes");
    }
}

#[test]
fn a_node_added_later_receives_its_share() {
    let _serial = serial();
    let mut c = Community::new(4, 2, 2);
    c.start_all();
    c.wait_meshed();
    let mut roots = Vec::new();
    for k in 0..12u64 {
        let (root, _) = c.add(
            k as usize % 4,
            &pseudo_random(30_000, 900 + k),
            &format!("a{k}.bin"),
        );
        roots.push(root);
    }
    // A fifth node joins: every config lists it; the nodes restart one by one, then it starts.
    let new = c.grow();
    for i in 0..4 {
        c.stop(i);
        c.start(i);
    }
    c.start(new);
    c.wait_meshed();
    let rankings = rankings(&c, 0, &roots);
    let share: Vec<&String> = roots
        .iter()
        .filter(|r| rankings[*r][..2].contains(&c.nodes[new].id))
        .collect();
    assert!(
        !share.is_empty(),
        "the new node ranks first or second for some root"
    );
    wait_placed(&c, &roots, &rankings, 2, GRACE_SECS + 60);
    let pins = c.pins(new);
    assert!(
        share.iter().all(|r| pins.contains(*r)),
        "the new node holds its share"
    );
}
