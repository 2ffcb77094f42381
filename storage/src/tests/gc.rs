//! GC tests: exact liveness, session protection, pack compaction, and GC running alongside an
//! importer that adds and pins DAGs and a reader. The rules are the `Repo` contract: each body
//! runs on the sled repo and on the memory repo.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use super::util::{dag_pb_node, raw_block};
use crate::{
    Block, Blockstore, Cid, GcError, MemoryRepo, Multihash, PinMode, Repo, SledStore, StoreStat,
    codec,
};

/// Runs `body` on a fresh sled repo (in a temporary directory) and on a fresh memory repo.
fn on_both_repos(body: impl Fn(Arc<dyn Repo>)) {
    let dir = tempfile::tempdir().unwrap();
    body(Arc::new(SledStore::open(dir.path()).unwrap()));
    body(Arc::new(MemoryRepo::new()));
}

fn stored(store: &dyn Blockstore) -> BTreeSet<Multihash> {
    store.list().map(|r| r.unwrap()).collect()
}

/// A two-level DAG: a root linking `fanout` raw leaves of mixed sizes (inline and file).
fn dag(seed: u64, fanout: u64) -> (Block, Vec<Block>) {
    let leaves: Vec<Block> = (0..fanout)
        .map(|i| raw_block(seed * 100 + i, if i % 2 == 0 { 300 } else { 20_000 }))
        .collect();
    let cids: Vec<Cid> = leaves.iter().map(|b| *b.cid()).collect();
    (dag_pb_node(&cids, &seed.to_le_bytes()), leaves)
}

#[test]
fn gc_removes_exactly_the_unpinned_blocks() {
    on_both_repos(removes_exactly_the_unpinned_blocks);
}

fn removes_exactly_the_unpinned_blocks(store: Arc<dyn Repo>) {
    let store = &*store;

    // Recursive pin on a three-level DAG (root -> mid -> leaves, plus a shared leaf).
    let (mid, mid_leaves) = dag(1, 4);
    let shared = raw_block(77, 20_000);
    let root = dag_pb_node(&[*mid.cid(), *shared.cid()], b"root");
    // Direct pin: keeps only its own block, not its children.
    let (direct, direct_leaves) = dag(2, 3);
    // A recursive pin through CIDv1 of a block stored via CIDv0.
    let (v0_root, v0_leaves) = dag(3, 2);
    let v1_of_v0 = Cid::new_v1(codec::DAG_PB, *v0_root.cid().hash());
    // Garbage, including a DAG that links to the shared leaf.
    let (junk_root, junk_leaves) = dag(4, 3);
    let junk_parent = dag_pb_node(&[*shared.cid()], b"junk");

    let mut all = vec![root.clone(), mid.clone(), shared.clone(), direct.clone()];
    all.extend(mid_leaves.iter().cloned());
    all.extend(direct_leaves.iter().cloned());
    all.push(v0_root.clone());
    all.extend(v0_leaves.iter().cloned());
    all.push(junk_root.clone());
    all.extend(junk_leaves.iter().cloned());
    all.push(junk_parent.clone());
    store.put_many(&all).unwrap();

    store.pins().add(root.cid(), PinMode::Recursive).unwrap();
    store.pins().add(direct.cid(), PinMode::Direct).unwrap();
    store.pins().add(&v1_of_v0, PinMode::Recursive).unwrap();

    let mut live: BTreeSet<Multihash> = [&root, &mid, &shared, &direct, &v0_root]
        .iter()
        .map(|b| *b.cid().hash())
        .collect();
    live.extend(mid_leaves.iter().map(|b| *b.cid().hash()));
    live.extend(v0_leaves.iter().map(|b| *b.cid().hash()));
    let dead: BTreeSet<Multihash> = stored(store).difference(&live).copied().collect();
    assert_eq!(
        dead.len(),
        3 + 4 + 1,
        "direct's leaves, junk DAG, junk parent"
    );

    let report = store.gc().unwrap();
    let removed: BTreeSet<Multihash> = report.removed.iter().copied().collect();
    assert_eq!(removed, dead);
    assert_eq!(report.removed.len(), dead.len(), "each removed once");
    let dead_bytes: u64 = all
        .iter()
        .filter(|b| dead.contains(b.cid().hash()))
        .map(|b| b.len() as u64)
        .sum();
    assert_eq!(report.freed_bytes, dead_bytes);
    assert_eq!(stored(store), live);
    let live_bytes: u64 = all
        .iter()
        .filter(|b| live.contains(b.cid().hash()))
        .map(|b| b.len() as u64)
        .sum();
    assert_eq!(
        store.stat().unwrap(),
        StoreStat {
            blocks: live.len() as u64,
            bytes: live_bytes
        }
    );
    for b in &all {
        let present = store.get(b.cid()).unwrap().is_some();
        assert_eq!(present, live.contains(b.cid().hash()));
    }

    // A second run removes nothing; unpinning makes content collectable.
    assert!(store.gc().unwrap().removed.is_empty());
    assert_eq!(
        store.pins().rm(root.cid()).unwrap(),
        Some(PinMode::Recursive)
    );
    let report = store.gc().unwrap();
    // root, mid, its four leaves and the shared leaf.
    assert_eq!(report.removed.len(), 2 + 4 + 1);
    assert!(store.has(direct.cid().hash()).unwrap());
    assert!(store.verify().unwrap().is_ok());
}

