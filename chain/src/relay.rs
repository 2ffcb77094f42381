//! The relay: after an upload is durable, the accepting node registers it on chain from its
//! operator wallet (`registerFor` / `registerTrackFor`), paying the gas while the artist's
//! signature proves their consent.
//!
//! Jobs live in the chain database (`relay`: sequence → pending job, `relay_done`: sequence →
//! finished job, `relay_cids`: CID → sequence),
//! enqueued and flushed before the upload is acknowledged, so a kill -9 loses none. One worker
//! sends them one at a time, in order (so the wallet's transaction nonces never race: alloy's
//! nonce filler reads the account's pending count for each), with retries and backoff while
//! the chain is unreachable. Nothing is registered twice: before sending, the worker asks the
//! contract whether the CID is registered already (a job sent just before a crash), and the
//! contract refuses a second registration of a CID or a nonce in any case.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, U256};
use alloy::providers::DynProvider;
use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

use crate::contracts::ContentRegistry;
use crate::gate::unix_now;
use crate::owners::{decode, encode};
use crate::proof::UploadProof;
use crate::store::{ChainStore, ChainStoreError};

/// Backoff after a failed attempt: 1, 2, 4 … s, at most this (a chain down for an hour is
/// retried every 5 minutes).
pub const MAX_BACKOFF: Duration = Duration::from_secs(300);
/// How long one transaction may take to be mined before the worker checks it again later.
pub const RECEIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// What to register.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Registration {
    /// A file or DAG: its root.
    File {
        /// The root CID.
        cid: String,
    },
    /// A track: the signed source audio's CID and the track's root.
    Track {
        /// The source's CID (what the artist signed).
        source: String,
        /// The track's HLS root.
        track: String,
    },
}

impl Registration {
    /// The CIDs it registers.
    pub fn cids(&self) -> Vec<&str> {
        match self {
            Registration::File { cid } => vec![cid],
            Registration::Track { source, track } => vec![source, track],
        }
    }

    /// The CID the signature covers.
    pub fn signed_cid(&self) -> &str {
        match self {
            Registration::File { cid } => cid,
            Registration::Track { source, .. } => source,
        }
    }
}

/// Where a job is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobState {
    /// Waiting to be sent (or re-sent after a failure).
    Queued,
    /// Sent; waiting to be mined.
    Sent {
        /// The transaction.
        tx: B256,
    },
    /// Mined and successful, not yet `confirmations` deep: checked again until it is (a reorg
    /// that drops the transaction sends the job back to the queue).
    Mined {
        /// The transaction, if this node's.
        tx: Option<B256>,
        /// Its block.
        block: Option<u64>,
    },
    /// Mined and `confirmations` deep (or found registered to the owner already): done.
    Confirmed {
        /// The transaction, if this node's.
        tx: Option<B256>,
        /// Its block.
        block: Option<u64>,
    },
    /// Refused by the contract for good (e.g. the CID was registered by someone else).
    Failed {
        /// The contract's or chain's reason.
        reason: String,
    },
}

/// One registration to relay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RelayJob {
    /// What it registers.
    pub registration: Registration,
    /// The owner.
    pub owner: Address,
    /// The uploader-supplied description.
    pub meta: String,
    /// The signed message's time.
    pub timestamp: u64,
    /// The signed message's nonce.
    pub nonce: U256,
    /// The signature, 65 bytes.
    pub signature: Bytes,
    /// Its state.
    pub state: JobState,
    /// Failed attempts so far.
    pub attempts: u32,
    /// Unix seconds before which it is not retried.
    pub not_before: u64,
    /// The last transient error.
    pub last_error: Option<String>,
}

impl RelayJob {
    /// A job for an admitted upload.
    pub fn new(proof: &UploadProof, registration: Registration, meta: String) -> Self {
        RelayJob {
            registration,
            owner: proof.owner,
            meta,
            timestamp: proof.timestamp,
            nonce: proof.nonce,
            signature: Bytes::from(proof.signature.as_bytes().to_vec()),
            state: JobState::Queued,
            attempts: 0,
            not_before: 0,
            last_error: None,
        }
    }

    fn pending(&self) -> bool {
        matches!(
            self.state,
            JobState::Queued | JobState::Sent { .. } | JobState::Mined { .. }
        )
    }

