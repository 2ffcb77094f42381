//! Which keys a strategy announces, written into the cycle's on-disk work list (never
//! collected in memory): `all` lists the store, `pinned` walks every pinned DAG, `roots` takes
//! the pins themselves. The work list drops keys reached twice; the `pinned` walk remembers
//! the dag-pb nodes it descended into, so a subtree linked many times is walked once.
//! Blocking: run it on the blocking pool.

use std::collections::HashSet;
use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;

use chorus_protocol::car::block_links;
use chorus_storage::{Blockstore, Cid, Pins, codec};
use tracing::debug;

use super::config::ReprovideStrategy;
use super::cycle_state::{CycleState, StateError};
use super::keyspace::key_of_multihash;
use super::work_list::{MAX_MULTIHASH, WorkListBuilder};

/// The multihash code of identity hashes: their CIDs carry the data and are never provided.
const IDENTITY: u64 = 0x00;

/// What enumeration found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Enumerated {
    /// Distinct keys in the work list.
    pub keys: u64,
    /// Entries that could not be read (damaged store entries, pins, or pinned blocks).
    pub errors: u64,
}

/// Fills `state`'s work list with the keys `strategy` announces (replacing what it held).
pub fn build_work_list(
    strategy: ReprovideStrategy,
    store: &Arc<dyn Blockstore>,
    pins: Option<&Pins>,
    state: &CycleState,
) -> Result<Enumerated, StateError> {
    let mut found = Enumerated::default();
    let mut list = state.builder()?;
    match strategy {
        ReprovideStrategy::All => {
            // The store lists each multihash once.
            for item in store.list() {
                match item {
                    Ok(mh) => add(&mut list, &mh.to_bytes(), mh.code(), &mut found)?,
                    Err(e) => {
                        debug!(error = %e, "unreadable store entry skipped");
                        found.errors += 1;
                    }
                }
            }
        }
        ReprovideStrategy::Roots | ReprovideStrategy::Pinned => {
            let mut walked = Walked::default();
            for item in pins.into_iter().flat_map(|p| p.ls(None)) {
                let cid = match item {
                    Ok((cid, _)) => cid,
                    Err(e) => {
                        debug!(error = %e, "unreadable pin skipped");
                        found.errors += 1;
                        continue;
                    }
                };
                match (strategy, pins) {
                    (ReprovideStrategy::Pinned, Some(pins)) => {
                        walk(&mut list, store, cid, pins, &mut walked, &mut found)?;
                    }
                    _ => add_cid(&mut list, &cid, &mut found)?,
                }
            }
        }
    }
    found.keys = list.finish()?;
    Ok(found)
}

fn add(
    list: &mut WorkListBuilder,
    mh: &[u8],
    code: u64,
    found: &mut Enumerated,
) -> Result<(), StateError> {
    if code == IDENTITY {
        return Ok(());
    }
    if mh.len() > MAX_MULTIHASH {
        // Longer than any multihash the store holds (64 digest bytes); skipped, not fatal.
        debug!(len = mh.len(), "over-long multihash skipped");
        found.errors += 1;
        return Ok(());
    }
    list.push(key_of_multihash(mh), mh.to_vec())?;
    Ok(())
}

fn add_cid(
    list: &mut WorkListBuilder,
    cid: &Cid,
    found: &mut Enumerated,
) -> Result<(), StateError> {
    add(list, &cid.hash().to_bytes(), cid.hash().code(), found)
}

/// The dag-pb nodes with links already descended into, by a 64-bit fingerprint (SipHash-1-3
/// under keys drawn for this cycle, as GC's mark remembers them): 8 bytes per interior node,
/// about one in 175 blocks of a UnixFS file. A collision would skip a subtree for one cycle;
/// with random keys nobody can aim for one.
#[derive(Default)]
struct Walked {
    keys: RandomState,
    seen: HashSet<u64>,
}

/// Depth-first walk from `root` if it is pinned recursively (a direct pin protects its
/// block alone, so only that block is announced); the stack holds at most
/// (depth × fan-out) CIDs.
fn walk(
    list: &mut WorkListBuilder,
    store: &Arc<dyn Blockstore>,
    root: Cid,
    pins: &Pins,
    walked: &mut Walked,
    found: &mut Enumerated,
) -> Result<(), StateError> {
    let recursive = matches!(
        pins.get(&root),
        Ok(Some(chorus_storage::PinMode::Recursive))
    );
    if !recursive {
        return add_cid(list, &root, found);
    }
    let mut stack = vec![root];
    while let Some(cid) = stack.pop() {
        add_cid(list, &cid, found)?;
        if cid.codec() != codec::DAG_PB {
            continue;
        }
        let fingerprint = walked.keys.hash_one(cid.hash());
        // Walked before (through another pin or link).
        if walked.seen.contains(&fingerprint) {
            continue;
        }
        match store.get(&cid) {
            Ok(Some(block)) => match block_links(&block) {
                Ok(links) => {
                    if !links.is_empty() {
                        walked.seen.insert(fingerprint);
                    }
                    stack.extend(links);
                }
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
        let state = CycleState::open(&db, dir.path().join("work")).unwrap();
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
    fn a_dag_linking_one_subtree_many_times_is_walked_once() {
        // 64 nodes, each linking the next twice: without remembering walked nodes the walk
        // would take 2^64 steps.
        let dir = tempfile::tempdir().unwrap();
        let repo = SledStore::open(dir.path().join("repo")).unwrap();
        let leaf = raw(7);
        repo.put(&leaf).unwrap();
        let mut below = *leaf.cid();
        let mut blocks = vec![leaf];
        for salt in 0..64 {
            let node = pb_node(&[below, below], salt);
            repo.put(&node).unwrap();
            below = *node.cid();
            blocks.push(node);
        }
        repo.pins().add(&below, PinMode::Recursive).unwrap();
        let pins = repo.pins().clone();
        let store: Arc<dyn Blockstore> = Arc::new(repo);
        let db = sled::Config::new().temporary(true).open().unwrap();
        let state = CycleState::open(&db, dir.path().join("work")).unwrap();
        let found =
            build_work_list(ReprovideStrategy::Pinned, &store, Some(&pins), &state).unwrap();
        assert_eq!(found.keys, 65);
        assert_eq!(listed(&state), keys_of(&blocks.iter().collect::<Vec<_>>()));
    }
}
