//! The bounds every HTTP listener (API, gateway, metrics) holds its clients to.
//!
//! Go's `http.Server`, as kubo runs it, has none of these by default: a client that opens
//! thousands of connections and sends half a header on each keeps them all. Each default is
//! named with its origin and its worst case.

use std::time::Duration;

/// Open connections per listener. Each costs a task and its buffers (a few KiB idle, up to
/// hyper's 400 KiB header buffer while a request head is read), so 1,024 cost at most
/// ~400 MiB, all sending headers at once. A community node's gateway behind a reverse proxy
/// sees far fewer (the proxy pools them).
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Time to send a request's head, which is also the longest a keep-alive connection idles
/// between requests (hyper's timer starts when it waits for a head). nginx's
/// `client_header_timeout` is 60 s; an honest client sends its head in milliseconds.
pub const DEFAULT_HEADER_TIMEOUT: Duration = Duration::from_secs(30);
/// Time a request body may go without a byte while the server waits for it; then the
/// request fails with 408. nginx's `client_body_timeout` is 60 s.
pub const DEFAULT_BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Connections refused at once while their 429 is written; past this, further ones are
/// closed without an answer (a flood must not turn into a pile of refusal tasks).
pub(crate) const MAX_REFUSALS_IN_FLIGHT: usize = 64;
/// Time to write a refusal before the connection is dropped.
pub(crate) const REFUSAL_WRITE_TIMEOUT: Duration = Duration::from_secs(2);

/// The bounds of one HTTP listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Connections served at once; one more is answered `429 Too Many Requests` and closed.
    pub max_connections: usize,
    /// Time to send a request head (and longest keep-alive idle); then the connection closes.
    pub header_timeout: Duration,
    /// Time a request body may send nothing while it is read; then 408.
    pub body_idle_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: DEFAULT_MAX_CONNECTIONS,
            header_timeout: DEFAULT_HEADER_TIMEOUT,
            body_idle_timeout: DEFAULT_BODY_IDLE_TIMEOUT,
        }
    }
}
