//! Transcode settings: what the outputs look like and which inputs are refused.

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;

/// Output sample rate: Audius's segmenter and most streaming services deliver 48 kHz.
pub const DEFAULT_SAMPLE_RATE: u32 = 48_000;
/// Output channel count: stereo, mono sources are duplicated to both channels.
pub const DEFAULT_CHANNELS: u16 = 2;
/// Segment length in milliseconds: Audius's HLS segmenter cuts 6-second segments.
pub const DEFAULT_SEGMENT_MILLIS: u32 = 6_000;
/// Default rendition bit rate: Audius streams 320 kbps AAC.
pub const DEFAULT_BITRATE: u32 = 320_000;
/// Bit rate of the downloadable MP3: 320 kbps is the highest MPEG-1 Layer III rate.
pub const DEFAULT_MP3_BITRATE: u32 = 320_000;
/// Largest accepted input file: 2 GiB holds a 4-hour 24-bit/48 kHz stereo WAV with room to spare.
pub const DEFAULT_MAX_INPUT_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Longest accepted input in seconds: 4 hours covers DJ mixes and full albums.
pub const DEFAULT_MAX_DURATION_SECS: u64 = 4 * 60 * 60;
/// Memory (private writable: heap and thread stacks) one worker may use. A 320 kbps job
/// measured about 60 MB of it whatever the input length (decoding and encoding stream); 1 GiB
/// leaves room for FFmpeg's largest frame buffers while a crafted input that asks for more
/// fails its job instead of taking the host's memory.
pub const DEFAULT_MAX_MEMORY_BYTES: u64 = 1024 * 1024 * 1024;
/// Decode errors tolerated before a job fails: none, so a damaged upload is refused rather than
/// published with glitches baked into content-addressed segments.
pub const DEFAULT_MAX_DECODE_ERRORS: u32 = 0;

/// Sample rates the AAC-LC encoder accepts (ISO/IEC 14496-3 sampling frequency index table).
const AAC_SAMPLE_RATES: [u32; 12] = [
    96_000, 88_200, 64_000, 48_000, 44_100, 32_000, 24_000, 22_050, 16_000, 12_000, 11_025, 8_000,
];
/// Sample rates MPEG-1/2 Layer III can carry.
const MP3_SAMPLE_RATES: [u32; 6] = [48_000, 44_100, 32_000, 24_000, 22_050, 16_000];
/// Lowest rendition bit rate accepted; below this AAC-LC stereo is unlistenable.
const MIN_BITRATE: u32 = 16_000;
/// Highest rendition bit rate accepted: FFmpeg's AAC encoder caps at 6144 bits per channel per
/// 1024-sample frame, i.e. 288 kbps per channel at 48 kHz.
const MAX_BITRATE_PER_CHANNEL: u64 = 6_144;
/// Longest accepted rendition name; it becomes a directory name.
const MAX_RENDITION_NAME: usize = 32;

/// One HLS rendition: an AAC-LC stream at one bit rate, stored in its own directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rendition {
    /// Directory name inside the output directory (`[a-z0-9_-]`, e.g. `320k`).
    pub name: String,
    /// Target AAC bit rate in bits per second.
    pub bitrate: u32,
}

impl Rendition {
    /// A rendition named after its bit rate in kbps (`320k` for 320 000).
    pub fn from_bitrate(bitrate: u32) -> Self {
        Self {
            name: format!("{}k", bitrate / 1000),
            bitrate,
        }
    }
}

/// Everything that determines a transcode's output bytes, plus the input limits.
///
/// Sent to the worker process as JSON, so it stays plain data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct TranscodeConfig {
    /// Output sample rate in Hz.
    pub sample_rate: u32,
    /// Output channel count (1 or 2).
    pub channels: u16,
    /// Target segment duration in milliseconds; real segments are cut on AAC frame boundaries.
    pub segment_millis: u32,
    /// HLS renditions, in the order the master playlist lists them (players start with the first).
    pub renditions: Vec<Rendition>,
    /// Bit rate of the downloadable MP3, or `None` to skip it.
    pub mp3_bitrate: Option<u32>,
    /// Inputs larger than this many bytes are refused before opening.
    pub max_input_bytes: u64,
    /// Inputs longer than this many seconds are refused (from the header, or while decoding).
    pub max_duration_secs: u64,
    /// Decode errors tolerated before the job fails.
    pub max_decode_errors: u32,
    /// Memory the worker process may use (see [`crate::sandbox`]).
    pub max_memory_bytes: u64,
}

impl Default for TranscodeConfig {
    fn default() -> Self {
        Self {
            sample_rate: DEFAULT_SAMPLE_RATE,
            channels: DEFAULT_CHANNELS,
            segment_millis: DEFAULT_SEGMENT_MILLIS,
            renditions: vec![Rendition::from_bitrate(DEFAULT_BITRATE)],
            mp3_bitrate: Some(DEFAULT_MP3_BITRATE),
            max_input_bytes: DEFAULT_MAX_INPUT_BYTES,
            max_duration_secs: DEFAULT_MAX_DURATION_SECS,
            max_decode_errors: DEFAULT_MAX_DECODE_ERRORS,
            max_memory_bytes: DEFAULT_MAX_MEMORY_BYTES,
        }
    }
}

