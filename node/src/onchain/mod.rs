//! [`OnChain`]: the node's side of the Ethereum half (issue 16). It owns the chain database
//! (`<repo>/chain`), the upload gate every upload path's commit runs ([`crate::core::Writer`]),
//! the relay worker that registers admitted uploads from the operator wallet, and the follower
//! that keeps the ownership index; it acts on what the chain decides (a delisted CID is
//! unpinned, dropped from the replication content set, and answered 451 by the gateway).

/// The chain's settings and their defaults (re-exported for the binary's `[chain]`).
pub mod config {
    pub use chorus_chain::Address;
    pub use chorus_chain::config::*;
}
mod effects;
mod metrics;
mod status;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chorus_chain::follower::{Follower, FollowerState};
use chorus_chain::gate::{GateError, unix_now};
use chorus_chain::nodes::RegisteredNode;
use chorus_chain::owners::Ownership;
use chorus_chain::relay::{Relay, RelayJob, RelayState};
use chorus_chain::store::{ChainStore, ChainStoreError};
use chorus_chain::typed_data::{Message, Purpose};
use chorus_chain::{Address, Admission, ChainConfig, PrivateKeySigner, UploadGate, UploadProof};
use serde_json::Value;
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinHandle;

use chorus_storage::Cid;

use crate::core::{Core, CoreError};

pub use metrics::ChainMetrics;
pub use status::ChainStatus;

/// Between two prunes of used nonces (those older than `max_signature_age` are refused as
/// expired anyway, so the table holds at most that window's uploads).
const NONCE_PRUNE_INTERVAL: Duration = Duration::from_secs(3600);

/// Forgets expired nonces every [`NONCE_PRUNE_INTERVAL`].
async fn prune_nonces(store: ChainStore, max_age: Duration) {
    let mut tick = tokio::time::interval(NONCE_PRUNE_INTERVAL);
    loop {
        tick.tick().await;
        let store = store.clone();
        match tokio::task::spawn_blocking(move || store.prune_nonces(unix_now(), max_age)).await {
            Ok(Ok(0)) => {}
            Ok(Ok(n)) => tracing::debug!(pruned = n, "expired upload nonces forgotten"),
            Ok(Err(e)) => tracing::warn!(error = %e, "pruning upload nonces"),
            Err(_) => return,
        }
    }
}

/// The texts a CID is registered under: as the node computed it (CIDv0 `Qm…` by kubo's
/// defaults, or CIDv1 base32), so a request naming the other version of the same content finds
/// the record too.
fn spellings(cid: &Cid) -> Vec<String> {
    let mut forms = vec![cid.to_string()];
    let v1 = Cid::new_v1(cid.codec(), *cid.hash()).to_string();
    if !forms.contains(&v1) {
        forms.push(v1);
    }
    if let Ok(v0) = Cid::new_v0(*cid.hash())
        && cid.codec() == v0.codec()
        && !forms.contains(&v0.to_string())
    {
        forms.push(v0.to_string());
    }
    forms
}

/// Changes from the follower waiting for the node to act on them (each a few hundred bytes).
const CHANGE_BUFFER: usize = 1024;

/// The directory of the chain database inside a repo.
pub const CHAIN_DIR: &str = "chain";

/// The node's chain service (see the module docs); cheap to clone.
#[derive(Clone)]
pub struct OnChain {
    inner: Arc<Inner>,
}

struct Inner {
    gate: UploadGate,
    relay: Arc<RelayState>,
    follower: Arc<FollowerState>,
    wake: Arc<Notify>,
    metrics: ChainMetrics,
    operator: Mutex<Option<Address>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        for task in self.tasks.lock().expect("not poisoned").drain(..) {
            task.abort();
        }
    }
}

impl OnChain {
    /// Opens the chain database in `repo` (creating it) with these settings.
    pub fn open(repo: &Path, config: ChainConfig) -> Result<Self, ChainStoreError> {
        Ok(Self::with_store(
            config,
            ChainStore::open(&repo.join(CHAIN_DIR))?,
        ))
    }

    /// A service on a throwaway database (memory repos, tests).
    pub fn temporary(config: ChainConfig) -> Result<Self, ChainStoreError> {
        Ok(Self::with_store(config, ChainStore::temporary()?))
    }

    fn with_store(config: ChainConfig, store: ChainStore) -> Self {
        let relay = Arc::new(RelayState::default());
        let follower = Arc::new(FollowerState::default());
        let metrics = ChainMetrics::new(relay.clone(), follower.clone(), store.clone());
        OnChain {
            inner: Arc::new(Inner {
                gate: UploadGate::new(config, store),
                relay,
                follower,
                wake: Arc::new(Notify::new()),
                metrics,
                operator: Mutex::new(None),
                tasks: Mutex::new(Vec::new()),
            }),
        }
    }

    /// The settings.
    pub fn config(&self) -> &ChainConfig {
        self.inner.gate.config()
    }

    fn store(&self) -> &ChainStore {
        self.inner.gate.store()
    }

    /// The metric families (`chorus_chain_*`).
    pub fn metrics(&self) -> &ChainMetrics {
        &self.inner.metrics
    }

