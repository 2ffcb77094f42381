//! A fetch session as a pure state machine: which peer to ask what, and when to give up.
//!
//! The node drives it with what happens (peers joining and leaving, HAVE / DONT_HAVE / block
//! events, the clock) and performs the [`Action`]s it returns through the behaviour and the
//! DHT. No I/O and no timers inside: time comes in as an [`Instant`] argument, so tests can
//! play out any schedule exactly.
//!
//! Strategy (go-bitswap's, simplified): ask every session peer WANT_HAVE; send WANT_BLOCK to
//! the first peer that answers HAVE, spreading concurrent blocks over the peers that have
//! them. If the peer asked for the block answers DONT_HAVE or stays silent past the block
//! timeout, move to the next peer that said HAVE; when nobody has it (or nobody is
//! connected), ask the DHT for providers, and ask peers that never answered again (the want
//! may have been lost); fail the want after the overall timeout.
//!
//! Once a peer has delivered a block it was asked for, later wants go to it as WANT_BLOCK
//! straight away (and WANT_HAVE to the others), as go-bitswap's session sends its want-block
//! to a peer that served earlier requests: a file's next blocks are almost always where its
//! previous ones were, and waiting for HAVE first cost a round trip per block, queued behind
//! the blocks that peer was still sending. A DONT_HAVE or silence from it ends that trust.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use cid::Cid;
use libp2p::PeerId;

use super::message::WantType;

/// How long a WANT_BLOCK may go unanswered before the next peer is tried: go-bitswap's
/// session starts from a 1 s "latency" estimate; we give a 256 KiB block a little more.
pub const DEFAULT_BLOCK_TIMEOUT: Duration = Duration::from_secs(3);

/// How long a want may stay unresolved before it fails: the gateway's default fetch timeout
/// (kubo's `Gateway.RetrievalTimeout`, 30 s).
pub const DEFAULT_WANT_TIMEOUT: Duration = Duration::from_secs(30);

/// How often DHT providers may be looked up again for the same CID while it is unresolved:
/// go-bitswap's `periodicSearchDelay` (1 min) shortened for interactive reads.
pub const DEFAULT_PROVIDER_RETRY: Duration = Duration::from_secs(10);

/// Session settings.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct SessionConfig {
    /// See [`DEFAULT_BLOCK_TIMEOUT`].
    pub block_timeout: Duration,
    /// See [`DEFAULT_WANT_TIMEOUT`].
    pub want_timeout: Duration,
    /// See [`DEFAULT_PROVIDER_RETRY`].
    pub provider_retry: Duration,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            block_timeout: DEFAULT_BLOCK_TIMEOUT,
            want_timeout: DEFAULT_WANT_TIMEOUT,
            provider_retry: DEFAULT_PROVIDER_RETRY,
        }
    }
}

impl SessionConfig {
    /// Sets the per-peer block timeout.
    pub fn with_block_timeout(mut self, t: Duration) -> Self {
        self.block_timeout = t;
        self
    }

    /// Sets the overall timeout of a want.
    pub fn with_want_timeout(mut self, t: Duration) -> Self {
        self.want_timeout = t;
        self
    }

    /// Sets the interval between provider lookups of one CID.
    pub fn with_provider_retry(mut self, t: Duration) -> Self {
        self.provider_retry = t;
        self
    }
}

/// What the node should do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Call [`Behaviour::want`](super::Behaviour::want) with these peers and type.
    Want {
        /// The CID.
        cid: Cid,
        /// Who to ask.
        peers: Vec<PeerId>,
        /// Block or presence.
        want_type: WantType,
    },
    /// Look up DHT providers of `cid` and connect to them (then report them with
    /// [`Session::add_peer`]).
    FindProviders {
        /// The CID.
        cid: Cid,
    },
    /// Call [`Behaviour::rewant`](super::Behaviour::rewant): these peers were asked for
    /// `cid` and never answered, so the want may not have reached them.
    Rewant {
        /// The CID.
        cid: Cid,
        /// Who to ask again.
        peers: Vec<PeerId>,
    },
    /// The want timed out: call [`Behaviour::cancel`](super::Behaviour::cancel) and fail the
    /// request.
    Failed {
        /// The CID.
        cid: Cid,
    },
}

