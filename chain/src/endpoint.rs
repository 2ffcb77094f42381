//! Connections to the operator's JSON-RPC endpoint: a reader for the follower and a writer
//! that signs with the operator wallet for the relay and for deployments.

use alloy::network::EthereumWallet;
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::signers::local::PrivateKeySigner;

use crate::deploy::{DeployError, parse_rpc_url};

/// A provider that only reads.
pub fn reader(url: &str) -> Result<DynProvider, DeployError> {
    Ok(ProviderBuilder::new()
        .connect_http(parse_rpc_url(url)?)
        .erased())
}

/// A provider that signs and sends from `signer` (gas, nonce and chain id filled by alloy's
/// recommended fillers).
pub fn writer(url: &str, signer: PrivateKeySigner) -> Result<DynProvider, DeployError> {
    Ok(ProviderBuilder::new()
        .wallet(EthereumWallet::from(signer))
        .connect_http(parse_rpc_url(url)?)
        .erased())
}
