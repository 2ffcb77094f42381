//! The few libav settings ffmpeg-next has no safe setter for, kept in one audited place.

use ffmpeg_next::ffi;
use ffmpeg_next::format::context::{Input, Output};

/// How the demuxer learnt the input's duration; only a bit-rate estimate is untrustworthy.
pub(crate) fn duration_is_estimate(input: &Input) -> bool {
    // SAFETY: `input` owns a valid, opened AVFormatContext for the duration of the borrow.
    let method = unsafe { (*input.as_ptr()).duration_estimation_method };
    method == ffi::AVDurationEstimationMethod::AVFMT_DURATION_FROM_BITRATE
}

/// Makes a muxer deterministic: no library version strings, no wall-clock dependent fields.
pub(crate) fn set_bitexact(output: &mut Output) {
    // SAFETY: `output` owns a valid AVFormatContext; `flags` is a plain int field that
    // `avformat_write_header` reads later.
    unsafe {
        (*output.as_mut_ptr()).flags |= ffi::AVFMT_FLAG_BITEXACT;
    }
}

/// Sets the muxer's maximum demux-decode delay in microseconds (`ffmpeg -muxdelay`).
pub(crate) fn set_max_delay(output: &mut Output, micros: i32) {
    // SAFETY: as in `set_bitexact`; `max_delay` is a plain int field.
    unsafe {
        (*output.as_mut_ptr()).max_delay = micros;
    }
}

/// Samples of encoder delay (priming) the encoder puts before the first real sample.
pub(crate) fn initial_padding(encoder: &ffmpeg_next::codec::Context) -> i64 {
    // SAFETY: the encoder context is valid and opened; `initial_padding` is set by open.
    i64::from(unsafe { (*encoder.as_ptr()).initial_padding })
}

/// Output sample capacity the resampler may need for `input` more samples.
pub(crate) fn resampler_capacity(
    resampler: &mut ffmpeg_next::software::resampling::Context,
    input: usize,
) -> usize {
    let input = i32::try_from(input).unwrap_or(i32::MAX);
    // SAFETY: the resampler is a valid, initialised SwrContext.
    let out = unsafe { ffi::swr_get_out_samples(resampler.as_mut_ptr(), input) };
    usize::try_from(out).unwrap_or(0)
}
