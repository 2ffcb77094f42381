//! Which keys a strategy announces, written into the cycle's on-disk work list (never
//! collected in memory): `all` lists the store, `pinned` walks every pinned DAG (the work
//! list doubles as the visited set, so a block shared by many pins is walked once), `roots`
//! takes the pins themselves. Blocking: run it on the blocking pool.

use std::sync::Arc;

use chorus_protocol::car::block_links;
use chorus_storage::{Blockstore, Cid, Pins, codec};
use tracing::debug;

use super::config::ReprovideStrategy;
use super::cycle_state::{CycleState, StateError};
use super::keyspace::key_of_multihash;

/// The multihash code of identity hashes: their CIDs carry the data and are never provided.
const IDENTITY: u64 = 0x00;

/// Keys written to the work list per sled batch by `all`: the sweep's batch size
/// ([`DEFAULT_BATCH_KEYS`](super::DEFAULT_BATCH_KEYS)), so memory stays at one batch.
const INSERT_BATCH: usize = 4096;

/// What enumeration found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Enumerated {
    /// Distinct keys in the work list.
    pub keys: u64,
    /// Entries that could not be read (damaged store entries, pins, or pinned blocks).
    pub errors: u64,
}

/// Fills `state`'s (empty) work list with the keys `strategy` announces.
pub fn build_work_list(
    strategy: ReprovideStrategy,
    store: &Arc<dyn Blockstore>,
    pins: Option<&Pins>,
    state: &CycleState,
) -> Result<Enumerated, StateError> {
    let mut found = Enumerated::default();
    match strategy {
        ReprovideStrategy::All => {
            // The store lists each multihash once: written in batches, memory bounded by one.
            let mut pending = Vec::with_capacity(INSERT_BATCH);
            for item in store.list() {
                match item {
                    Ok(mh) if mh.code() != IDENTITY => {
                        let bytes = mh.to_bytes();
                        pending.push((key_of_multihash(&bytes), bytes));
                        if pending.len() >= INSERT_BATCH {
                            state.insert_batch(&pending)?;
                            found.keys += pending.len() as u64;
                            pending.clear();
                        }
                    }
                    Ok(_) => {}
                    Err(e) => {
                        debug!(error = %e, "unreadable store entry skipped");
                        found.errors += 1;
                    }
                }
            }
            state.insert_batch(&pending)?;
            found.keys += pending.len() as u64;
        }
        ReprovideStrategy::Roots | ReprovideStrategy::Pinned => {
            let Some(pins) = pins else {
                return Ok(found);
            };
            for item in pins.ls(None) {
                let cid = match item {
                    Ok((cid, _)) => cid,
                    Err(e) => {
                        debug!(error = %e, "unreadable pin skipped");
                        found.errors += 1;
                        continue;
                    }
                };
                if strategy == ReprovideStrategy::Roots {
                    add_cid(state, &cid, &mut found)?;
                } else {
                    walk(state, store, cid, pins, &mut found)?;
                }
            }
        }
    }
    Ok(found)
}

fn add(
    state: &CycleState,
    mh: &[u8],
    code: u64,
    found: &mut Enumerated,
) -> Result<bool, StateError> {
    if code == IDENTITY {
        return Ok(false);
    }
    let new = state.insert_key(&key_of_multihash(mh), mh)?;
    if new {
        found.keys += 1;
    }
    Ok(new)
}

fn add_cid(state: &CycleState, cid: &Cid, found: &mut Enumerated) -> Result<bool, StateError> {
    add(state, &cid.hash().to_bytes(), cid.hash().code(), found)
}