impl TranscodeConfig {
    /// Replaces the output sample rate.
    pub fn with_sample_rate(mut self, sample_rate: u32) -> Self {
        self.sample_rate = sample_rate;
        self
    }

    /// Replaces the output channel count.
    pub fn with_channels(mut self, channels: u16) -> Self {
        self.channels = channels;
        self
    }

    /// Replaces the target segment duration.
    pub fn with_segment_millis(mut self, millis: u32) -> Self {
        self.segment_millis = millis;
        self
    }

    /// Replaces the rendition list.
    pub fn with_renditions(mut self, renditions: Vec<Rendition>) -> Self {
        self.renditions = renditions;
        self
    }

    /// Replaces the MP3 download bit rate (`None` skips the download).
    pub fn with_mp3_bitrate(mut self, bitrate: Option<u32>) -> Self {
        self.mp3_bitrate = bitrate;
        self
    }

    /// Replaces the input size limit.
    pub fn with_max_input_bytes(mut self, bytes: u64) -> Self {
        self.max_input_bytes = bytes;
        self
    }

    /// Replaces the input duration limit.
    pub fn with_max_duration_secs(mut self, secs: u64) -> Self {
        self.max_duration_secs = secs;
        self
    }

    /// Replaces the worker's memory limit.
    pub fn with_max_memory_bytes(mut self, bytes: u64) -> Self {
        self.max_memory_bytes = bytes;
        self
    }

    /// Replaces the decode error budget.
    pub fn with_max_decode_errors(mut self, errors: u32) -> Self {
        self.max_decode_errors = errors;
        self
    }

    /// Segment length in output samples.
    pub(crate) fn segment_samples(&self) -> i64 {
        i64::from(self.segment_millis) * i64::from(self.sample_rate) / 1000
    }

    /// Checks every setting, so a bad config fails before any file is touched.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !AAC_SAMPLE_RATES.contains(&self.sample_rate) {
            return Err(ConfigError::SampleRate(self.sample_rate));
        }
        if !(1..=2).contains(&self.channels) {
            return Err(ConfigError::Channels(self.channels));
        }
        if self.segment_millis < 1_000 {
            return Err(ConfigError::SegmentDuration(self.segment_millis));
        }
        if self.renditions.is_empty() {
            return Err(ConfigError::NoRenditions);
        }
        let max_bitrate =
            MAX_BITRATE_PER_CHANNEL * u64::from(self.sample_rate) / 1024 * u64::from(self.channels);
        for (i, rendition) in self.renditions.iter().enumerate() {
            if !valid_name(&rendition.name) {
                return Err(ConfigError::RenditionName(rendition.name.clone()));
            }
            if self.renditions[..i]
                .iter()
                .any(|r| r.name == rendition.name)
            {
                return Err(ConfigError::DuplicateRendition(rendition.name.clone()));
            }
            if rendition.bitrate < MIN_BITRATE || u64::from(rendition.bitrate) > max_bitrate {
                return Err(ConfigError::Bitrate {
                    name: rendition.name.clone(),
                    bitrate: rendition.bitrate,
                    max: max_bitrate,
                });
            }
        }
        if let Some(bitrate) = self.mp3_bitrate {
            if !MP3_SAMPLE_RATES.contains(&self.sample_rate) {
                return Err(ConfigError::Mp3SampleRate(self.sample_rate));
            }
            if !(32_000..=320_000).contains(&bitrate) {
                return Err(ConfigError::Mp3Bitrate(bitrate));
            }
        }
        if self.max_duration_secs == 0 {
            return Err(ConfigError::MaxDuration);
        }
        Ok(())
    }
}

/// A rendition name is used as a path component, so only a safe alphabet is allowed.
fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_RENDITION_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid() {
        TranscodeConfig::default().validate().unwrap();
        assert_eq!(TranscodeConfig::default().segment_samples(), 288_000);
    }

    #[test]
    fn rejects_bad_settings() {
        let base = TranscodeConfig::default();
        let bad = [
            base.clone().with_sample_rate(47_000),
            base.clone().with_channels(3),
            base.clone().with_segment_millis(10),
            base.clone().with_renditions(vec![]),
            base.clone().with_renditions(vec![Rendition {
                name: "../x".into(),
                bitrate: 128_000,
            }]),
            base.clone()
                .with_renditions(vec![Rendition::from_bitrate(128_000); 2]),
            base.clone()
                .with_renditions(vec![Rendition::from_bitrate(900_000)]),
            base.clone().with_mp3_bitrate(Some(500_000)),
            base.clone().with_sample_rate(96_000),
        ];
        for config in bad {
            assert!(config.validate().is_err(), "{config:?}");
        }
        base.with_sample_rate(96_000)
            .with_mp3_bitrate(None)
            .validate()
            .unwrap();
    }

    #[test]
    fn config_round_trips_through_json_with_defaults() {
        let config: TranscodeConfig = serde_json::from_str(r#"{"channels":1}"#).unwrap();
        assert_eq!(config, TranscodeConfig::default().with_channels(1));
    }
}