#[test]
fn gc_walks_a_shared_subtree_once() {
    on_both_repos(|store| walks_a_shared_subtree_once(&*store));
}

/// 64 levels, each node linking the next twice: 2^64 paths through 65 blocks. GC must walk
/// each node once (it would never end otherwise), keep all 65 and still collect garbage.
fn walks_a_shared_subtree_once(store: &dyn Repo) {
    let mut node = raw_block(9_000, 300);
    store.put(&node).unwrap();
    for level in 0..64u64 {
        node = dag_pb_node(&[*node.cid(), *node.cid()], &level.to_le_bytes());
        store.put(&node).unwrap();
    }
    store.pins().add(node.cid(), PinMode::Recursive).unwrap();
    let junk = raw_block(9_001, 300);
    store.put(&junk).unwrap();
    let before = stored(store);
    let report = store.gc().unwrap();
    assert_eq!(report.removed, vec![*junk.cid().hash()]);
    assert_eq!(report.live_blocks, 65);
    let mut after = stored(store);
    after.insert(*junk.cid().hash());
    assert_eq!(after, before);
}

#[test]
fn session_protects_until_dropped() {
    on_both_repos(|store| session_protects(&*store));
    // The session's registration is gone once it drops.
    let dir = tempfile::tempdir().unwrap();
    let store = SledStore::open(dir.path()).unwrap();
    let session = store.session();
    assert_eq!(store.inner.guard.session_count(), 1);
    drop(session);
    assert_eq!(store.inner.guard.session_count(), 0);
}

fn session_protects(store: &dyn Repo) {
    let old = raw_block(5, 30_000);
    store.put(&old).unwrap();

    let session = store.session();
    let fresh = raw_block(6, 30_000);
    session.put(&fresh).unwrap();
    // Reading through the session protects too.
    assert!(session.get(old.cid()).unwrap().is_some());
    assert!(store.gc().unwrap().removed.is_empty());
    assert!(store.has(fresh.cid().hash()).unwrap());

    drop(session);
    let report = store.gc().unwrap();
    assert_eq!(report.removed.len(), 2);
    assert_eq!(store.stat().unwrap(), StoreStat::default());
}

/// Bytes of every pack file.
fn pack_bytes(store: &SledStore) -> u64 {
    let packs = &store.inner.packs;
    let ids = packs.list().unwrap();
    ids.iter()
        .map(|&p| packs.file_len(p).unwrap().unwrap_or(0))
        .sum()
}

