//! The follower: every node reads the ContentRegistry's events over JSON-RPC (`eth_getLogs`
//! in bounded block ranges, over HTTP), applies those `confirmations` blocks deep to the
//! ownership index ([`crate::events`]), detects reorgs by comparing the hash of the block it
//! stopped at with the chain's, and rolls back what a replaced block had applied. The cursor
//! is in the chain database: a restart resumes where it stopped. A chain that cannot be
//! reached is retried every poll; the node keeps serving meanwhile.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use alloy::eips::BlockNumberOrTag;
use alloy::primitives::{Address, B256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::{Filter, Log};
use alloy::sol_types::SolEvent;
use thiserror::Error;
use tokio::sync::mpsc;

use crate::config::ChainConfig;
use crate::contracts::{ContentRegistry, Kind};
use crate::events::{Change, EventAt, RegistryEvent};
use crate::store::{ChainStore, ChainStoreError};

/// Why one step of following failed (it is retried at the next poll).
#[derive(Debug, Error)]
pub enum FollowError {
    /// The endpoint failed or is unreachable.
    #[error("chain endpoint: {0}")]
    Rpc(String),
    /// The chain database failed.
    #[error(transparent)]
    Store(#[from] ChainStoreError),
}

fn rpc(e: impl std::fmt::Display) -> FollowError {
    FollowError::Rpc(e.to_string())
}

/// What the follower knows, for `chain status` and `/metrics`.
#[derive(Debug, Default)]
pub struct FollowerState {
    /// The chain's head at the last poll.
    pub head: AtomicU64,
    /// The last block applied (+1; 0: none yet).
    pub cursor_plus_one: AtomicU64,
    /// Events applied since start.
    pub events_applied: AtomicU64,
    /// Reorgs rolled back since start.
    pub reorgs: AtomicU64,
    /// Whether the last poll reached the chain.
    pub reachable: AtomicBool,
    /// The last poll's error, if it failed.
    pub last_error: Mutex<Option<String>>,
}

impl FollowerState {
    /// The last block applied.
    pub fn cursor(&self) -> Option<u64> {
        self.cursor_plus_one.load(Ordering::Relaxed).checked_sub(1)
    }

    /// Blocks between the head and the cursor.
    pub fn lag(&self) -> u64 {
        let head = self.head.load(Ordering::Relaxed);
        head.saturating_sub(self.cursor().unwrap_or(0))
    }
}

/// Follows one registry (see the module docs).
pub struct Follower {
    provider: DynProvider,
    registry: Address,
    store: ChainStore,
    config: ChainConfig,
    state: Arc<FollowerState>,
    changes: mpsc::Sender<Change>,
}

impl Follower {
    /// A follower of `config.content_registry` through `provider`, sending what changes to
    /// `changes` (the node unpins delisted content).
    pub fn new(
        provider: DynProvider,
        config: ChainConfig,
        store: ChainStore,
        state: Arc<FollowerState>,
        changes: mpsc::Sender<Change>,
    ) -> Option<Self> {
        let registry = config.content_registry?;
        if let Ok(Some((block, _))) = store.cursor() {
            state.cursor_plus_one.store(block + 1, Ordering::Relaxed);
        }
        Some(Follower {
            provider,
            registry,
            store,
            config,
            state,
            changes,
        })
    }

    /// Follows until the task is dropped: steps while behind, then one poll per interval.
    pub async fn run(self) {
        loop {
            match self.step().await {
                Ok(true) => continue,
                Ok(false) => {
                    self.state.reachable.store(true, Ordering::Relaxed);
                    *self.state.last_error.lock().expect("not poisoned") = None;
                }
                Err(e) => {
                    self.state.reachable.store(false, Ordering::Relaxed);
                    tracing::debug!(error = %e, "chain follower step failed; retrying");
                    *self.state.last_error.lock().expect("not poisoned") = Some(e.to_string());
                }
            }
            tokio::time::sleep(self.config.poll_interval).await;
        }
    }

    async fn block_hash(&self, number: u64) -> Result<Option<B256>, FollowError> {
        let block = self
            .provider
            .get_block_by_number(BlockNumberOrTag::Number(number))
            .await
            .map_err(rpc)?;
        Ok(block.map(|b| b.header.hash))
    }

    /// One step: detect a reorg, then apply the next confirmed range. True when more
    /// confirmed blocks wait (call again at once).
    pub async fn step(&self) -> Result<bool, FollowError> {
        let head = self.provider.get_block_number().await.map_err(rpc)?;
        self.state.head.store(head, Ordering::Relaxed);
        self.state.reachable.store(true, Ordering::Relaxed);
        let mut cursor = self.store.cursor()?;
        if let Some((block, hash)) = cursor
            && self.block_hash(block).await? != Some(hash)
        {
            cursor = self.roll_back().await?;
        }
        let safe = head.saturating_sub(self.config.confirmations);
        let from = cursor
            .map(|(b, _)| b + 1)
            .unwrap_or(self.config.start_block);
        if from > safe {
            return Ok(false);
        }
        let to = safe.min(from + self.config.log_range.max(1) - 1);
        let filter = Filter::new()
            .address(self.registry)
            .from_block(from)
            .to_block(to);
        let mut logs = self.provider.get_logs(&filter).await.map_err(rpc)?;
        logs.sort_by_key(|l| (l.block_number, l.log_index));
        // The range's last block's hash, read before applying: a reorg during the read shows
        // up as a mismatch at the next step and is rolled back then.
        let Some(to_hash) = self.block_hash(to).await? else {
            return Err(FollowError::Rpc(format!("block {to} is missing")));
        };
        for log in &logs {
            let Some(at) = decode(log) else { continue };
            if let Some(change) = self.store.apply(&at)? {
                self.state.events_applied.fetch_add(1, Ordering::Relaxed);
                // Back-pressure: the follower waits for the node to act (bounded channel).
                let _ = self.changes.send(change).await;
            }
        }
        self.store.advance(to, to_hash)?;
        self.store.flush()?;
        self.state.cursor_plus_one.store(to + 1, Ordering::Relaxed);
        Ok(to < safe)
    }

    /// The cursor's block was replaced: find the newest remembered block still on the chain,
    /// undo everything after it.
    async fn roll_back(&self) -> Result<Option<(u64, B256)>, FollowError> {
        let mut fork = None;
        for (block, hash) in self.store.recent_hashes()? {
            if self.block_hash(block).await? == Some(hash) {
                fork = Some((block, hash));
                break;
            }
        }
        let changes = self.store.roll_back_after(fork)?;
        self.store.flush()?;
        self.state.reorgs.fetch_add(1, Ordering::Relaxed);
        self.state
            .cursor_plus_one
            .store(fork.map(|(b, _)| b + 1).unwrap_or(0), Ordering::Relaxed);
        tracing::warn!(
            back_to = fork.map(|(b, _)| b),
            undone = changes.len(),
            "chain reorganised; rolled back what the replaced blocks applied"
        );
        for change in changes {
            let _ = self.changes.send(change).await;
        }
        Ok(fork)
    }
}

/// A registry log as an event (logs of other shapes are skipped).
fn decode(log: &Log) -> Option<EventAt> {
    let block = log.block_number?;
    let log_index = log.log_index?;
    let tx = log.transaction_hash?;
    let event = match log.topic0() {
        Some(t) if *t == ContentRegistry::ContentRegistered::SIGNATURE_HASH => {
            let e = ContentRegistry::ContentRegistered::decode_log_data(log.data()).ok()?;
            RegistryEvent::Registered {
                cid: e.cid,
                owner: e.owner,
                kind: Kind::from_u8(e.kind)?,
                meta: e.meta,
                timestamp: u64::try_from(e.timestamp).unwrap_or(u64::MAX),
            }
        }
        Some(t) if *t == ContentRegistry::ContentDelisted::SIGNATURE_HASH => {
            let e = ContentRegistry::ContentDelisted::decode_log_data(log.data()).ok()?;
            RegistryEvent::Delisted { cid: e.cid }
        }
        _ => return None,
    };
    Some(EventAt {
        block,
        log_index,
        tx,
        event,
    })
}
