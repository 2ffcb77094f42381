//! The in-process pipeline on real audio: formats, output layout, durations, determinism.

mod common;

use std::path::Path;

use chorus_transcoder::{Rendition, TrackInfo, TranscodeConfig, transcode};

/// The acceptance bound on total segment duration versus the source.
const DURATION_TOLERANCE_SECS: f64 = 0.050;

/// Transcodes `source` with `config` and checks every output against ffprobe.
fn check_outputs(source: &Path, source_secs: f64, config: &TranscodeConfig) -> TrackInfo {
    let out = source.with_extension("out");
    let mut percents = Vec::new();
    let done = transcode(source, &out, config, &mut |p| percents.push(p.percent)).unwrap();
    let track = done.track;

    // Progress climbs monotonically from 0 to 100.
    assert_eq!(percents.first(), Some(&0));
    assert_eq!(percents.last(), Some(&100));
    assert!(percents.windows(2).all(|w| w[0] < w[1]), "{percents:?}");

    // track.json on disk is what the call returned.
    let on_disk = TrackInfo::from_json(&std::fs::read(out.join("track.json")).unwrap()).unwrap();
    assert_eq!(on_disk, track);
    assert!(
        (track.duration - source_secs).abs() < DURATION_TOLERANCE_SECS,
        "{}",
        track.duration
    );

    // Segment count: frames are cut at multiples of the segment length, priming included.
    let expected_segments = ((source_secs + 1024.0 / 48_000.0) / 6.0).ceil() as usize;
    let master = std::fs::read_to_string(out.join("master.m3u8")).unwrap();
    for rendition in &track.renditions {
        assert!(master.contains(&format!("{}/index.m3u8", rendition.name)));
        assert_eq!(
            rendition.segments.len(),
            expected_segments,
            "{}",
            rendition.name
        );
        let playlist =
            std::fs::read_to_string(out.join(&rendition.name).join("index.m3u8")).unwrap();
        assert_eq!(playlist.matches("#EXTINF:").count(), expected_segments);
        let longest = rendition
            .segments
            .iter()
            .map(|s| s.duration)
            .fold(0.0, f64::max);
        let header = format!(
            "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:{}\n#EXT-X-MEDIA-SEQUENCE:0\n\
             #EXT-X-PLAYLIST-TYPE:VOD\n",
            longest.round()
        );
        assert!(playlist.starts_with(&header), "{playlist}");
        assert!(playlist.ends_with("#EXT-X-ENDLIST\n"));
        let total: f64 = rendition.segments.iter().map(|s| s.duration).sum();
        assert!(
            (total - source_secs).abs() < DURATION_TOLERANCE_SECS,
            "{}: segments {total} s vs source {source_secs} s",
            rendition.name
        );
        for segment in &rendition.segments {
            let path = out.join(&segment.path);
            assert_eq!(std::fs::metadata(&path).unwrap().len(), segment.size);
            let probe = common::probe(&path);
            let stream = &probe["streams"][0];
            assert_eq!(probe["format"]["format_name"], "mpegts");
            assert_eq!(stream["codec_name"], "aac");
            assert_eq!(stream["profile"], "LC");
            assert_eq!(stream["sample_rate"], "48000");
            assert_eq!(stream["channels"], 2);
            let decoded = common::decoded_duration(&path);
            assert!(
                (decoded - segment.duration).abs() < 1e-3,
                "{decoded} vs {}",
                segment.duration
            );
        }
    }

    // ffprobe through the HLS demuxer sees the whole stream at the right length.
    let hls = common::probe(&out.join("master.m3u8"));
    let hls_secs: f64 = hls["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!(
        (hls_secs - source_secs).abs() < DURATION_TOLERANCE_SECS,
        "hls {hls_secs}"
    );
    assert_eq!(hls["streams"][0]["codec_name"], "aac");

    // The MP3 download: 48 kHz stereo, gapless length equal to the source.
    let download = track.download.as_ref().unwrap();
    let mp3 = out.join(&download.path);
    let probe = common::probe(&mp3);
    assert_eq!(probe["streams"][0]["codec_name"], "mp3");
    assert_eq!(probe["streams"][0]["sample_rate"], "48000");
    assert_eq!(probe["streams"][0]["channels"], 2);
    assert_eq!(probe["streams"][0]["bit_rate"], "320000");
    let mp3_secs = common::probe_duration(&mp3);
    assert!(
        (mp3_secs - source_secs).abs() < DURATION_TOLERANCE_SECS,
        "mp3 {mp3_secs}"
    );
    track
}

fn case(name: &str, secs: f64, rate: u32, channels: u32, extra: &[&str], codec: &str) {
    let dir = tempfile::tempdir().unwrap();
    let source = common::sine(dir.path(), name, secs, rate, channels, extra);
    let track = check_outputs(&source, secs, &TranscodeConfig::default());
    assert_eq!(track.source.codec, codec);
    assert_eq!(track.source.sample_rate, rate);
    assert_eq!(track.source.channels, channels as u16);
    assert_eq!(track.renditions.len(), 1);
    assert_eq!(track.renditions[0].name, "320k");
}

