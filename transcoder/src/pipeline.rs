//! The in-process transcode: probe, decode, resample, encode every output, write the files.
//!
//! This runs hostile input through C decoders; the daemon calls it only inside a worker
//! process (see [`crate::WorkerPool`]). Tests and the worker call it directly.

use std::path::{Path, PathBuf};
use std::time::Instant;

use ffmpeg_next::format::context::Input;
use ffmpeg_next::{Dictionary, Packet, frame, media};
use serde::{Deserialize, Serialize};

use crate::av;
use crate::config::TranscodeConfig;
use crate::encoder_thread::EncoderThread;
use crate::error::TranscodeError;
use crate::hls::HlsRendition;
use crate::mp3::Mp3Writer;
use crate::playlist;
use crate::resample::{ChunkSink, Resampler};
use crate::track::{DownloadInfo, MASTER_PLAYLIST, SourceInfo, TRACK_FORMAT_VERSION, TrackInfo};

/// Lowest input sample rate accepted: below telephony's 8 kHz is not music, and 1 kHz leaves
/// room for odd test tones.
const MIN_INPUT_SAMPLE_RATE: u32 = 1_000;
/// Highest input sample rate accepted: 768 kHz is the highest any DAC or format uses (DXD is
/// 352.8 kHz). A header claiming more (fuzzing found 2.1 GHz) would cost the resampler seconds.
const MAX_INPUT_SAMPLE_RATE: u32 = 768_000;
/// Most input channels accepted (third-order ambisonics is 16; everything is mixed to stereo).
const MAX_INPUT_CHANNELS: u16 = 32;

/// Demuxers an upload may use. Everything else (playlists such as HLS or `concat` that open
/// further files, images, subtitle formats) is refused before any data is parsed.
const ALLOWED_DEMUXERS: &str = "wav,w64,aiff,flac,mp3,ogg,mov,mp4,m4a,aac,matroska,webm,caf,\
                                asf,wv,ape,tta,ac3,eac3,dts,au,amr,mpc,mpc8,dsf";
/// Inputs are local files only: no network protocols, no `concat:`/`subfile:` tricks.
const ALLOWED_PROTOCOLS: &str = "file";
/// A declared duration may exceed the decoded one by this fraction before the file counts as
/// truncated (container rounding, encoder padding trimmed by the decoder).
const TRUNCATION_TOLERANCE_FRACTION: f64 = 0.02;
/// ...or by this many seconds, whichever is larger.
const TRUNCATION_TOLERANCE_SECS: f64 = 0.5;
/// Progress is capped below 100 until every output is finished.
const MAX_RUNNING_PERCENT: u8 = 99;

/// A progress report from a running transcode.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Decoded time over declared duration, 0–100 (100 only once the outputs are complete).
    pub percent: u8,
    /// Seconds of source decoded so far.
    pub decoded_secs: f64,
}

/// Timing of one transcode.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TranscodeStats {
    /// Wall-clock seconds spent in the transcode.
    pub wall_secs: f64,
    /// Seconds of audio per wall-clock second (higher is faster).
    pub realtime_factor: f64,
}

/// A finished transcode: the track description (also written as `track.json`) and timings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Transcoded {
    /// What was written.
    pub track: TrackInfo,
    /// How long it took.
    pub stats: TranscodeStats,
}

/// Transcodes `input` into `output_dir` (created if missing; must be empty).
///
/// Writes `master.m3u8`, `<rendition>/index.m3u8`, `<rendition>/segNNNNN.ts`, `download.mp3`
/// and `track.json`. On error the directory is emptied again, so no partial track is left.
/// `progress` is called whenever the whole-percent figure changes.
pub fn transcode(
    input: &Path,
    output_dir: &Path,
    config: &TranscodeConfig,
    progress: &mut dyn FnMut(Progress),
) -> Result<Transcoded, TranscodeError> {
    let started = Instant::now();
    config.validate()?;
    let size = check_input_file(input, config)?;
    let output_dir = prepare_output_dir(output_dir)?;
    match run(input, &output_dir, size, config, progress) {
        Ok(track) => {
            let wall_secs = started.elapsed().as_secs_f64();
            let realtime_factor = if wall_secs > 0.0 {
                track.duration / wall_secs
            } else {
                0.0
            };
            Ok(Transcoded {
                track,
                stats: TranscodeStats {
                    wall_secs,
                    realtime_factor,
                },
            })
        }
        Err(e) => {
            clear_dir(&output_dir);
            Err(e)
        }
    }
}

