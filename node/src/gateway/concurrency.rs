//! The gateway's bound on requests in progress (kubo's `Gateway.MaxConcurrentRequests`): one
//! more is answered `429 Too Many Requests` with `Retry-After`, at once, instead of queueing
//! behind the others. A request counts until its response body has been sent (or the client
//! left): a slow stream holds its slot.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Seconds a refused client is told to wait: long enough to let a few streams finish.
const RETRY_AFTER_SECS: &str = "5";

/// Slots for requests in progress.
#[derive(Clone)]
pub(super) struct Slots(Arc<Semaphore>);

impl Slots {
    pub(super) fn new(max: usize) -> Self {
        Slots(Arc::new(Semaphore::new(max)))
    }
}

/// Takes a slot for the request and holds it in the response body; 429 when none is free.
pub(super) async fn limit(State(slots): State<Slots>, req: Request, next: Next) -> Response {
    let Ok(permit) = slots.0.clone().try_acquire_owned() else {
        let mut refused = (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            "too many requests in progress (gateway.max_concurrent_requests); retry later\n",
        )
            .into_response();
        refused.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from_static(RETRY_AFTER_SECS),
        );
        return refused;
    };
    let (parts, body) = next.run(req).await.into_parts();
    Response::from_parts(
        parts,
        Body::new(Holding {
            inner: body,
            _permit: permit,
        }),
    )
}

/// A body that keeps its request's slot until it ends or is dropped.
struct Holding {
    inner: Body,
    _permit: OwnedSemaphorePermit,
}

impl http_body::Body for Holding {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