#[test]
fn wav_stereo_44k() {
    case("a.wav", 7.0, 44_100, 2, &[], "pcm_s16le");
}

#[test]
fn wav_mono_22k() {
    case("a.wav", 4.0, 22_050, 1, &[], "pcm_s16le");
}

#[test]
fn aiff_stereo_48k() {
    case("a.aiff", 3.0, 48_000, 2, &[], "pcm_s16be");
}

#[test]
fn flac_mono_48k() {
    case("a.flac", 7.0, 48_000, 1, &[], "flac");
}

#[test]
fn mp3_stereo_44k() {
    case(
        "a.mp3",
        7.0,
        44_100,
        2,
        &["-c:a", "libmp3lame", "-b:a", "192k"],
        "mp3",
    );
}

#[test]
fn ogg_vorbis_mono_44k() {
    case("a.ogg", 5.0, 44_100, 1, &["-c:a", "libvorbis"], "vorbis");
}

#[test]
fn opus_stereo_48k() {
    case(
        "a.opus",
        5.0,
        48_000,
        2,
        &["-c:a", "libopus", "-b:a", "96k"],
        "opus",
    );
}

#[test]
fn m4a_aac_stereo_22k() {
    case(
        "a.m4a",
        5.0,
        22_050,
        2,
        &["-c:a", "aac", "-b:a", "96k"],
        "aac",
    );
}

#[test]
fn cover_art_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let audio = common::sine(
        dir.path(),
        "plain.mp3",
        3.0,
        44_100,
        2,
        &["-c:a", "libmp3lame"],
    );
    let cover = dir.path().join("cover.png");
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=red:s=64x64",
        "-frames:v",
        "1",
        cover.to_str().unwrap(),
    ]);
    let tagged = dir.path().join("tagged.mp3");
    common::ffmpeg(&[
        "-i",
        audio.to_str().unwrap(),
        "-i",
        cover.to_str().unwrap(),
        "-map",
        "0:a",
        "-map",
        "1:v",
        "-c",
        "copy",
        "-disposition:v",
        "attached_pic",
        tagged.to_str().unwrap(),
    ]);
    let probe = common::probe(&tagged);
    assert_eq!(
        probe["streams"].as_array().unwrap().len(),
        2,
        "fixture has a picture"
    );
    let track = check_outputs(&tagged, 3.0, &TranscodeConfig::default());
    assert_eq!(track.source.codec, "mp3");
}

#[test]
fn extra_rendition_and_mono_output() {
    let dir = tempfile::tempdir().unwrap();
    let source = common::sine(dir.path(), "a.flac", 13.0, 44_100, 2, &[]);
    let config = TranscodeConfig::default().with_renditions(vec![
        Rendition::from_bitrate(320_000),
        Rendition::from_bitrate(128_000),
    ]);
    let track = check_outputs(&source, 13.0, &config);
    assert_eq!(track.renditions.len(), 3 - 1);
    assert_eq!(track.renditions[1].name, "128k");
    let master = std::fs::read_to_string(source.with_extension("out").join("master.m3u8")).unwrap();
    let first = master.find("320k/index.m3u8").unwrap();
    let second = master.find("128k/index.m3u8").unwrap();
    assert!(first < second, "master keeps the configured order");
    assert!(master.contains("CODECS=\"mp4a.40.2\""));
    assert!(track.renditions[0].average_bandwidth > track.renditions[1].average_bandwidth);

    // Mono output is configurable too.
    let out = dir.path().join("mono");
    let mono = TranscodeConfig::default()
        .with_channels(1)
        .with_renditions(vec![Rendition::from_bitrate(128_000)])
        .with_mp3_bitrate(None);
    let done = transcode(&source, &out, &mono, &mut |_| {}).unwrap();
    assert!(done.track.download.is_none());
    assert!(!out.join("download.mp3").exists());
    let probe = common::probe(&out.join("128k/seg00000.ts"));
    assert_eq!(probe["streams"][0]["channels"], 1);
}

#[test]
fn same_input_gives_identical_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let source = common::sine(dir.path(), "a.wav", 8.0, 44_100, 2, &[]);
    let config = TranscodeConfig::default().with_renditions(vec![
        Rendition::from_bitrate(320_000),
        Rendition::from_bitrate(128_000),
    ]);
    let (a, b) = (dir.path().join("a"), dir.path().join("b"));
    transcode(&source, &a, &config, &mut |_| {}).unwrap();
    transcode(&source, &b, &config, &mut |_| {}).unwrap();
    let (a, b) = (common::tree(&a), common::tree(&b));
    let names: Vec<&str> = a.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "128k/index.m3u8",
            "128k/seg00000.ts",
            "128k/seg00001.ts",
            "320k/index.m3u8",
            "320k/seg00000.ts",
            "320k/seg00001.ts",
            "download.mp3",
            "master.m3u8",
            "track.json",
        ]
    );
    for ((name_a, bytes_a), (name_b, bytes_b)) in a.iter().zip(&b) {
        assert_eq!(name_a, name_b);
        assert!(bytes_a == bytes_b, "{name_a} differs between runs");
    }
}
