//! Binding a listener and serving a router until a shutdown signal, within [`HttpLimits`].

mod accept;
mod limits;

pub use limits::{
    DEFAULT_BODY_IDLE_TIMEOUT, DEFAULT_HEADER_TIMEOUT, DEFAULT_MAX_CONNECTIONS, HttpLimits,
};

use std::future::Future;
use std::io;
use std::net::SocketAddr;

use axum::Router;
use thiserror::Error;
use tokio::net::TcpListener;

/// Why a listener could not be bound. (Serving itself does not fail: a failed accept is
/// logged and retried, a failed connection ends that connection only.)
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Binding failed (address in use, permission, ...).
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        #[source]
        source: io::Error,
    },
}

/// A bound HTTP listener with its router, not yet serving.
///
/// Binding and serving are separate so the daemon can bind every listener (learning the real
/// ports when 0 was asked for), write `<repo>/api`, print "Daemon is ready", then serve.
pub struct HttpServer {
    listener: TcpListener,
    addr: SocketAddr,
    router: Router,
    limits: HttpLimits,
}

impl HttpServer {
    /// Binds `addr` (port 0 picks a free port); served within [`HttpLimits::default`] unless
    /// [`HttpServer::with_limits`] says otherwise.
    pub async fn bind(addr: SocketAddr, router: Router) -> Result<Self, ServeError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| ServeError::Bind { addr, source })?;
        let addr = listener
            .local_addr()
            .map_err(|source| ServeError::Bind { addr, source })?;
        Ok(HttpServer {
            listener,
            addr,
            router,
            limits: HttpLimits::default(),
        })
    }

    /// Serves within `limits` instead of the defaults.
    pub fn with_limits(mut self, limits: HttpLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The address actually bound.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` completes, then stops accepting and waits for in-flight
    /// requests to finish (streaming bodies included). Each connection runs in its own task:
    /// a caller that bounds the wait (`tokio::time::timeout`) and gives up leaves those tasks
    /// to end with the runtime (the daemon shuts its runtime down with a grace period).
    pub async fn serve(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        accept::serve(self.listener, self.router, self.limits, shutdown).await;
        Ok(())
    }
}
