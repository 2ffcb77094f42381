//! How the gateway answers: its settings, each default with its origin.

use super::RateLimit;
use super::hls;

/// How long a request may take to resolve its path and obtain the first block before the
/// gateway answers 504 (boxo's `Gateway.RetrievalTimeout` default, 30 s).
pub const DEFAULT_RETRIEVAL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// How the gateway answers.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Serve only verifiable responses (raw blocks and CARs); deserialized requests get 400,
    /// as the trustless-gateway spec asks of a strict trustless gateway.
    pub trustless_only: bool,
    /// Deadline for everything before the response head (path resolution, first block,
    /// `index.html` lookup); past it the answer is 504.
    pub retrieval_timeout: std::time::Duration,
    /// Requests in progress at once (until each body is sent); one more gets 429 with
    /// `Retry-After` (kubo's `Gateway.MaxConcurrentRequests`). 0: no bound.
    pub max_concurrent_requests: usize,
    /// Requests per client address, when set (see [`RateLimit`]).
    pub rate_limit: Option<RateLimit>,
    /// HLS segments fetched ahead of the one a player asked for (the look-ahead of the
    /// `hls` module); 0 turns the look-ahead off.
    pub hls_segments_ahead: usize,
}

/// kubo's default for `Gateway.MaxConcurrentRequests`: 4,096. Each request holds a fetch
/// session and a read-ahead of a few blocks (~1 MiB), so the worst case is a few GiB; a
/// community node with less memory lowers it.
pub const DEFAULT_MAX_CONCURRENT_REQUESTS: usize = 4096;

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            trustless_only: false,
            retrieval_timeout: DEFAULT_RETRIEVAL_TIMEOUT,
            max_concurrent_requests: DEFAULT_MAX_CONCURRENT_REQUESTS,
            rate_limit: None,
            hls_segments_ahead: hls::DEFAULT_SEGMENTS_AHEAD,
        }
    }
}

impl GatewayConfig {
    /// Sets [`GatewayConfig::retrieval_timeout`].
    pub fn with_retrieval_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.retrieval_timeout = timeout;
        self
    }

    /// Sets [`GatewayConfig::max_concurrent_requests`] (0: no bound).
    pub fn with_max_concurrent_requests(mut self, max: usize) -> Self {
        self.max_concurrent_requests = max;
        self
    }

    /// Sets [`GatewayConfig::rate_limit`].
    pub fn with_rate_limit(mut self, limit: Option<RateLimit>) -> Self {
        self.rate_limit = limit;
        self
    }

    /// Sets [`GatewayConfig::hls_segments_ahead`] (0: no look-ahead).
    pub fn with_hls_segments_ahead(mut self, segments: usize) -> Self {
        self.hls_segments_ahead = segments;
        self
    }

    /// Sets [`GatewayConfig::trustless_only`].
    pub fn with_trustless_only(mut self, only: bool) -> Self {
        self.trustless_only = only;
        self
    }
}
