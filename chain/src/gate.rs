//! [`UploadGate`]: the one admission check of a signed (or, with `require_signatures`, any)
//! upload. Every upload path runs it twice: [`UploadGate::precheck`] before reading a byte
//! (what can be refused without the content: missing, malformed, expired, replayed), and
//! [`UploadGate::admit`] once the CID is recomputed from the bytes and before the write is
//! committed (the signer; the nonce is claimed here). A refused upload is never committed:
//! nothing is pinned, announced, replicated or relayed, and its unpinned blocks go with the
//! next GC.

use std::time::{SystemTime, UNIX_EPOCH};

use thiserror::Error;

use crate::config::ChainConfig;
use crate::proof::{Refusal, UploadProof};
use crate::store::{ChainStore, ChainStoreError};
use crate::typed_data::{Purpose, domain};

/// Why the gate could not answer or said no.
#[derive(Debug, Error)]
pub enum GateError {
    /// The upload is refused.
    #[error(transparent)]
    Refused(#[from] Refusal),
    /// The chain database failed.
    #[error(transparent)]
    Store(#[from] ChainStoreError),
}

/// What the gate decided for an upload that may go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Admission {
    /// No signature (and none required): stored, not registered.
    Unsigned,
    /// Verified for this CID; its nonce is claimed. Register it after the write is durable.
    Signed(UploadProof),
}

/// The admission check (see the module docs).
#[derive(Debug, Clone)]
pub struct UploadGate {
    config: ChainConfig,
    store: ChainStore,
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl UploadGate {
    /// A gate with these settings over this chain database.
    pub fn new(config: ChainConfig, store: ChainStore) -> Self {
        UploadGate { config, store }
    }

    /// The settings.
    pub fn config(&self) -> &ChainConfig {
        &self.config
    }

    /// The chain database.
    pub fn store(&self) -> &ChainStore {
        &self.store
    }

    /// What can be refused before the content is read.
    pub fn precheck(&self, proof: Option<&UploadProof>, now: u64) -> Result<(), GateError> {
        let Some(proof) = proof else {
            if self.config.require_signatures {
                return Err(Refusal::Missing.into());
            }
            return Ok(());
        };
        // What needs no CID: the domain is known, the signature's age.
        self.domain()?;
        proof.check_age(now, self.config.max_signature_age)?;
        if self.store.nonce_used(proof.owner, proof.nonce)? {
            return Err(Refusal::Replayed {
                owner: proof.owner,
                nonce: proof.nonce,
            }
            .into());
        }
        Ok(())
    }

    /// The decision once `cid` is known (before the write is committed): the signature must be
    /// the owner's over this CID, and its nonce is claimed (give it back with
    /// [`UploadGate::release`] if the write then fails).
    pub fn admit(
        &self,
        proof: Option<&UploadProof>,
        cid: &str,
        now: u64,
    ) -> Result<Admission, GateError> {
        self.precheck(proof, now)?;
        let Some(proof) = proof else {
            return Ok(Admission::Unsigned);
        };
        let domain = self.domain()?;
        proof.verify(
            Purpose::Upload,
            cid,
            &domain,
            now,
            self.config.max_signature_age,
        )?;
        if !self
            .store
            .claim_nonce(proof.owner, proof.nonce, proof.timestamp)?
        {
            return Err(Refusal::Replayed {
                owner: proof.owner,
                nonce: proof.nonce,
            }
            .into());
        }
        Ok(Admission::Signed(proof.clone()))
    }

    /// Gives back the nonce of an admitted upload whose write failed.
    pub fn release(&self, admission: &Admission) {
        if let Admission::Signed(proof) = admission
            && let Err(e) = self.store.release_nonce(proof.owner, proof.nonce)
        {
            tracing::warn!(error = %e, "could not release the nonce of a failed upload");
        }
    }

    /// The EIP-712 domain uploads are signed in.
    pub fn domain(&self) -> Result<alloy::sol_types::Eip712Domain, Refusal> {
        match self.config.content_registry {
            Some(registry) if self.config.chain_id != 0 => {
                Ok(domain(self.config.chain_id, registry))
            }
            _ => Err(Refusal::NotConfigured(
                "set chain.chain_id and chain.content_registry (`chorus config`)".into(),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy::primitives::{Address, U256};
    use alloy::signers::SignerSync;
    use alloy::signers::local::PrivateKeySigner;

    fn gate(require: bool) -> UploadGate {
        UploadGate::new(
            ChainConfig {
                chain_id: 31337,
                content_registry: Some(Address::repeat_byte(3)),
                require_signatures: require,
                ..ChainConfig::default()
            },
            ChainStore::temporary().unwrap(),
        )
    }

    fn proof(gate: &UploadGate, key: &PrivateKeySigner, cid: &str, ts: u64) -> UploadProof {
        let mut p = UploadProof {
            owner: key.address(),
            timestamp: ts,
            nonce: U256::from(1u64),
            signature: alloy::primitives::Signature::new(U256::from(1), U256::from(1), false),
        };
        let hash = p
            .message(cid)
            .signing_hash(Purpose::Upload, &gate.domain().unwrap());
        p.signature = key.sign_hash_sync(&hash).unwrap();
        p
    }

    #[test]
    fn unsigned_uploads_pass_unless_required() {
        assert_eq!(
            gate(false).admit(None, "x", 1).unwrap(),
            Admission::Unsigned
        );
        let err = gate(true).admit(None, "x", 1).unwrap_err();
        assert!(matches!(err, GateError::Refused(Refusal::Missing)));
    }

    #[test]
    fn a_signature_is_admitted_once() {
        let g = gate(true);
        let key = PrivateKeySigner::random();
        let now = unix_now();
        let p = proof(&g, &key, "bafy", now);
        g.precheck(Some(&p), now).unwrap();
        let admitted = g.admit(Some(&p), "bafy", now).unwrap();
        assert_eq!(admitted, Admission::Signed(p.clone()));
        for result in [
            g.precheck(Some(&p), now),
            g.admit(Some(&p), "bafy", now).map(|_| ()),
        ] {
            let err = result.unwrap_err();
            assert!(
                matches!(err, GateError::Refused(Refusal::Replayed { .. })),
                "{err}"
            );
        }
        g.release(&admitted);
        g.admit(Some(&p), "bafy", now).unwrap();
    }

    #[test]
    fn refusals_claim_no_nonce() {
        let g = gate(false);
        let key = PrivateKeySigner::random();
        let now = unix_now();
        let p = proof(&g, &key, "bafy", now);
        let err = g.admit(Some(&p), "other", now).unwrap_err();
        assert!(matches!(
            err,
            GateError::Refused(Refusal::WrongSigner { .. })
        ));
        g.admit(Some(&p), "bafy", now).unwrap();
        let unconfigured =
            UploadGate::new(ChainConfig::default(), ChainStore::temporary().unwrap());
        let err = unconfigured.admit(Some(&p), "bafy", now).unwrap_err();
        assert!(matches!(err, GateError::Refused(Refusal::NotConfigured(_))));
    }
}
