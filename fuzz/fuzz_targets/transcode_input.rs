//! The transcoder's side of a hostile upload, as the worker runs it: FFmpeg's probing and
//! demuxing of arbitrary bytes, the decoder, and the pipeline's own checks. A clean
//! `TranscodeError` is the expected answer to garbage; a panic (or a crash inside FFmpeg, which
//! the worker's isolation exists for) is a finding.
#![no_main]

use chorus_transcoder::{TranscodeConfig, transcode};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("temp dir");
    let input = dir.path().join("upload");
    std::fs::write(&input, data).expect("write input");
    // Short limits keep one run quick: seconds of audio, one low rendition, no MP3.
    let config = TranscodeConfig::default()
        .with_renditions(vec![chorus_transcoder::Rendition::from_bitrate(64_000)])
        .with_mp3_bitrate(None)
        .with_max_duration_secs(5);
    let _ = transcode(&input, &dir.path().join("out"), &config, &mut |_| {});
});
