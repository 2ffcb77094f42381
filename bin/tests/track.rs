//! `chorus track add`: real audio (made with the ffmpeg CLI) becomes one pinned UnixFS
//! directory of HLS + MP3 + track.json, readable by ffprobe over HTTP from our gateway.

mod common;

use std::process::Command;

use common::*;

/// A stereo 44.1 kHz sine of `secs` seconds, as WAV.
fn sine_wav(dir: &std::path::Path, secs: u32) -> std::path::PathBuf {
    let path = dir.join("sine.wav");
    let status = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("sine=frequency=440:duration={secs}"))
        .args(["-ac", "2", "-ar", "44100"])
        .arg(&path)
        .status()
        .unwrap();
    assert!(status.success());
    path
}

#[test]
fn track_add_is_deterministic_and_plays_over_the_gateway() {
    let repo = Repo::init();
    let wav = sine_wav(repo.dir.path(), 20);
    let cid = repo
        .ok(&["track", "add", wav.to_str().unwrap()])
        .trim()
        .to_string();
    assert!(cid.starts_with("Qm"), "{cid}");
    // Same file, same settings: same bytes, same CID, nothing new stored.
    let blocks_before = repo.ok(&["repo", "stat"]);
    assert_eq!(
        repo.ok(&["track", "add", wav.to_str().unwrap()]).trim(),
        cid
    );
    assert_eq!(
        repo.ok(&["repo", "stat"]).lines().next(),
        blocks_before.lines().next()
    );
    assert!(
        repo.ok(&["pin", "ls", "--type", "recursive"])
            .contains(&cid)
    );

    let ls = repo.ok(&["ls", &cid]);
    for name in [
        " 320k/",
        " download.mp3",
        " master.m3u8",
        " source.wav",
        " track.json",
    ] {
        assert!(ls.contains(name), "{name} missing: {ls}");
    }
    let segs = repo.ok(&["ls", &format!("{cid}/320k")]);
    assert!(
        segs.contains(" index.m3u8") && segs.contains(" seg00000.ts"),
        "{segs}"
    );
    let info: serde_json::Value =
        serde_json::from_slice(&repo.ok_bytes(&["track", "info", &cid])).unwrap();
    let source_line = ls.lines().find(|l| l.ends_with(" source.wav")).unwrap();
    assert_eq!(
        info["source_cid"].as_str().unwrap(),
        source_line.split(' ').next().unwrap()
    );
    assert!(
        (info["duration"].as_f64().unwrap() - 20.0).abs() < 0.05,
        "{info}"
    );

    // Through the daemon: same CID; ffprobe reads the HLS from our gateway.
    let daemon = Daemon::start(&repo, &["--offline"]);
    assert_eq!(
        repo.ok(&["track", "add", wav.to_str().unwrap()]).trim(),
        cid
    );
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-show_entries"])
        .arg("format=duration:stream=codec_name,sample_rate,channels")
        .args(["-of", "json"])
        .arg(format!("http://{}/ipfs/{cid}/master.m3u8", daemon.gateway))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "ffprobe: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let probe: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let stream = &probe["streams"][0];
    assert_eq!(stream["codec_name"], "aac", "{probe}");
    assert_eq!(stream["sample_rate"], "48000", "{probe}");
    assert_eq!(stream["channels"], 2, "{probe}");
    let duration: f64 = probe["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((duration - 20.0).abs() < 0.05, "HLS duration {duration}");
}

#[test]
fn hostile_audio_is_a_clear_error_and_stores_nothing() {
    let repo = Repo::init();
    let noise = write_file(repo.dir.path(), "noise.wav", &pseudo_random(200_000, 4));
    let empty = write_file(repo.dir.path(), "empty.mp3", b"");
    let stat_before = repo.ok(&["repo", "stat"]);
    for f in [&noise, &empty] {
        let err = repo.fails(&["track", "add", f.to_str().unwrap()]);
        assert!(
            err.contains(f.file_name().unwrap().to_str().unwrap()),
            "{err}"
        );
    }
    assert_eq!(repo.ok(&["pin", "ls"]), "");
    assert_eq!(
        repo.ok(&["repo", "stat"]).lines().next(),
        stat_before.lines().next()
    );
}
