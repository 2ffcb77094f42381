//! `verify`: re-hash every stored block (for `chorus repo verify`).

use crate::Multihash;
use crate::index::{self, Entry, STAT_KEY};
use crate::sled_store::{SledStore, raw_cid, verify_mh};
use crate::store::StoreError;

/// What [`SledStore::verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Index entries examined.
    pub checked: u64,
    /// Blocks whose bytes do not hash to their multihash, or whose pack record names another
    /// block. `get` returns an error (wrong bytes) or nothing (wrong record) for them.
    pub corrupt: Vec<Multihash>,
    /// Blocks whose record is missing: its pack is gone or ends before it (treated as absent
    /// by `get`/`has`).
    pub missing: Vec<Multihash>,
    /// Index entries that cannot be decoded at all (hex keys).
    pub undecodable: Vec<String>,
}

impl VerifyReport {
    /// True when every block is intact.
    pub fn is_ok(&self) -> bool {
        self.corrupt.is_empty() && self.missing.is_empty() && self.undecodable.is_empty()
    }
}

impl SledStore {
    /// Reads and re-hashes every block. Runs concurrently with other operations; a block
    /// deleted while verify runs is not reported.
    pub fn verify(&self) -> Result<VerifyReport, StoreError> {
        let mut report = VerifyReport::default();
        for item in self.inner.index.iter() {
            let (key, value) = item?;
            if key.as_ref() == STAT_KEY {
                continue;
            }
            report.checked += 1;
            let Ok(mh) = Multihash::from_bytes(&key) else {
                report.undecodable.push(index::hex_key(&key));
                continue;
            };
            let entry = match index::decode(&key, &value) {
                Ok(e) => e,
                Err(_) => {
                    report.undecodable.push(index::hex_key(&key));
                    continue;
                }
            };
            let data = match entry {
                Entry::Inline(d) => bytes::Bytes::copy_from_slice(d),
                Entry::Pack(_) => match self.read_unverified(&mh)? {
                    Some(d) => d,
                    None => {
                        // Deleted concurrently (entry gone too)? Then it is not damage.
                        let Some(now) = self.inner.index.get(&key)? else {
                            continue;
                        };
                        match index::decode(&key, &now) {
                            Ok(Entry::Pack(loc)) => {
                                let whole = self.inner.packs.reaches(&loc).map_err(|e| {
                                    StoreError::io(format!("verifying {}", raw_cid(&mh)), e)
                                })?;
                                // A whole record that is not this block's is damage; a record
                                // past the end of its pack, or in a missing pack, is missing.
                                if whole {
                                    report.corrupt.push(mh);
                                } else {
                                    report.missing.push(mh);
                                }
                            }
                            _ => report.undecodable.push(index::hex_key(&key)),
                        }
                        continue;
                    }
                },
            };
            if verify_mh(&mh, data).is_err() {
                report.corrupt.push(mh);
            }
        }
        Ok(report)
    }
}