#[test]
fn gc_compacts_sparse_packs_and_reclaims_dead_records() {
    const LEN: usize = 40_000;
    let dir = tempfile::tempdir().unwrap();
    // Three records per pack: two (with their 41-byte headers) stay below the target.
    let config = crate::Config::default().with_pack_target(2 * LEN as u64 + 200);
    let store = SledStore::open_with(dir.path(), config).unwrap();
    let kept: Vec<Block> = (0..4).map(|i| raw_block(100 + i, LEN)).collect();
    let junk: Vec<Block> = (0..8).map(|i| raw_block(200 + i, LEN)).collect();
    // One kept block, then two junk ones, in each pack.
    for (i, k) in kept.iter().enumerate() {
        store.put(k).unwrap();
        store.pins().add(k.cid(), PinMode::Direct).unwrap();
        store.put_many(&junk[2 * i..2 * i + 2]).unwrap();
    }
    // A record without an index entry: what a crash between the two leaves.
    let orphan = raw_block(9, LEN);
    let packs = &store.inner.packs;
    packs
        .append(&mut packs.begin(), orphan.cid().hash(), orphan.data())
        .unwrap();
    assert!(!store.has(orphan.cid().hash()).unwrap());
    store.flush().unwrap();
    let before = pack_bytes(&store);
    let packs_before = packs.list().unwrap().len();

    let report = store.gc().unwrap();
    assert_eq!(report.removed.len(), junk.len());
    assert_eq!(report.freed_bytes, (junk.len() * LEN) as u64);
    // The four full packs were two-thirds dead; the active one (the orphan's) is left.
    assert_eq!(report.packs_removed, 4, "{report:?}");
    let after = pack_bytes(&store);
    assert!(
        report.reclaimed_bytes >= (junk.len() * LEN) as u64,
        "{report:?}"
    );
    assert_eq!(before - after, report.reclaimed_bytes);
    assert!(packs.list().unwrap().len() < packs_before);
    for k in &kept {
        assert_eq!(store.get(k.cid()).unwrap().as_ref(), Some(k));
    }
    assert!(store.verify().unwrap().is_ok());

    // Unpinned, everything goes; the active pack with its dead records is sealed and goes too
    // once the next writes move on.
    for k in &kept {
        store.pins().rm(k.cid()).unwrap();
    }
    store.put(&raw_block(10, LEN)).unwrap();
    store.put(&raw_block(11, LEN)).unwrap();
    store.put(&raw_block(12, LEN)).unwrap();
    let report = store.gc().unwrap();
    assert_eq!(report.removed.len(), kept.len() + 3);
    assert_eq!(stored(&store), BTreeSet::new());
    assert!(
        pack_bytes(&store) <= 3 * (LEN as u64 + 64),
        "only the active pack is left"
    );

    // And the store reopens clean (no child process spawned, inheriting the lock, meanwhile).
    let _no_spawns = super::util::no_spawns();
    drop(store);
    let store = SledStore::open(dir.path()).unwrap();
    assert!(store.verify().unwrap().is_ok());
    store.gc().unwrap();
    assert_eq!(pack_bytes(&store), 0);
}

#[test]
fn gc_refuses_to_collect_around_an_incomplete_pinned_dag() {
    on_both_repos(|store| refuses_around_an_incomplete_pin(&*store));
}

