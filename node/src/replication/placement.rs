//! Placement by rendezvous (highest-random-weight) hashing, as mediorum's `Rank`: every node
//! of the community orders the node set for a root the same way, with no coordination, and the
//! first R nodes that are not down hold it.
//!
//! A node's score for a root is `sha256(peer id bytes ‖ multihash bytes of the root)`; the
//! ranking sorts the scores in ascending byte order (ties, which need a sha256 collision, by
//! peer id). Adding or removing one node moves only the roots whose first R change: about R/N
//! of them, the property that makes repair after a node dies cheap.

use chorus_storage::Multihash;
use libp2p::PeerId;
use sha2::{Digest, Sha256};

/// The node set ordered for `root`: best-placed first.
pub fn rank(nodes: &[PeerId], root: &Multihash) -> Vec<PeerId> {
    let key = root.to_bytes();
    let mut scored: Vec<([u8; 32], PeerId)> = nodes
        .iter()
        .map(|peer| {
            let mut h = Sha256::new();
            h.update(peer.to_bytes());
            h.update(&key);
            (h.finalize().into(), *peer)
        })
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    scored.into_iter().map(|(_, peer)| peer).collect()
}

/// The holders of a root: the first `factor` nodes of `ranked` for which `is_up` holds.
pub fn holders(ranked: &[PeerId], factor: usize, is_up: impl Fn(&PeerId) -> bool) -> Vec<PeerId> {
    ranked
        .iter()
        .filter(|p| is_up(p))
        .take(factor)
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn nodes(n: usize) -> Vec<PeerId> {
        (0..n).map(|_| PeerId::random()).collect()
    }

    fn root(i: u32) -> Multihash {
        Multihash::wrap(0x12, &Sha256::digest(i.to_be_bytes())).unwrap()
    }

    #[test]
    fn every_node_computes_the_same_ranking_whatever_the_order_of_its_list() {
        let set = nodes(7);
        let mut reversed = set.clone();
        reversed.reverse();
        for i in 0..50 {
            assert_eq!(rank(&set, &root(i)), rank(&reversed, &root(i)));
            assert_eq!(rank(&set, &root(i)).len(), 7);
        }
    }

    #[test]
    fn the_score_is_sha256_of_peer_id_then_multihash() {
        let set = nodes(3);
        let key = root(9);
        let score = |p: &PeerId| -> [u8; 32] {
            Sha256::digest([p.to_bytes(), key.to_bytes()].concat()).into()
        };
        let ranked = rank(&set, &key);
        assert!(score(&ranked[0]) < score(&ranked[1]));
        assert!(score(&ranked[1]) < score(&ranked[2]));
    }

    #[test]
    fn load_spreads_evenly_and_a_lost_node_moves_only_its_share() {
        let set = nodes(5);
        let mut load: HashMap<PeerId, usize> = HashMap::new();
        let roots: Vec<Multihash> = (0..3000).map(root).collect();
        for r in &roots {
            for p in holders(&rank(&set, r), 3, |_| true) {
                *load.entry(p).or_default() += 1;
            }
        }
        // 3,000 roots × 3 copies over 5 nodes: 1,800 each, within 10 %.
        for (_, n) in load {
            assert!((1620..=1980).contains(&n), "{n}");
        }
        // Node 0 goes down: a root's holders change only if node 0 was one of them.
        let down = set[0];
        for r in &roots {
            let before = holders(&rank(&set, r), 3, |_| true);
            let after = holders(&rank(&set, r), 3, |p| *p != down);
            if !before.contains(&down) {
                assert_eq!(before, after);
            } else {
                let kept: Vec<_> = before.iter().filter(|p| **p != down).collect();
                assert!(kept.iter().all(|p| after.contains(p)));
                assert_eq!(after.len(), 3);
            }
        }
    }

    #[test]
    fn fewer_live_nodes_than_the_factor_yields_them_all() {
        let set = nodes(4);
        let ranked = rank(&set, &root(1));
        let up = [ranked[1], ranked[3]];
        assert_eq!(holders(&ranked, 3, |p| up.contains(p)), up.to_vec());
    }
}
