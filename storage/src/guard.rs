//! The short lock that orders writers, sessions, deleters and the garbage collector.
//!
//! GC never stops the store. Instead every decision to delete a block ("is it protected? then
//! remove it") happens under this one mutex, and every event that protects a block (a put
//! starting, a session touching a block, a pin being recorded) is registered under the same
//! mutex *before* the block's bytes are relied on. So there is no window where a protection is
//! registered but GC has not seen it. The lock is held only for hash-set operations and a
//! single index removal, never across a whole GC.
//!
//! What sessions touched and what was written during a GC run are remembered by a 64-bit
//! fingerprint of each multihash (SipHash-1-3 under keys drawn at random per store), not the
//! multihash: a `dag import` of five million blocks is one session, and its set of
//! multihashes took most of a 2 GB peak. Two blocks sharing a fingerprint only means the
//! other one is kept by GC too (a protection never lost, at worst one block kept for a run);
//! puts in flight, few at any time, stay exact.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, RandomState};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use crate::Multihash;

/// Identifies one live session.
pub(crate) type SessionId = u64;

/// State shared by writers, sessions and GC.
#[derive(Debug, Default)]
pub(crate) struct GuardState {
    /// Multihashes with a put in progress (count of concurrent puts). A put's pack record
    /// exists before its index entry, so neither GC nor `delete` may touch these.
    inflight: HashMap<Multihash, u32>,
    /// Blocks each live session has put or read (fingerprints).
    sessions: HashMap<SessionId, HashSet<u64>>,
    next_session: SessionId,
    /// Keys of the fingerprints (see the module docs).
    keys: RandomState,
    /// While a GC runs: every block put since it started (live by definition).
    gc_written: Option<HashSet<u64>>,
    /// Bumped after every pin change, so GC can see that its mark is stale.
    pin_generation: u64,
}

impl GuardState {
    /// Whether a block may not be collected right now (pins aside).
    pub(crate) fn is_protected(&self, mh: &Multihash) -> bool {
        let fp = self.fingerprint(mh);
        self.inflight.contains_key(mh)
            || self.gc_written.as_ref().is_some_and(|w| w.contains(&fp))
            || self.sessions.values().any(|s| s.contains(&fp))
    }

    /// The key sessions and GC's written set remember `mh` by (see the module docs).
    fn fingerprint(&self, mh: &Multihash) -> u64 {
        self.keys.hash_one(mh)
    }

    /// Whether a put of `mh` is in progress.
    pub(crate) fn is_inflight(&self, mh: &Multihash) -> bool {
        self.inflight.contains_key(mh)
    }

    /// Current pin generation.
    pub(crate) fn pin_generation(&self) -> u64 {
        self.pin_generation
    }
}

/// The mutex plus a condition variable signalled whenever puts finish.
#[derive(Debug, Default)]
pub(crate) struct Guard {
    state: Mutex<GuardState>,
    puts_done: Condvar,
}

