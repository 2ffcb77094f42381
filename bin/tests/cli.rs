//! End-to-end tests of the `chorus` CLI on a real repo (no daemon).

mod common;

use common::*;

#[test]
fn init_creates_a_repo_once() {
    let repo = Repo::init();
    let p = repo.path();
    assert!(p.join("config.toml").is_file());
    assert!(p.join("identity.key").is_file());
    let config = std::fs::read_to_string(p.join("config.toml")).unwrap();
    assert!(config.contains("chunker = \"size-262144\""), "{config}");
    assert!(config.contains("peer_id = \"12D3KooW"), "{config}");
    let err = repo.fails(&["init"]);
    assert!(err.contains("already exists"), "{err}");
}

#[test]
fn missing_repo_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chorus"))
        .args(["--repo"])
        .arg(dir.path().join("nope"))
        .args(["repo", "stat"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8(out.stderr).unwrap();
    assert_clean_error(&err);
    assert!(err.contains("chorus init"), "{err}");
}

#[test]
fn repo_env_var_is_used() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("viaenv");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_chorus"))
        .arg("init")
        .env("CHORUS_PATH", &repo)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(repo.join("config.toml").is_file());
}

#[test]
fn add_matches_kubo_and_reads_back() {
    let repo = Repo::init();
    let data = pseudo_random(1_300_000, 7); // 5 chunks of 256 KiB: a two-level DAG
    let f = write_file(repo.dir.path(), "song.bin", &data);
    let out = repo.ok(&["add", f.to_str().unwrap()]);
    let cid = last_added_cid(&out);
    assert_eq!(out.trim_end(), format!("added {cid} song.bin"));
    assert_eq!(cid, ipfs_cid_oracle(&f).0, "CID differs from kubo's");
    assert_eq!(repo.ok_bytes(&["cat", &cid]), data);
    assert_eq!(repo.ok(&["add", "-Q", f.to_str().unwrap()]).trim(), cid);
    // Ranges.
    let part = repo.ok_bytes(&["cat", "--offset", "262140", "--length", "10", &cid]);
    assert_eq!(part, &data[262_140..262_150]);
    let tail = repo.ok_bytes(&["cat", "--offset", "1299990", &cid]);
    assert_eq!(tail, &data[1_299_990..]);
    // Added content is pinned recursively.
    let pins = repo.ok(&["pin", "ls", "--type", "recursive"]);
    assert!(pins.contains(&format!("{cid} recursive")), "{pins}");
}

#[test]
fn add_options_and_only_hash() {
    let repo = Repo::init();
    let data = pseudo_random(600_000, 3);
    let f = write_file(repo.dir.path(), "a.bin", &data);
    let fs = f.to_str().unwrap();
    let v1 = repo.ok(&["add", "-Q", "--only-hash", "--cid-version", "1", fs]);
    assert!(v1.trim().starts_with("bafybei"), "{v1}");
    // Only-hash stores nothing.
    let err = repo.fails(&["cat", v1.trim()]);
    assert!(
        err.to_lowercase().contains("not found") || err.contains("missing"),
        "{err}"
    );
    let small_chunks = repo.ok(&["add", "-Q", "--chunker", "size-1000", fs]);
    let trickle = repo.ok(&["add", "-Q", "--chunker", "size-1000", "--trickle", fs]);
    assert_ne!(small_chunks.trim(), trickle.trim());
    assert_eq!(repo.ok_bytes(&["cat", trickle.trim()]), data);
    assert_eq!(repo.ok_bytes(&["cat", small_chunks.trim()]), data);
    let blake = repo.ok(&["add", "-Q", "--hash", "blake3", fs]);
    assert_eq!(repo.ok_bytes(&["cat", blake.trim()]), data);
    let err = repo.fails(&["add", "--chunker", "size-0", fs]);
    assert!(err.contains("chunk"), "{err}");
    let err = repo.fails(&["add", "--chunker", "size-2000000", fs]);
    assert!(err.contains("chunk"), "{err}");
}

