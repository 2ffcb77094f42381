//! `chorus get` writes nothing outside its destination, offline and through a daemon alike,
//! and both keep symlinks as symlinks.
//!
//! The hostile DAGs are directories naming two entries `x`: first a UnixFS symlink pointing
//! outside, then a file or a directory. Written naively, the second `x` goes through the link
//! (the offline `get` once overwrote an outside file and planted an outside directory this
//! way, exit 0).

mod common;

use std::path::Path;

use common::*;

fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn field(tag: u8, bytes: &[u8], out: &mut Vec<u8>) {
    out.push(tag);
    varint(bytes.len() as u64, out);
    out.extend_from_slice(bytes);
}

/// UnixFS `Data` of `kind` (1 directory, 4 symlink) with an optional payload.
fn unixfs(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![0x08, kind];
    if !payload.is_empty() {
        field(0x12, payload, &mut out);
    }
    out
}

/// A dag-pb node: links by (CID, name), then `data`.
fn dag_pb(links: &[(&str, &str)], data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for (cid, name) in links {
        let cid = cid::Cid::try_from(*cid).unwrap();
        let mut link = Vec::new();
        field(0x0a, &cid.to_bytes(), &mut link);
        field(0x12, name.as_bytes(), &mut link);
        link.extend_from_slice(&[0x18, 0]);
        field(0x12, &link, &mut out);
    }
    field(0x0a, data, &mut out);
    out
}

/// Stores `bytes` as one block with `codec`; returns its CID.
fn put(repo: &Repo, bytes: &[u8], codec: &str) -> String {
    let out = repo.run_stdin(&["block", "put", "--cid-codec", codec], bytes);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The two hostile trees and a legitimate one with a symlink, stored in `repo`.
fn trees(repo: &Repo, outside: &Path) -> (String, String, String) {
    let victim = outside.join("victim.txt");
    let to_file = put(
        repo,
        &dag_pb(&[], &unixfs(4, victim.to_str().unwrap().as_bytes())),
        "dag-pb",
    );
    let to_dir = put(
        repo,
        &dag_pb(&[], &unixfs(4, outside.to_str().unwrap().as_bytes())),
        "dag-pb",
    );
    let payload = put(repo, b"pwned\n", "raw");
    let inner = put(
        repo,
        &dag_pb(&[(&payload, "planted.txt")], &unixfs(1, b"")),
        "dag-pb",
    );
    let over_file = put(
        repo,
        &dag_pb(&[(&to_file, "x"), (&payload, "x")], &unixfs(1, b"")),
        "dag-pb",
    );
    let into_dir = put(
        repo,
        &dag_pb(&[(&to_dir, "x"), (&inner, "x")], &unixfs(1, b"")),
        "dag-pb",
    );
    let relative = put(repo, &dag_pb(&[], &unixfs(4, b"a.txt")), "dag-pb");
    let fine = put(
        repo,
        &dag_pb(&[(&payload, "a.txt"), (&relative, "link")], &unixfs(1, b"")),
        "dag-pb",
    );
    (over_file, into_dir, fine)
}

fn check(repo: &Repo, work: &Path, outside: &Path, mode: &str) {
    let (over_file, into_dir, fine) = trees(repo, outside);
    for (name, cid) in [("over-file", &over_file), ("into-dir", &into_dir)] {
        let dest = work.join(format!("{mode}-{name}"));
        let err = repo.fails(&["get", cid, "-o", dest.to_str().unwrap()]);
        assert!(err.contains("twice"), "{mode} {name}: {err}");
    }
    assert_eq!(
        std::fs::read(outside.join("victim.txt")).unwrap(),
        b"original\n",
        "{mode}: the outside file was overwritten"
    );
    assert!(
        !outside.join("planted.txt").exists(),
        "{mode}: a file was planted outside"
    );
    let dest = work.join(format!("{mode}-fine"));
    repo.ok(&["get", &fine, "-o", dest.to_str().unwrap()]);
    assert_eq!(std::fs::read(dest.join("a.txt")).unwrap(), b"pwned\n");
    let link = std::fs::symlink_metadata(dest.join("link")).unwrap();
    assert!(
        link.file_type().is_symlink(),
        "{mode}: the symlink was not kept"
    );
    assert_eq!(
        std::fs::read_link(dest.join("link")).unwrap(),
        Path::new("a.txt")
    );
}

#[test]
fn get_never_writes_outside_its_destination_with_or_without_a_daemon() {
    let work = tempfile::tempdir().unwrap();
    let outside = work.path().join("outside");
    write_file(&outside, "victim.txt", b"original\n");

    let offline = Repo::init();
    check(&offline, work.path(), &outside, "offline");

    let online = Repo::init();
    let daemon = Daemon::start(&online, &["--offline"]);
    check(&online, work.path(), &outside, "daemon");
    drop(daemon);
}
