//! Errors of one transcode, and the kinds that cross the worker process boundary.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A [`TranscodeConfig`](crate::TranscodeConfig) that cannot produce valid output.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// AAC-LC has no sampling frequency index for this rate.
    #[error("unsupported output sample rate {0} Hz")]
    SampleRate(u32),
    /// Only mono and stereo outputs are produced.
    #[error("unsupported output channel count {0} (1 or 2)")]
    Channels(u16),
    /// Segments shorter than a second make playlists huge and players stall.
    #[error("segment duration {0} ms is below 1000 ms")]
    SegmentDuration(u32),
    /// A track needs at least one HLS rendition.
    #[error("no renditions configured")]
    NoRenditions,
    /// The name becomes a directory, so it must be a plain `[a-z0-9_-]` word.
    #[error("invalid rendition name {0:?} (1-32 of [a-z0-9_-])")]
    RenditionName(String),
    /// Two renditions would write into the same directory.
    #[error("rendition name {0:?} used twice")]
    DuplicateRendition(String),
    /// The AAC encoder cannot reach (or go below) this rate.
    #[error("rendition {name}: bit rate {bitrate} outside 16000..={max}")]
    Bitrate {
        /// Rendition name.
        name: String,
        /// Requested bit rate.
        bitrate: u32,
        /// Highest rate the encoder reaches at this sample rate and channel count.
        max: u64,
    },
    /// MP3 cannot carry this sample rate.
    #[error("the MP3 download cannot use sample rate {0} Hz")]
    Mp3SampleRate(u32),
    /// Outside the MPEG Layer III bit rates.
    #[error("MP3 bit rate {0} outside 32000..=320000")]
    Mp3Bitrate(u32),
    /// A zero limit would refuse every input.
    #[error("max duration must be positive")]
    MaxDuration,
}

/// Why one transcode failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TranscodeError {
    /// The settings are unusable.
    #[error("invalid transcode settings: {0}")]
    Config(#[from] ConfigError),
    /// The input file cannot be read.
    #[error("cannot read input {path}: {source}")]
    Input {
        /// Input path.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// The input file has no bytes.
    #[error("input {path} is empty")]
    Empty {
        /// Input path.
        path: PathBuf,
    },
    /// The input file exceeds the size limit.
    #[error("input {path} is {size} bytes, above the limit of {max}")]
    TooLarge {
        /// Input path.
        path: PathBuf,
        /// File size in bytes.
        size: u64,
        /// Configured limit.
        max: u64,
    },
    /// The input plays longer than the duration limit.
    #[error("input lasts {duration:.1} s, above the limit of {max} s")]
    TooLong {
        /// Duration found (declared, or decoded so far).
        duration: f64,
        /// Configured limit in seconds.
        max: u64,
    },
    /// No allowed demuxer recognises the file (not media, or an unsupported container).
    #[error("input {path} is not a recognised audio file: {source}")]
    Unrecognized {
        /// Input path.
        path: PathBuf,
        /// libav's error.
        source: ffmpeg_next::Error,
    },
    /// The container holds no audio stream.
    #[error("input {path} has no audio stream")]
    NoAudioStream {
        /// Input path.
        path: PathBuf,
    },
    /// The audio codec has no decoder here, or it refuses the stream's parameters.
    #[error("cannot decode {codec} audio: {source}")]
    Unsupported {
        /// Codec name.
        codec: String,
        /// libav's error.
        source: ffmpeg_next::Error,
    },
    /// The stream's parameters are outside what any real audio uses: a header that claims a
    /// sample rate of two gigahertz would make the resampler spend seconds of CPU and a large
    /// filter on ten kilobytes of input.
    #[error(
        "cannot transcode {codec} audio at {sample_rate} Hz with {channels} channels \
         (accepted: {min_rate}..={max_rate} Hz, 1..={max_channels} channels)"
    )]
    OutOfRange {
        /// Codec name.
        codec: String,
        /// Declared sample rate.
        sample_rate: u32,
        /// Declared channels.
        channels: u16,
        /// Lowest accepted rate.
        min_rate: u32,
        /// Highest accepted rate.
        max_rate: u32,
        /// Most accepted channels.
        max_channels: u16,
    },
    /// The audio data is damaged beyond the decode error budget.
    #[error("input is corrupt at {position:.2} s ({errors} decode errors): {source}")]
    Corrupt {
        /// Decoded time in seconds when the budget ran out.
        position: f64,
        /// Errors seen.
        errors: u32,
        /// The last libav error.
        source: ffmpeg_next::Error,
    },
    /// The file ends before its header says it should.
    #[error("input is truncated: header declares {declared:.2} s, only {decoded:.2} s decoded")]
    Truncated {
        /// Duration from the container header.
        declared: f64,
        /// Duration actually decoded.
        decoded: f64,
    },
    /// The audio stream decodes to no samples at all.
    #[error("input {path} contains no audio samples")]
    NoAudio {
        /// Input path.
        path: PathBuf,
    },
    /// An output file cannot be written.
    #[error("cannot write {path}: {source}")]
    Output {
        /// Output path.
        path: PathBuf,
        /// Underlying error.
        source: std::io::Error,
    },
    /// libav failed while resampling, encoding or muxing (not the input's fault).
    #[error("{stage} failed: {source}")]
    Encode {
        /// Pipeline stage, e.g. `"aac encoder 320k"`.
        stage: String,
        /// libav's error.
        source: ffmpeg_next::Error,
    },
    /// The transcoder itself failed (an encoder thread could not start or panicked).
    #[error("transcoder failure: {0}")]
    Internal(String),
}

