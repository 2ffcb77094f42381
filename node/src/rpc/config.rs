//! Settings of the RPC API listener.

use std::net::SocketAddr;

use super::upload_guard::UploadLimits;
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
    /// Browser origins (`scheme://host:port`, or `*`) allowed to call the API besides the
    /// API's own origin. A request carrying any other `Origin` is refused with 403, as kubo
    /// does: a web page must not be able to add, pin or delete through a local node.
    pub allowed_origins: Vec<String>,
    /// Bounds on multipart uploads (`add`, `block/put`, `dag/import`, `track/add`,
    /// `config/replace`).
    pub upload: UploadLimits,
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

    /// Sets [`ApiConfig::upload`].
    pub fn with_upload_limits(mut self, limits: UploadLimits) -> Self {
        self.upload = limits;
        self
    }

    /// Allows a browser origin (see [`ApiConfig::allowed_origins`]).
    pub fn with_allowed_origin(mut self, origin: impl Into<String>) -> Self {
        self.allowed_origins.push(origin.into());
        self
    }

    /// Whether a request with `Origin: origin` to `host` (its `Host` header) may proceed.
    pub fn origin_allowed(&self, origin: &str, host: Option<&str>) -> bool {
        let origin = origin.trim().trim_end_matches('/');
        if self
            .allowed_origins
            .iter()
            .any(|o| o == "*" || o.trim_end_matches('/').eq_ignore_ascii_case(origin))
        {
            return true;
        }
        // Same origin: the page was served by this API itself.
        let authority = origin
            .strip_prefix("http://")
            .or_else(|| origin.strip_prefix("https://"));
        matches!((authority, host), (Some(a), Some(h)) if a.eq_ignore_ascii_case(h.trim()))
    }

    /// Whether a request naming `host` (its `Host` header, port included) may use the API.
    ///
    /// DNS rebinding protection: a web page at `evil.example` that re-points its own name at
    /// 127.0.0.1 reaches a local API with `Host: evil.example`, and with a matching `Origin`,
    /// so the origin check alone lets it through. Without a token, only loopback names
    /// (`localhost`, `*.localhost`) and IP literals (a page cannot rebind an address) are
    /// accepted, as kubo's API does; with tokens (or the operator's explicit
    /// `allow_unauthenticated_public`) any name is, since a rebinding page has no token.
    pub fn host_allowed(&self, host: &str) -> bool {
        if self.auth_required() || self.allow_unauthenticated_public {
            return true;
        }
        let host = host.trim();
        // Strip the port: `[v6]:port`, `v4:port` or `name:port`.
        let name = if let Some(rest) = host.strip_prefix('[') {
            return rest
                .split(']')
                .next()
                .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok());
        } else {
            host.rsplit_once(':').map_or(host, |(name, _)| name)
        };
        let name = name.trim_end_matches('.').to_ascii_lowercase();
        name == "localhost"
            || name.ends_with(".localhost")
            || name.parse::<std::net::Ipv4Addr>().is_ok()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let c = ApiConfig::default();
        assert!(c.origin_allowed("http://127.0.0.1:5001", Some("127.0.0.1:5001")));
        assert!(!c.origin_allowed("https://evil.example", Some("127.0.0.1:5001")));
        assert!(!c.origin_allowed("null", Some("127.0.0.1:5001")));
        assert!(!c.origin_allowed("http://127.0.0.1:5001", None));
        let c = c.with_allowed_origin("http://localhost:3000/");
        assert!(c.origin_allowed("http://localhost:3000", Some("127.0.0.1:5001")));
        let any = ApiConfig::default().with_allowed_origin("*");
        assert!(any.origin_allowed("https://evil.example", None));
    }

    #[test]
    fn hosts() {
        let c = ApiConfig::default();
        for ok in [
            "127.0.0.1:5001",
            "localhost:5001",
            "LOCALHOST.",
            "api.localhost:80",
            "[::1]:5001",
            "10.0.0.7:5001",
            "127.0.0.1",
        ] {
            assert!(c.host_allowed(ok), "{ok}");
        }
        for refused in [
            "evil.example:5001",
            "evil.example",
            "localhost.evil.example:1",
            "[x]:1",
        ] {
            assert!(!c.host_allowed(refused), "{refused}");
        }
        assert!(
            c.clone()
                .with_bearer_token("t")
                .host_allowed("api.example.org")
        );
        assert!(
            c.with_allow_unauthenticated_public(true)
                .host_allowed("api.example.org")
        );
    }
}