#[test]
fn add_directory_recursive_and_wrapped() {
    let repo = Repo::init();
    let root = repo.dir.path().join("album");
    write_file(&root, "a.txt", b"hello\n");
    write_file(&root, "sub/b.bin", &pseudo_random(300_000, 1));
    write_file(&root, "sub/c.txt", b"");
    std::os::unix::fs::symlink("../a.txt", root.join("sub/link")).unwrap();
    write_file(&root, ".hidden", b"not added without -H");
    let r = root.to_str().unwrap();
    let err = repo.fails(&["add", r]);
    assert!(err.contains("-r"), "{err}");
    let out = repo.ok(&["add", "-r", r]);
    let names: Vec<&str> = out
        .lines()
        .map(|l| l.splitn(3, ' ').nth(2).unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "album/a.txt",
            "album/sub/b.bin",
            "album/sub/c.txt",
            "album/sub/link",
            "album/sub",
            "album"
        ]
    );
    let root_cid = last_added_cid(&out);
    let ls = repo.ok(&["ls", &root_cid]);
    assert!(ls.contains(" a.txt") && ls.contains(" sub/"), "{ls}");
    assert_eq!(
        repo.ok_bytes(&["cat", &format!("/ipfs/{root_cid}/a.txt")]),
        b"hello\n"
    );
    let wrapped = repo.ok(&["add", "-r", "-w", "-Q", r]);
    assert_eq!(
        repo.ok_bytes(&["cat", &format!("{}/album/a.txt", wrapped.trim())]),
        b"hello\n"
    );
    // get writes the tree back out.
    let dest = repo.dir.path().join("out");
    repo.ok(&["get", &root_cid, "-o", dest.to_str().unwrap()]);
    assert_eq!(std::fs::read(dest.join("a.txt")).unwrap(), b"hello\n");
    assert_eq!(
        std::fs::read(dest.join("sub/b.bin")).unwrap(),
        pseudo_random(300_000, 1)
    );
    assert_eq!(std::fs::read(dest.join("sub/c.txt")).unwrap(), b"");
    assert_eq!(
        std::fs::read_link(dest.join("sub/link")).unwrap(),
        std::path::Path::new("../a.txt")
    );
    assert!(!dest.join(".hidden").exists());
    // kubo's CID for the same tree: the oracle of the symlink-free part is checked in
    // protocol's golden tests; here -H changes the root.
    let with_hidden = repo.ok(&["add", "-r", "-Q", "-H", r]);
    assert_ne!(with_hidden.trim(), root_cid);
}

#[test]
fn add_from_stdin() {
    let repo = Repo::init();
    let out = repo.run_stdin(&["add", "-Q"], b"hello\n");
    assert!(out.status.success());
    // kubo: `echo hello | ipfs add` -> QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN
    assert_eq!(
        String::from_utf8(out.stdout).unwrap().trim(),
        "QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN"
    );
}

#[test]
fn blocks_put_get_stat_rm() {
    let repo = Repo::init();
    let out = repo.run_stdin(&["block", "put"], b"hello\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let cid = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(
        cid,
        "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am"
    );
    assert_eq!(repo.ok_bytes(&["block", "get", &cid]), b"hello\n");
    assert_eq!(
        repo.ok(&["block", "stat", &cid]),
        format!("Key: {cid}\nSize: 6\n")
    );
    assert_eq!(
        repo.ok(&["block", "rm", &cid]).trim(),
        format!("removed {cid}")
    );
    repo.fails(&["block", "get", &cid]);
    let err = repo.fails(&["block", "get", "not-a-cid"]);
    assert!(err.contains("not-a-cid"), "{err}");
}

#[test]
fn pins_and_gc() {
    let repo = Repo::init();
    let keep = write_file(repo.dir.path(), "keep.bin", &pseudo_random(700_000, 11));
    let drop = write_file(repo.dir.path(), "drop.bin", &pseudo_random(700_000, 12));
    let keep_cid = repo
        .ok(&["add", "-Q", keep.to_str().unwrap()])
        .trim()
        .to_string();
    let drop_cid = repo
        .ok(&["add", "-Q", "--pin=false", drop.to_str().unwrap()])
        .trim()
        .to_string();
    let before = repo.ok(&["repo", "stat"]);
    assert!(before.contains("NumObjects"), "{before}");
    let gc = repo.ok(&["repo", "gc"]);
    let removed: Vec<&str> = gc.lines().collect();
    assert_eq!(
        removed.len(),
        4,
        "3 leaves + 1 root of the unpinned file: {gc}"
    );
    // kubo >= 0.12 prints removed blocks by multihash, as CIDv1 raw.
    assert!(gc.lines().all(|l| l.starts_with("removed bafkrei")), "{gc}");
    assert!(repo.run(&["cat", &drop_cid]).status.code() != Some(0));
    assert_eq!(
        repo.ok_bytes(&["cat", &keep_cid]),
        pseudo_random(700_000, 11)
    );
    // Unpin, gc again: everything goes.
    repo.ok(&["pin", "rm", &keep_cid]);
    assert!(!repo.ok(&["pin", "ls"]).contains(&keep_cid));
    let gc = repo.ok(&["repo", "gc"]);
    assert_eq!(gc.lines().count(), 4, "{gc}");
    // Pin add of missing content fails clearly.
    let err = repo.fails(&["pin", "add", &keep_cid]);
    assert!(!err.is_empty());
    // Direct pins keep only the block.
    let out = repo.run_stdin(&["block", "put", "--pin=true"], b"direct\n");
    let direct = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(
        repo.ok(&["pin", "ls", "--type", "direct"])
            .contains(&format!("{direct} direct"))
    );
    assert_eq!(repo.ok(&["repo", "gc"]), "");
    let err = repo.fails(&["block", "rm", &direct]);
    assert!(err.contains("pinned"), "{err}");
}

