//! Bad uploads: each gets a typed error, and no partial output is left behind.

mod common;

use std::path::Path;

use chorus_transcoder::{FailureKind, TranscodeConfig, TranscodeError, transcode};

/// Runs a transcode expected to fail; checks the output directory is left empty and that
/// no decoding progress was reported when `decoded` is false.
fn fails(input: &Path, config: &TranscodeConfig) -> (TranscodeError, usize) {
    let out = input.with_extension("out");
    let mut reports = 0;
    let err = transcode(input, &out, config, &mut |_| reports += 1).unwrap_err();
    if out.exists() {
        assert_eq!(
            std::fs::read_dir(&out).unwrap().count(),
            0,
            "partial output left"
        );
    }
    assert!(
        err.kind().is_bad_input() || err.kind() == FailureKind::Input,
        "{err}"
    );
    (err, reports)
}

#[test]
fn zero_length_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.mp3");
    std::fs::write(&path, b"").unwrap();
    let (err, reports) = fails(&path, &TranscodeConfig::default());
    assert!(matches!(err, TranscodeError::Empty { .. }), "{err}");
    assert_eq!(reports, 0);
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let (err, _) = fails(&dir.path().join("nope.wav"), &TranscodeConfig::default());
    assert!(matches!(err, TranscodeError::Input { .. }), "{err}");
}

#[test]
fn random_bytes_named_wav() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("noise.wav");
    // A fixed xorshift sequence: random-looking bytes, same on every run.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let bytes: Vec<u8> = (0..200_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    std::fs::write(&path, bytes).unwrap();
    let (err, _) = fails(&path, &TranscodeConfig::default());
    assert!(
        matches!(
            err,
            TranscodeError::Unrecognized { .. }
                | TranscodeError::NoAudioStream { .. }
                | TranscodeError::Corrupt { .. }
        ),
        "{err}"
    );
}

#[test]
fn truncated_mp3() {
    let dir = tempfile::tempdir().unwrap();
    let full = common::sine(
        dir.path(),
        "full.mp3",
        10.0,
        44_100,
        2,
        &["-c:a", "libmp3lame"],
    );
    let bytes = std::fs::read(&full).unwrap();
    let cut = dir.path().join("cut.mp3");
    // Cut mid-frame, a bit under half-way.
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 5 + 77]).unwrap();
    let (err, _) = fails(&cut, &TranscodeConfig::default());
    assert!(
        matches!(
            err,
            TranscodeError::Truncated { .. } | TranscodeError::Corrupt { .. }
        ),
        "{err}"
    );
}

#[test]
fn truncated_wav() {
    let dir = tempfile::tempdir().unwrap();
    let full = common::sine(dir.path(), "full.wav", 6.0, 48_000, 2, &[]);
    let bytes = std::fs::read(&full).unwrap();
    let cut = dir.path().join("cut.wav");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let (err, _) = fails(&cut, &TranscodeConfig::default());
    match err {
        TranscodeError::Truncated { declared, decoded } => {
            assert!((declared - 6.0).abs() < 0.01, "{declared}");
            assert!((decoded - 3.0).abs() < 0.01, "{decoded}");
        }
        other => panic!("expected Truncated, got {other}"),
    }
}

#[test]
fn image_is_not_audio() {
    let dir = tempfile::tempdir().unwrap();
    let png = dir.path().join("cover.png");
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=blue:s=32x32",
        "-frames:v",
        "1",
        png.to_str().unwrap(),
    ]);
    let (err, _) = fails(&png, &TranscodeConfig::default());
    assert!(matches!(err, TranscodeError::Unrecognized { .. }), "{err}");
}

#[test]
fn video_without_audio() {
    let dir = tempfile::tempdir().unwrap();
    let mkv = dir.path().join("silent-film.mkv");
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=64x64:rate=5:duration=1",
        "-c:v",
        "mpeg4",
        mkv.to_str().unwrap(),
    ]);
    let (err, _) = fails(&mkv, &TranscodeConfig::default());
    assert!(matches!(err, TranscodeError::NoAudioStream { .. }), "{err}");
}

#[test]
fn playlist_formats_are_refused() {
    // An HLS playlist would make libav open other files; only audio containers are allowed.
    let dir = tempfile::tempdir().unwrap();
    let wav = common::sine(dir.path(), "a.wav", 1.0, 48_000, 1, &[]);
    let m3u8 = dir.path().join("evil.m3u8");
    std::fs::write(
        &m3u8,
        format!(
            "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n{}\n#EXT-X-ENDLIST\n",
            wav.display()
        ),
    )
    .unwrap();
    let (err, _) = fails(&m3u8, &TranscodeConfig::default());
    assert!(matches!(err, TranscodeError::Unrecognized { .. }), "{err}");
}

