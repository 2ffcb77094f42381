//! The Bitswap client: every block the node is fetching, who waits for it, and the
//! [`Session`] that decides whom to ask.
//!
//! I/O-free like the session: the driver (the node's network actor) feeds it requests, wire
//! events and the time, and performs the [`Step`]s it returns; waiters are whatever the
//! driver answers a fetch with (a oneshot sender, in the node), opaque here. What the client
//! adds to the session:
//! - one fetch per CID however many wait for it, and its withdrawal once every waiter left;
//! - a block that arrived is not wanted again while it is being stored (`arrived`);
//! - a block stored moments ago is read back from the store instead of fetched again: a
//!   reader checks the store, then asks the network, and a block stored between the two
//!   would otherwise cross the wire twice ([`RECENTLY_STORED_CAPACITY`]).

use std::collections::HashMap;
use std::time::Instant;

use cid::Cid;
use libp2p::PeerId;

use super::recent::RecentSet;
use super::session::{Action, Session, SessionConfig};

/// Fetched blocks remembered as just stored. This only has to span the moments between a
/// reader's store check and its request, for the blocks in flight: the node runs at most 512
/// prefetches plus its readers; twice that, as CIDs (under 100 bytes each), is the margin.
pub const RECENTLY_STORED_CAPACITY: usize = 1024;

/// What the driver must do next.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<W> {
    /// Perform a session action: a want on the wire, a re-want, or a DHT provider search.
    /// (The session's `Failed` comes out as [`Step::TimedOut`].)
    Session(Action),
    /// `cid` was stored moments ago: read it back from the store and report with
    /// [`Client::read_back`].
    ReadBack(Cid),
    /// Nobody waits for `cid` any more: withdraw its want from the wire.
    Cancel(Cid),
    /// The fetch of `cid` timed out: withdraw its want and fail these waiters.
    TimedOut {
        /// The CID.
        cid: Cid,
        /// Everyone who waited for it.
        waiters: Vec<W>,
    },
}

/// One CID being fetched and everyone waiting for it.
#[derive(Debug)]
struct Fetch<W> {
    waiters: Vec<W>,
    /// The block arrived (or was stored moments ago) and is being stored or read back; no
    /// want is outstanding.
    arrived: bool,
}

/// The fetches in flight; see the [module docs](self).
#[derive(Debug)]
pub struct Client<W> {
    session: Session,
    fetches: HashMap<Cid, Fetch<W>>,
    recently_stored: RecentSet<Cid>,
}

impl<W> Client<W> {
    /// A client whose session runs with `config`.
    pub fn new(config: SessionConfig) -> Self {
        Client {
            session: Session::new(config),
            fetches: HashMap::new(),
            recently_stored: RecentSet::new(RECENTLY_STORED_CAPACITY),
        }
    }

    /// CIDs being fetched.
    pub fn in_flight(&self) -> usize {
        self.fetches.len()
    }

    /// `waiter` wants `cid`: joins its fetch, or starts one.
    pub fn fetch(&mut self, cid: Cid, waiter: W, now: Instant) -> Vec<Step<W>> {
        if let Some(fetch) = self.fetches.get_mut(&cid) {
            fetch.waiters.push(waiter);
            return Vec::new();
        }
        let stored = self.recently_stored.contains(&cid);
        self.fetches.insert(
            cid,
            Fetch {
                waiters: vec![waiter],
                arrived: stored,
            },
        );
        if stored {
            return vec![Step::ReadBack(cid)];
        }
        let actions = self.session.want(cid, now);
        self.steps(actions)
    }

