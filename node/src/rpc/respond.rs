//! Response helpers shared by the content commands: kubo's streaming headers, NDJSON bodies,
//! blocking store calls, multipart request bodies and path arguments.

use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use axum::body::{Body, BodyDataStream};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use chorus_protocol::unixfs::{parse_ipfs_path, resolve_path};
use chorus_storage::Cid;
use futures::{Stream, StreamExt};
use serde::Serialize;

use super::error::ApiError;
use super::upload_guard::{PartScanner, UploadLimitError, UploadLimits};
use crate::context::NodeContext;
use crate::fetch::FetcherSource;

/// An NDJSON body (one JSON object per line) with kubo's streaming headers.
pub(crate) fn ndjson<T: Serialize>(items: &[T]) -> Result<Response, ApiError> {
    let mut body = Vec::new();
    for item in items {
        serde_json::to_writer(&mut body, item).map_err(|e| ApiError::Internal {
            context: format!("encoding output: {e}"),
        })?;
        body.push(b'\n');
    }
    Ok(ndjson_body(Body::from(body)))
}

/// `body` as kubo's streamed JSON output: `application/json` with `X-Chunked-Output: 1`
/// (clients read it line by line).
pub(crate) fn ndjson_body(body: Body) -> Response {
    let mut r = body.into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert("x-chunked-output", HeaderValue::from_static("1"));
    r
}

/// A byte stream with kubo's `X-Stream-Output` header (cat, get, block/get, dag/export).
pub(crate) fn byte_stream<S>(stream: S, content_type: &'static str, len: Option<u64>) -> Response
where
    S: Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static,
{
    let mut r = Body::from_stream(stream).into_response();
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert("x-stream-output", HeaderValue::from_static("1"));
    if let Some(len) = len
        && let Ok(v) = HeaderValue::from_str(&len.to_string())
    {
        h.insert("x-content-length", v);
    }
    r
}

/// Runs a blocking store call off the async executor (the core's, with the API's errors).
pub(crate) use crate::core::blocking;

/// Bytes after the closing multipart boundary read (and discarded) so the connection can be
/// reused; anything longer is not a well-formed upload and the connection is closed instead.
const MAX_EPILOGUE: usize = 64 * 1024;

/// The request body shared between multer and the final drain, scanned by the
/// [`PartScanner`] on its way to multer.
#[derive(Clone)]
struct SharedBody(Arc<Mutex<GuardedBody>>);

struct GuardedBody {
    body: BodyDataStream,
    scanner: PartScanner,
    /// The scanner refused: the body ends here.
    refused: bool,
}

impl Stream for SharedBody {
    type Item = Result<Bytes, axum::Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let mut guarded = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        if guarded.refused {
            return Poll::Ready(None);
        }
        let next = Pin::new(&mut guarded.body).poll_next(cx);
        if let Poll::Ready(Some(Ok(chunk))) = &next
            && let Err(e) = guarded.scanner.feed(chunk)
        {
            guarded.refused = true;
            return Poll::Ready(Some(Err(axum::Error::new(e))));
        }
        next
    }
}

/// What is left of an upload after its multipart parts: drained before answering, because
/// multer stops at the closing boundary and an unread rest (epilogue, the chunked-encoding
/// terminator) would make the server drop a keep-alive connection clients then reuse.
pub(crate) struct UploadRest(SharedBody);

impl UploadRest {
    /// Reads the rest of the body (bounded by [`MAX_EPILOGUE`]).
    pub(crate) async fn drain(self) {
        let mut body = self.0;
        let mut seen = 0usize;
        while let Some(Ok(chunk)) = body.next().await {
            seen += chunk.len();
            if seen > MAX_EPILOGUE {
                break;
            }
        }
    }
}

/// The multipart reader of a request body within `limits`; any `multipart/*` type is accepted
/// (kubo clients send `form-data`, some older ones `mixed`), the boundary may be quoted. Call
/// [`UploadRest::drain`] once the parts are read.
pub(crate) fn multipart(
    headers: &HeaderMap,
    body: Body,
    limits: UploadLimits,
) -> Result<(multer::Multipart<'static>, UploadRest), ApiError> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .ok_or_else(|| ApiError::InvalidBody {
            reason: "expected a multipart body (no Content-Type)".to_owned(),
        })?;
    let boundary = boundary(ct).ok_or_else(|| ApiError::InvalidBody {
        reason: format!("expected a multipart body with a boundary, got {ct:?}"),
    })?;
    let shared = SharedBody(Arc::new(Mutex::new(GuardedBody {
        body: body.into_data_stream(),
        scanner: PartScanner::new(&boundary, limits),
        refused: false,
    })));
    Ok((
        multer::Multipart::new(shared.clone(), boundary),
        UploadRest(shared),
    ))
}

fn boundary(content_type: &str) -> Option<String> {
    let mut parts = content_type.split(';');
    let media = parts.next()?.trim().to_ascii_lowercase();
    if !media.starts_with("multipart/") {
        return None;
    }
    parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let v = v.trim().trim_matches('"');
        (!v.is_empty()).then(|| v.to_owned())
    })
}

/// Maps a multipart read failure to a 400.
pub(crate) fn body_error(e: multer::Error) -> ApiError {
    // The guard's refusal and the listener's body idle timeout reach multer as stream errors.
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&e);
    while let Some(c) = cause {
        if let Some(limit) = c.downcast_ref::<UploadLimitError>() {
            return ApiError::TooLarge {
                reason: limit.to_string(),
            };
        }
        if c.is::<tower_http::timeout::TimeoutError>() {
            return ApiError::RequestTimeout;
        }
        cause = c.source();
    }
    ApiError::InvalidBody {
        reason: e.to_string(),
    }
}

/// Decodes a multipart file name the way kubo does (`url.QueryUnescape`): `+` is a space.
pub(crate) fn decode_file_name(raw: &str) -> String {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// Resolves an `/ipfs/<cid>/path` (or bare `<cid>[/path]`) argument to the CID it names.
pub(crate) async fn resolve_arg(ctx: &NodeContext, name: &str, arg: &str) -> Result<Cid, ApiError> {
    let (root, segments) =
        parse_ipfs_path(arg.trim()).map_err(|e| ApiError::invalid(name, arg, e))?;
    let source = FetcherSource::new(ctx.fetcher());
    Ok(resolve_path(&source, &root, &segments).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boundaries() {
        assert_eq!(
            boundary("multipart/form-data; boundary=abc").as_deref(),
            Some("abc")
        );
        assert_eq!(
            boundary("multipart/form-data; boundary=\"a b:c\"").as_deref(),
            Some("a b:c")
        );
        assert_eq!(boundary("Multipart/Mixed;Boundary=x").as_deref(), Some("x"));
        assert_eq!(boundary("application/json"), None);
        assert_eq!(boundary("multipart/form-data"), None);
    }

    #[test]
    fn file_names() {
        assert_eq!(decode_file_name("dir%2Fa+b.txt"), "dir/a b.txt");
        assert_eq!(decode_file_name("x%2B1"), "x+1");
        assert_eq!(decode_file_name("plain"), "plain");
    }
}
