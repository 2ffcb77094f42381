//! The read-only HTTP gateway: `GET|HEAD /ipfs/<cid>[/<path>]` as deserialized UnixFS (path
//! gateway) or as verifiable raw blocks and CARs (trustless gateway).

mod car;
mod concurrency;
mod conditional;
mod config;
mod content_type;
mod error;
mod hls;
mod listing;
mod player;
mod range;
mod rate_limit;
mod request;

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::from_fn_with_state;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chorus_protocol::unixfs::{
    ListLimits, NodeKind, ReadError, UnixfsFile, list_directory, lookup,
};
use chorus_storage::{Block, Cid, codec};
use futures::TryStreamExt;

pub use conditional::{IMMUTABLE_CACHE_CONTROL, if_none_match_matches};
pub use config::{DEFAULT_MAX_CONCURRENT_REQUESTS, DEFAULT_RETRIEVAL_TIMEOUT, GatewayConfig};
pub use content_type::{from_extension, sniff};
pub use error::GatewayError;
pub use hls::{
    DEFAULT_SEGMENTS_AHEAD as DEFAULT_HLS_SEGMENTS_AHEAD, MAX_SESSIONS as MAX_HLS_SESSIONS,
};
pub use player::{HLSJS_BUNDLE, HLSJS_BUNDLE_NAME, hlsjs_version};
pub use range::{RangeOutcome, parse_range};
pub use rate_limit::RateLimit;
pub use request::{
    CAR_MEDIA_TYPE, CarParams, ContentPath, DagScope, EntityBytes, RAW_MEDIA_TYPE, ResponseFormat,
    negotiate,
};

use crate::context::NodeContext;
use crate::fetch::FetcherSource;
use crate::http_metrics::{Tracker, track};
use crate::metrics::Face;
use car::{CarJob, Recorder};
use conditional::fnv1a;

/// Parses `text` as the HLS look-ahead parses a playlist it serves (for the fuzz target).
#[cfg(fuzzing)]
pub(crate) fn fuzz_hls_playlist(text: &str) {
    let _ = hls::parse_playlist(text);
}

#[derive(Clone)]
struct GatewayState {
    ctx: NodeContext,
    config: GatewayConfig,
    lookahead: Option<hls::LookAhead>,
}

/// Builds the gateway listener's router.
pub fn router(ctx: NodeContext, config: GatewayConfig) -> Router {
    let tracker = Tracker {
        face: Face::Gateway,
        metrics: ctx.metrics().http.clone(),
    };
    let limited = config.max_concurrent_requests > 0;
    let per_address = config.rate_limit.map(rate_limit::PerAddress::new);
    let slots = concurrency::Slots::new(config.max_concurrent_requests.max(1));
    let lookahead = (config.hls_segments_ahead > 0).then(|| {
        hls::LookAhead::new(
            ctx.fetcher(),
            ctx.metrics().hls.clone(),
            config.hls_segments_ahead,
            config.retrieval_timeout,
        )
    });
    // A player page starts the look-ahead of its track (unless the track is delisted).
    let on_player_page = lookahead.clone().map(|l| {
        let ctx = ctx.clone();
        Arc::new(move |root: Cid| {
            if delisted(&ctx, &[root]).is_ok() {
                l.on_player_page(root);
            }
        }) as player::PageHook
    });
    let router = Router::new()
        .route("/ipfs/{*path}", get(serve_ipfs).options(preflight))
        .route("/ipfs", get(missing_cid))
        .route("/ipfs/", get(missing_cid))
        .merge(player::routes(on_player_page))
        .fallback(not_found)
        .with_state(GatewayState {
            ctx,
            config,
            lookahead,
        });
    // Refusals are counted too: the tracker is the outer layer. The per-address rate comes
    // before the slots, so a greedy client does not take them.
    let router = if limited {
        router.layer(from_fn_with_state(slots, concurrency::limit))
    } else {
        router
    };
    let router = match per_address {
        Some(l) => router.layer(from_fn_with_state(l, rate_limit::limit)),
        None => router,
    };
    router.layer(from_fn_with_state(tracker, track))
}

async fn missing_cid() -> GatewayError {
    GatewayError::BadRequest("missing CID: use /ipfs/<cid>[/<path>]".to_owned())
}

async fn not_found() -> GatewayError {
    GatewayError::NotFound("not found: this gateway serves /ipfs/<cid>[/<path>]".to_owned())
}

/// CORS preflight: players on other origins (hls.js) send `Range`.
async fn preflight() -> Response {
    let mut r = StatusCode::NO_CONTENT.into_response();
    let h = r.headers_mut();
    cors(h);
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static("GET, HEAD, OPTIONS"),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("Range, Accept, If-None-Match, Content-Type"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from_static("86400"),
    );
    r
}