    /// The outcome of a [`Step::ReadBack`]: with the block found, the waiters to hand it to;
    /// without (removed meanwhile, or the read failed), the fetch goes to the network.
    pub fn read_back(&mut self, cid: Cid, found: bool, now: Instant) -> (Vec<W>, Vec<Step<W>>) {
        if found {
            let waiters = self.fetches.remove(&cid).map(|f| f.waiters);
            return (waiters.unwrap_or_default(), Vec::new());
        }
        let Some(fetch) = self.fetches.get_mut(&cid) else {
            return (Vec::new(), Vec::new());
        };
        fetch.arrived = false;
        let actions = self.session.want(cid, now);
        (Vec::new(), self.steps(actions))
    }

    /// A verified block for `cid` came off the wire; the driver stores it next.
    pub fn on_block(&mut self, cid: &Cid) {
        self.session.on_block(cid);
        if let Some(fetch) = self.fetches.get_mut(cid) {
            fetch.arrived = true;
        }
    }

    /// The block of `cid` was stored (`ok`) or storing it failed; returns the waiters to hand
    /// it to either way (they asked for the block, not for it to be stored).
    pub fn on_stored(&mut self, cid: &Cid, ok: bool) -> Vec<W> {
        if ok {
            self.recently_stored.insert(*cid);
        }
        self.fetches
            .remove(cid)
            .map(|f| f.waiters)
            .unwrap_or_default()
    }

    /// Drops the waiters of `cid` that are `gone`; withdraws the fetch when none is left
    /// (unless its block already arrived).
    pub fn release(&mut self, cid: &Cid, gone: impl Fn(&W) -> bool) -> Vec<Step<W>> {
        let Some(fetch) = self.fetches.get_mut(cid) else {
            return Vec::new();
        };
        fetch.waiters.retain(|w| !gone(w));
        if fetch.waiters.is_empty() && !fetch.arrived {
            self.fetches.remove(cid);
            self.session.cancel(cid);
            return vec![Step::Cancel(*cid)];
        }
        Vec::new()
    }

    /// [`Client::release`] for every fetch with a waiter that is `gone`.
    pub fn sweep(&mut self, gone: impl Fn(&W) -> bool) -> Vec<Step<W>> {
        let abandoned: Vec<Cid> = self
            .fetches
            .iter()
            .filter(|(_, f)| f.waiters.iter().any(&gone))
            .map(|(c, _)| *c)
            .collect();
        abandoned
            .iter()
            .flat_map(|cid| self.release(cid, &gone))
            .collect()
    }

    /// A peer connected.
    pub fn add_peer(&mut self, peer: PeerId) -> Vec<Step<W>> {
        let actions = self.session.add_peer(peer);
        self.steps(actions)
    }

    /// A peer disconnected or does not speak Bitswap.
    pub fn remove_peer(&mut self, peer: &PeerId, now: Instant) -> Vec<Step<W>> {
        let actions = self.session.remove_peer(peer, now);
        self.steps(actions)
    }

    /// A DHT search found `peer` providing `cid` (and it is connected).
    pub fn add_provider(&mut self, cid: &Cid, peer: PeerId, now: Instant) -> Vec<Step<W>> {
        let actions = self.session.add_provider(cid, peer, now);
        self.steps(actions)
    }

    /// `peer` said HAVE.
    pub fn on_have(&mut self, peer: PeerId, cid: &Cid, now: Instant) -> Vec<Step<W>> {
        let actions = self.session.on_have(peer, cid, now);
        self.steps(actions)
    }

    /// `peer` said DONT_HAVE.
    pub fn on_dont_have(&mut self, peer: PeerId, cid: &Cid, now: Instant) -> Vec<Step<W>> {
        let actions = self.session.on_dont_have(peer, cid, now);
        self.steps(actions)
    }

    /// A provider search for `cid` had no DHT peer to ask; it is repeated once one appears.
    pub fn search_unrouted(&mut self, cid: &Cid) {
        self.session.search_unrouted(cid);
    }

    /// The DHT gained a peer: searches that had nobody to ask may run now.
    pub fn dht_peer_added(&mut self, now: Instant) -> Vec<Step<W>> {
        let actions = self.session.dht_peer_added(now);
        self.steps(actions)
    }

