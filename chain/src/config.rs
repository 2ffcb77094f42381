//! `[chain]` settings, each default named with its origin and its worst case.

use std::time::Duration;

use alloy::primitives::Address;

/// How long a signature stays good: mediorum's 48 h for signed uploads. A captured signature
/// can be replayed to another node for that long (each node refuses a nonce it has seen, and
/// the contract refuses a nonce or CID registered before).
pub const DEFAULT_MAX_SIGNATURE_AGE: Duration = Duration::from_secs(48 * 3600);

/// Blocks an event must be buried under before the follower applies it: 12 is the depth
/// proof-of-stake Ethereum reorgs have stayed within (a dev chain uses 0). Worst case: the
/// chain's decisions reach the node 12 blocks (~2.5 min on mainnet) late.
pub const DEFAULT_CONFIRMATIONS: u64 = 12;

/// Between two polls of the chain's head (mainnet makes a block every 12 s; a poll is two
/// small JSON-RPC calls).
pub const DEFAULT_POLL_INTERVAL: Duration = Duration::from_secs(6);

/// Blocks per `eth_getLogs` call: public endpoints cap ranges (often 10,000 blocks or 10,000
/// results); 2,000 stays under both for any realistic registry traffic.
pub const DEFAULT_LOG_RANGE: u64 = 2_000;

/// The node's chain settings (all optional until an operator points it at a chain).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainConfig {
    /// JSON-RPC endpoint (`http://…` or `https://…`); empty: no chain (signed uploads are still verified when
    /// `chain_id` and `content_registry` are set, nothing is relayed or followed).
    pub rpc_url: String,
    /// The chain's id (the EIP-712 domain's `chainId`).
    pub chain_id: u64,
    /// ContentRegistry's address (the EIP-712 domain's `verifyingContract`).
    pub content_registry: Option<Address>,
    /// NodeRegistry's address.
    pub node_registry: Option<Address>,
    /// See [`DEFAULT_CONFIRMATIONS`].
    pub confirmations: u64,
    /// See [`DEFAULT_MAX_SIGNATURE_AGE`].
    pub max_signature_age: Duration,
    /// Refuse unsigned uploads (403).
    pub require_signatures: bool,
    /// See [`DEFAULT_POLL_INTERVAL`].
    pub poll_interval: Duration,
    /// See [`DEFAULT_LOG_RANGE`].
    pub log_range: u64,
    /// The first block the follower reads (the registry's deployment block on a long chain;
    /// 0 on a devnet).
    pub start_block: u64,
}

impl Default for ChainConfig {
    fn default() -> Self {
        ChainConfig {
            rpc_url: String::new(),
            chain_id: 0,
            content_registry: None,
            node_registry: None,
            confirmations: DEFAULT_CONFIRMATIONS,
            max_signature_age: DEFAULT_MAX_SIGNATURE_AGE,
            require_signatures: false,
            poll_interval: DEFAULT_POLL_INTERVAL,
            log_range: DEFAULT_LOG_RANGE,
            start_block: 0,
        }
    }
}

impl ChainConfig {
    /// Whether signatures can be verified (the domain is known).
    pub fn can_verify(&self) -> bool {
        self.chain_id != 0 && self.content_registry.is_some()
    }

    /// Whether the node talks to a chain (relays and follows).
    pub fn follows(&self) -> bool {
        !self.rpc_url.is_empty() && self.can_verify()
    }
}