#[derive(Debug)]
struct Want {
    started: Instant,
    /// Peers asked WANT_HAVE.
    asked: HashSet<PeerId>,
    /// Peers that said HAVE, in answer order, not yet tried for the block.
    haves: Vec<PeerId>,
    /// Peers that said DONT_HAVE or failed to deliver.
    exhausted: HashSet<PeerId>,
    /// The peer currently asked for the block, and since when.
    fetching: Option<(PeerId, Instant)>,
    /// When providers were last looked up.
    searched: Option<Instant>,
    /// The last provider search had no DHT peer to ask (it found nothing by construction),
    /// so it is repeated as soon as the DHT gains one.
    unrouted: bool,
}

/// One fetch session: a set of peers and the CIDs wanted from them.
#[derive(Debug)]
pub struct Session {
    config: SessionConfig,
    peers: HashSet<PeerId>,
    wants: HashMap<Cid, Want>,
    /// WANT_BLOCKs in flight per peer, to spread load.
    load: HashMap<PeerId, usize>,
    /// Session peers that delivered a block we asked them for and have not said DONT_HAVE
    /// to a WANT_BLOCK since: new wants go to them as WANT_BLOCK at once.
    proven: HashSet<PeerId>,
}

impl Session {
    /// An empty session.
    pub fn new(config: SessionConfig) -> Self {
        Session {
            config,
            peers: HashSet::new(),
            wants: HashMap::new(),
            load: HashMap::new(),
            proven: HashSet::new(),
        }
    }

    /// Number of unresolved wants.
    pub fn pending(&self) -> usize {
        self.wants.len()
    }

    /// Whether `cid` is unresolved in this session.
    pub fn is_wanted(&self, cid: &Cid) -> bool {
        self.wants.contains_key(cid)
    }

    /// Starts fetching `cid`: WANT_HAVE to every session peer, or a provider search if there
    /// are none; WANT_BLOCK instead to the least loaded peer that has delivered blocks before.
    pub fn want(&mut self, cid: Cid, now: Instant) -> Vec<Action> {
        if self.wants.contains_key(&cid) {
            return Vec::new();
        }
        let mut want = Want {
            started: now,
            asked: self.peers.clone(),
            haves: Vec::new(),
            exhausted: HashSet::new(),
            fetching: None,
            searched: None,
            unrouted: false,
        };
        let mut actions = Vec::new();
        if self.peers.is_empty() {
            want.searched = Some(now);
            actions.push(Action::FindProviders { cid });
        } else {
            let mut others = sorted(&self.peers);
            let trusted = others
                .iter()
                .enumerate()
                .filter(|(_, p)| self.proven.contains(*p))
                .min_by_key(|(i, p)| (self.load.get(*p).copied().unwrap_or(0), *i))
                .map(|(i, _)| i);
            if let Some(i) = trusted {
                let peer = others.remove(i);
                want.fetching = Some((peer, now));
                *self.load.entry(peer).or_insert(0) += 1;
                actions.push(Action::Want {
                    cid,
                    peers: vec![peer],
                    want_type: WantType::Block,
                });
            }
            if !others.is_empty() {
                actions.push(Action::Want {
                    cid,
                    peers: others,
                    want_type: WantType::Have,
                });
            }
        }
        self.wants.insert(cid, want);
        actions
    }

    /// A peer joined (connected, or found as a provider): ask it for every unresolved CID
    /// not yet being fetched.
    pub fn add_peer(&mut self, peer: PeerId) -> Vec<Action> {
        if !self.peers.insert(peer) {
            return Vec::new();
        }
        let mut actions = Vec::new();
        for (cid, want) in &mut self.wants {
            if want.fetching.is_none() && want.asked.insert(peer) {
                actions.push(Action::Want {
                    cid: *cid,
                    peers: vec![peer],
                    want_type: WantType::Have,
                });
            }
        }
        sort_actions(&mut actions);
        actions
    }