/// Size and emptiness checks that need no libav.
fn check_input_file(input: &Path, config: &TranscodeConfig) -> Result<u64, TranscodeError> {
    if input.to_str().is_none() {
        return Err(TranscodeError::Input {
            path: input.to_path_buf(),
            source: non_utf8_path(),
        });
    }
    let meta = std::fs::metadata(input).map_err(|source| TranscodeError::Input {
        path: input.to_path_buf(),
        source,
    })?;
    if !meta.is_file() {
        return Err(TranscodeError::Input {
            path: input.to_path_buf(),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"),
        });
    }
    let size = meta.len();
    if size == 0 {
        return Err(TranscodeError::Empty {
            path: input.to_path_buf(),
        });
    }
    if size > config.max_input_bytes {
        return Err(TranscodeError::TooLarge {
            path: input.to_path_buf(),
            size,
            max: config.max_input_bytes,
        });
    }
    Ok(size)
}

/// Creates the output directory, refuses a non-empty one, and returns its absolute path
/// (libavformat would read a relative `name:rest` path as a protocol URL).
fn prepare_output_dir(dir: &Path) -> Result<PathBuf, TranscodeError> {
    let output_err = |source| TranscodeError::Output {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(output_err)?;
    let dir = dir.canonicalize().map_err(output_err)?;
    if dir.to_str().is_none() {
        return Err(output_err(non_utf8_path()));
    }
    let mut entries = std::fs::read_dir(&dir).map_err(output_err)?;
    if entries.next().is_some() {
        return Err(output_err(std::io::Error::new(
            std::io::ErrorKind::AlreadyExists,
            "output directory is not empty",
        )));
    }
    Ok(dir)
}

/// libavformat takes paths as C strings, and ffmpeg-next panics on non-UTF-8 ones.
fn non_utf8_path() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidInput, "path is not valid UTF-8")
}

/// Best-effort removal of everything inside `dir` after a failure.
fn clear_dir(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let result = if path.is_dir() {
            std::fs::remove_dir_all(&path)
        } else {
            std::fs::remove_file(&path)
        };
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), error = %e, "cannot remove partial output");
        }
    }
}

/// The opened input and what the header says about it.
struct Source {
    input: Input,
    stream_index: usize,
    decoder: ffmpeg_next::decoder::Audio,
    info: SourceInfo,
    /// Duration from the header, when it is not a bit-rate guess.
    declared_secs: Option<f64>,
    /// Any duration figure, for progress only.
    progress_secs: Option<f64>,
}

