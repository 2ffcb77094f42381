//! `/api/v0/pin/{add,rm,ls}` with kubo's JSON shapes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use chorus_storage::Cid;
use http_body::Frame;
use serde::Serialize;
use tokio::sync::mpsc;
use tokio::time::{self, Instant, MissedTickBehavior};

use super::args::Args;
use super::error::{ApiError, ErrorBody};
use super::line_stream::{blocking_stream, encode_line, error_frames, streamed};
use super::replication::replicate;
use super::respond::{ndjson, resolve_arg};
use crate::context::NodeContext;
use crate::core::{PinFilter, PinList, PinLsError, UnpinError};

#[derive(Debug, Serialize)]
struct PinsOut {
    #[serde(rename = "Pins")]
    pins: Vec<String>,
}

async fn args_cids(ctx: &NodeContext, args: &Args) -> Result<Vec<Cid>, ApiError> {
    if args.positional().is_empty() {
        return Err(ApiError::MissingArgument { name: "ipfs-path" });
    }
    let mut out = Vec::new();
    for a in args.positional() {
        out.push(resolve_arg(ctx, "ipfs-path", a).await?);
    }
    Ok(out)
}

/// kubo's `pin/add` output line: the pinned roots, or, with `progress=true`, the number of
/// blocks walked so far (both omitted when empty, as kubo does).
#[derive(Debug, Default, Serialize)]
struct AddPinOut {
    #[serde(rename = "Pins", skip_serializing_if = "Vec::is_empty")]
    pins: Vec<String>,
    #[serde(rename = "Progress", skip_serializing_if = "is_zero")]
    progress: u64,
    /// With replication on, the nodes holding each root durably (kubo clients ignore it).
    #[serde(rename = "Holders", skip_serializing_if = "BTreeMap::is_empty")]
    holders: BTreeMap<String, Vec<String>>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl AddPinOut {
    fn progress(visited: &AtomicU64) -> Self {
        Self {
            progress: visited.load(Ordering::Relaxed),
            ..Self::default()
        }
    }

    /// kubo's last lines: the final count (when any), then the pins (`done`).
    fn finished(done: Self, visited: &AtomicU64) -> Vec<Self> {
        let last = Self::progress(visited);
        let mut lines = Vec::with_capacity(2);
        if last.progress != 0 {
            lines.push(last);
        }
        lines.push(done);
        lines
    }
}

/// How often `pin add --progress` reports (kubo's ticker).
const PROGRESS_INTERVAL: Duration = Duration::from_millis(500);
/// Lines buffered towards a slow client; progress lines past this are dropped, never the
/// walk stalled.
const LINE_BUFFER: usize = 16;

pub(crate) async fn add(State(ctx): State<NodeContext>, args: Args) -> Result<Response, ApiError> {
    let recursive = args.bool("recursive", true)?;
    let progress = args.bool("progress", false)?;
    let cids = args_cids(&ctx, &args).await?;
    if progress {
        return add_with_progress(ctx, cids, recursive).await;
    }
    ndjson(&[pin_all(&ctx, &cids, recursive, &AtomicU64::new(0)).await?])
}

/// Fetches (when online) and pins `cids`, counting the blocks walked into `visited`; the
/// final line.
async fn pin_all(
    ctx: &NodeContext,
    cids: &[Cid],
    recursive: bool,
    visited: &AtomicU64,
) -> Result<AddPinOut, ApiError> {
    ctx.core().pin(cids, recursive, visited).await?;
    // With replication on, a recursive pin is answered once W nodes hold each root.
    let mut holders = BTreeMap::new();
    if recursive {
        let roots: Vec<(Cid, u64)> = cids.iter().map(|c| (*c, 0)).collect();
        for (cid, peers) in replicate(ctx, &roots).await? {
            holders.insert(cid.to_string(), peers);
        }
    }
    Ok(AddPinOut {
        pins: cids.iter().map(Cid::to_string).collect(),
        holders,
        ..AddPinOut::default()
    })
}

/// `pin add --progress`, as kubo streams it: a `{"Progress":N}` line every 500 ms while the
/// DAGs are walked, then the final count and `{"Pins":[…]}`. An outcome before the first tick
/// is an ordinary response, so an early error keeps its HTTP status; a later one ends the
/// stream (see [`super::line_stream`]). A client that leaves cancels the walk.
async fn add_with_progress(
    ctx: NodeContext,
    cids: Vec<Cid>,
    recursive: bool,
) -> Result<Response, ApiError> {
    let visited = Arc::new(AtomicU64::new(0));
    let counter = visited.clone();
    let mut job = Box::pin(async move { pin_all(&ctx, &cids, recursive, &counter).await });
    let mut ticker = time::interval_at(Instant::now() + PROGRESS_INTERVAL, PROGRESS_INTERVAL);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    tokio::select! {
        result = &mut job => return ndjson(&AddPinOut::finished(result?, &visited)),
        _ = ticker.tick() => {}
    }
    let first = encode_line(&AddPinOut::progress(&visited));
    let (tx, rx) = mpsc::channel(LINE_BUFFER);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                result = &mut job => {
                    let frames: Vec<Frame<Bytes>> = match result {
                        Ok(done) => AddPinOut::finished(done, &visited)
                            .iter()
                            .map(|line| Frame::data(encode_line(line)))
                            .collect(),
                        Err(error) => stream_error(&error).into(),
                    };
                    for frame in frames {
                        if tx.send(frame).await.is_err() {
                            return;
                        }
                    }
                    return;
                }
                _ = ticker.tick() => {
                    let line = Frame::data(encode_line(&AddPinOut::progress(&visited)));
                    if let Err(mpsc::error::TrySendError::Closed(_)) = tx.try_send(line) {
                        return;
                    }
                }
                // Returning drops the walk, which withdraws its wants.
                () = tx.closed() => return,
            }
        }
    });
    Ok(streamed(first, rx))
}

