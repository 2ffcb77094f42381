//! The Kademlia keyspace as the sweep sees it: 256-bit keys (SHA-256 of a provider key's
//! multihash, or of a peer id), XOR distance, and regions (all keys sharing a bit prefix).
//!
//! Why regions work: a peer whose key shares a region's prefix is closer (XOR) to every key
//! of the region than any peer outside it. So once a region holds about K peers, the K
//! closest peers of each of its keys are (nearly) all inside it, and one closest-peers
//! lookup toward any key of the region finds the peers every other key of it needs. The
//! prefix length comes from the routing table: our K closest known peers share
//! `p = 255 - ilog2(distance to the K-th)` leading bits with us, so a region of `p` bits
//! around us holds at least K peers; other regions of that size hold about as many.

use libp2p::{PeerId, kad};

pub use crate::network::kad_wire::REPLICATION;

/// Longest region prefix used: 2^24 regions is beyond any DHT's size (the public one has
/// about 2^13 servers), so this only guards against a nonsense estimate.
pub const MAX_PREFIX_BITS: u32 = 24;

/// A point of the keyspace (big-endian 256-bit integer).
pub type KadKey = [u8; 32];

/// The keyspace point of a provider key (its multihash bytes), as kad computes it.
pub fn key_of_multihash(multihash: &[u8]) -> KadKey {
    to_array(kad::KBucketKey::new(multihash).hashed_bytes())
}

/// The keyspace point of a peer.
pub fn key_of_peer(peer: &PeerId) -> KadKey {
    to_array(kad::KBucketKey::from(*peer).hashed_bytes())
}

fn to_array(bytes: &[u8]) -> KadKey {
    let mut out = [0u8; 32];
    let n = bytes.len().min(32);
    out[..n].copy_from_slice(&bytes[..n]);
    out
}

/// XOR distance of two keys, comparable as a big-endian integer.
pub fn distance(a: &KadKey, b: &KadKey) -> KadKey {
    let mut d = [0u8; 32];
    for (i, out) in d.iter_mut().enumerate() {
        *out = a[i] ^ b[i];
    }
    d
}

/// Leading bits `a` and `b` share (256 when equal).
pub fn common_prefix_len(a: &KadKey, b: &KadKey) -> u32 {
    for (i, (x, y)) in a.iter().zip(b.iter()).enumerate() {
        let diff = x ^ y;
        if diff != 0 {
            // i < 32, so the product fits.
            return (i as u32) * 8 + diff.leading_zeros();
        }
    }
    256
}

/// A region: every key whose first `bits` bits equal those of `key`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    bits: u32,
    key: KadKey,
}

impl Region {
    /// The region of `bits` leading bits containing `key` (bits beyond 256 are clamped).
    pub fn of(key: &KadKey, bits: u32) -> Self {
        let bits = bits.min(256);
        let mut masked = [0u8; 32];
        for (i, out) in masked.iter_mut().enumerate() {
            let start = (i as u32) * 8;
            let keep = bits.saturating_sub(start).min(8);
            let mask = if keep == 0 { 0 } else { 0xffu8 << (8 - keep) };
            *out = key[i] & mask;
        }
        Region { bits, key: masked }
    }

    /// The whole keyspace (one region): what a network smaller than K is.
    pub fn everything() -> Self {
        Region::of(&[0; 32], 0)
    }

    /// Prefix length in bits.
    pub fn bits(&self) -> u32 {
        self.bits
    }

    /// Whether `key` lies in the region.
    pub fn contains(&self, key: &KadKey) -> bool {
        common_prefix_len(&self.key, key) >= self.bits
    }
}

/// The region prefix length for a DHT whose routing table knows `known` peers, the K-th
/// closest of which is at `kth_distance` from us: 0 (one region) when fewer than K peers
/// are known, else the prefix our K closest share with us (see the module docs), capped at
/// [`MAX_PREFIX_BITS`].
pub fn prefix_bits(known: usize, kth_distance: Option<&KadKey>) -> u32 {
    match kth_distance {
        Some(d) if known >= REPLICATION => common_prefix_len(d, &[0; 32]).min(MAX_PREFIX_BITS),
        _ => 0,
    }
}

