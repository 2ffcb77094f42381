//! Space amplification of 256 KiB blocks (kubo's default chunk size): disk use / payload.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::util::raw_block;
use crate::{Block, Blockstore, SledStore};

/// Real disk use (allocated blocks) of everything under `dir`, directories included.
fn disk_usage(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = std::fs::symlink_metadata(&p).unwrap();
        total += meta.blocks() * 512;
        if meta.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        }
    }
    total
}

#[test]
fn space_amplification_of_256k_blocks_is_below_1_3() {
    const BLOCK: usize = 256 * 1024;
    const TOTAL: usize = 64 * 1024 * 1024;
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let mut payload = 0u64;
    for batch in 0..(TOTAL / BLOCK / 16) {
        let blocks: Vec<Block> = (0..16)
            .map(|i| raw_block((batch * 16 + i) as u64, BLOCK))
            .collect();
        payload += blocks.iter().map(|b| b.len() as u64).sum::<u64>();
        store.put_many(&blocks).unwrap();
    }
    store.flush().unwrap();
    assert_eq!(store.stat().unwrap().bytes, payload);
    let used = disk_usage(dir.path());
    let amplification = used as f64 / payload as f64;
    eprintln!("disk {used} B for {payload} B of payload: {amplification:.3}x");
    assert!(
        amplification < 1.3,
        "space amplification {amplification:.3}"
    );
}