/// The frames ending a `pin add --progress` stream that failed after it started.
fn stream_error(error: &ApiError) -> [Frame<Bytes>; 2] {
    let (line, message) = error_line(error, "pin/add");
    error_frames(line, &message)
}

/// kubo's error object for `command`'s stream that failed after it started, encoded, and its
/// message (logged when the failure is the node's).
fn error_line(error: &ApiError, command: &str) -> (Bytes, String) {
    let (status, code) = error.status_and_code();
    if status.is_server_error() {
        tracing::warn!(error = %error, "{command} failed");
    }
    let message = error.to_string();
    let line = encode_line(&ErrorBody {
        message: message.clone(),
        code: code as u8,
        kind: "error",
    });
    (line, message)
}

/// A `pin ls` failure as the API answers it.
fn pin_ls_error(e: PinLsError) -> ApiError {
    match e {
        PinLsError::Core(e) => ApiError::Core(*e),
        refused => ApiError::Failed(refused.to_string()),
    }
}

pub(crate) async fn rm(State(ctx): State<NodeContext>, args: Args) -> Result<Response, ApiError> {
    let recursive = args.bool("recursive", true)?;
    let cids = args_cids(&ctx, &args).await?;
    let removed = ctx
        .core()
        .unpin(cids, recursive)
        .await
        .map_err(|e| match e {
            UnpinError::Core(e) => ApiError::Core(e),
            refused => ApiError::Failed(refused.to_string()),
        })?;
    ndjson(&[PinsOut {
        pins: removed.iter().map(Cid::to_string).collect(),
    }])
}

#[derive(Debug, Serialize)]
struct PinType {
    #[serde(rename = "Type")]
    kind: String,
}

#[derive(Debug, Serialize)]
struct KeysOut {
    #[serde(rename = "Keys")]
    keys: BTreeMap<String, PinType>,
}

#[derive(Debug, Serialize)]
struct StreamLine {
    #[serde(rename = "Cid")]
    cid: String,
    #[serde(rename = "Type")]
    kind: String,
}

pub(crate) async fn ls(State(ctx): State<NodeContext>, args: Args) -> Result<Response, ApiError> {
    let kind = args.option("type").unwrap_or("all");
    let filter = PinFilter::from_name(kind)
        .ok_or_else(|| ApiError::invalid("type", kind, "use all, direct, recursive or indirect"))?;
    let stream = args.bool("stream", false)?;
    if args.positional().is_empty() {
        // The whole pin set: streamed from a blocking walk, in memory that does not grow with
        // the rows (millions at Audius's scale).
        let rows = ctx.core().pin_list(filter).map_err(pin_ls_error)?;
        return Ok(stream_pins(rows, stream));
    }
    let mut wanted = Vec::new();
    for a in args.positional() {
        wanted.push((a.clone(), resolve_arg(&ctx, "ipfs-path", a).await?));
    }
    let entries = ctx
        .core()
        .pins(filter, wanted)
        .await
        .map_err(pin_ls_error)?;
    if stream {
        let lines: Vec<StreamLine> = entries
            .into_iter()
            .map(|(c, k)| StreamLine {
                cid: c.to_string(),
                kind: k,
            })
            .collect();
        return ndjson(&lines);
    }
    ndjson(&[KeysOut {
        keys: entries
            .into_iter()
            .map(|(c, k)| (c.to_string(), PinType { kind: k }))
            .collect(),
    }])
}

/// `pin ls` of the whole pin set: one `{"Cid","Type"}` line per pin with `stream`, else kubo's
/// single `{"Keys":{"<cid>":{"Type":…},…}}` object, written as the rows come.
fn stream_pins(rows: PinList, stream: bool) -> Response {
    let first = if stream { "" } else { "{\"Keys\":{" };
    blocking_stream(Bytes::from_static(first.as_bytes()), move |sink| {
        let mut out = Vec::with_capacity(128);
        for (i, row) in rows.enumerate() {
            let (cid, kind) = row.map_err(|e| error_line(&pin_ls_error(e), "pin/ls"))?;
            out.clear();
            if stream {
                out.extend_from_slice(&encode_line(&StreamLine {
                    cid: cid.to_string(),
                    kind: kind.to_owned(),
                }));
            } else {
                if i > 0 {
                    out.push(b',');
                }
                // A CID's text is base32 or base58: nothing to escape.
                out.extend_from_slice(format!("\"{cid}\":{{\"Type\":\"{kind}\"}}").as_bytes());
            }
            if !sink.write(&out) {
                return Ok(());
            }
        }
        if !stream {
            sink.write(b"}}\n");
        }
        Ok(())
    })
}