    /// A DHT lookup named `peer` as a provider of `cid`. A new peer joins as with
    /// [`add_peer`](Self::add_peer); a session peer that said DONT_HAVE earlier (or was not
    /// asked) is taken at the record's word, as if it had said HAVE: it may have the block now.
    pub fn add_provider(&mut self, cid: &Cid, peer: PeerId, now: Instant) -> Vec<Action> {
        if !self.peers.contains(&peer) {
            return self.add_peer(peer);
        }
        if let Some(want) = self.wants.get_mut(cid) {
            want.exhausted.remove(&peer);
            want.asked.insert(peer);
        }
        self.on_have(peer, cid, now)
    }

    /// The provider search for `cid` just requested could not ask anyone: the DHT knows no
    /// peer yet. It does not count as a search, so the next chance (a DHT peer appearing,
    /// see [`dht_peer_added`](Self::dht_peer_added), or everyone saying DONT_HAVE) searches
    /// at once instead of after [`SessionConfig::provider_retry`].
    pub fn search_unrouted(&mut self, cid: &Cid) {
        if let Some(want) = self.wants.get_mut(cid) {
            want.searched = None;
            want.unrouted = true;
        }
    }

    /// The DHT gained a peer: repeats, now, the provider searches that had nobody to ask,
    /// for wants still without a source. (A fetch started before the first connection would
    /// otherwise wait for the periodic retry.)
    pub fn dht_peer_added(&mut self, now: Instant) -> Vec<Action> {
        let mut cids: Vec<Cid> = self
            .wants
            .iter()
            .filter(|(_, w)| w.unrouted && w.fetching.is_none() && w.haves.is_empty())
            .map(|(c, _)| *c)
            .collect();
        cids.sort();
        cids.into_iter()
            .flat_map(|cid| self.search(cid, now))
            .collect()
    }

    /// A peer left: blocks it was fetching move to the next candidate.
    pub fn remove_peer(&mut self, peer: &PeerId, now: Instant) -> Vec<Action> {
        self.peers.remove(peer);
        self.load.remove(peer);
        self.proven.remove(peer);
        let mut actions = Vec::new();
        let cids: Vec<Cid> = self.wants.keys().copied().collect();
        for cid in cids {
            let Some(want) = self.wants.get_mut(&cid) else {
                continue;
            };
            want.haves.retain(|p| p != peer);
            want.asked.remove(peer);
            if want.fetching.is_some_and(|(p, _)| p == *peer) {
                want.fetching = None;
                actions.extend(self.next_source(cid, now));
            }
        }
        actions
    }

    /// `peer` has `cid`: fetch it from there unless a fetch is already under way.
    pub fn on_have(&mut self, peer: PeerId, cid: &Cid, now: Instant) -> Vec<Action> {
        let Some(want) = self.wants.get_mut(cid) else {
            return Vec::new();
        };
        if want.exhausted.contains(&peer) || want.haves.contains(&peer) {
            return Vec::new();
        }
        if want.fetching.is_some_and(|(p, _)| p == peer) {
            return Vec::new();
        }
        want.haves.push(peer);
        if want.fetching.is_none() {
            return self.next_source(*cid, now);
        }
        Vec::new()
    }

    /// `peer` lacks `cid`.
    pub fn on_dont_have(&mut self, peer: PeerId, cid: &Cid, now: Instant) -> Vec<Action> {
        let Some(want) = self.wants.get_mut(cid) else {
            return Vec::new();
        };
        want.exhausted.insert(peer);
        want.haves.retain(|p| *p != peer);
        if want.fetching.is_some_and(|(p, _)| p == peer) {
            want.fetching = None;
            self.unload(&peer);
            self.proven.remove(&peer);
            return self.next_source(*cid, now);
        }
        if want.fetching.is_none()
            && want.haves.is_empty()
            && want.asked.iter().all(|p| want.exhausted.contains(p))
        {
            return self.search(*cid, now);
        }
        Vec::new()
    }