/// How many of the leading `keys` lie in `region` (the work list is in key order, so a
/// region is a run).
pub fn run_length<'a>(keys: impl IntoIterator<Item = &'a KadKey>, region: &Region) -> usize {
    keys.into_iter().take_while(|k| region.contains(k)).count()
}

/// Indices of the (at most) `n` entries of `peers` closest to `key`, closest first.
pub fn closest(key: &KadKey, peers: &[KadKey], n: usize) -> Vec<usize> {
    let mut order: Vec<(KadKey, usize)> = peers
        .iter()
        .enumerate()
        .map(|(i, p)| (distance(key, p), i))
        .collect();
    if order.len() > n {
        order.select_nth_unstable(n);
        order.truncate(n);
    }
    order.sort_unstable();
    order.into_iter().map(|(_, i)| i).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(first: u8, second: u8) -> KadKey {
        let mut k = [0u8; 32];
        k[0] = first;
        k[1] = second;
        k
    }

    #[test]
    fn regions_are_prefixes() {
        let r = Region::of(&key(0b1011_0000, 0xff), 3);
        assert!(r.contains(&key(0b1010_0000, 0)));
        assert!(r.contains(&key(0b1011_1111, 7)));
        assert!(!r.contains(&key(0b1000_0000, 0)));
        assert!(!r.contains(&key(0b0011_0000, 0)));
        assert!(Region::everything().contains(&[0xff; 32]));
        let r12 = Region::of(&key(0xab, 0xcd), 12);
        assert!(r12.contains(&key(0xab, 0xc0)));
        assert!(!r12.contains(&key(0xab, 0xd0)));
        assert_eq!(Region::of(&key(1, 2), 999).bits(), 256);
    }

    #[test]
    fn runs_split_an_ordered_list_at_region_boundaries() {
        let keys: Vec<KadKey> = (0u8..=255).map(|b| key(b, 0)).collect();
        // 2 bits: four regions of 64 keys each.
        let mut at = 0;
        let mut runs = Vec::new();
        while at < keys.len() {
            let region = Region::of(&keys[at], 2);
            let n = run_length(&keys[at..], &region);
            runs.push(n);
            at += n;
        }
        assert_eq!(runs, vec![64; 4]);
        assert_eq!(run_length(&keys, &Region::everything()), 256);
    }

    #[test]
    fn prefix_length_follows_the_density_of_known_peers() {
        // Fewer than K peers: the whole keyspace is one region.
        assert_eq!(prefix_bits(19, Some(&key(0, 1))), 0);
        assert_eq!(prefix_bits(500, None), 0);
        // The K-th closest peer differs from us in bit 9: about 2^9 regions of K peers.
        let mut d = [0u8; 32];
        d[1] = 0b0100_0000;
        assert_eq!(prefix_bits(REPLICATION, Some(&d)), 9);
        // A nonsense estimate is capped.
        let mut tiny = [0u8; 32];
        tiny[31] = 1;
        assert_eq!(prefix_bits(10_000, Some(&tiny)), MAX_PREFIX_BITS);
    }

    #[test]
    fn closest_orders_by_xor_distance() {
        let target = key(0b1000_0000, 0);
        let peers = vec![
            key(0b0000_0000, 0), // far: differs in bit 0
            key(0b1000_0001, 0), // nearest
            key(0b1100_0000, 0), // differs in bit 1
            key(0b1000_1000, 0), // differs in bit 4
        ];
        assert_eq!(closest(&target, &peers, 2), vec![1, 3]);
        assert_eq!(closest(&target, &peers, 10), vec![1, 3, 2, 0]);
        assert!(closest(&target, &[], 3).is_empty());
    }

    #[test]
    fn keys_match_kad_hashing() {
        let mh = cid::multihash::Multihash::<64>::wrap(0x12, &[7; 32]).unwrap();
        let ours = key_of_multihash(&mh.to_bytes());
        let record = kad::RecordKey::new(&mh.to_bytes());
        let theirs = kad::KBucketKey::new(record);
        assert_eq!(&ours[..], theirs.hashed_bytes());
        let peer = PeerId::random();
        let d = kad::KBucketKey::from(peer).distance(&theirs);
        assert_eq!(
            d.ilog2().map(|l| 255 - l),
            Some(common_prefix_len(&key_of_peer(&peer), &ours)).filter(|c| *c < 256)
        );
    }
}