    /// Not yet on chain: jobs behind it wait (in order).
    fn unsent(&self) -> bool {
        matches!(self.state, JobState::Queued | JobState::Sent { .. })
    }
}

/// Counters of the relay, for `/metrics` and `chain status`.
#[derive(Debug, Default)]
pub struct RelayState {
    /// Jobs not yet mined or failed.
    pub queued: AtomicU64,
    /// Transactions mined successfully.
    pub mined: AtomicU64,
    /// Transactions (or jobs) refused for good.
    pub failed: AtomicU64,
    /// Attempts that failed and will be retried.
    pub retried: AtomicU64,
    /// Jobs found registered already (sent before a crash, or by another node).
    pub already: AtomicU64,
    /// Gas spent, in wei.
    pub gas_wei: AtomicU64,
}

impl ChainStore {
    /// Queues `job` (not flushed: the upload's acknowledgement flushes). Returns its sequence.
    pub fn enqueue(&self, job: &RelayJob) -> Result<u64, ChainStoreError> {
        // Sequences stay ordered across restarts: one past the largest of either tree.
        let seq = self
            .relay
            .generate_id_or_next()?
            .max(self.relay_done.generate_id_or_next()?);
        self.relay.insert(seq.to_be_bytes(), encode(job))?;
        for cid in job.registration.cids() {
            self.relay_cids.insert(cid.as_bytes(), &seq.to_be_bytes())?;
        }
        Ok(seq)
    }

    /// The relay job that registers `cid`, if this node queued one.
    pub fn relay_job(&self, cid: &str) -> Result<Option<RelayJob>, ChainStoreError> {
        let Some(seq) = self.relay_cids.get(cid.as_bytes())? else {
            return Ok(None);
        };
        let found = match self.relay.get(&seq)? {
            Some(v) => Some(v),
            None => self.relay_done.get(&seq)?,
        };
        found.map(|v| decode("relay job", &v)).transpose()
    }

    /// Jobs still to send or confirm, oldest first.
    pub fn pending_jobs(&self) -> Result<Vec<(u64, RelayJob)>, ChainStoreError> {
        let mut out = Vec::new();
        for item in self.relay.iter() {
            let (k, v) = item?;
            let job: RelayJob = decode("relay job", &v)?;
            if job.pending() {
                let seq = <[u8; 8]>::try_from(k.as_ref())
                    .map(u64::from_be_bytes)
                    .map_err(|_| ChainStoreError::Corrupt {
                        what: "relay key",
                        reason: "not 8 bytes".into(),
                    })?;
                out.push((seq, job));
            }
        }
        Ok(out)
    }

    /// Stores `job`'s new state: a finished job moves out of the pending tree, so the worker's
    /// scans stay as short as the queue.
    fn save_job(&self, seq: u64, job: &RelayJob) -> Result<(), ChainStoreError> {
        if job.pending() {
            self.relay.insert(seq.to_be_bytes(), encode(job))?;
        } else {
            self.relay_done.insert(seq.to_be_bytes(), encode(job))?;
            self.relay.remove(seq.to_be_bytes())?;
        }
        self.flush()
    }

    /// Jobs waiting (cheap: the pending tree holds only those).
    pub fn queue_len(&self) -> usize {
        self.relay.len()
    }
}

trait NextId {
    fn generate_id_or_next(&self) -> Result<u64, sled::Error>;
}

impl NextId for sled::Tree {
    /// One past the largest sequence in this tree (see [`ChainStore::enqueue`]).
    fn generate_id_or_next(&self) -> Result<u64, sled::Error> {
        Ok(match self.last()? {
            Some((k, _)) => {
                <[u8; 8]>::try_from(k.as_ref())
                    .map(u64::from_be_bytes)
                    .unwrap_or(0)
                    + 1
            }
            None => 0,
        })
    }
}

/// The relay worker.
pub struct Relay {
    registry: ContentRegistry::ContentRegistryInstance<DynProvider>,
    confirmations: u64,
    store: ChainStore,
    state: Arc<RelayState>,
    wake: Arc<Notify>,
}