    /// `cid` arrived (from anyone): the want is done. A block arriving while one peer is
    /// asked for it is taken as that peer's delivery (the others were asked only WANT_HAVE,
    /// which a peer answers with the block only for tiny blocks).
    pub fn on_block(&mut self, cid: &Cid) {
        if let Some(peer) = self.finish(cid)
            && self.peers.contains(&peer)
        {
            self.proven.insert(peer);
        }
    }

    /// The caller gave up on `cid` (e.g. its request was dropped); forget it. The node
    /// cancels it in the behaviour.
    pub fn cancel(&mut self, cid: &Cid) {
        self.finish(cid);
    }

    /// Forgets the want for `cid`; returns the peer that was asked for the block, if any.
    fn finish(&mut self, cid: &Cid) -> Option<PeerId> {
        let (peer, _) = self.wants.remove(cid)?.fetching?;
        self.unload(&peer);
        Some(peer)
    }

    /// Advances time: retries silent peers, repeats provider searches, fails old wants.
    /// Call it periodically (e.g. every second) and when the earliest [`deadline`](Self::deadline)
    /// passes.
    pub fn tick(&mut self, now: Instant) -> Vec<Action> {
        let mut actions = Vec::new();
        let mut cids: Vec<Cid> = self.wants.keys().copied().collect();
        cids.sort();
        for cid in cids {
            let Some(want) = self.wants.get_mut(&cid) else {
                continue;
            };
            if now.saturating_duration_since(want.started) >= self.config.want_timeout {
                self.finish(&cid);
                actions.push(Action::Failed { cid });
                continue;
            }
            if let Some((peer, since)) = want.fetching
                && now.saturating_duration_since(since) >= self.config.block_timeout
            {
                want.exhausted.insert(peer);
                want.fetching = None;
                self.unload(&peer);
                self.proven.remove(&peer);
                actions.extend(self.next_source(cid, now));
                continue;
            }
            let Some(want) = self.wants.get(&cid) else {
                continue;
            };
            let idle = want.fetching.is_none() && want.haves.is_empty();
            let search_due = want
                .searched
                .is_none_or(|t| now.saturating_duration_since(t) >= self.config.provider_retry);
            let waited = now.saturating_duration_since(want.started) >= self.config.block_timeout;
            if idle && search_due && (waited || want.asked.is_empty()) {
                // Peers asked that neither said HAVE nor DONT_HAVE are asked again.
                let mut silent: Vec<PeerId> = want
                    .asked
                    .iter()
                    .filter(|p| !want.exhausted.contains(*p) && self.peers.contains(*p))
                    .copied()
                    .collect();
                silent.sort();
                actions.extend(self.search(cid, now));
                if !silent.is_empty() {
                    actions.push(Action::Rewant { cid, peers: silent });
                }
            }
        }
        actions
    }

    /// The next instant at which [`tick`](Self::tick) has something to do, if any.
    pub fn deadline(&self) -> Option<Instant> {
        self.wants
            .values()
            .flat_map(|w| {
                let fetch = w.fetching.map(|(_, t)| t + self.config.block_timeout);
                let search = w.searched.map(|t| t + self.config.provider_retry);
                [Some(w.started + self.config.want_timeout), fetch, search]
            })
            .flatten()
            .min()
    }

    /// Sends WANT_BLOCK to the least loaded peer that said HAVE, or searches for providers.
    fn next_source(&mut self, cid: Cid, now: Instant) -> Vec<Action> {
        let Some(want) = self.wants.get_mut(&cid) else {
            return Vec::new();
        };
        let best = want
            .haves
            .iter()
            .enumerate()
            .min_by_key(|(i, p)| (self.load.get(*p).copied().unwrap_or(0), *i))
            .map(|(i, _)| i);
        match best {
            Some(i) => {
                let peer = want.haves.remove(i);
                want.fetching = Some((peer, now));
                *self.load.entry(peer).or_insert(0) += 1;
                vec![Action::Want {
                    cid,
                    peers: vec![peer],
                    want_type: WantType::Block,
                }]
            }
            None => self.search(cid, now),
        }
    }

