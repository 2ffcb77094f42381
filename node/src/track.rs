//! The seam between the RPC's `/api/v0/track/add` and whoever transcodes: the node spools the
//! upload, streams progress and pins the result; a [`TrackService`] (the binary's worker pool)
//! turns the spooled file into a stored track directory.
//!
//! The node cannot depend on the transcoder (it links libav, and the dependency direction is
//! storage ← protocol ← node ← bin), so the binary implements this trait and installs it with
//! [`CoreBuilder::track_service`](crate::core::CoreBuilder::track_service).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chorus_storage::{Blockstore, Cid};
use futures::future::BoxFuture;
use tokio::sync::mpsc;

/// Progress events buffered between a service and the response stream: the worker reports a
/// few times per second and the client reads as fast as lines come, so 16 absorbs a slow
/// reader without ever blocking the job (a full channel drops a report).
pub const TRACK_PROGRESS_CAPACITY: usize = 16;

/// One track import: the spooled upload and how to transcode it.
#[derive(Clone)]
pub struct TrackRequest {
    /// The uploaded source, spooled to a file the service may read, move or delete (its
    /// directory is removed by the node once the import ends).
    pub source: PathBuf,
    /// The name the uploader gave the file (its extension names `source.<ext>`; messages use
    /// it instead of the spool path).
    pub name: String,
    /// Extra HLS renditions in kbps, on top of the service's configured defaults.
    pub extra_renditions_kbps: Vec<u32>,
    /// Where every block goes: a GC-protecting session store; the node pins the returned root
    /// through the same session, so no block of the track is ever unprotected.
    pub store: Arc<dyn Blockstore>,
}

impl std::fmt::Debug for TrackRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TrackRequest")
            .field("source", &self.source)
            .field("name", &self.name)
            .field("extra_renditions_kbps", &self.extra_renditions_kbps)
            .finish_non_exhaustive()
    }
}

/// A step of a track import, streamed to the client as an NDJSON line.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum TrackProgress {
    /// The worker decoded `decoded_secs` of audio, `percent` of the source's duration.
    Transcoding {
        /// 0..=100, from decoded time over the declared duration.
        percent: u8,
        /// Seconds of audio decoded so far.
        decoded_secs: f64,
    },
    /// The outputs are complete and are being written to the store.
    Storing,
}

/// A stored track.
#[derive(Debug, Clone, PartialEq)]
pub struct TrackAdded {
    /// Root CID of the track directory.
    pub root: Cid,
    /// Cumulative DAG size of the directory (kubo's `Size` of an `add` line).
    pub tsize: u64,
    /// Playing time of the source in seconds.
    pub duration: f64,
    /// The source audio's CID (as `add` with the node's import settings computes it): what an
    /// artist signs for a track.
    pub source: Option<Cid>,
}

/// Why a track was not stored, in categories a client can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum TrackErrorKind {
    /// The options are invalid (e.g. a rendition out of range).
    InvalidOptions,
    /// The upload is empty.
    Empty,
    /// The upload is not audio any allowed demuxer and decoder reads.
    NotAudio,
    /// The audio is damaged or truncated.
    Corrupt,
    /// The audio plays longer than the configured limit.
    TooLong,
    /// The upload is larger than the configured limit.
    TooLarge,
    /// The worker process died (a codec crash): the daemon is unaffected.
    WorkerCrashed,
    /// The job ran past the per-job timeout; its worker was killed.
    TimedOut,
    /// Too many jobs are waiting for a worker.
    Busy,
    /// The upload's signature was refused (see `chain/upload-request`): nothing was stored.
    Refused,
    /// Anything else (storage failure, a bug).
    Internal,
}

impl TrackErrorKind {
    /// The machine-readable name clients see in the error line's `Kind` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidOptions => "invalid_options",
            Self::Empty => "empty",
            Self::NotAudio => "not_audio",
            Self::Corrupt => "corrupt",
            Self::TooLong => "too_long",
            Self::TooLarge => "too_large",
            Self::WorkerCrashed => "worker_crashed",
            Self::TimedOut => "timed_out",
            Self::Busy => "busy",
            Self::Refused => "refused",
            Self::Internal => "internal",
        }
    }

    /// Whether the uploader's input (or options) is at fault, as opposed to the node.
    pub fn is_client_error(self) -> bool {
        matches!(
            self,
            Self::InvalidOptions
                | Self::Empty
                | Self::NotAudio
                | Self::Corrupt
                | Self::TooLong
                | Self::TooLarge
        )
    }
}

/// A failed track import: a category and a message naming the upload.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct TrackError {
    /// The category.
    pub kind: TrackErrorKind,
    /// Human-readable reason, naming the uploaded file rather than the spool path.
    pub message: String,
}

impl TrackError {
    /// An error of `kind`.
    pub fn new(kind: TrackErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// Turns a spooled upload into a stored track directory; implemented by the binary over its
/// transcoder worker pool.
///
/// Cancel-safety: dropping the returned future must stop the job (kill its worker) and leave
/// no temporary files; blocks already written stay unpinned and are collected by GC.
pub trait TrackService: Send + Sync + 'static {
    /// Largest upload accepted, in bytes; the RPC refuses larger bodies with 413 while
    /// spooling, before any transcoding.
    fn max_input_bytes(&self) -> u64;

    /// Directory the RPC spools uploads into (one fresh subdirectory per upload, removed when
    /// the import ends); on the same file system as the repo so large uploads do not fill a
    /// small `/tmp`.
    fn spool_dir(&self) -> &Path;

    /// Transcodes `request.source`, writes the track directory's blocks to `request.store`
    /// and returns its root; sends progress on `progress` (a full or closed channel only
    /// drops reports, never fails the job).
    fn import(
        &self,
        request: TrackRequest,
        progress: mpsc::Sender<TrackProgress>,
    ) -> BoxFuture<'_, Result<TrackAdded, TrackError>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_have_stable_names_and_blame() {
        assert_eq!(TrackErrorKind::NotAudio.as_str(), "not_audio");
        assert!(TrackErrorKind::TooLong.is_client_error());
        assert!(!TrackErrorKind::WorkerCrashed.is_client_error());
        assert!(!TrackErrorKind::TimedOut.is_client_error());
        let e = TrackError::new(TrackErrorKind::Corrupt, "x.mp3 is truncated");
        assert_eq!(e.to_string(), "x.mp3 is truncated");
    }
}
