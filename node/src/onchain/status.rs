//! `chain status`: endpoint, chain id, head, cursor, lag, relay queue.

use std::sync::atomic::Ordering;

use chorus_chain::follower::FollowerState;
use chorus_chain::store::ChainStore;
use chorus_chain::{Address, ChainConfig};
use serde::Serialize;

/// What `chain status` shows.
#[derive(Debug, Clone, Serialize)]
pub struct ChainStatus {
    /// The JSON-RPC endpoint ("" when none).
    #[serde(rename = "Endpoint")]
    pub endpoint: String,
    /// The chain id.
    #[serde(rename = "ChainId")]
    pub chain_id: u64,
    /// ContentRegistry.
    #[serde(rename = "ContentRegistry")]
    pub content_registry: Option<String>,
    /// NodeRegistry.
    #[serde(rename = "NodeRegistry")]
    pub node_registry: Option<String>,
    /// The operator wallet relaying.
    #[serde(rename = "Operator")]
    pub operator: Option<String>,
    /// Whether the last poll reached the chain.
    #[serde(rename = "Reachable")]
    pub reachable: bool,
    /// The last poll's error.
    #[serde(rename = "LastError")]
    pub last_error: Option<String>,
    /// The chain's head.
    #[serde(rename = "Head")]
    pub head: u64,
    /// The last block applied.
    #[serde(rename = "Cursor")]
    pub cursor: Option<u64>,
    /// Head minus cursor.
    #[serde(rename = "Lag")]
    pub lag: u64,
    /// Confirmations waited.
    #[serde(rename = "Confirmations")]
    pub confirmations: u64,
    /// Relay jobs not yet mined or failed.
    #[serde(rename = "RelayQueue")]
    pub relay_queue: u64,
    /// CIDs in the ownership index.
    #[serde(rename = "IndexedCids")]
    pub indexed: u64,
    /// Whether unsigned uploads are refused.
    #[serde(rename = "RequireSignatures")]
    pub require_signatures: bool,
}

pub(super) fn read(
    config: &ChainConfig,
    follower: &FollowerState,
    store: &ChainStore,
    operator: Option<Address>,
) -> ChainStatus {
    let queue = store.queue_len() as u64;
    ChainStatus {
        endpoint: config.rpc_url.clone(),
        chain_id: config.chain_id,
        content_registry: config.content_registry.map(|a| a.to_checksum(None)),
        node_registry: config.node_registry.map(|a| a.to_checksum(None)),
        operator: operator.map(|a| a.to_checksum(None)),
        reachable: follower.reachable.load(Ordering::Relaxed),
        last_error: follower.last_error.lock().expect("not poisoned").clone(),
        head: follower.head.load(Ordering::Relaxed),
        cursor: follower.cursor(),
        lag: follower.lag(),
        confirmations: config.confirmations,
        relay_queue: queue,
        indexed: store.owned_count() as u64,
        require_signatures: config.require_signatures,
    }
}