    /// Asks for providers unless a search is recent.
    fn search(&mut self, cid: Cid, now: Instant) -> Vec<Action> {
        let Some(want) = self.wants.get_mut(&cid) else {
            return Vec::new();
        };
        let recent = want
            .searched
            .is_some_and(|t| now.saturating_duration_since(t) < self.config.provider_retry);
        if recent {
            return Vec::new();
        }
        want.searched = Some(now);
        want.unrouted = false;
        vec![Action::FindProviders { cid }]
    }

    fn unload(&mut self, peer: &PeerId) {
        if let Some(n) = self.load.get_mut(peer) {
            *n = n.saturating_sub(1);
        }
    }
}

fn sorted(peers: &HashSet<PeerId>) -> Vec<PeerId> {
    let mut v: Vec<PeerId> = peers.iter().copied().collect();
    v.sort();
    v
}

fn sort_actions(actions: &mut [Action]) {
    actions.sort_by_key(|a| match a {
        Action::Want { cid, .. }
        | Action::Rewant { cid, .. }
        | Action::FindProviders { cid }
        | Action::Failed { cid } => *cid,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use chorus_storage::{Block, HashAlg, codec};

    fn cid(n: u8) -> Cid {
        *Block::from_data(codec::RAW, HashAlg::Sha2_256, vec![n])
            .unwrap()
            .cid()
    }

    fn want_block(cid: Cid, peer: PeerId) -> Action {
        Action::Want {
            cid,
            peers: vec![peer],
            want_type: WantType::Block,
        }
    }

    fn session() -> Session {
        Session::new(SessionConfig::default())
    }

    /// A session with two peers.
    fn two_peer_session() -> (Session, PeerId, PeerId) {
        let (a, b) = (PeerId::random(), PeerId::random());
        let mut s = session();
        s.add_peer(a);
        s.add_peer(b);
        (s, a, b)
    }

    #[test]
    fn asks_everyone_for_have_then_one_for_the_block() {
        let t0 = Instant::now();
        let (mut s, a, b) = two_peer_session();
        let actions = s.want(cid(1), t0);
        let mut expected = vec![a, b];
        expected.sort();
        assert_eq!(
            actions,
            vec![Action::Want {
                cid: cid(1),
                peers: expected,
                want_type: WantType::Have
            }]
        );
        assert_eq!(s.on_have(b, &cid(1), t0), vec![want_block(cid(1), b)]);
        // A second HAVE while fetching only records a fallback.
        assert!(s.on_have(a, &cid(1), t0).is_empty());
        s.on_block(&cid(1));
        assert_eq!(s.pending(), 0);
    }

    #[test]
    fn dont_have_from_the_source_moves_to_the_next_have() {
        let t0 = Instant::now();
        let (mut s, a, b) = two_peer_session();
        s.want(cid(1), t0);
        s.on_have(a, &cid(1), t0);
        s.on_have(b, &cid(1), t0);
        assert_eq!(s.on_dont_have(a, &cid(1), t0), vec![want_block(cid(1), b)]);
    }

    #[test]
    fn silence_past_the_block_timeout_moves_on_then_searches() {
        let t0 = Instant::now();
        let cfg = SessionConfig::default();
        let (a, b) = (PeerId::random(), PeerId::random());
        let mut s = Session::new(cfg.clone());
        s.add_peer(a);
        s.add_peer(b);
        s.want(cid(1), t0);
        s.on_have(a, &cid(1), t0);
        s.on_have(b, &cid(1), t0);
        assert!(s.tick(t0 + cfg.block_timeout / 2).is_empty());
        let t1 = t0 + cfg.block_timeout;
        assert_eq!(s.tick(t1), vec![want_block(cid(1), b)]);
        let t2 = t1 + cfg.block_timeout;
        assert_eq!(s.tick(t2), vec![Action::FindProviders { cid: cid(1) }]);
        // A provider found and connected is asked.
        let c = PeerId::random();
        assert_eq!(
            s.add_peer(c),
            vec![Action::Want {
                cid: cid(1),
                peers: vec![c],
                want_type: WantType::Have
            }]
        );
    }

    #[test]
    fn no_peers_means_providers_first_and_everyone_lacking_it_means_search() {
        let t0 = Instant::now();
        let mut s = session();
        assert_eq!(
            s.want(cid(1), t0),
            vec![Action::FindProviders { cid: cid(1) }]
        );
        let a = PeerId::random();
        let mut s = session();
        s.add_peer(a);
        s.want(cid(2), t0);
        assert_eq!(
            s.on_dont_have(a, &cid(2), t0),
            vec![Action::FindProviders { cid: cid(2) }]
        );
        // Not again before the retry interval.
        assert!(s.tick(t0 + Duration::from_millis(1)).is_empty());
    }

    #[test]
    fn a_search_without_dht_peers_is_repeated_when_the_dht_gains_one() {
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_millis(100);
        let mut s = session();
        assert_eq!(
            s.want(cid(1), t0),
            vec![Action::FindProviders { cid: cid(1) }]
        );
        // Nothing to repeat while the search counts.
        assert!(s.dht_peer_added(t1).is_empty());
        s.search_unrouted(&cid(1));
        // A peer without the block joins and says so: search again at once ...
        let m = PeerId::random();
        s.add_peer(m);
        assert_eq!(
            s.on_dont_have(m, &cid(1), t1),
            vec![Action::FindProviders { cid: cid(1) }]
        );
        // ... and likewise when the DHT gains a peer after another unrouted search.
        s.search_unrouted(&cid(1));
        assert_eq!(
            s.dht_peer_added(t1),
            vec![Action::FindProviders { cid: cid(1) }]
        );
        // A routed search counts: no repeat before the retry interval.
        assert!(s.dht_peer_added(t1).is_empty());
        assert!(s.on_dont_have(m, &cid(1), t1).is_empty());
    }

    #[test]
    fn a_provider_that_said_dont_have_is_asked_for_the_block() {
        let t0 = Instant::now();
        let a = PeerId::random();
        let mut s = session();
        s.add_peer(a);
        s.want(cid(1), t0);
        s.on_dont_have(a, &cid(1), t0);
        assert_eq!(s.add_provider(&cid(1), a, t0), vec![want_block(cid(1), a)]);
        // A new peer found as a provider joins like any new peer: asked for what is not
        // being fetched yet.
        s.want(cid(2), t0);
        let b = PeerId::random();
        assert_eq!(
            s.add_provider(&cid(1), b, t0),
            vec![Action::Want {
                cid: cid(2),
                peers: vec![b],
                want_type: WantType::Have
            }]
        );
    }

    #[test]
    fn peers_that_never_answer_are_asked_again_with_the_periodic_search() {
        let t0 = Instant::now();
        let cfg = SessionConfig::default();
        let (a, b) = (PeerId::random(), PeerId::random());
        let mut s = Session::new(cfg.clone());
        s.add_peer(a);
        s.add_peer(b);
        s.want(cid(1), t0);
        s.on_dont_have(b, &cid(1), t0);
        // `a` stays silent: after the block timeout, search and ask `a` again (not `b`).
        let t1 = t0 + cfg.block_timeout;
        assert_eq!(
            s.tick(t1),
            vec![
                Action::FindProviders { cid: cid(1) },
                Action::Rewant {
                    cid: cid(1),
                    peers: vec![a]
                }
            ]
        );
        assert!(s.tick(t1 + Duration::from_millis(10)).is_empty());
        // Once it answers, it is not asked again.
        s.on_dont_have(a, &cid(1), t1);
        assert_eq!(
            s.tick(t1 + cfg.provider_retry),
            vec![Action::FindProviders { cid: cid(1) }]
        );
    }

    #[test]
    fn wants_fail_after_the_overall_timeout() {
        let t0 = Instant::now();
        let cfg = SessionConfig::default().with_want_timeout(Duration::from_secs(5));
        let mut s = Session::new(cfg);
        s.add_peer(PeerId::random());
        s.want(cid(1), t0);
        assert_eq!(s.deadline(), Some(t0 + Duration::from_secs(5)));
        let actions = s.tick(t0 + Duration::from_secs(5));
        assert!(actions.contains(&Action::Failed { cid: cid(1) }));
        assert_eq!(s.pending(), 0);
    }

    #[test]
    fn blocks_are_spread_over_the_peers_that_have_them() {
        let t0 = Instant::now();
        let (a, b, c) = (PeerId::random(), PeerId::random(), PeerId::random());
        let mut s = session();
        for p in [a, b, c] {
            s.add_peer(p);
        }
        s.want(cid(1), t0);
        s.want(cid(2), t0);
        assert_eq!(s.on_have(a, &cid(1), t0), vec![want_block(cid(1), a)]);
        assert_eq!(s.on_have(b, &cid(2), t0), vec![want_block(cid(2), b)]);
        s.on_have(a, &cid(2), t0);
        s.on_have(c, &cid(2), t0);
        // `a` answered first but is busy with cid 1; the idle `c` gets the request.
        assert_eq!(s.on_dont_have(b, &cid(2), t0), vec![want_block(cid(2), c)]);
    }

    #[test]
    fn a_source_leaving_hands_the_block_to_the_next() {
        let t0 = Instant::now();
        let (mut s, a, b) = two_peer_session();
        s.want(cid(1), t0);
        s.on_have(a, &cid(1), t0);
        s.on_have(b, &cid(1), t0);
        assert_eq!(s.remove_peer(&a, t0), vec![want_block(cid(1), b)]);
    }

    #[test]
    fn a_peer_that_delivered_gets_the_next_wants_as_want_block() {
        let t0 = Instant::now();
        let (mut s, a, b) = two_peer_session();
        s.want(cid(1), t0);
        s.on_have(a, &cid(1), t0);
        s.on_block(&cid(1));
        // `a` delivered: the next want skips the HAVE round trip with it; `b` is still asked.
        assert_eq!(
            s.want(cid(2), t0),
            vec![
                want_block(cid(2), a),
                Action::Want {
                    cid: cid(2),
                    peers: vec![b],
                    want_type: WantType::Have
                }
            ]
        );
        // A HAVE from `b` meanwhile is a fallback; `a` lacking the block hands it over.
        assert!(s.on_have(b, &cid(2), t0).is_empty());
        assert_eq!(s.on_dont_have(a, &cid(2), t0), vec![want_block(cid(2), b)]);
        // `a` lost its standing: the next want asks everyone WANT_HAVE again.
        let mut everyone = vec![a, b];
        everyone.sort();
        assert_eq!(
            s.want(cid(3), t0),
            vec![Action::Want {
                cid: cid(3),
                peers: everyone,
                want_type: WantType::Have
            }]
        );
        // A block that nobody was asked for in particular proves no one.
        s.on_block(&cid(3));
        assert_eq!(s.want(cid(4), t0).len(), 1);
    }

    #[test]
    fn optimistic_wants_spread_over_the_peers_that_delivered() {
        let t0 = Instant::now();
        let (mut s, a, b) = two_peer_session();
        s.want(cid(1), t0);
        s.want(cid(2), t0);
        s.on_have(a, &cid(1), t0);
        s.on_have(b, &cid(2), t0);
        s.on_block(&cid(1));
        s.on_block(&cid(2));
        let first = s.want(cid(3), t0);
        let second = s.want(cid(4), t0);
        let block_peer = |actions: &[Action]| match actions.first() {
            Some(Action::Want {
                peers,
                want_type: WantType::Block,
                ..
            }) => peers.clone(),
            other => panic!("expected a WANT_BLOCK first, got {other:?}"),
        };
        let (p3, p4) = (block_peer(&first), block_peer(&second));
        assert_ne!(
            p3, p4,
            "both wants went to one peer while the other was idle"
        );
    }
}
