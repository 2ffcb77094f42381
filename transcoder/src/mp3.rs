//! The downloadable MP3 of the whole track (libmp3lame through libavcodec, `mp3` muxer).
//!
//! The muxer writes a Xing/LAME header carrying the encoder delay and padding, so gapless
//! players trim them; with the bit-exact flag it leaves out library version strings.

use std::path::{Path, PathBuf};

use ffmpeg_next::codec::{Parameters, codec::Codec};
use ffmpeg_next::format::{self, context::Output};
use ffmpeg_next::{Packet, Rational};

use crate::av;
use crate::encode::AudioEncoder;
use crate::encoder_thread::SampleEncoder;
use crate::error::TranscodeError;
use crate::track::{DOWNLOAD_MP3, DownloadInfo};

/// LAME through libavcodec (Debian's libavcodec59 is built with `--enable-libmp3lame`).
const MP3_ENCODER: &str = "libmp3lame";

/// An MP3 file being written.
pub(crate) struct Mp3Writer {
    encoder: AudioEncoder,
    muxer: Muxer,
    bitrate: u32,
}

struct Muxer {
    output: Output,
    path: PathBuf,
    time_base: Rational,
    stream_time_base: Rational,
}

impl Mp3Writer {
    /// Opens the encoder and `<output_dir>/download.mp3`.
    pub(crate) fn open(
        output_dir: &Path,
        sample_rate: u32,
        channels: u16,
        bitrate: u32,
    ) -> Result<Self, TranscodeError> {
        let encoder = AudioEncoder::open(
            "mp3 encoder".to_string(),
            MP3_ENCODER,
            sample_rate,
            channels,
            bitrate,
        )?;
        let path = output_dir.join(DOWNLOAD_MP3);
        let fail = |e| TranscodeError::encode(format!("opening {}", path.display()), e);
        let mut output = format::output_as(&path, "mp3").map_err(fail)?;
        av::set_bitexact(&mut output);
        {
            let mut stream = output.add_stream(None::<Codec>).map_err(fail)?;
            stream.set_parameters(Parameters::from(encoder.context()));
            stream.set_time_base(encoder.time_base());
        }
        output.write_header().map_err(fail)?;
        let stream_time_base = output
            .stream(0)
            .map(|s| s.time_base())
            .ok_or_else(|| fail(ffmpeg_next::Error::StreamNotFound))?;
        let muxer = Muxer {
            output,
            path,
            time_base: encoder.time_base(),
            stream_time_base,
        };
        Ok(Self {
            encoder,
            muxer,
            bitrate,
        })
    }

    /// Encodes one chunk of planar samples.
    pub(crate) fn push(&mut self, planes: &[&[f32]]) -> Result<(), TranscodeError> {
        let Self { encoder, muxer, .. } = self;
        encoder.push(planes, &mut |packet| muxer.write(packet))
    }

    /// Flushes the encoder and finalises the file (the Xing header is rewritten here).
    pub(crate) fn finish(mut self) -> Result<DownloadInfo, TranscodeError> {
        let Self { encoder, muxer, .. } = &mut self;
        encoder.finish(&mut |packet| muxer.write(packet))?;
        let Muxer {
            mut output, path, ..
        } = self.muxer;
        output
            .write_trailer()
            .map_err(|e| TranscodeError::encode(format!("closing {}", path.display()), e))?;
        drop(output);
        let size = std::fs::metadata(&path)
            .map_err(|source| TranscodeError::Output {
                path: path.clone(),
                source,
            })?
            .len();
        Ok(DownloadInfo {
            path: DOWNLOAD_MP3.to_string(),
            codec: "mp3".to_string(),
            bitrate: self.bitrate,
            size,
        })
    }
}

impl SampleEncoder for Mp3Writer {
    type Output = DownloadInfo;

    fn push(&mut self, planes: &[&[f32]]) -> Result<(), TranscodeError> {
        Mp3Writer::push(self, planes)
    }

    fn finish(self) -> Result<DownloadInfo, TranscodeError> {
        Mp3Writer::finish(self)
    }
}

impl Muxer {
    fn write(&mut self, mut packet: Packet) -> Result<(), TranscodeError> {
        packet.set_stream(0);
        packet.set_position(-1);
        packet.rescale_ts(self.time_base, self.stream_time_base);
        packet
            .write(&mut self.output)
            .map_err(|e| TranscodeError::encode(format!("muxing {}", self.path.display()), e))?;
        Ok(())
    }
}
