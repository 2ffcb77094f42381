//! The CLI gives the same results through a running daemon as it does on the repo directly,
//! and the daemon starts and stops the way operators expect.

mod common;

use common::*;

#[test]
fn cli_goes_through_the_daemon_with_the_same_output() {
    let repo = Repo::init();
    let data = pseudo_random(1_300_000, 21);
    let f = write_file(repo.dir.path(), "track.bin", &data);
    // What the local CLI prints, computed before the daemon holds the repo.
    let expected_cid = repo.ok(&["add", "-Q", "--only-hash", f.to_str().unwrap()]);

    let daemon = Daemon::start(&repo, &["--offline"]);
    assert!(
        repo.path().join("api").is_file(),
        "<repo>/api written when ready"
    );

    let out = repo.ok(&["add", f.to_str().unwrap()]);
    assert_eq!(
        out.trim_end(),
        format!("added {} track.bin", expected_cid.trim())
    );
    let cid = expected_cid.trim();
    assert_eq!(repo.ok_bytes(&["cat", cid]), data);
    assert_eq!(
        repo.ok_bytes(&["cat", "--offset", "1000", "--length", "77", cid]),
        &data[1000..1077]
    );
    assert!(
        repo.ok(&["pin", "ls", "--type", "recursive"])
            .contains(&format!("{cid} recursive"))
    );

    let root = repo.dir.path().join("album");
    write_file(&root, "a.txt", b"hello\n");
    write_file(&root, "sub/b.bin", &pseudo_random(300_000, 2));
    let out = repo.ok(&["add", "-r", root.to_str().unwrap()]);
    let dir_cid = last_added_cid(&out);
    assert!(out.lines().last().unwrap().ends_with(" album"), "{out}");
    let ls = repo.ok(&["ls", &dir_cid]);
    assert!(ls.contains(" 6 a.txt") && ls.contains(" - sub/"), "{ls}");
    let dest = repo.dir.path().join("got");
    repo.ok(&["get", &dir_cid, "-o", dest.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(dest.join("sub/b.bin")).unwrap(),
        pseudo_random(300_000, 2)
    );

    let out = repo.run_stdin(&["block", "put"], b"hello\n");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let block = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert_eq!(
        block,
        "bafkreicysg23kiwv34eg2d7qweipxwosdo2py4ldv42nbauguluen5v6am"
    );
    assert_eq!(
        repo.ok(&["block", "stat", &block]),
        format!("Key: {block}\nSize: 6\n")
    );

    let car = repo.ok_bytes(&["dag", "export", cid]);
    let car_path = write_file(repo.dir.path(), "t.car", &car);
    let other = Repo::init();
    assert!(
        other
            .ok(&["dag", "import", car_path.to_str().unwrap()])
            .contains(cid)
    );

    // Already pinned and all local: the pin comes back before kubo's first 500 ms progress
    // line, with the final count (a root and five 256 KiB leaves).
    let out = repo.run(&["pin", "add", "--progress", cid]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("pinned {cid} recursively\n")
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Fetched/Processed 6 nodes"), "{err}");

    repo.ok(&["pin", "rm", cid]);
    let gc = repo.ok(&["repo", "gc"]);
    assert!(gc.lines().count() >= 6, "{gc}");
    assert!(repo.ok(&["repo", "stat"]).contains("NumObjects"));
    let err = repo.fails(&["cat", "QmNotACid"]);
    assert!(
        err.contains("QmNotACid") || err.to_lowercase().contains("invalid"),
        "{err}"
    );

    let status = daemon.stop();
    assert!(status.success(), "daemon exit status {status:?}");
    assert!(
        !repo.path().join("api").exists(),
        "<repo>/api removed on shutdown"
    );
    // The repo is usable directly again, with everything the daemon wrote.
    assert_eq!(
        repo.ok_bytes(&["cat", &format!("{dir_cid}/a.txt")]),
        b"hello\n"
    );
}

/// `add` is one implementation: the offline CLI and the CLI through a daemon print the same
/// lines for the same inputs (nested directories, a file after a subdirectory, a symlink, a
/// second input, `-w`, `-q`, `-Q`), with the repo's `[import]` settings applied both ways.
#[test]
fn add_prints_the_same_lines_with_and_without_a_daemon() {
    let offline = Repo::init();
    let online = Repo::init();
    for repo in [&offline, &online] {
        set_config(repo, "import", "cid_version", "1");
    }
    let inputs = tempfile::tempdir().unwrap();
    let root = inputs.path().join("album");
    write_file(&root, "a.txt", b"first\n");
    write_file(&root, "m/inner.bin", &pseudo_random(70_000, 5));
    write_file(&root, "m/deeper/x.txt", b"x\n");
    write_file(&root, "z.txt", b"after the subdirectory\n");
    write_file(&root, ".hidden", b"skipped\n");
    std::os::unix::fs::symlink("a.txt", root.join("link")).unwrap();
    let single = write_file(inputs.path(), "single.bin", &pseudo_random(300_000, 6));
    let (root, single) = (root.to_str().unwrap(), single.to_str().unwrap());

    let runs: [&[&str]; 4] = [
        &["add", "-r", root, single],
        &["add", "-r", "-w", root, single],
        &["add", "-r", "-q", root],
        &["add", "-r", "-Q", single, root],
    ];
    let expected: Vec<String> = runs.iter().map(|args| offline.ok(args)).collect();
    assert!(
        expected[0].lines().any(|l| l.ends_with(" album/link")),
        "{}",
        expected[0]
    );
    assert!(
        expected[0].lines().all(|l| l.starts_with("added baf")),
        "CIDv1 from the config: {}",
        expected[0]
    );
    let daemon = Daemon::start(&online, &["--offline"]);
    for (args, want) in runs.iter().zip(&expected) {
        assert_eq!(&online.ok(args), want, "{args:?}");
    }
    drop(daemon);
}

/// `pin`, `block`, `dag import` and `repo verify` are one implementation each too: the same
/// outputs and the same refusals with and without a daemon (a direct `block put --pin`, `pin
/// ls` of every kind and of one indirect CID, a pinned `block rm`, a CAR whose root cannot be
/// pinned, the verify report).
#[test]
fn pin_block_and_dag_commands_behave_the_same_with_and_without_a_daemon() {
    let inputs = tempfile::tempdir().unwrap();
    let file = write_file(inputs.path(), "f.bin", &pseudo_random(700_000, 9));
    // A CAR of one leaf under a root it does not contain (of other content than `file`):
    // importable, not pinnable.
    let other = write_file(inputs.path(), "other.bin", &pseudo_random(700_000, 10));
    let source = Repo::init();
    let root = source
        .ok(&["add", "-Q", other.to_str().unwrap()])
        .trim()
        .to_string();
    let leaf = first_indirect_pin(&source);
    let mut car = source.ok_bytes(&["dag", "export", &leaf]);
    // Re-head the CAR with the file's root as its root: the leaf alone cannot make it whole.
    let header_len = car[0] as usize + 1;
    let header = source.ok_bytes(&["dag", "export", &root]);
    let root_header_len = header[0] as usize + 1;
    car.splice(..header_len, header[..root_header_len].iter().copied());
    let car = write_file(inputs.path(), "partial.car", &car);

    let script = |repo: &Repo| -> Vec<String> {
        let mut out = Vec::new();
        out.push(repo.ok(&["add", "-Q", file.to_str().unwrap()]));
        let put = repo.run_stdin(&["block", "put", "--pin=true"], b"direct\n");
        out.push(String::from_utf8(put.stdout).unwrap());
        out.push(repo.ok(&["pin", "ls"]));
        out.push(repo.ok(&["pin", "ls", "--type", "indirect", &first_indirect_pin(repo)]));
        out.push(repo.fails(&["block", "rm", out[1].trim()]));
        out.push(repo.fails(&["dag", "import", car.to_str().unwrap()]));
        out.push(repo.ok(&["repo", "verify"]));
        let path = repo.path().to_str().unwrap().to_owned();
        out.push(repo.ok(&["repo", "stat"]).replace(&path, "<repo>"));
        out.push(repo.ok(&["repo", "stat", "--size-only"]));
        out
    };
    let offline = Repo::init();
    let expected = script(&offline);
    assert!(expected[2].contains(" direct\n"), "{}", expected[2]);
    assert!(expected[3].contains("indirect through"), "{}", expected[3]);
    assert!(expected[4].contains("pinned: direct"), "{}", expected[4]);
    assert!(expected[5].contains("cannot pin root"), "{}", expected[5]);
    assert!(expected[6].starts_with("verified "), "{}", expected[6]);
    assert!(
        expected[7].starts_with("NumObjects: ") && expected[7].contains("Version:    fs-repo@"),
        "{}",
        expected[7]
    );
    assert_eq!(expected[8].lines().count(), 2, "{}", expected[8]);
    let online = Repo::init();
    let daemon = Daemon::start(&online, &["--offline"]);
    assert_eq!(script(&online), expected);
    drop(daemon);
}