#[test]
fn car_export_import_round_trip_and_rejects_bad_cars() {
    let a = Repo::init();
    let data = pseudo_random(900_000, 5);
    let f = write_file(a.dir.path(), "x.bin", &data);
    let cid = a.ok(&["add", "-Q", "--chunker", "size-100000", f.to_str().unwrap()]);
    let cid = cid.trim();
    let car = a.ok_bytes(&["dag", "export", cid]);
    let car_path = write_file(a.dir.path(), "x.car", &car);

    let b = Repo::init();
    let out = b.ok(&["dag", "import", car_path.to_str().unwrap()]);
    assert!(out.contains(cid), "{out}");
    assert_eq!(b.ok_bytes(&["cat", cid]), data);
    assert!(b.ok(&["pin", "ls"]).contains(cid));

    // Truncated: rejected, and nothing unverified stored.
    let c = Repo::init();
    let trunc = write_file(c.dir.path(), "t.car", &car[..car.len() - 100]);
    let err = c.fails(&["dag", "import", trunc.to_str().unwrap()]);
    assert!(
        err.to_lowercase().contains("truncated") || err.contains("unexpected end"),
        "{err}"
    );
    // A flipped byte in the last block's data: hash mismatch.
    let mut bad = car.clone();
    let n = bad.len();
    bad[n - 5] ^= 0xff;
    let badp = write_file(c.dir.path(), "bad.car", &bad);
    let err = c.fails(&["dag", "import", badp.to_str().unwrap()]);
    assert!(err.contains("hash") || err.contains("match"), "{err}");
    let garbage = write_file(c.dir.path(), "g.car", &pseudo_random(5000, 9));
    c.fails(&["dag", "import", garbage.to_str().unwrap()]);
    assert!(c.ok(&["repo", "verify"]).contains("0 corrupt"));
    assert!(c.ok(&["pin", "ls"]).trim().is_empty());
}

#[test]
fn bad_input_gives_clear_errors() {
    let repo = Repo::init();
    let err = repo.fails(&["cat", "QmNotACid"]);
    assert!(err.contains("QmNotACid"), "{err}");
    let err = repo.fails(&["add", "/definitely/not/here"]);
    assert!(err.contains("/definitely/not/here"), "{err}");
    repo.fails(&[
        "cat",
        "--offset",
        "-1",
        "QmZULkCELmmk5XNfCgTnCyFgAVxBRBXyDHGGMVoLFLiXEN",
    ]);
}

#[test]
fn second_process_gets_lock_error_naming_pid() {
    use std::io::Write;
    let repo = Repo::init();
    // An add reading from a stdin we keep open holds the repo.
    let mut holder = repo
        .cmd(&["add", "-Q"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = holder.stdin.take().unwrap();
    stdin.write_all(b"some bytes").unwrap();
    stdin.flush().unwrap();
    // The holder takes the lock before reading stdin; wait for the lock file to name it.
    let lock = repo.path().join("store").join("repo.lock");
    let pid = holder.id().to_string();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        if std::fs::read_to_string(&lock).is_ok_and(|s| s.trim() == pid) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "holder never took the lock"
        );
        std::thread::yield_now();
    }
    let err = repo.fails(&["repo", "stat"]);
    assert!(err.contains(&pid), "error does not name the holder: {err}");
    drop(stdin);
    let out = holder.wait_with_output().unwrap();
    assert!(out.status.success());
    assert!(repo.ok(&["repo", "stat"]).contains("NumObjects"));
}

#[test]
fn hash_on_read_catches_same_length_corruption_that_verify_always_finds() {
    let repo = Repo::init();
    let data = pseudo_random(300_000, 61);
    let f = write_file(repo.dir.path(), "c.bin", &data);
    let cid = repo.ok(&["add", "-Q", "--raw-leaves", f.to_str().unwrap()]);
    let cid = cid.trim();
    // Flip one byte of the first 256 KiB leaf where it sits in its pack file, keeping its
    // length.
    let packs = repo.path().join("store/packs");
    let (victim, at) = walk_files(&packs)
        .into_iter()
        .find_map(|p| {
            let bytes = std::fs::read(&p).unwrap();
            let at = bytes.windows(64).position(|w| w == &data[..64])?;
            Some((p, at))
        })
        .expect("the first leaf is in a pack file");
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[at + 10] ^= 0xff;
    std::fs::write(&victim, &bytes).unwrap();
    // Default (kubo's HashOnRead=false): reads trust stored bytes; verify finds the damage.
    assert!(repo.run(&["cat", cid]).status.success());
    let out = repo.run(&["repo", "verify"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 corrupt"));
    // With hash_on_read, the read itself refuses the damaged block.
    let cfg = repo.path().join("config.toml");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(
        &cfg,
        text.replace("hash_on_read = false", "hash_on_read = true"),
    )
    .unwrap();
    let err = repo.fails(&["cat", cid]);
    assert!(err.contains("corrupt"), "{err}");
}

fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}