#[test]
fn over_size_limit() {
    let dir = tempfile::tempdir().unwrap();
    let wav = common::sine(dir.path(), "a.wav", 1.0, 48_000, 1, &[]);
    let (err, reports) = fails(&wav, &TranscodeConfig::default().with_max_input_bytes(1000));
    assert!(
        matches!(err, TranscodeError::TooLarge { max: 1000, .. }),
        "{err}"
    );
    assert_eq!(reports, 0);
}

#[test]
fn ten_hour_file_is_refused_from_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let flac = dir.path().join("ten-hours.flac");
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=8000:cl=mono:nb_samples=8192",
        "-t",
        "36000",
        "-c:a",
        "flac",
        flac.to_str().unwrap(),
    ]);
    let (err, reports) = fails(&flac, &TranscodeConfig::default());
    // The refusal carries the header's 10 h, not the 4 h limit plus a little: it was found
    // by the probe, and no decoding progress was ever reported.
    match err {
        TranscodeError::TooLong { duration, max } => {
            assert!((duration - 36_000.0).abs() < 1.0, "{duration}");
            assert_eq!(max, 4 * 3600);
        }
        other => panic!("expected TooLong, got {other}"),
    }
    assert_eq!(reports, 0);
}

#[test]
fn long_pcm_wav_is_refused_from_its_header() {
    let dir = tempfile::tempdir().unwrap();
    let wav = dir.path().join("long.wav");
    // 2 h of 8 kHz 8-bit mono: 57 MB, generated in about a second.
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=8000:cl=mono:nb_samples=8192",
        "-t",
        "7200",
        "-c:a",
        "pcm_u8",
        wav.to_str().unwrap(),
    ]);
    let config = TranscodeConfig::default().with_max_duration_secs(3600);
    let (err, reports) = fails(&wav, &config);
    match err {
        TranscodeError::TooLong {
            duration,
            max: 3600,
        } => {
            assert!((duration - 7200.0).abs() < 1.0, "{duration}")
        }
        other => panic!("expected TooLong, got {other}"),
    }
    assert_eq!(reports, 0);
}

#[test]
fn duration_limit_also_holds_while_decoding() {
    // A raw ADTS stream has no trustworthy duration header, so the limit bites mid-decode.
    let dir = tempfile::tempdir().unwrap();
    let aac = common::sine(dir.path(), "a.aac", 4.0, 48_000, 1, &["-c:a", "aac"]);
    let (err, _) = fails(&aac, &TranscodeConfig::default().with_max_duration_secs(2));
    match err {
        TranscodeError::TooLong { duration, max: 2 } => assert!(duration < 2.5, "{duration}"),
        other => panic!("expected TooLong, got {other}"),
    }
}

#[test]
fn non_empty_output_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let wav = common::sine(dir.path(), "a.wav", 1.0, 48_000, 1, &[]);
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    std::fs::write(out.join("keep.txt"), b"mine").unwrap();
    let err = transcode(&wav, &out, &TranscodeConfig::default(), &mut |_| {}).unwrap_err();
    assert!(matches!(err, TranscodeError::Output { .. }), "{err}");
    assert_eq!(std::fs::read(out.join("keep.txt")).unwrap(), b"mine");
}

/// A WAV header whose sample rate is absurd (found by the `transcode_input` fuzz target:
/// 2,140,575,744 Hz, for which the resampler spent 6.6 s of CPU on 10 KB) is refused from the
/// header, at once.
#[test]
fn an_absurd_sample_rate_is_refused_from_the_header() {
    let dir = tempfile::tempdir().unwrap();
    for (rate, channels) in [
        (2_140_575_744u32, 1u16),
        (44_100, 0),
        (44_100, 200),
        (500, 2),
    ] {
        let data = vec![0u8; 10_000];
        let mut wav = Vec::new();
        wav.extend_from_slice(b"RIFF");
        wav.extend_from_slice(&(36 + data.len() as u32).to_le_bytes());
        wav.extend_from_slice(b"WAVEfmt ");
        wav.extend_from_slice(&16u32.to_le_bytes());
        wav.extend_from_slice(&1u16.to_le_bytes()); // PCM
        wav.extend_from_slice(&channels.to_le_bytes());
        wav.extend_from_slice(&rate.to_le_bytes());
        wav.extend_from_slice(&(rate.wrapping_mul(2)).to_le_bytes());
        wav.extend_from_slice(&2u16.to_le_bytes());
        wav.extend_from_slice(&16u16.to_le_bytes());
        wav.extend_from_slice(b"data");
        wav.extend_from_slice(&(data.len() as u32).to_le_bytes());
        wav.extend_from_slice(&data);
        let path = dir.path().join(format!("odd-{rate}-{channels}.wav"));
        std::fs::write(&path, &wav).unwrap();
        let (err, _) = fails(&path, &TranscodeConfig::default());
        assert!(
            matches!(
                err.kind(),
                FailureKind::Unsupported | FailureKind::Unrecognized
            ),
            "{rate} Hz, {channels} ch: {err}"
        );
    }
}