fn cors(h: &mut HeaderMap) {
    h.insert(
        header::ACCESS_CONTROL_ALLOW_ORIGIN,
        HeaderValue::from_static("*"),
    );
    h.insert(
        header::ACCESS_CONTROL_EXPOSE_HEADERS,
        HeaderValue::from_static(
            "Content-Range, Content-Length, Accept-Ranges, X-Ipfs-Path, X-Ipfs-Roots, ETag",
        ),
    );
}

/// The terminal of a resolved content path.
struct Resolved {
    path: ContentPath,
    /// CIDs of the root and of each segment's target (`X-Ipfs-Roots`).
    roots: Vec<Cid>,
    /// The CID the path names.
    terminal: Cid,
    /// The raw URL path (`X-Ipfs-Path`).
    url_path: String,
    /// `?filename=`: the name for `Content-Disposition` (and the content type).
    filename: Option<String>,
    /// `?download=true`: `attachment` instead of `inline`.
    download: bool,
}

impl Resolved {
    /// Headers every successful `/ipfs` response carries.
    fn common_headers(&self, h: &mut HeaderMap, etag: &str) {
        cors(h);
        set(h, header::ETAG, etag);
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(IMMUTABLE_CACHE_CONTROL),
        );
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        set(h, "x-ipfs-path", &self.url_path);
        let roots: Vec<String> = self.roots.iter().map(Cid::to_string).collect();
        set(h, "x-ipfs-roots", &roots.join(","));
    }
}

/// `?filename=` and `?download=` of the path-gateway spec.
fn download_params(query: Option<&str>) -> (Option<String>, bool) {
    let mut filename = None;
    let mut download = false;
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match &*k {
            "filename" if !v.is_empty() => filename = Some(v.into_owned()),
            "download" => download = v == "true",
            _ => {}
        }
    }
    (filename, download)
}