    /// Starts following the chain and relaying (with `operator`; without one, jobs wait in
    /// the queue) when an endpoint is configured, and makes sure every CID the index has as
    /// delisted is unpinned. Call once, inside the runtime, with the node's core.
    pub fn start(&self, core: Core, operator: Option<PrivateKeySigner>) -> Result<(), String> {
        // Bounded: a follower far ahead of the node's unpinning waits for it.
        let (changes_tx, changes_rx) = mpsc::channel(CHANGE_BUFFER);
        let mut tasks = vec![tokio::spawn(effects::apply_changes(
            core.clone(),
            self.store().clone(),
            changes_rx,
        ))];
        let config = self.config().clone();
        tasks.push(tokio::spawn(prune_nonces(
            self.store().clone(),
            config.max_signature_age,
        )));
        *self.inner.operator.lock().expect("not poisoned") = operator.as_ref().map(|o| o.address());
        if config.follows() {
            let reader = chorus_chain::endpoint::reader(&config.rpc_url)
                .map_err(|e| format!("chain.rpc_url: {e}"))?;
            if let Some(follower) = Follower::new(
                reader,
                config.clone(),
                self.store().clone(),
                self.inner.follower.clone(),
                changes_tx,
            ) {
                tasks.push(tokio::spawn(follower.run()));
            }
            match operator {
                Some(key) => {
                    let writer = chorus_chain::endpoint::writer(&config.rpc_url, key)
                        .map_err(|e| format!("chain.rpc_url: {e}"))?;
                    if let Some(relay) = Relay::new(
                        writer,
                        &config,
                        self.store().clone(),
                        self.inner.relay.clone(),
                        self.inner.wake.clone(),
                    ) {
                        tasks.push(tokio::spawn(relay.run()));
                    }
                }
                None => tracing::warn!(
                    "no operator wallet (`chorus wallet new`): signed uploads are verified and queued, not registered on chain"
                ),
            }
        }
        self.inner.tasks.lock().expect("not poisoned").extend(tasks);
        Ok(())
    }

    /// What an upload can be refused for before its bytes are read.
    pub fn precheck(&self, proof: Option<&UploadProof>) -> Result<(), CoreError> {
        self.inner
            .gate
            .precheck(proof, unix_now())
            .map_err(|e| self.gate_error(e))
    }

    /// The decision for an upload whose signed CID is `cid` (see [`UploadGate::admit`]).
    pub fn admit(&self, proof: Option<&UploadProof>, cid: &str) -> Result<Admission, CoreError> {
        self.inner
            .gate
            .admit(proof, cid, unix_now())
            .map_err(|e| self.gate_error(e))
    }

    /// Gives back the nonce of an admitted upload whose write failed.
    pub fn release(&self, admission: &Admission) {
        self.inner.gate.release(admission);
    }

    /// Queues `job` for the relay, durably (called after the upload's own commit and before
    /// its acknowledgement).
    pub fn enqueue(&self, job: &RelayJob) -> Result<(), CoreError> {
        let store = self.store();
        store
            .enqueue(job)
            .and_then(|_| store.flush())
            .map_err(|e| CoreError::Chain(e.to_string()))?;
        self.inner.wake.notify_one();
        Ok(())
    }

    fn gate_error(&self, e: GateError) -> CoreError {
        match e {
            GateError::Refused(r) => {
                self.inner.metrics.refused(r.reason());
                CoreError::Refused(r)
            }
            GateError::Store(e) => CoreError::Chain(e.to_string()),
        }
    }

    /// `chain/upload-request`: the typed data `owner` signs to upload `cid`, with a fresh
    /// nonce and this node's time.
    pub fn upload_request(&self, cid: &str, owner: Address) -> Result<Value, CoreError> {
        let config = self.config();
        let registry = self
            .inner
            .gate
            .domain()
            .map_err(CoreError::Refused)
            .map(|_| config.content_registry.expect("domain() checked it"))?;
        let message = Message {
            cid: cid.to_owned(),
            owner,
            timestamp: unix_now(),
            nonce: chorus_chain::typed_data::fresh_nonce(),
        };
        Ok(message.typed_data(Purpose::Upload, config.chain_id, registry))
    }

    /// The chain's record of `cid` (under any of its spellings: CIDv0 or v1), as far as the
    /// follower has applied.
    pub fn owner(&self, cid: &Cid) -> Result<Option<Ownership>, CoreError> {
        for form in spellings(cid) {
            let found = self
                .store()
                .ownership(&form)
                .map_err(|e| CoreError::Chain(e.to_string()))?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// The relay job this node queued for `cid`.
    pub fn relay_job(&self, cid: &str) -> Result<Option<RelayJob>, CoreError> {
        self.store()
            .relay_job(cid)
            .map_err(|e| CoreError::Chain(e.to_string()))
    }

    /// Whether the chain delisted `cid` under any of its spellings (a failing database answers
    /// no, and logs).
    pub fn is_delisted(&self, cid: &Cid) -> bool {
        spellings(cid).iter().any(|form| {
            self.store().is_delisted(form).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "reading the ownership index");
                false
            })
        })
    }

    /// The NodeRegistry's members (read now, and kept; the list kept last when the chain
    /// cannot be reached).
    pub async fn registered_nodes(&self) -> Result<Vec<RegisteredNode>, String> {
        let config = self.config();
        let Some(registry) = config.node_registry else {
            return Err("set chain.node_registry (and chain.rpc_url)".into());
        };
        if config.rpc_url.is_empty() {
            return Err("set chain.rpc_url".into());
        }
        match chorus_chain::nodes::registered(&config.rpc_url, registry).await {
            Ok(nodes) => {
                self.store()
                    .cache_nodes(&nodes)
                    .map_err(|e| e.to_string())?;
                Ok(nodes)
            }
            Err(e) => match self.store().cached_nodes() {
                Ok(Some(nodes)) => {
                    tracing::warn!(error = %e, "node registry unreachable; using the list read last");
                    Ok(nodes)
                }
                _ => Err(format!("{e} (and no list read before)")),
            },
        }
    }

    /// `chain status`.
    pub fn status(&self) -> ChainStatus {
        status::read(
            self.config(),
            &self.inner.follower,
            self.store(),
            *self.inner.operator.lock().expect("not poisoned"),
        )
    }
}
