//! Measures `SledStore` write throughput for 256 KiB blocks (kubo's default chunk size):
//! `put_many` in batches as an importer does, then one `flush`, against the time to hash the
//! same bytes. Run with `cargo run --release -p chorus-storage --example put_throughput [MiB] [dir]`.

use std::time::Instant;

use chorus_storage::{Block, Blockstore, HashAlg, SledStore, codec};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let mib: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(512);
    let dir = match args.next() {
        Some(d) => std::path::PathBuf::from(d),
        None => std::env::temp_dir().join(format!("chorus-put-bench-{}", std::process::id())),
    };
    const BLOCK: usize = 256 * 1024;
    let n = mib * 1024 * 1024 / BLOCK;
    // Deterministic, incompressible-looking payload (xorshift), generated before timing.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let chunks: Vec<Vec<u8>> = (0..n)
        .map(|_| {
            (0..BLOCK / 8)
                .flat_map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    x.to_le_bytes()
                })
                .collect()
        })
        .collect();

    let t = Instant::now();
    let blocks: Vec<Block> = chunks
        .into_iter()
        .map(|c| Block::from_data(codec::RAW, HashAlg::Sha2_256, c))
        .collect::<Result<_, _>>()?;
    let hash_s = t.elapsed().as_secs_f64();

    let store = SledStore::open(&dir)?;
    let t = Instant::now();
    for batch in blocks.chunks(64) {
        store.put_many(batch)?;
    }
    let put_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    store.flush()?;
    let flush_s = t.elapsed().as_secs_f64();
    drop(store);
    std::fs::remove_dir_all(&dir)?;

    let mb = (n * BLOCK) as f64 / 1e6;
    println!("{mib} MiB in {n} blocks of 256 KiB");
    println!("hash (sha2-256)   {:8.0} MB/s", mb / hash_s);
    println!("put_many          {:8.0} MB/s", mb / put_s);
    println!("flush             {:8.3} s", flush_s);
    println!("put_many + flush  {:8.0} MB/s", mb / (put_s + flush_s));
    println!(
        "hash + put + flush {:7.0} MB/s",
        mb / (hash_s + put_s + flush_s)
    );
    Ok(())
}
