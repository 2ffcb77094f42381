//! One HLS rendition: an AAC-LC encoder whose packets are cut into MPEG-TS segment files.
//!
//! Each segment is written by its own libavformat `mpegts` muxer, so every file starts with
//! PAT/PMT and stands alone. Cuts fall on AAC frame boundaries: a new segment starts with the
//! first frame whose start time reaches the next multiple of the segment length, so boundaries
//! never drift and every `EXTINF` is the exact sum of its frames' durations.

use std::path::{Path, PathBuf};

use ffmpeg_next::codec::{Parameters, codec::Codec};
use ffmpeg_next::format::{self, context::Output};
use ffmpeg_next::{Packet, Rational};

use crate::av;
use crate::config::Rendition;
use crate::encode::AudioEncoder;
use crate::error::TranscodeError;
use crate::playlist;
use crate::track::{AAC_LC_CODECS, MEDIA_PLAYLIST, RenditionInfo, SegmentInfo};

/// FFmpeg's native AAC encoder (AAC-LC).
const AAC_ENCODER: &str = "aac";
/// Muxer delay in microseconds, as the `ffmpeg` CLI's default `-muxdelay 0.7`: lets the muxer
/// pack several AAC frames per PES packet (less TS overhead) and keeps the PCR ahead of the PTS.
const MUX_DELAY_MICROS: i32 = 700_000;
/// Segments shorter than this are left out of the peak bandwidth: a tiny final segment is
/// mostly PAT/PMT overhead and would report a meaningless peak.
const MIN_PEAK_SEGMENT_SECS: f64 = 1.0;

/// A rendition being encoded.
pub(crate) struct HlsRendition {
    rendition: Rendition,
    encoder: AudioEncoder,
    segmenter: Segmenter,
}

impl HlsRendition {
    /// Opens the encoder and creates `<output_dir>/<name>/`.
    pub(crate) fn open(
        output_dir: &Path,
        rendition: &Rendition,
        sample_rate: u32,
        channels: u16,
        segment_samples: i64,
    ) -> Result<Self, TranscodeError> {
        let dir = output_dir.join(&rendition.name);
        std::fs::create_dir_all(&dir).map_err(|source| TranscodeError::Output {
            path: dir.clone(),
            source,
        })?;
        let encoder = AudioEncoder::open(
            format!("aac encoder {}", rendition.name),
            AAC_ENCODER,
            sample_rate,
            channels,
            rendition.bitrate,
        )?;
        let segmenter = Segmenter {
            dir,
            // Shift by the priming so the first (priming) frame starts at 0, not below it.
            shift: encoder.initial_padding(),
            segment_samples,
            frame_size: encoder.frame_size() as i64,
            time_base: encoder.time_base(),
            parameters: Parameters::from(encoder.context()),
            current: None,
            done: Vec::new(),
        };
        Ok(Self {
            rendition: rendition.clone(),
            encoder,
            segmenter,
        })
    }

    /// Encodes one chunk of planar samples.
    pub(crate) fn push(&mut self, planes: &[&[f32]]) -> Result<(), TranscodeError> {
        let Self {
            encoder, segmenter, ..
        } = self;
        encoder.push(planes, &mut |packet| segmenter.write(packet))
    }

    /// Flushes the encoder, closes the last segment and writes `index.m3u8`.
    pub(crate) fn finish(mut self, sample_rate: u32) -> Result<RenditionInfo, TranscodeError> {
        let Self {
            encoder, segmenter, ..
        } = &mut self;
        encoder.finish(&mut |packet| segmenter.write(packet))?;
        segmenter.close_current()?;

        let name = &self.rendition.name;
        let rate = f64::from(sample_rate);
        let segments: Vec<SegmentInfo> = self
            .segmenter
            .done
            .iter()
            .map(|s| SegmentInfo {
                path: format!("{name}/{}", s.file_name),
                duration: s.samples as f64 / rate,
                samples: s.samples as u64,
                size: s.size,
            })
            .collect();
        let text = playlist::media_playlist(
            self.segmenter
                .done
                .iter()
                .map(|s| (s.file_name.as_str(), s.samples as f64 / rate)),
        );
        let path = self.segmenter.dir.join(MEDIA_PLAYLIST);
        std::fs::write(&path, text).map_err(|source| TranscodeError::Output { path, source })?;

        let (peak, average) = bandwidth(&segments);
        Ok(RenditionInfo {
            name: name.clone(),
            bitrate: self.rendition.bitrate,
            peak_bandwidth: peak,
            average_bandwidth: average,
            codecs: AAC_LC_CODECS.to_string(),
            playlist: format!("{name}/{MEDIA_PLAYLIST}"),
            segments,
        })
    }
}