    /// Advances retries, provider searches and timeouts (see [`Session::tick`]).
    pub fn tick(&mut self, now: Instant) -> Vec<Step<W>> {
        let actions = self.session.tick(now);
        self.steps(actions)
    }

    fn steps(&mut self, actions: Vec<Action>) -> Vec<Step<W>> {
        actions
            .into_iter()
            .map(|action| match action {
                Action::Failed { cid } => Step::TimedOut {
                    cid,
                    waiters: self
                        .fetches
                        .remove(&cid)
                        .map(|f| f.waiters)
                        .unwrap_or_default(),
                },
                other => Step::Session(other),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn cid(n: u8) -> Cid {
        let mh = cid::multihash::Multihash::<64>::wrap(0x12, &[n; 32]).unwrap();
        Cid::new_v1(0x55, mh)
    }

    fn client() -> Client<u32> {
        Client::new(SessionConfig::default().with_want_timeout(Duration::from_secs(5)))
    }

    fn wants_on_wire(steps: &[Step<u32>]) -> usize {
        steps
            .iter()
            .filter(|s| matches!(s, Step::Session(Action::Want { .. })))
            .count()
    }

    #[test]
    fn one_fetch_per_cid_whoever_waits() {
        let now = Instant::now();
        let mut c = client();
        c.add_peer(PeerId::random());
        let first = c.fetch(cid(1), 1, now);
        assert_eq!(wants_on_wire(&first), 1, "{first:?}");
        assert!(c.fetch(cid(1), 2, now).is_empty());
        assert_eq!(c.in_flight(), 1);
        c.on_block(&cid(1));
        assert_eq!(c.on_stored(&cid(1), true), vec![1, 2]);
        assert_eq!(c.in_flight(), 0);
    }

    #[test]
    fn a_block_stored_moments_ago_is_read_back_not_fetched() {
        let now = Instant::now();
        let mut c = client();
        c.add_peer(PeerId::random());
        c.fetch(cid(1), 1, now);
        c.on_block(&cid(1));
        c.on_stored(&cid(1), true);
        assert_eq!(c.fetch(cid(1), 2, now), vec![Step::ReadBack(cid(1))]);
        assert_eq!(c.read_back(cid(1), true, now), (vec![2], Vec::new()));
        // Gone from the store after all: to the network.
        assert_eq!(c.fetch(cid(1), 3, now), vec![Step::ReadBack(cid(1))]);
        let (delivered, steps) = c.read_back(cid(1), false, now);
        assert!(delivered.is_empty());
        assert_eq!(wants_on_wire(&steps), 1, "{steps:?}");
    }

    #[test]
    fn the_want_is_withdrawn_when_the_last_waiter_leaves() {
        let now = Instant::now();
        let mut c = client();
        c.add_peer(PeerId::random());
        c.fetch(cid(1), 1, now);
        c.fetch(cid(1), 2, now);
        assert!(c.release(&cid(1), |w| *w == 1).is_empty());
        assert_eq!(c.sweep(|w| *w == 2), vec![Step::Cancel(cid(1))]);
        assert_eq!(c.in_flight(), 0);
        // A block that arrived is stored and handed out even if its waiters left.
        c.fetch(cid(2), 3, now);
        c.on_block(&cid(2));
        assert!(c.release(&cid(2), |_| true).is_empty());
        assert_eq!(c.on_stored(&cid(2), true), Vec::<u32>::new());
    }

    #[test]
    fn a_timeout_fails_every_waiter() {
        let now = Instant::now();
        let mut c = client();
        c.fetch(cid(1), 1, now);
        c.fetch(cid(1), 2, now);
        let steps = c.tick(now + Duration::from_secs(60));
        assert!(
            steps.contains(&Step::TimedOut {
                cid: cid(1),
                waiters: vec![1, 2]
            }),
            "{steps:?}"
        );
        assert_eq!(c.in_flight(), 0);
    }
}