fn refuses_around_an_incomplete_pin(store: &dyn Repo) {
    let (leaf_parent, leaves) = dag(10, 2);
    let root = dag_pb_node(&[*leaf_parent.cid()], b"top");
    let junk = raw_block(11, 10);
    store
        .put_many(&[root.clone(), leaf_parent.clone(), junk.clone()])
        .unwrap();
    store.put_many(&leaves).unwrap();
    store.pins().add(root.cid(), PinMode::Recursive).unwrap();
    store.delete(leaf_parent.cid().hash()).unwrap();

    match store.gc() {
        Err(GcError::IncompletePin { pin, missing }) => {
            assert_eq!(pin, *root.cid());
            assert_eq!(missing, *leaf_parent.cid());
        }
        other => panic!("expected IncompletePin, got {other:?}"),
    }
    // Nothing was removed: the leaves under the missing node might be pinned.
    assert!(store.has(junk.cid().hash()).unwrap());
    for l in &leaves {
        assert!(store.has(l.cid().hash()).unwrap());
    }
    // Repairing the DAG lets GC run again.
    store.put(&leaf_parent).unwrap();
    let report = store.gc().unwrap();
    assert_eq!(report.removed, vec![*junk.cid().hash()]);
}

/// Every block of the DAG under `root` is readable.
fn assert_complete(store: &dyn Blockstore, root: &Cid) {
    let mut stack = vec![*root];
    while let Some(cid) = stack.pop() {
        let block = store
            .get(&cid)
            .unwrap()
            .unwrap_or_else(|| panic!("{cid} of pinned {root} was collected"));
        if cid.codec() == codec::DAG_PB {
            let node = ipld_dagpb::PbNode::from_bytes(block.data().clone()).unwrap();
            stack.extend(node.links.iter().map(|l| l.cid));
        }
    }
}

#[test]
fn gc_runs_alongside_an_importer_without_losing_pinned_dags() {
    const DAGS: u64 = 40;
    let dir = tempfile::tempdir().unwrap();
    // Small packs, so GC compacts while the importer writes and the reader reads.
    let config = crate::Config::default().with_pack_target(64 * 1024);
    let store = SledStore::open_with(dir.path(), config).unwrap();
    let packs_removed = gc_alongside_an_importer(Arc::new(store), DAGS);
    assert!(
        packs_removed > 0,
        "GC compacted packs while the others worked"
    );
}

#[test]
fn memory_repo_gc_runs_alongside_an_importer_without_losing_pinned_dags() {
    gc_alongside_an_importer(Arc::new(MemoryRepo::new()), 40);
}

