//! Middleware that records request count, time to first byte, duration and bytes sent for every
//! response of a listener, by route pattern.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;

use crate::metrics::{Face, FaceLabels, HttpMetrics, RequestLabels, RouteLabels};

/// Route label for requests that matched no route (kept constant to bound cardinality).
const UNMATCHED_ROUTE: &str = "unmatched";

/// State of the tracking middleware: which listener, which families.
#[derive(Clone)]
pub(crate) struct Tracker {
    pub(crate) face: Face,
    pub(crate) metrics: HttpMetrics,
}

/// Records the request; the response body is wrapped so its bytes and the end of the transfer
/// are observed when the body finishes or is dropped (client gone).
pub(crate) async fn track(State(tracker): State<Tracker>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let face = tracker.face.as_str();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| UNMATCHED_ROUTE.to_owned());
    let method = req.method().as_str().to_owned();
    let in_flight = tracker
        .metrics
        .in_flight
        .get_or_create_owned(&FaceLabels { face });
    in_flight.inc();

    let response = next.run(req).await;

    let route_labels = RouteLabels {
        face,
        route: route.clone(),
    };
    tracker
        .metrics
        .ttfb
        .get_or_create(&route_labels)
        .observe(started.elapsed().as_secs_f64());
    tracker
        .metrics
        .requests
        .get_or_create(&RequestLabels {
            face,
            route,
            method,
            status: response.status().as_u16(),
        })
        .inc();
    let done = Done {
        started,
        duration: tracker.metrics.duration.get_or_create_owned(&route_labels),
        sent: tracker
            .metrics
            .sent_bytes
            .get_or_create_owned(&route_labels),
        in_flight,
    };
    let (parts, body) = response.into_parts();
    Response::from_parts(
        parts,
        Body::new(CountingBody {
            inner: body,
            done: Some(done),
        }),
    )
}

/// What to record once the body ends.
struct Done {
    started: Instant,
    duration: Histogram,
    sent: Counter,
    in_flight: Gauge,
}

impl Drop for Done {
    fn drop(&mut self) {
        self.duration.observe(self.started.elapsed().as_secs_f64());
        self.in_flight.dec();
    }
}

/// A body that counts data bytes as they are polled.
struct CountingBody {
    inner: Body,
    done: Option<Done>,
}

impl http_body::Body for CountingBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let (Some(data), Some(done)) = (frame.data_ref(), &this.done) {
                    done.sent.inc_by(data.len() as u64);
                }
            }
            // End of body or a body error: the transfer is over, record it now rather than
            // when hyper drops the body.
            Poll::Ready(None) | Poll::Ready(Some(Err(_))) => {
                this.done = None;
            }
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