impl TranscodeError {
    /// The serialisable category of this error.
    pub fn kind(&self) -> FailureKind {
        match self {
            Self::Config(_) => FailureKind::Config,
            Self::Input { .. } => FailureKind::Input,
            Self::Empty { .. } => FailureKind::Empty,
            Self::TooLarge { .. } => FailureKind::TooLarge,
            Self::TooLong { .. } => FailureKind::TooLong,
            Self::Unrecognized { .. } => FailureKind::Unrecognized,
            Self::NoAudioStream { .. } => FailureKind::NoAudioStream,
            Self::Unsupported { .. } | Self::OutOfRange { .. } => FailureKind::Unsupported,
            Self::Corrupt { .. } => FailureKind::Corrupt,
            Self::Truncated { .. } => FailureKind::Truncated,
            Self::NoAudio { .. } => FailureKind::NoAudio,
            Self::Output { .. } => FailureKind::Output,
            Self::Encode { .. } => FailureKind::Encode,
            Self::Internal(_) => FailureKind::Internal,
        }
    }

    /// Shorthand for a libav failure in a named pipeline stage.
    pub(crate) fn encode(stage: impl Into<String>, source: ffmpeg_next::Error) -> Self {
        Self::Encode {
            stage: stage.into(),
            source,
        }
    }
}

/// The category of a failed transcode; what the worker reports across the process boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum FailureKind {
    /// See [`TranscodeError::Config`].
    Config,
    /// See [`TranscodeError::Input`].
    Input,
    /// See [`TranscodeError::Empty`].
    Empty,
    /// See [`TranscodeError::TooLarge`].
    TooLarge,
    /// See [`TranscodeError::TooLong`].
    TooLong,
    /// See [`TranscodeError::Unrecognized`].
    Unrecognized,
    /// See [`TranscodeError::NoAudioStream`].
    NoAudioStream,
    /// See [`TranscodeError::Unsupported`].
    Unsupported,
    /// See [`TranscodeError::Corrupt`].
    Corrupt,
    /// See [`TranscodeError::Truncated`].
    Truncated,
    /// See [`TranscodeError::NoAudio`].
    NoAudio,
    /// See [`TranscodeError::Output`].
    Output,
    /// See [`TranscodeError::Encode`].
    Encode,
    /// The worker panicked or could not understand its job.
    Internal,
}

impl FailureKind {
    /// True when the input itself is at fault (the uploader should get a 4xx-style answer).
    pub fn is_bad_input(self) -> bool {
        matches!(
            self,
            Self::Empty
                | Self::TooLarge
                | Self::TooLong
                | Self::Unrecognized
                | Self::NoAudioStream
                | Self::Unsupported
                | Self::Corrupt
                | Self::Truncated
                | Self::NoAudio
        )
    }
}