/// GC in a loop while an importer adds and pins DAGs and a reader reads a pinned one; returns
/// how many packs the runs compacted away.
fn gc_alongside_an_importer(store: Arc<dyn Repo>, dags: u64) -> u64 {
    let done = Arc::new(AtomicBool::new(false));

    // A DAG pinned from the start, read over and over while GC moves its records around.
    let (steady_root, steady_leaves) = dag(77, 6);
    store.put_many(&steady_leaves).unwrap();
    store.put(&steady_root).unwrap();
    store
        .pins()
        .add(steady_root.cid(), PinMode::Recursive)
        .unwrap();
    let reader = {
        let store = store.clone();
        let done = done.clone();
        let root = *steady_root.cid();
        std::thread::spawn(move || {
            let mut reads = 0u64;
            while !done.load(Ordering::SeqCst) {
                assert_complete(&*store, &root);
                reads += 1;
            }
            reads
        })
    };

    // Completed GC runs, so the importer can wait for some.
    let progress = Arc::new((Mutex::new(0u64), Condvar::new()));

    let importer = {
        let store = store.clone();
        let done = done.clone();
        let progress = progress.clone();
        std::thread::spawn(move || {
            let mut pinned = Vec::new();
            let mut unpinned = Vec::new();
            for i in 0..dags {
                // Leaves shared between neighbouring DAGs exercise re-puts of existing blocks.
                let (root, mut leaves) = dag(1000 + i / 2, 3);
                leaves.push(raw_block(5000 + i, 20_000));
                let cids: Vec<Cid> = leaves.iter().map(|b| *b.cid()).collect();
                let root = dag_pb_node(&cids, root.data());
                let session = store.session();
                for leaf in &leaves {
                    session.put(leaf).unwrap();
                }
                session.put(&root).unwrap();
                // Let at least one whole GC run pass between the puts and the pin: only the
                // session keeps the DAG alive meanwhile.
                let (runs, ran) = &*progress;
                let mut n = runs.lock().unwrap();
                let target = *n + 2;
                while *n < target {
                    n = ran.wait(n).unwrap();
                }
                drop(n);
                if i % 4 == 3 {
                    // Imported without a pin: garbage once the session ends.
                    unpinned.push(*root.cid());
                } else {
                    session.pin(root.cid(), PinMode::Recursive).unwrap();
                    pinned.push(*root.cid());
                }
                drop(session);
                // Unrelated garbage written outside any session: inline, and enough in packs
                // that some packs become mostly dead and are compacted.
                store.put(&raw_block(9000 + i, 1_000)).unwrap();
                store.put(&raw_block(20_000 + i, 20_000)).unwrap();
                store.put(&raw_block(30_000 + i, 20_000)).unwrap();
            }
            done.store(true, Ordering::SeqCst);
            (pinned, unpinned)
        })
    };

    let mut runs = 0;
    let mut packs_removed = 0;
    while !done.load(Ordering::SeqCst) {
        packs_removed += store.gc().unwrap().packs_removed;
        runs += 1;
        let (n, ran) = &*progress;
        *n.lock().unwrap() += 1;
        ran.notify_all();
    }
    let (mut pinned, unpinned) = importer.join().unwrap();
    assert!(reader.join().unwrap() > 0);
    assert!(runs > 0);
    pinned.push(*steady_root.cid());
    for root in &pinned {
        assert_complete(&*store, root);
    }

    // A final GC leaves exactly the pinned DAGs.
    store.gc().unwrap();
    let mut live = BTreeSet::new();
    for root in &pinned {
        let mut stack = vec![*root];
        while let Some(cid) = stack.pop() {
            live.insert(*cid.hash());
            if cid.codec() == codec::DAG_PB {
                let b = store.get(&cid).unwrap().unwrap();
                let node = ipld_dagpb::PbNode::from_bytes(b.data().clone()).unwrap();
                stack.extend(node.links.iter().map(|l| l.cid));
            }
        }
    }
    assert_eq!(stored(&*store), live);
    for root in &unpinned {
        assert!(!store.has(root.hash()).unwrap());
    }
    let report = store.verify().unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.checked, live.len() as u64);
    packs_removed
}

#[test]
fn pin_sets_follow_one_contract() {
    on_both_repos(|repo| {
        let pins = repo.pins();
        let a = raw_block(40, 10);
        let b = raw_block(41, 10);
        assert!(pins.is_empty());
        assert!(pins.add(a.cid(), PinMode::Direct).unwrap());
        assert!(!pins.add(a.cid(), PinMode::Direct).unwrap(), "unchanged");
        // Recursive replaces direct; direct on a recursive pin is refused.
        assert_eq!(
            pins.set(a.cid(), PinMode::Recursive).unwrap(),
            Some(PinMode::Direct)
        );
        assert!(matches!(
            pins.add(a.cid(), PinMode::Direct),
            Err(crate::PinError::AlreadyPinnedRecursively { .. })
        ));
        pins.add(b.cid(), PinMode::Direct).unwrap();
        assert_eq!(pins.len(), 2);
        let direct: Vec<Cid> = pins
            .ls(Some(PinMode::Direct))
            .map(|p| p.unwrap().0)
            .collect();
        assert_eq!(direct, vec![*b.cid()]);
        assert_eq!(pins.get(a.cid()).unwrap(), Some(PinMode::Recursive));
        assert_eq!(pins.rm(a.cid()).unwrap(), Some(PinMode::Recursive));
        assert_eq!(pins.rm(a.cid()).unwrap(), None);
        assert!(!pins.is_pinned(a.cid()).unwrap());
        assert_eq!(pins.len(), 1);
    });
}