/// `Content-Disposition` with an ASCII fallback and the RFC 6266 UTF-8 form of `name`.
fn content_disposition(kind: &str, name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded = percent_encoding::utf8_percent_encode(name, percent_encoding::NON_ALPHANUMERIC);
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

fn set<K: header::IntoHeaderName>(h: &mut HeaderMap, name: K, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

fn not_modified(headers: &HeaderMap, etag: &str) -> bool {
    headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| if_none_match_matches(v, etag))
}

/// 451 when the chain delisted any of `cids`.
fn delisted(ctx: &NodeContext, cids: &[Cid]) -> Result<(), GatewayError> {
    let Some(chain) = ctx.core().chain() else {
        return Ok(());
    };
    match cids.iter().find(|c| chain.is_delisted(c)) {
        Some(cid) => Err(GatewayError::Delisted(format!(
            "{cid} was delisted by its owner on chain"
        ))),
        None => Ok(()),
    }
}

async fn serve_ipfs(
    State(state): State<GatewayState>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, GatewayError> {
    let timeout = state.config.retrieval_timeout;
    match tokio::time::timeout(timeout, respond(state, method, uri, headers)).await {
        Ok(result) => result,
        Err(_) => Err(GatewayError::Timeout(format!(
            "content could not be retrieved within {timeout:?}"
        ))),
    }
}

async fn respond(
    state: GatewayState,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, GatewayError> {
    let url_path = uri.path().to_owned();
    let rest = url_path.strip_prefix("/ipfs/").unwrap_or_default();
    let path = ContentPath::parse(rest).map_err(|e| GatewayError::BadRequest(e.0))?;
    let format = negotiate(uri.query(), &headers).map_err(|e| GatewayError::BadRequest(e.0))?;
    if state.config.trustless_only && format == ResponseFormat::Unixfs {
        return Err(GatewayError::BadRequest(format!(
            "this is a trustless gateway: request ?format=raw or ?format=car \
             (Accept: {RAW_MEDIA_TYPE} or {CAR_MEDIA_TYPE})"
        )));
    }
    // Content its owner delisted on chain is refused before anything is fetched.
    delisted(&state.ctx, &[path.root])?;
    let source = FetcherSource::new(state.ctx.fetcher().clone());
    let recorder = Recorder::new(source.clone());
    let mut roots = vec![path.root];
    let mut terminal = path.root;
    for seg in &path.segments {
        terminal = lookup(&recorder, &terminal, seg)
            .await
            .map_err(GatewayError::from_read)?;
        roots.push(terminal);
    }
    // And through a path: a delisted CID is refused under any directory that holds it.
    delisted(&state.ctx, &roots[1..])?;
    let (filename, download) = download_params(uri.query());
    let resolved = Resolved {
        path,
        roots,
        terminal,
        url_path: url_path.clone(),
        filename,
        download,
    };
    if let (Some(lookahead), ResponseFormat::Unixfs, &Method::GET) =
        (&state.lookahead, &format, &method)
    {
        lookahead.on_request(&resolved.path.segments, &resolved.roots);
    }
    let block = source
        .fetcher()
        .fetch(terminal)
        .await
        .map_err(|e| GatewayError::from_fetch(&e))?;
    let limits = state.ctx.core().list_limits();
    match format {
        ResponseFormat::Raw => Ok(raw_response(&resolved, block, &headers)),
        ResponseFormat::Car(params) => Ok(car_response(
            resolved,
            recorder.drain(),
            block,
            params,
            source,
            limits,
            &headers,
        )),
        ResponseFormat::Unixfs => {
            unixfs_response(resolved, block, source, limits, &method, &uri, &headers).await
        }
    }
}

fn raw_response(resolved: &Resolved, block: Block, req: &HeaderMap) -> Response {
    let cid = *block.cid();
    let etag = format!("\"{cid}.raw\"");
    let mut r = if not_modified(req, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let len = block.len();
        let mut r = Body::from(block.data().clone()).into_response();
        set(r.headers_mut(), header::CONTENT_LENGTH, &len.to_string());
        r
    };
    let h = r.headers_mut();
    resolved.common_headers(h, &etag);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(RAW_MEDIA_TYPE),
    );
    match &resolved.filename {
        Some(name) => set(
            h,
            header::CONTENT_DISPOSITION,
            &content_disposition("attachment", name),
        ),
        None => set(
            h,
            header::CONTENT_DISPOSITION,
            &format!("attachment; filename=\"{cid}.bin\""),
        ),
    }
    r
}

fn car_response(
    resolved: Resolved,
    path_blocks: Vec<Block>,
    terminal: Block,
    params: CarParams,
    source: FetcherSource,
    limits: ListLimits,
    req: &HeaderMap,
) -> Response {
    let root = resolved.path.root;
    let digest = fnv1a(&[&resolved.path.display(), &params.tag()]);
    let etag = format!("W/\"{root}.car.{digest:016x}\"");
    let content_type = format!(
        "{CAR_MEDIA_TYPE}; version=1; order=dfs; dups={}",
        if params.dups { "y" } else { "n" }
    );
    let mut r = if not_modified(req, &etag) {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let stream = car::spawn(CarJob {
            root,
            path_blocks,
            terminal,
            params,
            source,
            limits,
        });
        Body::from_stream(stream).into_response()
    };
    let h = r.headers_mut();
    resolved.common_headers(h, &etag);
    set(h, header::CONTENT_TYPE, &content_type);
    match &resolved.filename {
        Some(name) => set(
            h,
            header::CONTENT_DISPOSITION,
            &content_disposition("attachment", name),
        ),
        None => set(
            h,
            header::CONTENT_DISPOSITION,
            &format!("attachment; filename=\"{root}.car\""),
        ),
    }
    r
}

async fn unixfs_response(
    resolved: Resolved,
    block: Block,
    source: FetcherSource,
    limits: ListLimits,
    method: &Method,
    uri: &Uri,
    req: &HeaderMap,
) -> Result<Response, GatewayError> {
    let cid = *block.cid();
    if cid.codec() != codec::DAG_PB && cid.codec() != codec::RAW {
        return Err(GatewayError::unsupported_codec(&cid));
    }
    match UnixfsFile::from_block(block) {
        Ok(file) => {
            let name = resolved.path.segments.last().cloned().unwrap_or_default();
            file_response(&resolved, file, &name, source, method, req).await
        }
        Err(ReadError::NotAFile {
            kind: NodeKind::Directory | NodeKind::HamtShard,
            ..
        }) => directory_response(resolved, source, limits, method, uri, req).await,
        Err(ReadError::NotAFile {
            kind: NodeKind::Symlink,
            ..
        }) => Err(GatewayError::NotImplemented(format!(
            "{cid} is a symlink; the gateway does not follow symlinks"
        ))),
        Err(e) => Err(GatewayError::from_read(e)),
    }
}

async fn directory_response(
    resolved: Resolved,
    source: FetcherSource,
    limits: ListLimits,
    method: &Method,
    uri: &Uri,
    req: &HeaderMap,
) -> Result<Response, GatewayError> {
    let dir = resolved.terminal;
    if !resolved.path.trailing_slash {
        // Relative links in index.html and in the listing need the trailing slash.
        let mut location = format!("{}/", uri.path());
        if let Some(q) = uri.query() {
            location.push('?');
            location.push_str(q);
        }
        let mut r = StatusCode::MOVED_PERMANENTLY.into_response();
        set(r.headers_mut(), header::LOCATION, &location);
        cors(r.headers_mut());
        return Ok(r);
    }
    match lookup(&source, &dir, "index.html").await {
        Ok(index) => {
            let block = source
                .fetcher()
                .fetch(index)
                .await
                .map_err(|e| GatewayError::from_fetch(&e))?;
            let file = UnixfsFile::from_block(block).map_err(GatewayError::from_read)?;
            return file_response(&resolved, file, "index.html", source, method, req).await;
        }
        Err(ReadError::NotFound { .. }) => {}
        Err(e) => return Err(GatewayError::from_read(e)),
    }
    let etag = format!("\"DirIndex-{dir}\"");
    if not_modified(req, &etag) {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        resolved.common_headers(r.headers_mut(), &etag);
        return Ok(r);
    }
    let entries = list_directory(&source, &dir, limits)
        .await
        .map_err(GatewayError::from_read)?;
    let html = listing::render(uri.path(), &entries);
    let len = html.len();
    let mut r = html.into_response();
    let h = r.headers_mut();
    resolved.common_headers(h, &etag);
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    set(h, header::CONTENT_LENGTH, &len.to_string());
    Ok(r)
}

async fn file_response(
    resolved: &Resolved,
    file: UnixfsFile,
    name: &str,
    source: FetcherSource,
    method: &Method,
    req: &HeaderMap,
) -> Result<Response, GatewayError> {
    let etag = format!("\"{}\"", file.cid());
    if not_modified(req, &etag) {
        let mut r = StatusCode::NOT_MODIFIED.into_response();
        resolved.common_headers(r.headers_mut(), &etag);
        return Ok(r);
    }
    let size = file.size();
    let name = resolved.filename.as_deref().unwrap_or(name);
    let content_type = match from_extension(name) {
        Some(t) => t,
        None => {
            let head: Vec<Bytes> = file
                .read(source.clone(), 0, Some(content_type::SNIFF_LEN as u64))
                .try_collect()
                .await
                .map_err(GatewayError::from_read)?;
            sniff(&head.concat()).to_owned()
        }
    };
    let range = parse_range(req.get(header::RANGE).and_then(|v| v.to_str().ok()), size);
    let (status, start, len) = match range {
        RangeOutcome::Full => (StatusCode::OK, 0, size),
        RangeOutcome::Partial { start, end } => {
            (StatusCode::PARTIAL_CONTENT, start, end - start + 1)
        }
        RangeOutcome::Unsatisfiable => {
            let mut r = GatewayError::RangeNotSatisfiable { size }.into_response();
            cors(r.headers_mut());
            return Ok(r);
        }
    };
    let body = if *method == Method::HEAD || len == 0 {
        Body::empty()
    } else {
        let cid = *file.cid();
        Body::from_stream(file.read(source, start, Some(len)).map_err(move |e| {
            // The status line and headers are gone: the client sees a body cut short, so
            // the reason is only here.
            tracing::warn!(%cid, error = %e, "gateway response cut off mid-body");
            std::io::Error::other(e.to_string())
        }))
    };
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    resolved.common_headers(h, &etag);
    set(h, header::CONTENT_TYPE, &content_type);
    set(h, header::CONTENT_LENGTH, &len.to_string());
    h.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if let Some(filename) = &resolved.filename {
        let kind = if resolved.download {
            "attachment"
        } else {
            "inline"
        };
        set(
            h,
            header::CONTENT_DISPOSITION,
            &content_disposition(kind, filename),
        );
    }
    if status == StatusCode::PARTIAL_CONTENT {
        set(
            h,
            header::CONTENT_RANGE,
            &format!("bytes {}-{}/{size}", start, start + len - 1),
        );
    }
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn download_parameters() {
        assert_eq!(
            download_params(Some("filename=a%20b.mp3&download=true")),
            (Some("a b.mp3".to_owned()), true)
        );
        assert_eq!(download_params(Some("filename=&download=1")), (None, false));
        assert_eq!(download_params(None), (None, false));
        assert_eq!(
            content_disposition("inline", "a \"b\".mp3"),
            "inline; filename=\"a _b_.mp3\"; filename*=UTF-8''a%20%22b%22%2Emp3"
        );
        assert_eq!(
            content_disposition("attachment", "é.txt"),
            "attachment; filename=\"_.txt\"; filename*=UTF-8''%C3%A9%2Etxt"
        );
    }
}
