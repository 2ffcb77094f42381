//! NDJSON responses fed line by line by a running task (`track/add`, `pin/add?progress=true`),
//! or made by a blocking walk of the store and handed over in chunks (`pin/ls`, `refs/local`:
//! see [`blocking_stream`]).
//!
//! The task sends [`Frame`]s into a channel; the body hands them to hyper as they come. A
//! failure after the head went out cannot change the status any more, so, like kubo, the
//! stream ends with the error object as a last line and an `X-Stream-Error` trailer (read
//! by go-ipfs-cmds clients; JS clients see the line's `"Type":"error"`). Dropping the body
//! (the client left) closes the channel, which tells the task to stop.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::body::Body;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use axum::response::Response;
use bytes::Bytes;
use http_body::Frame;
use serde::Serialize;
use tokio::sync::mpsc;

use super::respond::ndjson_body;

/// kubo's trailer carrying an error that happened after the response started.
const STREAM_ERROR_HEADER: &str = "x-stream-error";

/// `value` as one NDJSON line.
pub(crate) fn encode_line<T: Serialize>(value: &T) -> Bytes {
    // Plain structs of strings and numbers always serialise.
    let mut line = serde_json::to_vec(value).unwrap_or_default();
    line.push(b'\n');
    Bytes::from(line)
}

/// The frames that end a failed stream: `error_line` (kubo's error object, encoded) and the
/// trailer carrying `message`.
pub(crate) fn error_frames(error_line: Bytes, message: &str) -> [Frame<Bytes>; 2] {
    let mut trailers = HeaderMap::new();
    if let Ok(v) = HeaderValue::from_str(&message.replace(['\r', '\n'], " ")) {
        trailers.insert(HeaderName::from_static(STREAM_ERROR_HEADER), v);
    }
    [Frame::data(error_line), Frame::trailers(trailers)]
}

/// A streamed NDJSON response: `first` line, then whatever arrives on `rx` until it closes.
pub(crate) fn streamed(first: Bytes, rx: mpsc::Receiver<Frame<Bytes>>) -> Response {
    let mut response = ndjson_body(Body::new(LineBody {
        first: Some(Frame::data(first)),
        rx,
    }));
    response
        .headers_mut()
        .insert(header::TRAILER, HeaderValue::from_static("X-Stream-Error"));
    response
}

/// The response body: the first line, then the task's frames.
struct LineBody {
    first: Option<Frame<Bytes>>,
    rx: mpsc::Receiver<Frame<Bytes>>,
}

impl http_body::Body for LineBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        if let Some(frame) = self.first.take() {
            return Poll::Ready(Some(Ok(frame)));
        }
        self.rx.poll_recv(cx).map(|f| f.map(Ok))
    }
}

/// Bytes a blocking producer gathers before handing them to the response (~1,000 lines).
const CHUNK_BYTES: usize = 64 * 1024;

/// Chunks waiting for a slow client: with [`CHUNK_BYTES`], at most 512 KiB buffered, so the
/// walk behind a stream is held back by the client, not buffered ahead of it.
const CHUNKS_IN_FLIGHT: usize = 8;

/// Where a blocking producer writes its output: gathered into [`CHUNK_BYTES`] chunks and sent
/// to the response, blocking while the client is behind.
pub(crate) struct ChunkSink {
    chunk: Vec<u8>,
    tx: mpsc::Sender<Frame<Bytes>>,
}

impl ChunkSink {
    /// Appends `bytes`; false once the client has gone (the producer should stop).
    pub(crate) fn write(&mut self, bytes: &[u8]) -> bool {
        self.chunk.extend_from_slice(bytes);
        if self.chunk.len() < CHUNK_BYTES {
            return true;
        }
        let full = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK_BYTES + 1024));
        self.tx
            .blocking_send(Frame::data(Bytes::from(full)))
            .is_ok()
    }

    fn finish(self, end: Result<(), (Bytes, String)>) {
        let ChunkSink { chunk, tx } = self;
        if !chunk.is_empty() && tx.blocking_send(Frame::data(Bytes::from(chunk))).is_err() {
            return;
        }
        if let Err((line, message)) = end {
            for frame in error_frames(line, &message) {
                if tx.blocking_send(frame).is_err() {
                    return;
                }
            }
        }
    }
}

/// A streamed response made on the blocking pool: `first` (may be empty), then what
/// `produce` writes to its [`ChunkSink`]. Memory stays at a few chunks whatever the size of
/// the output. An `Err((error line, message))` from `produce` ends the stream as a failed one
/// (the line, then the `X-Stream-Error` trailer).
pub(crate) fn blocking_stream<F>(first: Bytes, produce: F) -> Response
where
    F: FnOnce(&mut ChunkSink) -> Result<(), (Bytes, String)> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(CHUNKS_IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        let mut sink = ChunkSink {
            chunk: Vec::with_capacity(CHUNK_BYTES + 1024),
            tx,
        };
        let end = produce(&mut sink);
        sink.finish(end);
    });
    streamed(first, rx)
}
