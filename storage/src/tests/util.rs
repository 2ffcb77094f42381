//! Helpers shared by the store tests.

use rand::{Rng, SeedableRng, rngs::StdRng};

use crate::{Block, Cid, HashAlg, codec};

/// A raw block of `len` pseudo-random bytes derived from `seed`.
pub(crate) fn raw_block(seed: u64, len: usize) -> Block {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut data = vec![0u8; len];
    rng.fill(&mut data[..]);
    Block::from_data(codec::RAW, HashAlg::Sha2_256, data).unwrap()
}

/// A dag-pb node linking `links` (no data), as a CIDv0 block.
pub(crate) fn dag_pb_node(links: &[Cid], tag: &[u8]) -> Block {
    let node = ipld_dagpb::PbNode {
        links: links
            .iter()
            .map(|c| ipld_dagpb::PbLink {
                cid: *c,
                name: None,
                size: None,
            })
            .collect(),
        data: Some(bytes::Bytes::copy_from_slice(tag)),
    };
    Block::from_data_v0(node.into_bytes()).unwrap()
}

/// Orders child-process spawns against tests that close a store and reopen it.
///
/// A spawned child briefly holds copies of every descriptor of this process (until its exec
/// closes them, which has happened when `spawn` returns), and an `flock` lives as long as any
/// copy: a store closed in that window still looks locked. Spawners hold the write side across
/// `spawn`; close-then-reopen sequences hold the read side.
pub(crate) static SPAWN: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Read side of [`SPAWN`].
pub(crate) fn no_spawns() -> std::sync::RwLockReadGuard<'static, ()> {
    SPAWN
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Write side of [`SPAWN`].
pub(crate) fn spawning() -> std::sync::RwLockWriteGuard<'static, ()> {
    SPAWN
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Runs the test `test` of this test binary as a child process with `env` set to `dir`, its
/// stdin and stdout piped (the child's side of a fault test: it does its work and reports on
/// stdout; the parent kills it or waits). Holds [`spawning`] across the spawn.
pub(crate) fn spawn_test_child(
    test: &str,
    env: &str,
    dir: &std::path::Path,
) -> std::process::Child {
    let _spawning = spawning();
    std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(env, dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap()
}

/// Reads `child`'s stdout until a line ends with `marker`; panics with `what` if it exits
/// first. Returns the rest of stdout: keep it until the child is done, or the child's next
/// write fails on a closed pipe.
pub(crate) fn wait_for_marker(
    child: &mut std::process::Child,
    marker: &str,
    what: &str,
) -> std::io::Lines<std::io::BufReader<std::process::ChildStdout>> {
    use std::io::BufRead;
    let stdout = child.stdout.take().expect("stdout is piped");
    let mut lines = std::io::BufReader::new(stdout).lines();
    loop {
        let line = lines
            .next()
            .unwrap_or_else(|| panic!("child exited before {what}"))
            .unwrap();
        if line.trim_end().ends_with(marker) {
            return lines;
        }
    }
}
