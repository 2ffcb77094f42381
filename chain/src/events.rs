//! Applying the registry's confirmed events to the ownership index, and undoing them when the
//! chain reorganises. Pure store logic (no chain access): the follower feeds it.
//!
//! Every applied event leaves an undo record keyed by (block, log index) holding the CID's
//! record as it was before; rolling back past block `b` replays those records newest first.
//! The follower's cursor (last block applied, with its hash) moves in the same step.

use alloy::primitives::{Address, B256};
use serde::{Deserialize, Serialize};

use crate::contracts::Kind;
use crate::owners::{Ownership, decode, encode};
use crate::store::{ChainStore, ChainStoreError};

/// Block hashes kept for reorg detection (the cursor's recent positions): far deeper than any
/// reorg with `confirmations` ≥ 0 on a chain that finalizes.
const KEPT_HASHES: usize = 1024;

/// A registry event, decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryEvent {
    /// `ContentRegistered`.
    Registered {
        /// The CID.
        cid: String,
        /// Its owner.
        owner: Address,
        /// What it is.
        kind: Kind,
        /// Its description.
        meta: String,
        /// The signed upload time.
        timestamp: u64,
    },
    /// `ContentDelisted`.
    Delisted {
        /// The CID.
        cid: String,
    },
}

/// An event where the chain put it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventAt {
    /// Its block.
    pub block: u64,
    /// Its index in the block's logs.
    pub log_index: u64,
    /// Its transaction.
    pub tx: B256,
    /// The event.
    pub event: RegistryEvent,
}

/// What an applied (or undone) event changes for the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A CID now has an owner on chain.
    Registered(Ownership),
    /// A CID was delisted: unpin it, answer 451.
    Delisted(String),
    /// A delisting was undone by a reorg: serve it again.
    Relisted(String),
    /// A registration was undone by a reorg.
    Unregistered(String),
}

#[derive(Serialize, Deserialize)]
struct Undo {
    cid: String,
    before: Option<Ownership>,
}

fn event_key(block: u64, log_index: u64) -> [u8; 16] {
    let mut k = [0u8; 16];
    k[..8].copy_from_slice(&block.to_be_bytes());
    k[8..].copy_from_slice(&log_index.to_be_bytes());
    k
}

const CURSOR_KEY: &[u8] = b"cursor";

impl ChainStore {
    /// The follower's position: the last block applied and its hash.
    pub fn cursor(&self) -> Result<Option<(u64, B256)>, ChainStoreError> {
        self.meta
            .get(CURSOR_KEY)?
            .map(|v| decode("follower cursor", &v))
            .transpose()
    }

    /// Applies one event (idempotent: an event already applied changes nothing).
    pub fn apply(&self, at: &EventAt) -> Result<Option<Change>, ChainStoreError> {
        let key = event_key(at.block, at.log_index);
        if self.applied.contains_key(key)? {
            return Ok(None);
        }
        let (cid, after, change) = match &at.event {
            RegistryEvent::Registered {
                cid,
                owner,
                kind,
                meta,
                timestamp,
            } => {
                let record = Ownership {
                    cid: cid.clone(),
                    owner: *owner,
                    kind: *kind,
                    meta: meta.clone(),
                    timestamp: *timestamp,
                    block: at.block,
                    tx: at.tx,
                    delisted: None,
                };
                (cid, Some(record.clone()), Change::Registered(record))
            }
            RegistryEvent::Delisted { cid } => {
                let Some(mut record) = self.ownership(cid)? else {
                    // The contract never emits this for an unknown CID; an index that missed
                    // the registration (a start block set too late) still records nothing.
                    tracing::warn!(cid, "delisting of a CID the index does not know");
                    return Ok(None);
                };
                record.delisted = Some((at.block, at.tx));
                (cid, Some(record), Change::Delisted(cid.clone()))
            }
        };
        let before = self.ownership(cid)?;
        self.applied.insert(
            key,
            encode(&Undo {
                cid: cid.clone(),
                before,
            }),
        )?;
        self.put_ownership(cid, after.as_ref())?;
        Ok(Some(change))
    }

    /// Moves the cursor to `block` (applied up to and including it) with its hash.
    pub fn advance(&self, block: u64, hash: B256) -> Result<(), ChainStoreError> {
        self.meta.insert(CURSOR_KEY, encode(&(block, hash)))?;
        self.hashes.insert(block.to_be_bytes(), hash.as_slice())?;
        while self.hashes.len() > KEPT_HASHES {
            match self.hashes.pop_min()? {
                Some(_) => {}
                None => break,
            }
        }
        Ok(())
    }

