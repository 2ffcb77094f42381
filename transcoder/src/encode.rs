//! One libavcodec audio encoder fed with planar float samples of any chunk size.

use ffmpeg_next::codec::{self, encoder};
use ffmpeg_next::format::Sample;
use ffmpeg_next::format::sample::Type;
use ffmpeg_next::{ChannelLayout, Packet, Rational, frame};

use crate::av;
use crate::error::TranscodeError;
use crate::fifo::PlanarFifo;

/// The pipeline's internal sample format: planar float is native to both FFmpeg's AAC encoder
/// and libmp3lame, so no second conversion is needed.
pub(crate) const SAMPLE_FORMAT: Sample = Sample::F32(Type::Planar);

/// Frame size used when an encoder accepts any size (neither AAC nor MP3 does).
const FALLBACK_FRAME_SIZE: usize = 1024;

/// An opened encoder plus the queue that cuts incoming samples into its frame size.
pub(crate) struct AudioEncoder {
    label: String,
    encoder: encoder::Audio,
    fifo: PlanarFifo,
    frame_size: usize,
    next_pts: i64,
    layout: ChannelLayout,
    rate: u32,
    channels: usize,
}

impl AudioEncoder {
    /// Opens encoder `codec_name` at `rate` Hz, `channels` channels, `bitrate` bit/s, bit-exact.
    pub(crate) fn open(
        label: String,
        codec_name: &str,
        rate: u32,
        channels: u16,
        bitrate: u32,
    ) -> Result<Self, TranscodeError> {
        let fail = |e| TranscodeError::encode(format!("opening {label} ({codec_name})"), e);
        let codec = encoder::find_by_name(codec_name)
            .ok_or_else(|| fail(ffmpeg_next::Error::EncoderNotFound))?;
        let mut context = codec::Context::new_with_codec(codec)
            .encoder()
            .audio()
            .map_err(fail)?;
        let layout = ChannelLayout::default(i32::from(channels));
        let rate_i32 = i32::try_from(rate).map_err(|_| fail(ffmpeg_next::Error::InvalidData))?;
        context.set_rate(rate_i32);
        context.set_channel_layout(layout);
        context.set_channels(i32::from(channels));
        context.set_format(SAMPLE_FORMAT);
        context.set_bit_rate(bitrate as usize);
        context.set_time_base(Rational::new(1, rate_i32));
        context.set_flags(codec::Flags::BITEXACT);
        let opened = context.open_as(codec).map_err(fail)?;
        let frame_size = match opened.frame_size() {
            0 => FALLBACK_FRAME_SIZE,
            n => n as usize,
        };
        Ok(Self {
            label,
            encoder: opened,
            fifo: PlanarFifo::new(usize::from(channels)),
            frame_size,
            next_pts: 0,
            layout,
            rate,
            channels: usize::from(channels),
        })
    }

    /// The opened codec context, for copying parameters into a muxer stream.
    pub(crate) fn context(&self) -> &encoder::Audio {
        &self.encoder
    }

    /// Packet time base: one tick per output sample.
    pub(crate) fn time_base(&self) -> Rational {
        Rational::new(1, self.rate as i32)
    }

    /// Samples per encoded frame.
    pub(crate) fn frame_size(&self) -> usize {
        self.frame_size
    }

    /// Encoder delay in samples (AAC: 1024 priming samples).
    pub(crate) fn initial_padding(&self) -> i64 {
        av::initial_padding(&self.encoder)
    }

    /// Queues samples and hands every finished packet to `sink`.
    pub(crate) fn push(
        &mut self,
        planes: &[&[f32]],
        sink: &mut dyn FnMut(Packet) -> Result<(), TranscodeError>,
    ) -> Result<(), TranscodeError> {
        self.fifo.push(planes);
        while self.fifo.len() >= self.frame_size {
            self.send_frame(self.frame_size, sink)?;
        }
        Ok(())
    }

    /// Encodes the queued remainder, flushes the encoder and hands the last packets to `sink`.
    pub(crate) fn finish(
        &mut self,
        sink: &mut dyn FnMut(Packet) -> Result<(), TranscodeError>,
    ) -> Result<(), TranscodeError> {
        let rest = self.fifo.len();
        if rest > 0 {
            self.send_frame(rest, sink)?;
        }
        self.encoder
            .send_eof()
            .map_err(|e| TranscodeError::encode(format!("flushing {}", self.label), e))?;
        self.drain(sink)
    }

    fn send_frame(
        &mut self,
        samples: usize,
        sink: &mut dyn FnMut(Packet) -> Result<(), TranscodeError>,
    ) -> Result<(), TranscodeError> {
        let mut frame = frame::Audio::new(SAMPLE_FORMAT, samples, self.layout);
        frame.set_channels(self.channels as u16);
        frame.set_rate(self.rate);
        if frame.planes() != self.channels || frame.samples() != samples {
            return Err(TranscodeError::encode(
                format!("allocating a frame for {}", self.label),
                ffmpeg_next::Error::Other {
                    errno: ffmpeg_next::error::ENOMEM,
                },
            ));
        }
        for channel in 0..self.channels {
            self.fifo
                .peek_channel(channel, frame.plane_mut::<f32>(channel));
        }
        self.fifo.consume(samples);
        frame.set_pts(Some(self.next_pts));
        self.next_pts += samples as i64;
        self.encoder
            .send_frame(&frame)
            .map_err(|e| TranscodeError::encode(format!("encoding {}", self.label), e))?;
        self.drain(sink)
    }

    fn drain(
        &mut self,
        sink: &mut dyn FnMut(Packet) -> Result<(), TranscodeError>,
    ) -> Result<(), TranscodeError> {
        loop {
            let mut packet = Packet::empty();
            match self.encoder.receive_packet(&mut packet) {
                Ok(()) => sink(packet)?,
                Err(ffmpeg_next::Error::Eof) => return Ok(()),
                Err(ffmpeg_next::Error::Other { errno }) if errno == ffmpeg_next::error::EAGAIN => {
                    return Ok(());
                }
                Err(e) => {
                    return Err(TranscodeError::encode(
                        format!("encoding {}", self.label),
                        e,
                    ));
                }
            }
        }
    }
}
