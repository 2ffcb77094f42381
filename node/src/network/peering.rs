//! Sticky "peering" peers: kept connected, redialed with exponential backoff when the
//! connection drops or a dial fails (kubo's `Peering.Peers`).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};

/// First delay before redialing a lost peering peer: kubo's peering `initialDelay` (5 s),
/// long enough that both sides do not dial each other at once.
pub const DEFAULT_PEERING_INITIAL_BACKOFF: Duration = Duration::from_secs(5);

/// Longest delay between redials: kubo's peering `maxBackoff` (10 min).
pub const DEFAULT_PEERING_MAX_BACKOFF: Duration = Duration::from_secs(600);

#[derive(Debug)]
struct Sticky {
    addrs: Vec<Multiaddr>,
    backoff: Duration,
    retry_at: Option<Instant>,
}

/// Redial schedule of the peering peers. Pure state: the actor reports connections and
/// asks what is due.
#[derive(Debug)]
pub(crate) struct Peering {
    peers: HashMap<PeerId, Sticky>,
    initial: Duration,
    max: Duration,
}

impl Peering {
    /// Peering with `peers` (addresses without the `/p2p/` suffix).
    pub(crate) fn new(
        peers: impl IntoIterator<Item = (PeerId, Multiaddr)>,
        initial: Duration,
        max: Duration,
    ) -> Self {
        let mut map: HashMap<PeerId, Sticky> = HashMap::new();
        for (peer, addr) in peers {
            let entry = map.entry(peer).or_insert_with(|| Sticky {
                addrs: Vec::new(),
                backoff: initial,
                retry_at: None,
            });
            if !entry.addrs.contains(&addr) {
                entry.addrs.push(addr);
            }
        }
        Peering {
            peers: map,
            initial,
            max: max.max(initial),
        }
    }

    /// Every peering peer and its addresses (to dial at start).
    pub(crate) fn all(&self) -> Vec<(PeerId, Vec<Multiaddr>)> {
        self.peers
            .iter()
            .map(|(p, s)| (*p, s.addrs.clone()))
            .collect()
    }

    /// A peering peer's addresses (`None` for any other peer).
    pub(crate) fn addresses(&self, peer: &PeerId) -> Option<Vec<Multiaddr>> {
        self.peers.get(peer).map(|s| s.addrs.clone())
    }

    /// `peer` is connected: its backoff starts over.
    pub(crate) fn connected(&mut self, peer: &PeerId) {
        if let Some(s) = self.peers.get_mut(peer) {
            s.backoff = self.initial;
            s.retry_at = None;
        }
    }

    /// `peer` was lost (or a dial failed): redial after the current backoff, which doubles
    /// up to the maximum. A redial already scheduled stays as it is.
    pub(crate) fn lost(&mut self, peer: &PeerId, now: Instant) {
        if let Some(s) = self.peers.get_mut(peer)
            && s.retry_at.is_none()
        {
            s.retry_at = Some(now + s.backoff);
            s.backoff = s.backoff.saturating_mul(2).min(self.max);
        }
    }

    /// The peers whose redial is due at `now` (each is handed out once per loss).
    pub(crate) fn due(&mut self, now: Instant) -> Vec<(PeerId, Vec<Multiaddr>)> {
        let mut due = Vec::new();
        for (peer, s) in &mut self.peers {
            if s.retry_at.is_some_and(|t| t <= now) {
                s.retry_at = None;
                due.push((*peer, s.addrs.clone()));
            }
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peering(peer: PeerId) -> Peering {
        let addr: Multiaddr = "/ip4/127.0.0.1/tcp/4001".parse().unwrap();
        Peering::new(
            [(peer, addr)],
            Duration::from_secs(5),
            Duration::from_secs(600),
        )
    }

    #[test]
    fn redials_with_doubling_backoff_and_resets_on_connect() {
        let t0 = Instant::now();
        let p = PeerId::random();
        let mut s = peering(p);
        s.lost(&p, t0);
        assert!(s.due(t0 + Duration::from_secs(4)).is_empty());
        assert_eq!(s.due(t0 + Duration::from_secs(5)).len(), 1);
        // Handed out once.
        assert!(s.due(t0 + Duration::from_secs(6)).is_empty());
        // The dial failed: ten seconds this time.
        let t1 = t0 + Duration::from_secs(6);
        s.lost(&p, t1);
        assert!(s.due(t1 + Duration::from_secs(9)).is_empty());
        assert_eq!(s.due(t1 + Duration::from_secs(10)).len(), 1);
        // Connected again: back to five seconds.
        s.connected(&p);
        let t2 = t1 + Duration::from_secs(100);
        s.lost(&p, t2);
        assert_eq!(s.due(t2 + Duration::from_secs(5)).len(), 1);
    }

    #[test]
    fn backoff_is_capped_and_strangers_are_ignored() {
        let t0 = Instant::now();
        let p = PeerId::random();
        let mut s = peering(p);
        let mut t = t0;
        for _ in 0..20 {
            s.lost(&p, t);
            t += Duration::from_secs(3600);
            assert_eq!(s.due(t).len(), 1);
        }
        s.lost(&p, t);
        assert!(s.due(t + Duration::from_secs(599)).is_empty());
        assert_eq!(s.due(t + Duration::from_secs(600)).len(), 1);
        let stranger = PeerId::random();
        s.lost(&stranger, t);
        assert!(s.due(t + Duration::from_secs(3600)).is_empty());
    }
}