/// Peak and average bit rate of the segment files, in bits per second.
fn bandwidth(segments: &[SegmentInfo]) -> (u64, u64) {
    let rate = |s: &SegmentInfo| (s.size as f64 * 8.0 / s.duration.max(f64::MIN_POSITIVE)).ceil();
    let long: Vec<&SegmentInfo> = segments
        .iter()
        .filter(|s| s.duration >= MIN_PEAK_SEGMENT_SECS)
        .collect();
    let candidates: Vec<&SegmentInfo> = if long.is_empty() {
        segments.iter().collect()
    } else {
        long
    };
    let peak = candidates.iter().map(|s| rate(s)).fold(0.0, f64::max);
    let bytes: u64 = segments.iter().map(|s| s.size).sum();
    let secs: f64 = segments.iter().map(|s| s.duration).sum();
    let average = if secs > 0.0 {
        (bytes as f64 * 8.0 / secs).ceil()
    } else {
        0.0
    };
    (peak as u64, average as u64)
}

/// Writes packets into numbered segment files.
struct Segmenter {
    dir: PathBuf,
    shift: i64,
    segment_samples: i64,
    frame_size: i64,
    time_base: Rational,
    parameters: Parameters,
    current: Option<OpenSegment>,
    done: Vec<DoneSegment>,
}

struct OpenSegment {
    output: Output,
    index: i64,
    path: PathBuf,
    file_name: String,
    start: i64,
    end: i64,
    stream_time_base: Rational,
}

struct DoneSegment {
    file_name: String,
    samples: i64,
    size: u64,
}

impl Segmenter {
    fn write(&mut self, mut packet: Packet) -> Result<(), TranscodeError> {
        let start = packet
            .pts()
            .map_or(self.next_start(), |pts| pts + self.shift);
        // Every AAC frame decodes to a full frame of samples, the padded last one included,
        // so that is the media duration players see (the encoder's trimmed figure is not).
        let duration = self.frame_size;
        let next_index = match &self.current {
            None => Some(0),
            Some(open) if start >= (open.index + 1) * self.segment_samples => Some(open.index + 1),
            Some(_) => None,
        };
        if let Some(index) = next_index {
            self.close_current()?;
            self.current = Some(self.open_segment(index, start)?);
        }
        let Some(open) = self.current.as_mut() else {
            return Ok(());
        };
        packet.set_pts(Some(start));
        packet.set_dts(Some(start));
        packet.set_duration(duration);
        packet.set_stream(0);
        packet.set_position(-1);
        packet.rescale_ts(self.time_base, open.stream_time_base);
        packet
            .write(&mut open.output)
            .map_err(|e| TranscodeError::encode(format!("muxing {}", open.path.display()), e))?;
        open.end = start + duration;
        Ok(())
    }

    fn next_start(&self) -> i64 {
        self.current.as_ref().map_or(0, |open| open.end)
    }

    fn open_segment(&self, index: i64, start: i64) -> Result<OpenSegment, TranscodeError> {
        let file_name = format!("seg{index:05}.ts");
        let path = self.dir.join(&file_name);
        let fail = |e| TranscodeError::encode(format!("opening segment {}", path.display()), e);
        let mut output = format::output_as(&path, "mpegts").map_err(fail)?;
        av::set_bitexact(&mut output);
        av::set_max_delay(&mut output, MUX_DELAY_MICROS);
        {
            let mut stream = output.add_stream(None::<Codec>).map_err(fail)?;
            stream.set_parameters(self.parameters.clone());
            stream.set_time_base(self.time_base);
        }
        output.write_header().map_err(fail)?;
        let stream_time_base = output
            .stream(0)
            .map(|s| s.time_base())
            .ok_or_else(|| fail(ffmpeg_next::Error::StreamNotFound))?;
        Ok(OpenSegment {
            output,
            index,
            path,
            file_name,
            start,
            end: start,
            stream_time_base,
        })
    }

    fn close_current(&mut self) -> Result<(), TranscodeError> {
        let Some(mut open) = self.current.take() else {
            return Ok(());
        };
        open.output
            .write_trailer()
            .map_err(|e| TranscodeError::encode(format!("closing {}", open.path.display()), e))?;
        // Dropping the context closes the file before it is measured.
        drop(open.output);
        let size = std::fs::metadata(&open.path)
            .map_err(|source| TranscodeError::Output {
                path: open.path.clone(),
                source,
            })?
            .len();
        self.done.push(DoneSegment {
            file_name: open.file_name,
            samples: open.end - open.start,
            size,
        });
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn segment(duration: f64, size: u64) -> SegmentInfo {
        SegmentInfo {
            path: String::new(),
            duration,
            samples: 0,
            size,
        }
    }

    #[test]
    fn peak_ignores_tiny_tail_segment() {
        let (peak, average) = bandwidth(&[segment(6.0, 240_000), segment(0.02, 2_000)]);
        assert_eq!(peak, 320_000);
        assert_eq!(average, ((242_000.0 * 8.0) / 6.02f64).ceil() as u64);
        let (peak, _) = bandwidth(&[segment(0.5, 20_000)]);
        assert_eq!(peak, 320_000);
    }
}
