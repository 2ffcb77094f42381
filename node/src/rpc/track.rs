//! `/api/v0/track/add`: multipart upload of one audio file → transcoded, stored, pinned track
//! directory, with progress as NDJSON lines.
//!
//! The upload is spooled to a file (refused with 413 past the service's size limit), then the
//! [`TrackService`](crate::TrackService) transcodes and stores it while this handler streams
//! `{"Stage":…}` progress lines and a final `{"Name","Cid","Size","Duration"}` line. A failure
//! before the first line is an ordinary HTTP error (400 for bad input, 413 too large, 503
//! busy, 500 otherwise); after it, the stream ends with kubo's error object as a line
//! (`{"Message","Code","Type":"error"}`, plus `Kind`) and an `X-Stream-Error` trailer.
//!
//! Blocks are written through a GC session and pinned through the same session, so a failed
//! or cancelled import pins nothing and a concurrent GC never removes half a track. A client
//! that disconnects cancels the job (its worker is killed).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::{Extension, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chorus_storage::Cid;
use http_body::Frame;
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use super::args::Args;
use super::error::{ApiError, ErrorCode};
use super::line_stream::{encode_line, error_frames, streamed};
use super::respond::{body_error, decode_file_name, multipart};
use super::upload_guard::UploadLimits;
use crate::context::NodeContext;
use crate::core::{Commit, Consent, CoreError, Writer};
use crate::track::{
    TRACK_PROGRESS_CAPACITY, TrackAdded, TrackError, TrackErrorKind, TrackProgress, TrackRequest,
};
use chorus_chain::relay::Registration;

/// Lines buffered towards a slow client; progress lines beyond this are dropped (the final
/// line and errors always wait for room), so a stalled reader never stalls the worker.
const LINE_BUFFER: usize = 32;
/// Bytes of an oversized upload still read (and discarded) after the limit is hit, so the
/// client receives the 413 instead of a connection reset; past this the connection is cut.
const MAX_DISCARD_BYTES: u64 = 256 * 1024 * 1024;
/// Longest uploaded file name kept (for `source.<ext>` and messages).
const MAX_NAME_CHARS: usize = 255;

/// One NDJSON line of `track/add`.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum TrackLine {
    Progress {
        #[serde(rename = "Stage")]
        stage: &'static str,
        #[serde(rename = "Percent")]
        percent: u8,
        #[serde(rename = "Seconds", skip_serializing_if = "Option::is_none")]
        seconds: Option<f64>,
    },
    Done {
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "Cid")]
        cid: String,
        /// kubo sends cumulative DAG sizes as strings.
        #[serde(rename = "Size")]
        size: String,
        #[serde(rename = "Duration")]
        duration: f64,
        /// With replication on, the nodes holding the track durably.
        #[serde(rename = "Holders", skip_serializing_if = "Option::is_none")]
        holders: Option<Vec<String>>,
    },
}

/// kubo's error object, plus the track error's category.
#[derive(Debug, Serialize)]
struct ErrorLine {
    #[serde(rename = "Message")]
    message: String,
    #[serde(rename = "Code")]
    code: u8,
    #[serde(rename = "Type")]
    kind: &'static str,
    #[serde(rename = "Kind")]
    track_kind: &'static str,
}

impl ErrorLine {
    fn new(error: &TrackError) -> Self {
        let code = if error.kind.is_client_error() {
            ErrorCode::Client
        } else {
            ErrorCode::Normal
        };
        Self {
            message: error.message.clone(),
            code: code as u8,
            kind: "error",
            track_kind: error.kind.as_str(),
        }
    }
}

/// What the job task reports to the response: a line, or the error that ends the stream.
enum Event {
    Line(TrackLine),
    Failed(TrackError),
}

/// The HTTP status of a track error that happens before the response starts.
fn status_of(kind: TrackErrorKind) -> StatusCode {
    match kind {
        TrackErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        TrackErrorKind::Busy => StatusCode::SERVICE_UNAVAILABLE,
        TrackErrorKind::Refused => StatusCode::FORBIDDEN,
        k if k.is_client_error() => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

fn error_response(error: &TrackError) -> Response {
    let status = status_of(error.kind);
    if status.is_server_error() {
        tracing::warn!(error = %error, "track/add failed");
    }
    (status, axum::Json(ErrorLine::new(error))).into_response()
}

/// Extra rendition bit rates from every `rendition=` value (repeatable, or comma-separated).
fn renditions(query: &str) -> Result<Vec<u32>, ApiError> {
    let mut kbps = Vec::new();
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        if key != "rendition" {
            continue;
        }
        for item in value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
            let rate = item
                .trim_end_matches(['k', 'K'])
                .parse::<u32>()
                .map_err(|e| ApiError::invalid("rendition", item, e))?;
            kbps.push(rate);
        }
    }
    Ok(kbps)
}

