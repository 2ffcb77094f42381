//! The ownership index the follower keeps: CID → who registered it, in which block and
//! transaction, when, and whether it is delisted. Only confirmed events reach it.

use alloy::primitives::{Address, B256};
use serde::{Deserialize, Serialize};

use crate::contracts::Kind;
use crate::store::{ChainStore, ChainStoreError};

/// One CID's record on chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ownership {
    /// The CID as registered.
    pub cid: String,
    /// Its owner.
    pub owner: Address,
    /// What it is.
    pub kind: Kind,
    /// The uploader-supplied description (e.g. a file name).
    pub meta: String,
    /// The signed upload's unix time.
    pub timestamp: u64,
    /// The block that registered it.
    pub block: u64,
    /// The registering transaction.
    pub tx: B256,
    /// Delisted by its owner (the block and transaction that did it).
    pub delisted: Option<(u64, B256)>,
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).expect("chain records always serialize")
}

pub(crate) fn decode<T: for<'de> Deserialize<'de>>(
    what: &'static str,
    bytes: &[u8],
) -> Result<T, ChainStoreError> {
    serde_json::from_slice(bytes).map_err(|e| ChainStoreError::Corrupt {
        what,
        reason: e.to_string(),
    })
}

impl ChainStore {
    /// The record of `cid`, if the chain has one.
    pub fn ownership(&self, cid: &str) -> Result<Option<Ownership>, ChainStoreError> {
        self.owners
            .get(cid.as_bytes())?
            .map(|v| decode("ownership record", &v))
            .transpose()
    }

    /// Whether `cid` is registered and delisted.
    pub fn is_delisted(&self, cid: &str) -> Result<bool, ChainStoreError> {
        Ok(self.ownership(cid)?.is_some_and(|o| o.delisted.is_some()))
    }

    /// Every delisted CID (the node makes sure none of them stays pinned).
    pub fn delisted(&self) -> Result<Vec<String>, ChainStoreError> {
        let mut out = Vec::new();
        for item in self.owners.iter() {
            let (_, v) = item?;
            let record: Ownership = decode("ownership record", &v)?;
            if record.delisted.is_some() {
                out.push(record.cid);
            }
        }
        Ok(out)
    }

    /// How many CIDs the index holds (a scan: for `chain status`, not for every scrape).
    pub fn owned_count(&self) -> usize {
        self.owners.len()
    }

    pub(crate) fn put_ownership(
        &self,
        cid: &str,
        record: Option<&Ownership>,
    ) -> Result<(), ChainStoreError> {
        match record {
            Some(r) => self.owners.insert(cid.as_bytes(), encode(r))?,
            None => self.owners.remove(cid.as_bytes())?,
        };
        Ok(())
    }
}
