//! The NodeRegistry: operators register their node (peer id, swarm addresses, gateway URL)
//! from their operator wallet and can deregister it; a community whose nodes set
//! `replication.nodes_from_chain` reads its member list from here at start. The list read
//! last is kept in the chain database, so a node restarting while the chain is unreachable
//! still knows its community.

use alloy::primitives::{Address, B256, U256};
use alloy::signers::local::PrivateKeySigner;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::contracts::NodeRegistry;
use crate::owners::{decode, encode};
use crate::store::{ChainStore, ChainStoreError};

/// Nodes read from the registry at most (a community is a dozen nodes; the bound keeps a
/// hostile registry from making a node read forever).
pub const MAX_NODES: u64 = 1000;

/// One registered node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisteredNode {
    /// The operator's address.
    pub operator: Address,
    /// The node's libp2p peer id.
    pub peer_id: String,
    /// Its swarm addresses.
    pub multiaddrs: Vec<String>,
    /// Its public gateway.
    pub gateway_url: String,
}

/// A registry call that failed.
#[derive(Debug, Error)]
pub enum NodesError {
    /// The endpoint or the contract failed (a revert carries the contract's reason).
    #[error("node registry: {0}")]
    Chain(String),
    /// The settings lack the endpoint or the address.
    #[error("node registry: {0}")]
    NotConfigured(&'static str),
    /// The chain database failed.
    #[error(transparent)]
    Store(#[from] ChainStoreError),
}

/// `addr` ending in `/p2p/<peer_id>` (appended unless it is there already), as replication's
/// node list and the registry hold addresses.
pub fn with_peer(addr: &str, peer_id: &str) -> String {
    let own = format!("/p2p/{peer_id}");
    if addr.ends_with(&own) {
        addr.to_owned()
    } else {
        format!("{addr}{own}")
    }
}

fn chain(e: impl std::fmt::Display) -> NodesError {
    NodesError::Chain(e.to_string())
}

const NODES_KEY: &[u8] = b"registered-nodes";

impl ChainStore {
    /// The node list read last from the registry.
    pub fn cached_nodes(&self) -> Result<Option<Vec<RegisteredNode>>, ChainStoreError> {
        self.meta
            .get(NODES_KEY)?
            .map(|v| decode("registered nodes", &v))
            .transpose()
    }

    /// Keeps `nodes` as the list read last (flushed).
    pub fn cache_nodes(&self, nodes: &[RegisteredNode]) -> Result<(), ChainStoreError> {
        self.meta.insert(NODES_KEY, encode(&nodes))?;
        self.flush()
    }
}

/// Every node registered in the NodeRegistry at `registry` (at most [`MAX_NODES`]).
pub async fn registered(url: &str, registry: Address) -> Result<Vec<RegisteredNode>, NodesError> {
    let provider = crate::endpoint::reader(url).map_err(chain)?;
    let contract = NodeRegistry::new(registry, provider);
    let count = contract.nodeCount().call().await.map_err(chain)?;
    let count = u64::try_from(count).unwrap_or(u64::MAX).min(MAX_NODES);
    let mut nodes = Vec::new();
    for i in 0..count {
        let n = contract.nodeAt(U256::from(i)).call().await.map_err(chain)?;
        nodes.push(RegisteredNode {
            operator: n.operator,
            peer_id: n.peerId,
            multiaddrs: n.multiaddrs,
            gateway_url: n.gatewayUrl,
        });
    }
    Ok(nodes)
}

/// Registers (or updates) this node from the operator's wallet; the mined transaction.
pub async fn register(
    url: &str,
    registry: Address,
    operator: PrivateKeySigner,
    peer_id: &str,
    multiaddrs: Vec<String>,
    gateway_url: &str,
) -> Result<B256, NodesError> {
    let provider = crate::endpoint::writer(url, operator).map_err(chain)?;
    let contract = NodeRegistry::new(registry, provider);
    let call = contract.register(peer_id.to_owned(), multiaddrs, gateway_url.to_owned());
    mined(call.send().await).await
}

/// Deregisters this node from the operator's wallet; the mined transaction.
pub async fn deregister(
    url: &str,
    registry: Address,
    operator: PrivateKeySigner,
    peer_id: &str,
) -> Result<B256, NodesError> {
    let provider = crate::endpoint::writer(url, operator).map_err(chain)?;
    let contract = NodeRegistry::new(registry, provider);
    mined(contract.deregister(peer_id.to_owned()).send().await).await
}

async fn mined(
    sent: Result<
        alloy::providers::PendingTransactionBuilder<alloy::network::Ethereum>,
        alloy::contract::Error,
    >,
) -> Result<B256, NodesError> {
    use alloy::sol_types::SolInterface;
    let pending = sent.map_err(|e| match e.as_revert_data() {
        Some(data) => match NodeRegistry::NodeRegistryErrors::abi_decode(&data) {
            Ok(err) => NodesError::Chain(format!("refused: {err:?}")),
            Err(_) => chain(e),
        },
        None => chain(e),
    })?;
    let receipt = pending
        .with_timeout(Some(std::time::Duration::from_secs(120)))
        .get_receipt()
        .await
        .map_err(chain)?;
    if !receipt.status() {
        return Err(NodesError::Chain(format!(
            "transaction {} reverted",
            receipt.transaction_hash
        )));
    }
    Ok(receipt.transaction_hash)
}
