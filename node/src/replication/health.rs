//! Which community nodes are up, as this node sees them: connected now, or lost less than
//! `down_after` ago. Sans-IO: the worker feeds it the connected set and the time.
//!
//! A node never seen counts from this node's start, so a whole community restarting together
//! does not declare everyone down and reshuffle every root.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use libp2p::PeerId;

/// One node's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeState {
    /// Connected right now.
    pub connected: bool,
    /// Connected now, or lost less than `down_after` ago.
    pub up: bool,
    /// Since when it is unreachable (`None` while connected).
    pub unreachable_for: Option<Duration>,
}

/// The community's health.
#[derive(Debug)]
pub struct Health {
    local: PeerId,
    nodes: Vec<PeerId>,
    down_after: Duration,
    started: Instant,
    connected: HashSet<PeerId>,
    last_seen: HashMap<PeerId, Instant>,
    down: HashSet<PeerId>,
}

impl Health {
    /// Every node of `nodes` (which includes `local`) starts as just seen at `now`.
    pub fn new(local: PeerId, nodes: Vec<PeerId>, down_after: Duration, now: Instant) -> Self {
        Health {
            local,
            nodes,
            down_after,
            started: now,
            connected: HashSet::new(),
            last_seen: HashMap::new(),
            down: HashSet::new(),
        }
    }

    /// The peers connected at `now`; returns the nodes that went down since the last update
    /// (lost for longer than `down_after`), each once, so repair can start for their share.
    pub fn update(&mut self, connected: &HashSet<PeerId>, now: Instant) -> Vec<PeerId> {
        let was = std::mem::take(&mut self.connected);
        for p in &self.nodes {
            if connected.contains(p) || was.contains(p) {
                // Connected now, or connected until this update: seen now.
                self.last_seen.insert(*p, now);
            }
            if connected.contains(p) {
                self.connected.insert(*p);
            }
        }
        let mut went_down = Vec::new();
        for p in &self.nodes {
            if *p == self.local {
                continue;
            }
            if self.is_up(p, now) {
                self.down.remove(p);
            } else if self.down.insert(*p) {
                went_down.push(*p);
            }
        }
        went_down
    }

    /// Whether `peer` is up at `now` (the local node always is).
    pub fn is_up(&self, peer: &PeerId, now: Instant) -> bool {
        self.state(peer, now).up
    }

    /// `peer`'s state at `now`.
    pub fn state(&self, peer: &PeerId, now: Instant) -> NodeState {
        if *peer == self.local || self.connected.contains(peer) {
            return NodeState {
                connected: true,
                up: true,
                unreachable_for: None,
            };
        }
        let since = self.last_seen.get(peer).copied().unwrap_or(self.started);
        let gone = now.saturating_duration_since(since);
        NodeState {
            connected: false,
            up: gone < self.down_after,
            unreachable_for: Some(gone),
        }
    }

    /// The community's nodes (with the local one).
    pub fn nodes(&self) -> &[PeerId] {
        &self.nodes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_node_is_down_only_after_being_unreachable_for_down_after() {
        let local = PeerId::random();
        let other = PeerId::random();
        let t0 = Instant::now();
        let mut h = Health::new(local, vec![local, other], Duration::from_secs(10), t0);
        // Never seen: counts from the start.
        assert!(h.is_up(&other, t0 + Duration::from_secs(9)));
        assert!(!h.is_up(&other, t0 + Duration::from_secs(10)));
        // Connected at 20 s, lost at 25 s: up until 35 s.
        h.update(&HashSet::from([other]), t0 + Duration::from_secs(20));
        assert!(h.state(&other, t0 + Duration::from_secs(21)).connected);
        h.update(&HashSet::new(), t0 + Duration::from_secs(25));
        assert!(h.is_up(&other, t0 + Duration::from_secs(34)));
        assert!(!h.is_up(&other, t0 + Duration::from_secs(35)));
        assert!(h.is_up(&local, t0 + Duration::from_secs(1000)));
    }

    #[test]
    fn going_down_is_reported_once() {
        let local = PeerId::random();
        let other = PeerId::random();
        let t0 = Instant::now();
        let mut h = Health::new(local, vec![local, other], Duration::from_secs(5), t0);
        h.update(&HashSet::from([other]), t0);
        let mut reports = 0;
        for s in 1..20 {
            reports += h.update(&HashSet::new(), t0 + Duration::from_secs(s)).len();
        }
        assert_eq!(reports, 1);
    }
}
