//! Measures `SledStore` with many small blocks (the metadata blocks of an Audius-scale repo):
//! `put_many` in batches of 64 as an importer does, one `flush`, then bytes on disk per block
//! byte, a full `list`, and a `get` of every block in random order; peak RSS after each step.
//! Block sizes are 200..1000 bytes (deterministic). The inline limit and sled's cache can be
//! set, to compare blocks inside the sled index with blocks in pack files, and to see how the
//! process's memory follows the cache. Only every tenth CID is kept for the reads, so the
//! RSS printed is the store's, not this program's.
//!
//! ```text
//! cargo run --release -p chorus-storage --example small_blocks -- \
//!     [BLOCKS] [INLINE_MAX] [CACHE_MB] [DIR]
//! ```
//! Defaults: 1,000,000 blocks, the store's default inline limit and cache, a temporary
//! directory (removed afterwards).

use std::time::Instant;

use chorus_storage::{Block, Blockstore, Config, HashAlg, SledStore, codec};

fn rss_mb() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
            / 1024
    };
    (field("VmRSS:"), field("VmHWM:"))
}

fn du(path: &std::path::Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(path) {
        for e in entries.flatten() {
            let Ok(meta) = e.metadata() else { continue };
            total += if meta.is_dir() {
                du(&e.path())
            } else {
                meta.len()
            };
        }
    }
    total
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let n: u64 = args
        .next()
        .map(|a| a.parse())
        .transpose()?
        .unwrap_or(1_000_000);
    let inline_max: Option<usize> = args.next().map(|a| a.parse()).transpose()?;
    let cache_mb: Option<u64> = args.next().map(|a| a.parse()).transpose()?;
    let (dir, remove) = match args.next() {
        Some(d) => (std::path::PathBuf::from(d), false),
        None => (
            std::env::temp_dir().join(format!("chorus-small-{}", std::process::id())),
            true,
        ),
    };
    let config = || {
        let mut c = Config::default();
        if let Some(m) = inline_max {
            c = c.with_inline_max(m);
        }
        if let Some(mb) = cache_mb {
            c = c.with_cache_capacity(mb * 1024 * 1024);
        }
        c
    };
    let store = SledStore::open_with(&dir, config())?;
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut payload = 0u64;
    let mut cids = Vec::with_capacity(n as usize / 10 + 1);
    let mut hash_s = 0.0;
    let t = Instant::now();
    let mut batch = Vec::with_capacity(64);
    for i in 0..n {
        let len = 200 + (next() % 800) as usize;
        let mut data = format!("{{\"i\":{i},\"x\":\"").into_bytes();
        while data.len() < len - 2 {
            data.extend_from_slice(format!("{:016x}", next()).as_bytes());
        }
        data.truncate(len - 2);
        data.extend_from_slice(b"\"}");
        payload += data.len() as u64;
        let h = Instant::now();
        let block = Block::from_data(codec::RAW, HashAlg::Sha2_256, data)?;
        hash_s += h.elapsed().as_secs_f64();
        if i % 10 == 0 {
            cids.push(*block.cid());
        }
        batch.push(block);
        if batch.len() == 64 {
            store.put_many(&batch)?;
            batch.clear();
        }
    }
    store.put_many(&batch)?;
    store.flush()?;
    let put_s = t.elapsed().as_secs_f64() - hash_s;
    println!(
        "put {n} blocks ({:.0} MB) in {:.1} s (+ {hash_s:.1} s hashing): {:.0} blocks/s; rss {:?} MB (now, peak)",
        payload as f64 / 1e6,
        put_s,
        n as f64 / put_s,
        rss_mb()
    );
    drop(store);
    let disk = du(&dir);
    println!(
        "disk {:.0} MB for {:.0} MB of blocks: {:.2}x",
        disk as f64 / 1e6,
        payload as f64 / 1e6,
        disk as f64 / payload as f64
    );
    let t = Instant::now();
    let store = SledStore::open_with(&dir, config())?;
    println!("open {:.3} s", t.elapsed().as_secs_f64());
    let t = Instant::now();
    let listed = store.list().count();
    println!(
        "list {listed} in {:.1} s; rss {:?} MB",
        t.elapsed().as_secs_f64(),
        rss_mb()
    );
    for i in (1..cids.len()).rev() {
        cids.swap(i, (next() % (i as u64 + 1)) as usize);
    }
    let t = Instant::now();
    for cid in &cids {
        store.get(cid)?.ok_or("missing block")?;
    }
    println!(
        "get a tenth, random order: {:.0} blocks/s; rss {:?} MB",
        cids.len() as f64 / t.elapsed().as_secs_f64(),
        rss_mb()
    );
    drop(store);
    if remove {
        std::fs::remove_dir_all(&dir)?;
    }
    Ok(())
}
