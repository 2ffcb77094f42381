//! Chorus's media layer: any uploaded audio file becomes an HLS stream, an MP3 download and a
//! `track.json`, ready to be stored as one UnixFS directory.
//!
//! - [`transcode`] runs the libav pipeline in the current process (tests, the worker).
//! - [`worker_main`] is the body of the hidden `chorus transcode-worker` subcommand: one job
//!   as JSON on stdin, progress and result as JSON lines on stdout.
//! - [`WorkerPool`] runs jobs in such worker processes, so a codec crash or hang costs one
//!   job, never the daemon.
//!
//! Outputs are deterministic: the same input bytes and [`TranscodeConfig`] give the same
//! output bytes (bit-exact encoders and muxers, no timestamps or version strings).

#![warn(missing_docs)]

mod av;
mod config;
mod encode;
mod encoder_thread;
mod error;
mod fifo;
mod hls;
mod metrics;
mod mp3;
mod pipeline;
mod playlist;
mod pool;
mod resample;
pub mod sandbox;
mod track;
mod worker;

pub use config::{
    DEFAULT_BITRATE, DEFAULT_CHANNELS, DEFAULT_MAX_DECODE_ERRORS, DEFAULT_MAX_DURATION_SECS,
    DEFAULT_MAX_INPUT_BYTES, DEFAULT_MAX_MEMORY_BYTES, DEFAULT_MP3_BITRATE, DEFAULT_SAMPLE_RATE,
    DEFAULT_SEGMENT_MILLIS, Rendition, TranscodeConfig,
};
pub use error::{ConfigError, FailureKind, TranscodeError};
pub use metrics::{Outcome, PoolMetrics};
pub use pipeline::{Progress, TranscodeStats, Transcoded, transcode};
pub use playlist::{master_playlist, media_playlist};
pub use pool::{
    DEFAULT_JOB_TIMEOUT, DEFAULT_QUEUE, DEFAULT_WORKERS, JobError, PoolConfig, WorkerCommand,
    WorkerPool,
};
pub use track::{
    AAC_LC_CODECS, DOWNLOAD_MP3, DownloadInfo, MASTER_PLAYLIST, MEDIA_PLAYLIST, RenditionInfo,
    SegmentInfo, SourceInfo, TRACK_FORMAT_VERSION, TRACK_JSON, TrackInfo,
};
pub use worker::{
    EXIT_BAD_JOB, EXIT_FAILED, EXIT_NO_OUTPUT, EXIT_OK, FAULT_ENV, Job, WorkerMessage, worker_main,
};
