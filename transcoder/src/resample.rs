//! swresample from whatever the decoder produces to the pipeline's planar float format.
//!
//! A stream may change sample rate, format or layout mid-way (chained Ogg, some MP3s); the
//! resampler is then drained and rebuilt so no samples are lost at the switch.

use ffmpeg_next::software::resampling;
use ffmpeg_next::{ChannelLayout, frame};

use crate::av;
use crate::encode::SAMPLE_FORMAT;
use crate::error::TranscodeError;

/// Receives converted audio: one equally long slice per output channel.
pub(crate) type ChunkSink<'a> = dyn FnMut(&[&[f32]]) -> Result<(), TranscodeError> + 'a;

/// Input parameters a resampler was built for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct InputKey {
    format: ffmpeg_next::format::Sample,
    layout: u64,
    rate: u32,
}

/// Converts decoded frames to `SAMPLE_FORMAT` at a fixed rate and layout.
pub(crate) struct Resampler {
    current: Option<(resampling::Context, InputKey)>,
    rate: u32,
    layout: ChannelLayout,
    channels: u16,
}

impl Resampler {
    /// A resampler producing `rate` Hz with `channels` channels.
    pub(crate) fn new(rate: u32, channels: u16) -> Self {
        Self {
            current: None,
            rate,
            layout: ChannelLayout::default(i32::from(channels)),
            channels,
        }
    }

    /// Converts one decoded frame; converted chunks go to `sink` as one slice per channel.
    pub(crate) fn convert(
        &mut self,
        input: &mut frame::Audio,
        sink: &mut ChunkSink<'_>,
    ) -> Result<(), TranscodeError> {
        let channels = input.channels();
        let rate = input.rate();
        if channels == 0 || rate == 0 || input.samples() == 0 {
            return Ok(());
        }
        // Decoders of headerless formats leave the layout unknown; swresample needs one, and
        // the frame must carry the same one or the resampler reports a changed input.
        let mut layout = input.channel_layout();
        if layout.bits() == 0 || layout.channels() != i32::from(channels) {
            layout = ChannelLayout::default(i32::from(channels));
            input.set_channel_layout(layout);
        }
        let key = InputKey {
            format: input.format(),
            layout: layout.bits(),
            rate,
        };
        if self.current.as_ref().map(|(_, k)| *k) != Some(key) {
            self.flush(sink)?;
            let context = resampling::Context::get(
                key.format,
                layout,
                rate,
                SAMPLE_FORMAT,
                self.layout,
                self.rate,
            )
            .map_err(|e| TranscodeError::encode("configuring the resampler", e))?;
            self.current = Some((context, key));
        }
        let Some((context, _)) = self.current.as_mut() else {
            return Ok(());
        };
        let capacity = av::resampler_capacity(context, input.samples());
        let mut output = output_frame(self.layout, self.channels, self.rate, capacity)?;
        context
            .run(input, &mut output)
            .map_err(|e| TranscodeError::encode("resampling", e))?;
        self.emit(&output, sink)
    }

    /// Drains the samples the resampler still holds (its filter delay).
    pub(crate) fn flush(&mut self, sink: &mut ChunkSink<'_>) -> Result<(), TranscodeError> {
        let Some((mut context, _)) = self.current.take() else {
            return Ok(());
        };
        loop {
            let capacity = av::resampler_capacity(&mut context, 0);
            if capacity == 0 {
                return Ok(());
            }
            let mut output = output_frame(self.layout, self.channels, self.rate, capacity)?;
            context
                .flush(&mut output)
                .map_err(|e| TranscodeError::encode("flushing the resampler", e))?;
            if output.samples() == 0 {
                return Ok(());
            }
            self.emit(&output, sink)?;
        }
    }

    fn emit(&self, output: &frame::Audio, sink: &mut ChunkSink<'_>) -> Result<(), TranscodeError> {
        if output.samples() == 0 {
            return Ok(());
        }
        let planes: Vec<&[f32]> = (0..usize::from(self.channels))
            .map(|c| output.plane::<f32>(c))
            .collect();
        sink(&planes)
    }
}

/// A writable output frame with room for `capacity` samples.
fn output_frame(
    layout: ChannelLayout,
    channels: u16,
    rate: u32,
    capacity: usize,
) -> Result<frame::Audio, TranscodeError> {
    let mut output = frame::Audio::new(SAMPLE_FORMAT, capacity.max(1), layout);
    output.set_channels(channels);
    output.set_rate(rate);
    if output.planes() != usize::from(channels) {
        return Err(TranscodeError::encode(
            "allocating a resampler frame",
            ffmpeg_next::Error::Other {
                errno: ffmpeg_next::error::ENOMEM,
            },
        ));
    }
    Ok(output)
}
