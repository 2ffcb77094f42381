//! Settings of the RPC API listener.

use std::net::SocketAddr;

use crate::addr::{AddrError, check_api_bind};

/// How the RPC API accepts requests.
#[derive(Debug, Clone, Default)]
pub struct ApiConfig {
    /// Accept GET as well as POST (kubo < 0.5 behaviour, for old clients). Off by default:
    /// browsers send GET cross-site without preflight, POST-only blocks that class of attack.
    pub allow_get: bool,
    /// Bearer tokens accepted in `Authorization: Bearer <token>`; empty means no auth.
    pub bearer_tokens: Vec<String>,
    /// Serve on a non-loopback address without auth anyway (explicit operator opt-out).
    pub allow_unauthenticated_public: bool,
}

impl ApiConfig {
    /// Sets [`ApiConfig::allow_get`].
    pub fn with_allow_get(mut self, allow: bool) -> Self {
        self.allow_get = allow;
        self
    }

    /// Adds an accepted bearer token.
    pub fn with_bearer_token(mut self, token: impl Into<String>) -> Self {
        self.bearer_tokens.push(token.into());
        self
    }

    /// Sets [`ApiConfig::allow_unauthenticated_public`].
    pub fn with_allow_unauthenticated_public(mut self, allow: bool) -> Self {
        self.allow_unauthenticated_public = allow;
        self
    }

    /// Whether requests must carry a token.
    pub fn auth_required(&self) -> bool {
        !self.bearer_tokens.is_empty()
    }

    /// Checks that the API may listen on `addr` under this configuration.
    pub fn check_bind(&self, addr: SocketAddr) -> Result<(), AddrError> {
        check_api_bind(
            addr,
            self.auth_required(),
            self.allow_unauthenticated_public,
        )
    }
}
