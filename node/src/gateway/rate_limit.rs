//! A per-client-address request rate for the gateway: a token bucket per IP address (GCRA,
//! the `governor` crate), so one greedy client is answered `429` with `Retry-After` while the
//! others are served. Off by default: behind a reverse proxy every request comes from the
//! proxy's address, and the proxy is the place to limit.
//!
//! The buckets of addresses that have been quiet long enough to be full again are dropped every
//! [`HOUSEKEEPING_EVERY`] requests, so a flood from many addresses costs memory only while it
//! lasts.

use std::net::{IpAddr, SocketAddr};
use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Requests between two sweeps of the quiet addresses' buckets.
const HOUSEKEEPING_EVERY: u64 = 4096;

/// The per-address limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Sustained requests per second per address.
    pub per_second: NonZeroU32,
    /// Requests an address may make at once before the rate applies.
    pub burst: NonZeroU32,
}

/// The limiter shared by the gateway's requests.
#[derive(Clone)]
pub(super) struct PerAddress {
    limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    clock: DefaultClock,
    seen: Arc<AtomicU64>,
}

impl PerAddress {
    pub(super) fn new(limit: RateLimit) -> Self {
        let quota = Quota::per_second(limit.per_second).allow_burst(limit.burst);
        PerAddress {
            limiter: Arc::new(RateLimiter::keyed(quota)),
            clock: DefaultClock::default(),
            seen: Arc::new(AtomicU64::new(0)),
        }
    }
}

/// Answers 429 to an address over its rate; requests whose address is unknown (a router
/// called in process) pass.
pub(super) async fn limit(State(l): State<PerAddress>, req: Request, next: Next) -> Response {
    if l.seen.fetch_add(1, Ordering::Relaxed) % HOUSEKEEPING_EVERY == HOUSEKEEPING_EVERY - 1 {
        l.limiter.retain_recent();
    }
    let address = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip());
    if let Some(ip) = address
        && let Err(not_until) = l.limiter.check_key(&ip)
    {
        let wait = not_until.wait_time_from(l.clock.now());
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        let mut r = (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "too many requests from this address (gateway.rate_limit_per_ip); retry later\n",
        )
            .into_response();
        if let Ok(v) = HeaderValue::from_str(&secs.max(1).to_string()) {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        return r;
    }
    next.run(req).await
}