/// The last path component of an uploaded name, without control characters.
fn upload_name(raw: &str) -> String {
    let decoded = decode_file_name(raw);
    let base = decoded
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_NAME_CHARS)
        .collect::<String>();
    if base.is_empty() || base == "." || base == ".." {
        "upload".to_owned()
    } else {
        base
    }
}

/// A fresh directory for one upload, removed (with whatever is left in it) on drop.
struct SpoolDir(PathBuf);

impl SpoolDir {
    fn create(parent: &Path) -> std::io::Result<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        std::fs::create_dir_all(parent)?;
        loop {
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let dir = parent.join(format!("upload-{}-{n}", std::process::id()));
            match std::fs::create_dir(&dir) {
                Ok(()) => return Ok(Self(dir)),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// A file name inside the spool directory that keeps the upload's extension (libav's
    /// probe uses it as a hint) and nothing else of the client's choosing.
    fn file_for(&self, name: &str) -> PathBuf {
        let ext = Path::new(name)
            .extension()
            .and_then(|e| e.to_str())
            .filter(|e| {
                !e.is_empty() && e.len() <= 16 && e.chars().all(|c| c.is_ascii_alphanumeric())
            })
            .map(|e| format!(".{}", e.to_ascii_lowercase()))
            .unwrap_or_default();
        // The stem stays too when it is plain ASCII, so worker fault switches in tests can
        // target one upload by name.
        let stem = Path::new(name)
            .file_stem()
            .and_then(|s| s.to_str())
            .filter(|s| {
                !s.is_empty()
                    && s.len() <= 64
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
            })
            .unwrap_or("upload");
        self.0.join(format!("{stem}{ext}"))
    }
}

impl Drop for SpoolDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %self.0.display(), error = %e, "cannot remove track upload spool");
        }
    }
}

/// The spooled upload.
struct Upload {
    dir: SpoolDir,
    path: PathBuf,
    name: String,
}

/// Reads the single file part into a spool file, refusing more than `max` bytes.
async fn spool(
    spool_root: &Path,
    headers: &HeaderMap,
    body: Body,
    limits: UploadLimits,
    max: u64,
) -> Result<Upload, Response> {
    let (mut parts, rest) =
        multipart(headers, body, limits).map_err(IntoResponse::into_response)?;
    let mut upload: Option<Upload> = None;
    while let Some(mut field) = parts
        .next_field()
        .await
        .map_err(|e| body_error(e).into_response())?
    {
        if upload.is_some() {
            return Err(ApiError::InvalidBody {
                reason: "track/add takes exactly one file part".to_owned(),
            }
            .into_response());
        }
        let name = upload_name(field.file_name().unwrap_or_default());
        let dir = SpoolDir::create(spool_root).map_err(|e| {
            ApiError::Failed(format!(
                "cannot create the upload spool in {}: {e}",
                spool_root.display()
            ))
            .into_response()
        })?;
        let path = dir.file_for(&name);
        let io_err = |e: std::io::Error| {
            ApiError::Failed(format!("cannot spool the upload {name:?}: {e}")).into_response()
        };
        let mut file = tokio::fs::File::create(&path).await.map_err(io_err)?;
        let mut total = 0u64;
        while let Some(chunk) = field
            .chunk()
            .await
            .map_err(|e| body_error(e).into_response())?
        {
            total += chunk.len() as u64;
            if total > max {
                drop(file);
                drop(dir);
                let error = TrackError::new(
                    TrackErrorKind::TooLarge,
                    format!("{name} is larger than the limit of {max} bytes"),
                );
                // Read on a little so the client sees the 413, not a reset.
                let mut discarded = total;
                while discarded < max.saturating_add(MAX_DISCARD_BYTES) {
                    match field.chunk().await {
                        Ok(Some(c)) => discarded += c.len() as u64,
                        _ => break,
                    }
                }
                drop(field);
                drop(parts);
                rest.drain().await;
                return Err(error_response(&error));
            }
            file.write_all(&chunk).await.map_err(io_err)?;
        }
        // Every byte handed to the kernel before the worker (another process) opens the file;
        // no fsync: the spool is scratch, a crash loses the job anyway.
        file.flush().await.map_err(io_err)?;
        upload = Some(Upload { dir, path, name });
    }
    drop(parts);
    rest.drain().await;
    upload.ok_or_else(|| {
        ApiError::InvalidBody {
            reason: "track/add needs one file part".to_owned(),
        }
        .into_response()
    })
}

