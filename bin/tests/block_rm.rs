//! `block rm` never removes pinned data, offline and through a daemon alike: not a block of a
//! recursively pinned DAG, not a pinned root named by its other CID version (both used to be
//! removed, after which `repo gc` refused to run).

mod common;

use common::*;

fn check(repo: &Repo) {
    let data = pseudo_random(700_000, 77);
    let file = write_file(repo.dir.path(), "f.bin", &data);
    let root = repo
        .ok(&["add", "-Q", file.to_str().unwrap()])
        .trim()
        .to_string();
    let leaf = first_indirect_pin(repo);
    let err = repo.fails(&["block", "rm", &leaf]);
    assert!(
        err.contains(&format!("pinned: indirect through {root}")),
        "{err}"
    );
    let v1 = cid::Cid::try_from(root.as_str()).unwrap();
    let v1 = cid::Cid::new_v1(v1.codec(), *v1.hash()).to_string();
    let err = repo.fails(&["block", "rm", &v1]);
    assert!(err.contains("pinned: recursive"), "{err}");
    repo.ok(&["repo", "gc"]);
    assert_eq!(repo.ok_bytes(&["cat", &root]), data);
}

#[test]
fn block_rm_refuses_pinned_blocks_with_or_without_a_daemon() {
    check(&Repo::init());
    let online = Repo::init();
    let daemon = Daemon::start(&online, &["--offline"]);
    check(&online);
    drop(daemon);
}
