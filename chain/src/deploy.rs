//! `chorus chain deploy`: both registry contracts onto a chain, from the operator's wallet.

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use thiserror::Error;

use crate::contracts::{ContentRegistry, NodeRegistry};

/// A deployment that did not happen.
#[derive(Debug, Error)]
pub enum DeployError {
    /// The URL does not parse or uses a scheme this build cannot speak.
    #[error("rpc url {0:?}: {1}")]
    Url(String, String),
    /// The chain refused or could not be reached.
    #[error("deploying {contract}: {reason}")]
    Failed {
        /// Which contract.
        contract: &'static str,
        /// Why.
        reason: String,
    },
}

/// Where the two contracts went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deployed {
    /// ContentRegistry.
    pub content_registry: Address,
    /// NodeRegistry.
    pub node_registry: Address,
    /// The chain's id.
    pub chain_id: u64,
}

/// Parses an operator's JSON-RPC URL: `http://` or `https://` (certificates verified against
/// the system's roots; `SSL_CERT_FILE` names another bundle).
pub fn parse_rpc_url(url: &str) -> Result<reqwest::Url, DeployError> {
    let parsed =
        reqwest::Url::parse(url).map_err(|e| DeployError::Url(url.into(), e.to_string()))?;
    match parsed.scheme() {
        "http" | "https" => Ok(parsed),
        other => Err(DeployError::Url(
            url.into(),
            format!("unsupported scheme {other:?} (http or https)"),
        )),
    }
}

/// An error with its causes, `outer: inner: …` (a TLS failure is the innermost one).
pub fn causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(inner) = source {
        let s = inner.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = inner.source();
    }
    text
}

/// Deploys ContentRegistry then NodeRegistry from `signer`, each waited for until mined.
pub async fn deploy(url: &str, signer: PrivateKeySigner) -> Result<Deployed, DeployError> {
    use alloy::providers::Provider;
    let provider = crate::endpoint::writer(url, signer)?;
    let chain_id = provider
        .get_chain_id()
        .await
        .map_err(|e| DeployError::Failed {
            contract: "ContentRegistry",
            reason: format!("cannot reach the chain: {}", causes(&e)),
        })?;
    let content = ContentRegistry::deploy(&provider)
        .await
        .map_err(|e| DeployError::Failed {
            contract: "ContentRegistry",
            reason: causes(&e),
        })?;
    let nodes = NodeRegistry::deploy(&provider)
        .await
        .map_err(|e| DeployError::Failed {
            contract: "NodeRegistry",
            reason: causes(&e),
        })?;
    Ok(Deployed {
        content_registry: *content.address(),
        node_registry: *nodes.address(),
        chain_id,
    })
}