/// Depth-first walk from `root` if it is pinned recursively (a direct pin protects its
/// block alone, so only that block is announced); the stack holds at most
/// (depth × fan-out) CIDs.
fn walk(
    state: &CycleState,
    store: &Arc<dyn Blockstore>,
    root: Cid,
    pins: &Pins,
    found: &mut Enumerated,
) -> Result<(), StateError> {
    let recursive = matches!(
        pins.get(&root),
        Ok(Some(chorus_storage::PinMode::Recursive))
    );
    if !recursive {
        add_cid(state, &root, found)?;
        return Ok(());
    }
    let mut stack = vec![root];
    while let Some(cid) = stack.pop() {
        // Already in the list: walked before (through another pin or link).
        if !add_cid(state, &cid, found)? || cid.codec() != codec::DAG_PB {
            continue;
        }
        match store.get(&cid) {
            Ok(Some(block)) => match block_links(&block) {
                Ok(links) => stack.extend(links),
                Err(e) => {
                    debug!(%cid, error = %e, "pinned block with unreadable links");
                    found.errors += 1;
                }
            },
            // Not stored (yet): nothing below it can be announced as ours.
            Ok(None) => {}
            Err(e) => {
                debug!(%cid, error = %e, "unreadable pinned block");
                found.errors += 1;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::reprovide::keyspace::KadKey;
    use chorus_storage::{Block, HashAlg, PinMode, SledStore};
    use std::collections::BTreeSet;

    /// A dag-pb node linking to `links` (UnixFS-free: links are what matters here).
    fn pb_node(links: &[Cid], salt: u8) -> Block {
        let mut bytes = Vec::new();
        for link in links {
            let cid = link.to_bytes();
            // PBLink { Hash = 1 }
            let mut link_msg = vec![0x0a];
            link_msg.push(u8::try_from(cid.len()).unwrap());
            link_msg.extend_from_slice(&cid);
            // PBNode { Links = 2 }
            bytes.push(0x12);
            bytes.push(u8::try_from(link_msg.len()).unwrap());
            bytes.extend_from_slice(&link_msg);
        }
        // PBNode { Data = 1 }
        bytes.extend_from_slice(&[0x0a, 1, salt]);
        Block::from_data(codec::DAG_PB, HashAlg::Sha2_256, bytes).unwrap()
    }

    fn raw(n: u8) -> Block {
        Block::from_data(codec::RAW, HashAlg::Sha2_256, vec![n; 3]).unwrap()
    }

    fn keys_of(blocks: &[&Block]) -> BTreeSet<KadKey> {
        blocks
            .iter()
            .map(|b| key_of_multihash(&b.cid().hash().to_bytes()))
            .collect()
    }

    fn listed(state: &CycleState) -> BTreeSet<KadKey> {
        state
            .batch_after(None, usize::MAX)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    }

    #[test]
    fn strategies_select_kubos_key_sets() {
        let dir = tempfile::tempdir().unwrap();
        let repo = SledStore::open(dir.path().join("repo")).unwrap();
        // root -> (mid -> leaf1, leaf2), leaf3 ; a second recursive pin shares leaf2;
        // a direct pin on a dag-pb node with a child; one unpinned block.
        let (leaf1, leaf2, leaf3) = (raw(1), raw(2), raw(3));
        let mid = pb_node(&[*leaf1.cid(), *leaf2.cid()], 0);
        let root = pb_node(&[*mid.cid(), *leaf3.cid()], 1);
        let other = pb_node(&[*leaf2.cid()], 2);
        let direct_child = raw(4);
        let direct = pb_node(&[*direct_child.cid()], 3);
        let unpinned = raw(5);
        let all = [
            &leaf1,
            &leaf2,
            &leaf3,
            &mid,
            &root,
            &other,
            &direct_child,
            &direct,
            &unpinned,
        ];
        for b in all {
            repo.put(b).unwrap();
        }
        repo.pins().add(root.cid(), PinMode::Recursive).unwrap();
        repo.pins().add(other.cid(), PinMode::Recursive).unwrap();
        repo.pins().add(direct.cid(), PinMode::Direct).unwrap();
        let pins = repo.pins().clone();
        let store: Arc<dyn Blockstore> = Arc::new(repo);

        let db = sled::Config::new().temporary(true).open().unwrap();
        let state = CycleState::open(&db).unwrap();
        let run = |strategy| {
            state.begin(std::time::SystemTime::now(), "test").unwrap();
            let found = build_work_list(strategy, &store, Some(&pins), &state).unwrap();
            let keys = listed(&state);
            assert_eq!(found.keys as usize, keys.len());
            keys
        };
        assert_eq!(run(ReprovideStrategy::All), keys_of(&all));
        assert_eq!(
            run(ReprovideStrategy::Pinned),
            keys_of(&[&leaf1, &leaf2, &leaf3, &mid, &root, &other, &direct])
        );
        assert_eq!(
            run(ReprovideStrategy::Roots),
            keys_of(&[&root, &other, &direct])
        );
        // Without a pin set, pin-based strategies announce nothing.
        state.begin(std::time::SystemTime::now(), "test").unwrap();
        let found = build_work_list(ReprovideStrategy::Roots, &store, None, &state).unwrap();
        assert_eq!(found.keys, 0);
    }

    #[test]
    fn a_million_keys_stream_through_the_disk_list() {
        // Planning 1,000,000 synthetic keys: the work list lives in sled and is read back in
        // bounded batches, so the sweep never holds more than one batch.
        let dir = tempfile::tempdir().unwrap();
        let db = sled::open(dir.path()).unwrap();
        let state = CycleState::open(&db).unwrap();
        state.begin(std::time::SystemTime::now(), "all").unwrap();
        const N: u32 = 1_000_000;
        let mut pending = Vec::with_capacity(INSERT_BATCH);
        for n in 0..N {
            let mut mh = vec![0x12, 0x20];
            mh.extend_from_slice(&[0; 28]);
            mh.extend_from_slice(&n.to_be_bytes());
            pending.push((key_of_multihash(&mh), mh));
            if pending.len() == INSERT_BATCH {
                state.insert_batch(&pending).unwrap();
                pending.clear();
            }
        }
        state.insert_batch(&pending).unwrap();
        state.built(u64::from(N)).unwrap();
        let batch = 4096;
        let mut cursor = None;
        let mut total = 0usize;
        let mut previous: Option<KadKey> = None;
        loop {
            let keys = state.batch_after(cursor.as_ref(), batch).unwrap();
            assert!(keys.len() <= batch);
            let Some((last, _)) = keys.last() else { break };
            // Keyspace order across batches.
            if let Some(p) = previous {
                assert!(keys[0].0 > p);
            }
            previous = Some(*last);
            cursor = Some(*last);
            total += keys.len();
        }
        assert_eq!(total, N as usize);
    }
}