/// A job's options from the request.
struct JobOptions {
    /// Extra rendition bit rates.
    extra: Vec<u32>,
    /// Pin the track.
    pin: bool,
    /// Send progress lines.
    progress: bool,
    /// The upload's consent (checked at the commit).
    consent: Consent,
}

/// Runs the import, turning progress and the outcome into events; stops (dropping, hence
/// cancelling, the job) as soon as nobody listens.
async fn run_job(
    ctx: NodeContext,
    service: std::sync::Arc<dyn crate::track::TrackService>,
    upload: Upload,
    options: JobOptions,
    events: mpsc::Sender<Event>,
) {
    let JobOptions {
        extra,
        pin,
        progress,
        consent,
    } = options;
    let writer = ctx.core().writer();
    let request = TrackRequest {
        source: upload.path.clone(),
        name: upload.name.clone(),
        extra_renditions_kbps: extra,
        store: writer.store().clone(),
    };
    let (progress_tx, mut progress_rx) = mpsc::channel(TRACK_PROGRESS_CAPACITY);
    let mut job = service.import(request, progress_tx);
    let result = loop {
        tokio::select! {
            result = &mut job => break result,
            Some(p) = progress_rx.recv() => {
                if !progress {
                    continue;
                }
                let line = match p {
                    TrackProgress::Transcoding { percent, decoded_secs } => TrackLine::Progress {
                        stage: "transcoding",
                        percent,
                        seconds: Some(decoded_secs),
                    },
                    TrackProgress::Storing => TrackLine::Progress {
                        stage: "storing",
                        percent: 100,
                        seconds: None,
                    },
                };
                // A slow reader loses progress lines, never the job.
                if let Err(mpsc::error::TrySendError::Closed(_)) =
                    events.try_send(Event::Line(line))
                {
                    tracing::debug!(name = %upload.name, "track/add client gone; cancelling");
                    return;
                }
            }
            () = events.closed() => {
                tracing::debug!(name = %upload.name, "track/add client gone; cancelling");
                return;
            }
        }
    };
    // The spool is no longer needed once the job ended.
    drop(job);
    drop(upload.dir);
    let event = match result {
        Ok(added) => match finish(&ctx, writer, &added, pin, consent).await {
            Ok(holders) => Event::Line(TrackLine::Done {
                name: upload.name,
                cid: added.root.to_string(),
                size: added.tsize.to_string(),
                duration: added.duration,
                holders,
            }),
            Err(e) => Event::Failed(e),
        },
        Err(e) => Event::Failed(e),
    };
    let _ = events.send(event).await;
}

/// Pins the stored track through the writer that protected its blocks and makes it durable
/// (the final line goes out only after this), then announces it; with replication on, waits
/// for W nodes to hold a pinned track and returns them.
async fn finish(
    ctx: &NodeContext,
    writer: Writer,
    added: &TrackAdded,
    pin: bool,
    consent: Consent,
) -> Result<Option<Vec<String>>, TrackError> {
    let root: Cid = added.root;
    let commit = if pin {
        Commit::pin_and_announce(&[root])
    } else {
        Commit::announce_only(&[root])
    };
    // A track registers its source (what the artist signed) and its root together.
    let registration = match added.source {
        Some(source) => Registration::Track {
            source: source.to_string(),
            track: root.to_string(),
        },
        None => Registration::File {
            cid: root.to_string(),
        },
    };
    writer
        .commit(commit.upload(consent, registration))
        .await
        .map_err(|e| match e {
            CoreError::Refused(r) => TrackError::new(TrackErrorKind::Refused, r.to_string()),
            e => TrackError::new(
                TrackErrorKind::Internal,
                format!("cannot store track {root}: {e}"),
            ),
        })?;
    if !pin {
        return Ok(None);
    }
    super::replication::replicate(ctx, &[(root, added.tsize)])
        .await
        .map(|mut holders| holders.remove(&root))
        .map_err(|e| TrackError::new(TrackErrorKind::Internal, e.to_string()))
}

