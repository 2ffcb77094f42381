//! Nonces already used, per owner: a signature is accepted once by this node (the contract
//! keeps its own record, so a signature replayed to another node fails on chain).

use std::time::Duration;

use alloy::primitives::{Address, U256};

use crate::store::{ChainStore, ChainStoreError};

/// Key of one (owner, nonce): 20 + 32 bytes.
fn key(owner: Address, nonce: U256) -> [u8; 52] {
    let mut k = [0u8; 52];
    k[..20].copy_from_slice(owner.as_slice());
    k[20..].copy_from_slice(&nonce.to_be_bytes::<32>());
    k
}

impl ChainStore {
    /// Whether `owner` used `nonce` before.
    pub fn nonce_used(&self, owner: Address, nonce: U256) -> Result<bool, ChainStoreError> {
        Ok(self.nonces.contains_key(key(owner, nonce))?)
    }

    /// Records `(owner, nonce)` as used (signed at `timestamp`); false when it already was.
    /// Atomic: of two uploads racing with one nonce, one wins. Not flushed here: the write
    /// that acknowledges flushes it.
    pub fn claim_nonce(
        &self,
        owner: Address,
        nonce: U256,
        timestamp: u64,
    ) -> Result<bool, ChainStoreError> {
        let swapped = self.nonces.compare_and_swap(
            key(owner, nonce),
            None as Option<&[u8]>,
            Some(&timestamp.to_be_bytes()[..]),
        )?;
        Ok(swapped.is_ok())
    }

    /// Gives a nonce back (its upload failed after the claim, so nothing was stored).
    pub fn release_nonce(&self, owner: Address, nonce: U256) -> Result<(), ChainStoreError> {
        self.nonces.remove(key(owner, nonce))?;
        Ok(())
    }

    /// Forgets nonces signed more than `max_age` before `now`: their signatures are refused as
    /// expired anyway. Returns how many went.
    pub fn prune_nonces(&self, now: u64, max_age: Duration) -> Result<usize, ChainStoreError> {
        let cutoff = now.saturating_sub(max_age.as_secs());
        let mut removed = 0;
        for item in self.nonces.iter() {
            let (k, v) = item?;
            let ts = <[u8; 8]>::try_from(v.as_ref())
                .map(u64::from_be_bytes)
                .unwrap_or(0);
            if ts < cutoff {
                self.nonces.remove(k)?;
                removed += 1;
            }
        }
        Ok(removed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_claimed_once_and_pruned_after_expiry() {
        let store = ChainStore::temporary().unwrap();
        let owner = Address::repeat_byte(1);
        let n = U256::from(9u64);
        assert!(!store.nonce_used(owner, n).unwrap());
        assert!(store.claim_nonce(owner, n, 100).unwrap());
        assert!(!store.claim_nonce(owner, n, 100).unwrap());
        assert!(store.claim_nonce(Address::repeat_byte(2), n, 100).unwrap());
        assert!(store.nonce_used(owner, n).unwrap());
        store.release_nonce(owner, n).unwrap();
        assert!(store.claim_nonce(owner, n, 100).unwrap());
        assert_eq!(
            store.prune_nonces(150, Duration::from_secs(100)).unwrap(),
            0
        );
        assert_eq!(
            store.prune_nonces(250, Duration::from_secs(100)).unwrap(),
            2
        );
        assert!(!store.nonce_used(owner, n).unwrap());
    }
}