impl Relay {
    /// A worker sending through `provider` (which signs with the operator wallet).
    pub fn new(
        provider: DynProvider,
        config: &crate::ChainConfig,
        store: ChainStore,
        state: Arc<RelayState>,
        wake: Arc<Notify>,
    ) -> Option<Self> {
        Some(Relay {
            registry: ContentRegistry::new(config.content_registry?, provider),
            confirmations: config.confirmations,
            store,
            state,
            wake,
        })
    }

    /// Works the queue until the task is dropped; woken by new jobs, else every few seconds.
    pub async fn run(self) {
        loop {
            let next_due = match self.drain().await {
                Ok(next) => next,
                Err(e) => {
                    tracing::warn!(error = %e, "relay queue");
                    Some(5)
                }
            };
            let wait = Duration::from_secs(next_due.unwrap_or(60).clamp(1, 60));
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Sends every due job once; returns seconds until the next one is due.
    async fn drain(&self) -> Result<Option<u64>, ChainStoreError> {
        let jobs = self.store.pending_jobs()?;
        self.state
            .queued
            .store(jobs.len() as u64, Ordering::Relaxed);
        let mut next_due: Option<u64> = None;
        for (seq, mut job) in jobs {
            let now = unix_now();
            if job.not_before > now {
                let due = job.not_before - now;
                next_due = Some(next_due.map_or(due, |d| d.min(due)));
                continue;
            }
            let reached = match self.attempt(seq, &mut job).await {
                Ok(()) => true,
                Err(transient) => {
                    job.attempts += 1;
                    let backoff = (1u64 << job.attempts.min(9)).min(MAX_BACKOFF.as_secs());
                    job.not_before = unix_now() + backoff;
                    job.last_error = Some(transient.clone());
                    self.state.retried.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(seq, attempt = job.attempts, error = %transient, "relay: will retry");
                    next_due = Some(next_due.map_or(backoff, |d| d.min(backoff)));
                    false
                }
            };
            if reached && let JobState::Mined { .. } = job.state {
                // Checked again soon, until deep enough.
                job.not_before = unix_now() + 1;
                next_due = Some(1);
            }
            self.store.save_job(seq, &job)?;
            if let JobState::Mined { .. } = job.state {
                continue;
            }
            // In order: a job that failed transiently holds the ones behind it (the chain is
            // most likely down for all of them).
            if job.unsent() {
                break;
            }
        }
        let left = self.store.pending_jobs()?.len() as u64;
        self.state.queued.store(left, Ordering::Relaxed);
        Ok(next_due)
    }

    /// One step for one job; `Err` is transient (retry later), the job's state says the rest.
    async fn attempt(&self, seq: u64, job: &mut RelayJob) -> Result<(), String> {
        match job.state {
            JobState::Mined {
                tx: Some(tx),
                block,
            } => match self.receipt(tx).await? {
                Some(done) if done.ok => {
                    use alloy::providers::Provider;
                    let head = self
                        .registry
                        .provider()
                        .get_block_number()
                        .await
                        .map_err(|e| format!("head: {e}"))?;
                    let block = done.block.or(block).unwrap_or(head);
                    if head >= block + self.confirmations {
                        job.state = JobState::Confirmed {
                            tx: Some(tx),
                            block: Some(block),
                        };
                    }
                    return Ok(());
                }
                _ => {
                    tracing::warn!(%tx, "relay: a reorg dropped the registration; sending it again");
                    job.state = JobState::Queued;
                }
            },
            JobState::Mined { tx: None, block } => {
                job.state = JobState::Confirmed { tx: None, block };
                return Ok(());
            }
            _ => {}
        }
        if let JobState::Sent { tx } = job.state {
            // Sent before (this run or before a restart): mined meanwhile?
            if let Some(done) = self.receipt(tx).await? {
                return self.finish(job, tx, done);
            }
        }
        // Registered already (a send just before a crash, or another relay)?
        let signed = job.registration.signed_cid().to_owned();
        let owner = self
            .registry
            .ownerOf(signed.clone())
            .call()
            .await
            .map_err(|e| format!("ownerOf: {e}"))?;
        if owner != Address::ZERO {
            if owner == job.owner {
                self.state.already.fetch_add(1, Ordering::Relaxed);
                job.state = match job.state {
                    // Ours, sent before a restart: confirmed like any mined one.
                    JobState::Sent { tx } => JobState::Mined {
                        tx: Some(tx),
                        block: None,
                    },
                    _ => JobState::Confirmed {
                        tx: None,
                        block: None,
                    },
                };
            } else {
                self.state.failed.fetch_add(1, Ordering::Relaxed);
                job.state = JobState::Failed {
                    reason: format!("{signed} is registered to {owner}"),
                };
            }
            return Ok(());
        }
        let signature = job.signature.clone();
        let sent = match &job.registration {
            Registration::File { cid } => {
                self.registry
                    .registerFor(
                        job.owner,
                        cid.clone(),
                        0,
                        job.meta.clone(),
                        U256::from(job.timestamp),
                        job.nonce,
                        signature,
                    )
                    .send()
                    .await
            }
            Registration::Track { source, track } => {
                self.registry
                    .registerTrackFor(
                        job.owner,
                        source.clone(),
                        track.clone(),
                        job.meta.clone(),
                        U256::from(job.timestamp),
                        job.nonce,
                        signature,
                    )
                    .send()
                    .await
            }
        };
        let pending = match sent {
            Ok(p) => p,
            Err(e) => {
                // A revert at gas estimation is the contract's refusal: final.
                if let Some(reason) = revert_reason(&e) {
                    self.state.failed.fetch_add(1, Ordering::Relaxed);
                    job.state = JobState::Failed { reason };
                    return Ok(());
                }
                return Err(format!("sending: {e}"));
            }
        };
        let tx = *pending.tx_hash();
        job.state = JobState::Sent { tx };
        // The hash is on disk before waiting: a restart checks this transaction first.
        self.store
            .save_job(seq, job)
            .map_err(|e| format!("saving the job: {e}"))?;
        tracing::info!(seq, %tx, "relay: registration sent");
        let receipt = pending
            .with_timeout(Some(RECEIPT_TIMEOUT))
            .get_receipt()
            .await
            .map_err(|e| format!("waiting for {tx}: {e}"))?;
        self.finish(job, tx, Mined::from_receipt(&receipt))
    }

    async fn receipt(&self, tx: B256) -> Result<Option<Mined>, String> {
        use alloy::providers::Provider;
        let receipt = self
            .registry
            .provider()
            .get_transaction_receipt(tx)
            .await
            .map_err(|e| format!("receipt of {tx}: {e}"))?;
        Ok(receipt.as_ref().map(Mined::from_receipt))
    }

    fn finish(&self, job: &mut RelayJob, tx: B256, done: Mined) -> Result<(), String> {
        self.state
            .gas_wei
            .fetch_add(done.gas_wei, Ordering::Relaxed);
        if done.ok {
            self.state.mined.fetch_add(1, Ordering::Relaxed);
            job.state = JobState::Mined {
                tx: Some(tx),
                block: done.block,
            };
            tracing::info!(%tx, block = done.block, "relay: registration mined");
            Ok(())
        } else {
            // Reverted on chain (e.g. registered by another relay in the same block): the
            // next attempt asks `ownerOf` and settles it.
            job.state = JobState::Queued;
            Err(format!("transaction {tx} reverted"))
        }
    }
}

struct Mined {
    ok: bool,
    block: Option<u64>,
    gas_wei: u64,
}

impl Mined {
    /// What a receipt says: success, block, and the gas paid (used × effective price).
    fn from_receipt(r: &alloy::rpc::types::TransactionReceipt) -> Self {
        Mined {
            ok: r.status(),
            block: r.block_number,
            gas_wei: r
                .gas_used
                .saturating_mul(u64::try_from(r.effective_gas_price).unwrap_or(u64::MAX)),
        }
    }
}

/// The contract's custom error, when a call reverted (as opposed to a transport failure).
fn revert_reason(e: &alloy::contract::Error) -> Option<String> {
    use alloy::sol_types::SolInterface;
    let data = e.as_revert_data()?;
    match ContentRegistry::ContentRegistryErrors::abi_decode(&data) {
        Ok(err) => Some(format!("{err:?}")),
        Err(_) => Some(format!("reverted (0x{})", hex::encode(&data))),
    }
}