pub(crate) async fn add(
    State(ctx): State<NodeContext>,
    RawQuery(query): RawQuery,
    Extension(limits): Extension<UploadLimits>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let query = query.unwrap_or_default();
    let args = Args::parse(&query);
    let pin = args.bool("pin", true)?;
    let progress = args.bool("progress", true)?;
    let extra = renditions(&query)?;
    let Some(service) = ctx.track_service() else {
        return Err(ApiError::Failed(
            "this node has no transcoder: track/add needs a chorus daemon".to_owned(),
        ));
    };
    // Refused before the upload is spooled when its consent cannot pass.
    let consent = super::chain::consent(&ctx, &args)?;
    let upload = match spool(
        service.spool_dir(),
        &headers,
        body,
        limits,
        service.max_input_bytes(),
    )
    .await
    {
        Ok(upload) => upload,
        Err(response) => return Ok(response),
    };
    let (events_tx, mut events_rx) = mpsc::channel(LINE_BUFFER);
    let options = JobOptions {
        extra,
        pin,
        progress,
        consent,
    };
    tokio::spawn(run_job(ctx, service, upload, options, events_tx));

    // Hold the response head until the first event: an error before any progress is a plain
    // HTTP error with a meaningful status.
    let first = match events_rx.recv().await {
        Some(Event::Line(line)) => encode_line(&line),
        Some(Event::Failed(error)) => return Ok(error_response(&error)),
        None => {
            return Err(ApiError::Internal {
                context: "running the track import".to_owned(),
            });
        }
    };
    let (frames_tx, frames_rx) = mpsc::channel(LINE_BUFFER);
    tokio::spawn(async move {
        loop {
            // A client that goes away while the job is quiet (e.g. a hung worker) is noticed
            // here: dropping `events_rx` makes the job task cancel the job.
            let event = tokio::select! {
                event = events_rx.recv() => match event {
                    Some(event) => event,
                    None => return,
                },
                () = frames_tx.closed() => return,
            };
            let frames = match event {
                Event::Line(line) => vec![Frame::data(encode_line(&line))],
                Event::Failed(error) => {
                    tracing::warn!(error = %error, "track/add failed");
                    error_frames(encode_line(&ErrorLine::new(&error)), &error.message).into()
                }
            };
            for frame in frames {
                if frames_tx.send(frame).await.is_err() {
                    // The client left: dropping `events_rx` cancels the job.
                    return;
                }
            }
        }
    });
    Ok(streamed(first, frames_rx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rendition_args() {
        assert_eq!(
            renditions("rendition=128&pin=true&rendition=64k,96").unwrap(),
            [128, 64, 96]
        );
        assert!(renditions("").unwrap().is_empty());
        assert!(renditions("rendition=loud").is_err());
    }

    #[test]
    fn upload_names_are_base_names() {
        assert_eq!(upload_name("dir%2Fsong+1.wav"), "song 1.wav");
        assert_eq!(upload_name("../.."), "upload");
        assert_eq!(upload_name(""), "upload");
        assert_eq!(upload_name("a\u{7}b.mp3"), "ab.mp3");
    }

    #[test]
    fn spool_files_keep_a_safe_name() {
        let root = tempfile::tempdir().unwrap();
        let dir = SpoolDir::create(root.path()).unwrap();
        let path = dir.0.clone();
        assert_eq!(dir.file_for("crash-me.WAV"), path.join("crash-me.wav"));
        assert_eq!(dir.file_for("my song.flac"), path.join("upload.flac"));
        assert_eq!(dir.file_for("noext"), path.join("noext"));
        assert_eq!(dir.file_for("x.ta r"), path.join("x"));
        drop(dir);
        assert!(!path.exists());
    }

    #[test]
    fn statuses_follow_blame() {
        assert_eq!(
            status_of(TrackErrorKind::TooLarge),
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(status_of(TrackErrorKind::NotAudio), StatusCode::BAD_REQUEST);
        assert_eq!(
            status_of(TrackErrorKind::WorkerCrashed),
            StatusCode::INTERNAL_SERVER_ERROR
        );
        assert_eq!(
            status_of(TrackErrorKind::Busy),
            StatusCode::SERVICE_UNAVAILABLE
        );
    }
}