fn open_source(path: &Path, size: u64, config: &TranscodeConfig) -> Result<Source, TranscodeError> {
    ffmpeg_next::init().map_err(|e| TranscodeError::encode("initialising libav", e))?;
    let path = path
        .canonicalize()
        .and_then(|p| match p.to_str() {
            Some(_) => Ok(p),
            None => Err(non_utf8_path()),
        })
        .map_err(|source| TranscodeError::Input {
            path: path.to_path_buf(),
            source,
        })?;
    let mut options = Dictionary::new();
    options.set("protocol_whitelist", ALLOWED_PROTOCOLS);
    options.set("format_whitelist", ALLOWED_DEMUXERS);
    let input = ffmpeg_next::format::input_with_dictionary(&path, options).map_err(|source| {
        TranscodeError::Unrecognized {
            path: path.clone(),
            source,
        }
    })?;

    let stream = input
        .streams()
        .find(|s| {
            s.parameters().medium() == media::Type::Audio
                && !s
                    .disposition()
                    .contains(ffmpeg_next::format::stream::Disposition::ATTACHED_PIC)
        })
        .ok_or_else(|| TranscodeError::NoAudioStream { path: path.clone() })?;
    let stream_index = stream.index();
    let codec_id = stream.parameters().id();
    let unsupported = |source| TranscodeError::Unsupported {
        codec: codec_id.name().to_string(),
        source,
    };
    let context =
        ffmpeg_next::codec::Context::from_parameters(stream.parameters()).map_err(unsupported)?;
    let decoder = context.decoder().audio().map_err(unsupported)?;
    if !(MIN_INPUT_SAMPLE_RATE..=MAX_INPUT_SAMPLE_RATE).contains(&decoder.rate())
        || !(1..=MAX_INPUT_CHANNELS).contains(&decoder.channels())
    {
        return Err(TranscodeError::OutOfRange {
            codec: codec_id.name().to_string(),
            sample_rate: decoder.rate(),
            channels: decoder.channels(),
            min_rate: MIN_INPUT_SAMPLE_RATE,
            max_rate: MAX_INPUT_SAMPLE_RATE,
            max_channels: MAX_INPUT_CHANNELS,
        });
    }

    let time_base = stream.time_base();
    let stream_secs = (stream.duration() > 0 && time_base.denominator() != 0)
        .then(|| stream.duration() as f64 * f64::from(time_base));
    let format_secs = (input.duration() > 0)
        .then(|| input.duration() as f64 / f64::from(ffmpeg_next::ffi::AV_TIME_BASE));
    let progress_secs = stream_secs.or(format_secs);
    // A bit-rate estimate is a guess for compressed audio but exact for constant-rate PCM
    // (libav's WAV and AIFF demuxers give PCM no other duration).
    let is_pcm = codec_id.name().starts_with("pcm_");
    let declared_secs = progress_secs.filter(|_| is_pcm || !av::duration_is_estimate(&input));
    if let Some(secs) = declared_secs
        && secs > config.max_duration_secs as f64
    {
        return Err(TranscodeError::TooLong {
            duration: secs,
            max: config.max_duration_secs,
        });
    }

    let bitrate = u64::try_from(stream.parameters().bit_rate())
        .ok()
        .filter(|b| *b > 0)
        .or_else(|| u64::try_from(input.bit_rate()).ok().filter(|b| *b > 0));
    let info = SourceInfo {
        container: input.format().name().to_string(),
        codec: codec_id.name().to_string(),
        sample_rate: decoder.rate(),
        channels: decoder.channels(),
        bitrate,
        size,
    };
    Ok(Source {
        input,
        stream_index,
        decoder,
        info,
        declared_secs,
        progress_secs,
    })
}

/// All encoders of one job.
struct Outputs {
    renditions: Vec<HlsRendition>,
    /// The MP3 download, encoded beside the HLS renditions on its own thread.
    mp3: Option<EncoderThread<DownloadInfo>>,
    /// Output samples still allowed: decoders of padded formats (AAC in MP4) emit the
    /// encoder's tail padding, while the container's exact duration says where audio ends.
    remaining: Option<u64>,
    /// Output samples passed to the encoders.
    written: u64,
}