    /// The recorded cursor positions, newest first (block, hash).
    pub fn recent_hashes(&self) -> Result<Vec<(u64, B256)>, ChainStoreError> {
        let mut out = Vec::new();
        for item in self.hashes.iter().rev() {
            let (k, v) = item?;
            let block = <[u8; 8]>::try_from(k.as_ref())
                .map(u64::from_be_bytes)
                .map_err(|_| ChainStoreError::Corrupt {
                    what: "block hash key",
                    reason: "not 8 bytes".into(),
                })?;
            if v.len() != 32 {
                return Err(ChainStoreError::Corrupt {
                    what: "block hash",
                    reason: "not 32 bytes".into(),
                });
            }
            out.push((block, B256::from_slice(&v)));
        }
        Ok(out)
    }

    /// Undoes every event in blocks after `block` (newest first) and moves the cursor back to
    /// `block` with `hash` (`None`: to before the first block). Returns what changed back.
    pub fn roll_back_after(
        &self,
        block: Option<(u64, B256)>,
    ) -> Result<Vec<Change>, ChainStoreError> {
        let from = block.map(|(b, _)| b + 1).unwrap_or(0);
        let undone: Vec<_> = self
            .applied
            .range(event_key(from, 0)..)
            .collect::<Result<_, _>>()?;
        let mut changes = Vec::new();
        for (key, value) in undone.into_iter().rev() {
            let undo: Undo = decode("undo record", &value)?;
            let now = self.ownership(&undo.cid)?;
            let was_delisted = undo.before.as_ref().is_some_and(|r| r.delisted.is_some());
            let is_delisted = now.as_ref().is_some_and(|r| r.delisted.is_some());
            self.put_ownership(&undo.cid, undo.before.as_ref())?;
            self.applied.remove(key)?;
            changes.push(match (&undo.before, was_delisted, is_delisted) {
                (None, _, _) => Change::Unregistered(undo.cid),
                (Some(_), false, true) => Change::Relisted(undo.cid),
                (Some(r), _, _) => Change::Registered(r.clone()),
            });
        }
        for item in self.hashes.range(from.to_be_bytes()..) {
            let (k, _) = item?;
            self.hashes.remove(k)?;
        }
        match block {
            Some((b, h)) => {
                self.meta.insert(CURSOR_KEY, encode(&(b, h)))?;
            }
            None => {
                self.meta.remove(CURSOR_KEY)?;
            }
        }
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registered(cid: &str, block: u64, idx: u64) -> EventAt {
        EventAt {
            block,
            log_index: idx,
            tx: B256::repeat_byte(block as u8),
            event: RegistryEvent::Registered {
                cid: cid.into(),
                owner: Address::repeat_byte(1),
                kind: Kind::File,
                meta: String::new(),
                timestamp: 10,
            },
        }
    }

    fn delisted(cid: &str, block: u64, idx: u64) -> EventAt {
        EventAt {
            block,
            log_index: idx,
            tx: B256::repeat_byte(0xee),
            event: RegistryEvent::Delisted { cid: cid.into() },
        }
    }

    #[test]
    fn applies_once_and_rolls_back_newest_first() {
        let s = ChainStore::temporary().unwrap();
        let a = registered("a", 5, 0);
        assert!(matches!(s.apply(&a).unwrap(), Some(Change::Registered(_))));
        assert_eq!(s.apply(&a).unwrap(), None, "applying twice changes nothing");
        s.advance(5, B256::repeat_byte(5)).unwrap();
        s.apply(&registered("b", 7, 0)).unwrap();
        assert_eq!(
            s.apply(&delisted("a", 7, 1)).unwrap(),
            Some(Change::Delisted("a".into()))
        );
        s.advance(7, B256::repeat_byte(7)).unwrap();
        assert!(s.is_delisted("a").unwrap());
        assert_eq!(s.delisted().unwrap(), vec!["a".to_string()]);
        assert_eq!(s.cursor().unwrap(), Some((7, B256::repeat_byte(7))));

        // A reorg replaced block 7: back to block 5.
        let changes = s.roll_back_after(Some((5, B256::repeat_byte(5)))).unwrap();
        assert_eq!(
            changes,
            vec![
                Change::Relisted("a".into()),
                Change::Unregistered("b".into())
            ]
        );
        assert!(!s.is_delisted("a").unwrap());
        assert_eq!(s.ownership("b").unwrap(), None);
        assert_eq!(s.ownership("a").unwrap().unwrap().block, 5);
        assert_eq!(s.cursor().unwrap(), Some((5, B256::repeat_byte(5))));
        assert_eq!(s.recent_hashes().unwrap(), vec![(5, B256::repeat_byte(5))]);
        // The replacement block 7 applies afresh.
        assert!(s.apply(&registered("b", 7, 0)).unwrap().is_some());
    }

    #[test]
    fn delisting_an_unknown_cid_records_nothing() {
        let s = ChainStore::temporary().unwrap();
        assert_eq!(s.apply(&delisted("zz", 3, 0)).unwrap(), None);
        assert_eq!(s.ownership("zz").unwrap(), None);
    }
}
