//! `track.json`: the machine-readable description of a transcoded track.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::TranscodeError;

/// Version of the `track.json` layout; bumped on incompatible changes.
pub const TRACK_FORMAT_VERSION: u32 = 1;
/// File name of the track description inside the output directory.
pub const TRACK_JSON: &str = "track.json";
/// File name of the master playlist inside the output directory.
pub const MASTER_PLAYLIST: &str = "master.m3u8";
/// File name of each rendition's media playlist inside its directory.
pub const MEDIA_PLAYLIST: &str = "index.m3u8";
/// File name of the MP3 download inside the output directory.
pub const DOWNLOAD_MP3: &str = "download.mp3";
/// RFC 6381 codec string of AAC-LC, used in the master playlist.
pub const AAC_LC_CODECS: &str = "mp4a.40.2";

/// What a transcode produced; serialised as `track.json`.
///
/// Everything here is derived from the input bytes and the settings, so it is deterministic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackInfo {
    /// Layout version, [`TRACK_FORMAT_VERSION`].
    pub version: u32,
    /// CID of the uploaded source file; filled in by the caller that stores it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_cid: Option<String>,
    /// Playing time of the decoded source in seconds.
    pub duration: f64,
    /// The source as found in the input file.
    pub source: SourceInfo,
    /// Output sample rate in Hz.
    pub sample_rate: u32,
    /// Output channel count.
    pub channels: u16,
    /// HLS renditions, in master playlist order.
    pub renditions: Vec<RenditionInfo>,
    /// The MP3 download, when configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download: Option<DownloadInfo>,
}

/// The input's audio stream.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// libav's container (demuxer) name, e.g. `wav` or `mov,mp4,m4a,3gp,3g2,mj2`.
    pub container: String,
    /// libav's codec name, e.g. `flac`.
    pub codec: String,
    /// Source sample rate in Hz.
    pub sample_rate: u32,
    /// Source channel count.
    pub channels: u16,
    /// Declared bit rate in bits per second, when the container states one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bitrate: Option<u64>,
    /// Input file size in bytes.
    pub size: u64,
}

/// One HLS rendition's files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RenditionInfo {
    /// Directory name.
    pub name: String,
    /// Configured AAC bit rate in bits per second.
    pub bitrate: u32,
    /// Peak segment bit rate including MPEG-TS overhead (the master playlist's `BANDWIDTH`).
    pub peak_bandwidth: u64,
    /// Average bit rate over all segments (`AVERAGE-BANDWIDTH`).
    pub average_bandwidth: u64,
    /// RFC 6381 codecs string.
    pub codecs: String,
    /// Media playlist path relative to the output directory.
    pub playlist: String,
    /// Segments in playback order.
    pub segments: Vec<SegmentInfo>,
}

/// One MPEG-TS segment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentInfo {
    /// Path relative to the output directory.
    pub path: String,
    /// Duration in seconds (the playlist's `EXTINF`).
    pub duration: f64,
    /// Duration in output samples, exact.
    pub samples: u64,
    /// File size in bytes.
    pub size: u64,
}

/// The downloadable MP3.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DownloadInfo {
    /// Path relative to the output directory.
    pub path: String,
    /// Codec name (`mp3`).
    pub codec: String,
    /// Bit rate in bits per second.
    pub bitrate: u32,
    /// File size in bytes.
    pub size: u64,
}

impl TrackInfo {
    /// Sets the source CID (the caller knows it once the upload is stored).
    pub fn with_source_cid(mut self, cid: impl Into<String>) -> Self {
        self.source_cid = Some(cid.into());
        self
    }

    /// Renders the canonical `track.json` bytes (pretty, trailing newline).
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain structs of strings and numbers cannot fail; NaN durations are
        // never produced (they come from integer sample counts).
        let mut bytes = serde_json::to_vec_pretty(self).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Writes `track.json` into `dir`.
    pub fn write_to(&self, dir: &Path) -> Result<(), TranscodeError> {
        let path = dir.join(TRACK_JSON);
        std::fs::write(&path, self.to_json())
            .map_err(|source| TranscodeError::Output { path, source })
    }

    /// Reads a `track.json`.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// Total duration of a rendition's segments in seconds.
    pub fn rendition_duration(&self, index: usize) -> Option<f64> {
        let rendition = self.renditions.get(index)?;
        let samples: u64 = rendition.segments.iter().map(|s| s.samples).sum();
        Some(samples as f64 / f64::from(self.sample_rate))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_round_trip_and_cid() {
        let info = TrackInfo {
            version: TRACK_FORMAT_VERSION,
            source_cid: None,
            duration: 1.5,
            source: SourceInfo {
                container: "wav".into(),
                codec: "pcm_s16le".into(),
                sample_rate: 44_100,
                channels: 1,
                bitrate: Some(705_600),
                size: 132_344,
            },
            sample_rate: 48_000,
            channels: 2,
            renditions: vec![RenditionInfo {
                name: "320k".into(),
                bitrate: 320_000,
                peak_bandwidth: 350_000,
                average_bandwidth: 340_000,
                codecs: AAC_LC_CODECS.into(),
                playlist: "320k/index.m3u8".into(),
                segments: vec![SegmentInfo {
                    path: "320k/seg00000.ts".into(),
                    duration: 1.5,
                    samples: 72_000,
                    size: 60_000,
                }],
            }],
            download: None,
        };
        let json = info.to_json();
        assert!(!String::from_utf8_lossy(&json).contains("source_cid"));
        assert_eq!(TrackInfo::from_json(&json).unwrap(), info);
        let with_cid = info.with_source_cid("bafkqaaa");
        assert!(
            String::from_utf8_lossy(&with_cid.to_json()).contains("\"source_cid\": \"bafkqaaa\"")
        );
        assert_eq!(with_cid.rendition_duration(0), Some(1.5));
    }
}