impl Guard {
    /// Locks the shared state. Poisoning is ignored: every critical section leaves the sets
    /// consistent before it can panic.
    pub(crate) fn lock(&self) -> MutexGuard<'_, GuardState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers puts of `mhs` (and protects them for `session`) before any byte is written.
    pub(crate) fn begin_puts<'a>(
        &self,
        session: Option<SessionId>,
        mhs: impl IntoIterator<Item = &'a Multihash>,
    ) {
        let mut st = self.lock();
        let st = &mut *st;
        let keys = st.keys.clone();
        let mut session_set = session.and_then(|id| st.sessions.get_mut(&id));
        for mh in mhs {
            let fp = keys.hash_one(mh);
            *st.inflight.entry(*mh).or_insert(0) += 1;
            if let Some(w) = st.gc_written.as_mut() {
                w.insert(fp);
            }
            if let Some(s) = session_set.as_mut() {
                s.insert(fp);
            }
        }
    }

    /// Ends puts registered by [`Guard::begin_puts`] (on success or failure). A put that
    /// started before a GC run and ends during it counts as written during the run.
    pub(crate) fn end_puts<'a>(&self, mhs: impl IntoIterator<Item = &'a Multihash>) {
        let mut st = self.lock();
        let st = &mut *st;
        for mh in mhs {
            let fp = st.keys.hash_one(mh);
            if let Some(w) = st.gc_written.as_mut() {
                w.insert(fp);
            }
            if let Some(n) = st.inflight.get_mut(mh) {
                *n -= 1;
                if *n == 0 {
                    st.inflight.remove(mh);
                }
            }
        }
        self.puts_done.notify_all();
    }

    /// Locks the state once no put of `mh` is in progress (for `delete`).
    pub(crate) fn lock_when_idle(&self, mh: &Multihash) -> MutexGuard<'_, GuardState> {
        let mut st = self.lock();
        while st.is_inflight(mh) {
            st = self
                .puts_done
                .wait(st)
                .unwrap_or_else(PoisonError::into_inner);
        }
        st
    }

    /// Opens a session with an empty protected set.
    pub(crate) fn open_session(&self) -> SessionId {
        let mut st = self.lock();
        let id = st.next_session;
        st.next_session += 1;
        st.sessions.insert(id, HashSet::new());
        id
    }

    /// Protects `mh` for a session (before the session reads it).
    pub(crate) fn protect(&self, session: SessionId, mh: &Multihash) {
        let mut st = self.lock();
        let fp = st.fingerprint(mh);
        if let Some(s) = st.sessions.get_mut(&session) {
            s.insert(fp);
        }
    }

    /// Drops a session's protections.
    pub(crate) fn close_session(&self, session: SessionId) {
        self.lock().sessions.remove(&session);
    }

    /// Number of live sessions (for tests and diagnostics).
    #[cfg(test)]
    pub(crate) fn session_count(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Marks the start of a GC run: from now on every put is recorded as live.
    pub(crate) fn start_gc(&self) {
        self.lock().gc_written = Some(HashSet::new());
    }

    /// Marks the end of a GC run.
    pub(crate) fn finish_gc(&self) {
        self.lock().gc_written = None;
    }

    /// Records that the pin set changed; call after the change is written.
    pub(crate) fn bump_pins(&self) {
        self.lock().pin_generation += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HashAlg, hash_data};

    fn mh(n: u8) -> Multihash {
        hash_data(HashAlg::Sha2_256, &[n]).unwrap()
    }

    #[test]
    fn puts_protect_while_in_flight_and_through_a_gc_run() {
        let g = Guard::default();
        let (a, b, c) = (mh(1), mh(2), mh(3));
        g.begin_puts(None, [&a, &b]);
        assert!(g.lock().is_protected(&a) && g.lock().is_inflight(&b));
        g.start_gc();
        // `a` started before the run and ends during it; `c` runs entirely during it.
        g.end_puts([&a]);
        g.begin_puts(None, [&c]);
        g.end_puts([&c]);
        assert!(g.lock().is_protected(&a) && g.lock().is_protected(&c));
        assert!(!g.lock().is_inflight(&a));
        g.finish_gc();
        assert!(!g.lock().is_protected(&a) && !g.lock().is_protected(&c));
        assert!(g.lock().is_protected(&b), "still in flight");
        g.end_puts([&b]);
        assert!(!g.lock().is_protected(&b));
    }

    #[test]
    fn sessions_protect_what_they_touch_until_closed() {
        let g = Guard::default();
        let (a, b) = (mh(1), mh(2));
        let s = g.open_session();
        let other = g.open_session();
        g.begin_puts(Some(s), [&a]);
        g.end_puts([&a]);
        g.protect(s, &b);
        assert!(g.lock().is_protected(&a) && g.lock().is_protected(&b));
        g.close_session(other);
        assert!(g.lock().is_protected(&a));
        g.close_session(s);
        assert!(!g.lock().is_protected(&a) && !g.lock().is_protected(&b));
        assert_eq!(g.session_count(), 0);
    }

    #[test]
    fn pin_generation_moves_on_every_change() {
        let g = Guard::default();
        let before = g.lock().pin_generation();
        g.bump_pins();
        assert_eq!(g.lock().pin_generation(), before + 1);
    }
}