impl Outputs {
    fn open(
        dir: &Path,
        config: &TranscodeConfig,
        declared_secs: Option<f64>,
    ) -> Result<Self, TranscodeError> {
        let renditions = config
            .renditions
            .iter()
            .map(|r| {
                HlsRendition::open(
                    dir,
                    r,
                    config.sample_rate,
                    config.channels,
                    config.segment_samples(),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mp3 = config
            .mp3_bitrate
            .map(|bitrate| {
                let writer = Mp3Writer::open(dir, config.sample_rate, config.channels, bitrate)?;
                EncoderThread::spawn("mp3", writer)
            })
            .transpose()?;
        let remaining =
            declared_secs.map(|secs| (secs * f64::from(config.sample_rate)).round() as u64);
        Ok(Self {
            renditions,
            mp3,
            remaining,
            written: 0,
        })
    }

    fn push(&mut self, planes: &[&[f32]]) -> Result<(), TranscodeError> {
        let available = planes.first().map_or(0, |p| p.len());
        let take = self.remaining.map_or(available, |r| {
            available.min(usize::try_from(r).unwrap_or(usize::MAX))
        });
        if take == 0 {
            return Ok(());
        }
        if let Some(remaining) = &mut self.remaining {
            *remaining -= take as u64;
        }
        self.written += take as u64;
        let trimmed: Vec<&[f32]>;
        let planes = if take < available {
            trimmed = planes.iter().map(|p| &p[..take]).collect();
            &trimmed[..]
        } else {
            planes
        };
        for rendition in &mut self.renditions {
            rendition.push(planes)?;
        }
        if let Some(mp3) = &mut self.mp3 {
            mp3.push(planes)?;
        }
        Ok(())
    }
}

/// Decode-side state: counts, limits and progress.
struct DecodeState<'a> {
    config: &'a TranscodeConfig,
    progress: &'a mut dyn FnMut(Progress),
    progress_secs: Option<f64>,
    decoded_secs: f64,
    errors: u32,
    last_percent: Option<u8>,
}

impl DecodeState<'_> {
    /// Counts one decode/demux error; fails once the budget is spent.
    fn error(&mut self, source: ffmpeg_next::Error) -> Result<(), TranscodeError> {
        self.errors += 1;
        if self.errors > self.config.max_decode_errors {
            return Err(TranscodeError::Corrupt {
                position: self.decoded_secs,
                errors: self.errors,
                source,
            });
        }
        tracing::debug!(error = %source, errors = self.errors, "tolerated decode error");
        Ok(())
    }

    fn decoded(&mut self, samples: usize, rate: u32) -> Result<(), TranscodeError> {
        if rate > 0 {
            self.decoded_secs += samples as f64 / f64::from(rate);
        }
        if self.decoded_secs > self.config.max_duration_secs as f64 {
            return Err(TranscodeError::TooLong {
                duration: self.decoded_secs,
                max: self.config.max_duration_secs,
            });
        }
        if let Some(total) = self.progress_secs.filter(|t| *t > 0.0) {
            let percent = ((self.decoded_secs / total) * 100.0).clamp(0.0, 100.0) as u8;
            self.report(percent.min(MAX_RUNNING_PERCENT));
        }
        Ok(())
    }

    fn report(&mut self, percent: u8) {
        if self.last_percent != Some(percent) {
            self.last_percent = Some(percent);
            (self.progress)(Progress {
                percent,
                decoded_secs: self.decoded_secs,
            });
        }
    }
}

fn run(
    input_path: &Path,
    dir: &Path,
    size: u64,
    config: &TranscodeConfig,
    progress: &mut dyn FnMut(Progress),
) -> Result<TrackInfo, TranscodeError> {
    let Source {
        mut input,
        stream_index,
        mut decoder,
        info,
        declared_secs,
        progress_secs,
    } = open_source(input_path, size, config)?;
    let mut outputs = Outputs::open(dir, config, declared_secs)?;
    let mut resampler = Resampler::new(config.sample_rate, config.channels);
    let mut state = DecodeState {
        config,
        progress,
        progress_secs,
        decoded_secs: 0.0,
        errors: 0,
        last_percent: None,
    };
    state.report(0);
    let mut decoded = frame::Audio::empty();
    let mut emit = |planes: &[&[f32]]| outputs.push(planes);

    // A decode error is only counted once another packet follows: a damaged final packet is
    // what truncation looks like, and the truncation check below names that case precisely.
    let mut pending: Option<ffmpeg_next::Error> = None;
    loop {
        let mut packet = Packet::empty();
        match packet.read(&mut input) {
            Ok(()) => {}
            Err(ffmpeg_next::Error::Eof) => break,
            Err(e @ ffmpeg_next::Error::InvalidData) => {
                state.error(e)?;
                continue;
            }
            Err(e) => {
                return Err(TranscodeError::Corrupt {
                    position: state.decoded_secs,
                    errors: state.errors + 1,
                    source: e,
                });
            }
        }
        if packet.stream() != stream_index {
            continue;
        }
        if let Some(e) = pending.take() {
            state.error(e)?;
        }
        if let Err(e) = decoder.send_packet(&packet) {
            pending = Some(e);
            continue;
        }
        pending = receive_frames(
            &mut decoder,
            &mut decoded,
            &mut resampler,
            &mut state,
            &mut emit,
        )?;
    }
    let flushed = match decoder.send_eof() {
        Ok(()) => receive_frames(
            &mut decoder,
            &mut decoded,
            &mut resampler,
            &mut state,
            &mut emit,
        )?,
        Err(e) => Some(e),
    };
    if let Some(e) = pending.or(flushed) {
        tracing::debug!(error = %e, "decode error on the final packet");
    }
    resampler.flush(&mut emit)?;

    let decoded_secs = state.decoded_secs;
    if decoded_secs <= 0.0 {
        return Err(TranscodeError::NoAudio {
            path: input_path.to_path_buf(),
        });
    }
    // libav's WAV demuxer clamps a too-large data chunk to the file, hiding the cut; the
    // RIFF header still says how much is missing.
    let riff_missing = riff_missing_bytes(input_path, size).filter(|_| info.container == "wav");
    let declared_secs = match (riff_missing, info.bitrate) {
        (Some(missing), Some(bitrate)) => {
            Some(declared_secs.unwrap_or(decoded_secs) + missing as f64 * 8.0 / bitrate as f64)
        }
        _ => declared_secs,
    };
    if let Some(declared) = declared_secs {
        let tolerance = (declared * TRUNCATION_TOLERANCE_FRACTION).max(TRUNCATION_TOLERANCE_SECS);
        if decoded_secs + tolerance < declared {
            return Err(TranscodeError::Truncated {
                declared,
                decoded: decoded_secs,
            });
        }
    }

    let Outputs {
        renditions,
        mp3,
        written,
        ..
    } = outputs;
    let renditions = renditions
        .into_iter()
        .map(|r| r.finish(config.sample_rate))
        .collect::<Result<Vec<_>, _>>()?;
    let download = mp3.map(EncoderThread::finish).transpose()?;
    let master = dir.join(MASTER_PLAYLIST);
    std::fs::write(&master, playlist::master_playlist(&renditions)).map_err(|source| {
        TranscodeError::Output {
            path: master.clone(),
            source,
        }
    })?;
    let track = TrackInfo {
        version: TRACK_FORMAT_VERSION,
        source_cid: None,
        duration: written as f64 / f64::from(config.sample_rate),
        source: info,
        sample_rate: config.sample_rate,
        channels: config.channels,
        renditions,
        download,
    };
    track.write_to(dir)?;
    state.report(100);
    Ok(track)
}

/// Pulls every frame the decoder has ready and sends it through the resampler; returns the
/// decode error that ended the batch, if any (the caller decides whether it counts).
fn receive_frames(
    decoder: &mut ffmpeg_next::decoder::Audio,
    decoded: &mut frame::Audio,
    resampler: &mut Resampler,
    state: &mut DecodeState<'_>,
    emit: &mut ChunkSink<'_>,
) -> Result<Option<ffmpeg_next::Error>, TranscodeError> {
    loop {
        match decoder.receive_frame(decoded) {
            Ok(()) => {
                state.decoded(decoded.samples(), decoded.rate())?;
                resampler.convert(decoded, emit)?;
            }
            Err(ffmpeg_next::Error::Eof) => return Ok(None),
            Err(ffmpeg_next::Error::Other { errno }) if errno == ffmpeg_next::error::EAGAIN => {
                return Ok(None);
            }
            // The failed frame is dropped; the decoder continues with the next packet.
            Err(e) => return Ok(Some(e)),
        }
    }
}

/// Bytes a RIFF file's header promises beyond the end of the file (`None` if complete, not
/// RIFF, or written by a streaming writer that left the size unset).
fn riff_missing_bytes(path: &Path, size: u64) -> Option<u64> {
    use std::io::Read;
    let mut header = [0u8; 8];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut header))
        .ok()?;
    if &header[..4] != b"RIFF" {
        return None;
    }
    let riff_size = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if riff_size == 0 || riff_size == u32::MAX {
        return None;
    }
    let promised = u64::from(riff_size) + 8;
    (promised > size).then(|| promised - size)
}
