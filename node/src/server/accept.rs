//! The accept loop behind [`super::HttpServer::serve`]: hyper's connection builder with a head
//! timeout, a semaphore capping open connections, request bodies under an idle timeout, and a
//! graceful shutdown that lets in-flight requests finish.
//!
//! axum's own `serve` exposes none of these knobs, so the loop is written here over
//! hyper-util's `auto` builder (HTTP/1.1 and h2c, as axum serves them).

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;
use tower_http::timeout::TimeoutBody;

use super::limits::{HttpLimits, MAX_REFUSALS_IN_FLIGHT, REFUSAL_WRITE_TIMEOUT};

/// The answer to a connection over the cap (kubo's status for rate limits).
const TOO_MANY: &[u8] = b"HTTP/1.1 429 Too Many Requests\r\n\
Content-Type: text/plain; charset=utf-8\r\nContent-Length: 32\r\nConnection: close\r\n\r\n\
too many connections, try again\n";

/// Serves `router` on `listener` within `limits` until `shutdown`, then waits for the open
/// connections' in-flight requests.
pub(super) async fn serve(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let refusals = Arc::new(Semaphore::new(MAX_REFUSALS_IN_FLIGHT));
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    let body_timeout = limits.body_idle_timeout;
    let service = router.map_request(move |req: hyper::Request<Incoming>| {
        req.map(|body| Body::new(TimeoutBody::new(body_timeout, body)))
    });
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    accept_failed(e).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            refuse(stream, peer, &refusals);
            continue;
        };
        let _ = stream.set_nodelay(true);
        // The client's address, for handlers that key on it (the gateway's rate limit).
        let service = service
            .clone()
            .map_request(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(ConnectInfo(peer));
                req
            });
        let conn = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), TowerToHyperService::new(service))
            .into_owned();
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::trace!(%peer, error = %e, "HTTP connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// Answers a connection over the cap with 429 and closes it, or just closes it when many
/// refusals are already being written.
fn refuse(mut stream: TcpStream, peer: SocketAddr, refusals: &Arc<Semaphore>) {
    tracing::debug!(%peer, "HTTP connection refused: at the connection limit");
    let Ok(permit) = refusals.clone().try_acquire_owned() else {
        return;
    };
    tokio::spawn(async move {
        let _ = tokio::time::timeout(REFUSAL_WRITE_TIMEOUT, async {
            stream.write_all(TOO_MANY).await?;
            stream.shutdown().await
        })
        .await;
        drop(permit);
    });
}

/// Accept errors are per connection (reset before accept) or a resource limit (out of file
/// descriptors): log, and for the latter give connections time to close before retrying.
async fn accept_failed(e: io::Error) {
    match e.kind() {
        io::ErrorKind::ConnectionAborted
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionRefused
        | io::ErrorKind::Interrupted => {
            tracing::trace!(error = %e, "accept failed");
        }
        _ => {
            tracing::warn!(error = %e, "accept failed; retrying in 100 ms");
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    }
}
