//! Connections to the operator's JSON-RPC endpoint: a reader for the follower and a writer
//! that signs with the operator wallet for the relay and for deployments.

use alloy::network::EthereumWallet;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;

use std::time::Duration;

use crate::deploy::{DeployError, parse_rpc_url};

/// Longest wait for a connection (TCP and TLS) to the endpoint.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Longest wait for one JSON-RPC answer: an endpoint that accepts and never answers must not
/// stall the follower or the relay (both retry at their next poll). `eth_getLogs` over 2,000
/// blocks answers in well under a second on public endpoints.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// The HTTP client of every chain connection (timeouts above; TLS verified against the
/// system's roots).
fn http_client() -> Result<reqwest::Client, DeployError> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .build()
        .map_err(|e| DeployError::Url(String::new(), format!("HTTP client: {e}")))
}

/// A provider that only reads.
pub fn reader(url: &str) -> Result<DynProvider, DeployError> {
    Ok(ProviderBuilder::new()
        .connect_reqwest(http_client()?, parse_rpc_url(url)?)
        .erased())
}

/// A provider that signs and sends from `signer`: gas estimated, chain id fetched, and the
/// account's nonce read from the chain (pending) for every transaction. Not alloy's cached
/// nonce manager: after a reorg drops a transaction, or another process sent from the same
/// wallet, a cached nonce runs ahead of the chain and every later transaction waits forever
/// behind the gap. The relay sends one transaction at a time, so one read per send is cheap.
pub fn writer(url: &str, signer: PrivateKeySigner) -> Result<DynProvider, DeployError> {
    Ok(ProviderBuilder::new()
        .disable_recommended_fillers()
        .with_gas_estimation()
        .with_simple_nonce_management()
        .fetch_chain_id()
        .wallet(EthereumWallet::from(signer))
        .connect_reqwest(http_client()?, parse_rpc_url(url)?)
        .erased())
}
