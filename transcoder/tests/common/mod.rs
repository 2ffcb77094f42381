//! Test helpers: real audio made with the `ffmpeg` CLI, outputs inspected with `ffprobe`.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// Runs the `ffmpeg` CLI quietly with `args`, panicking on failure.
pub fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-nostdin", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg CLI is installed");
    assert!(status.success(), "ffmpeg {args:?} failed");
}

/// Writes a sine tone of `secs` seconds at `rate` Hz with `channels` channels to
/// `dir/name`; the codec follows the extension (plus `extra` output options).
pub fn sine(
    dir: &Path,
    name: &str,
    secs: f64,
    rate: u32,
    channels: u32,
    extra: &[&str],
) -> PathBuf {
    let path = dir.join(name);
    let source = format!("sine=frequency=440:sample_rate={rate}:duration={secs}");
    let layout = if channels == 1 { "mono" } else { "stereo" };
    let mut args = vec![
        "-f".to_string(),
        "lavfi".to_string(),
        "-i".to_string(),
        source,
        "-af".to_string(),
        format!("aformat=channel_layouts={layout}"),
        "-ar".to_string(),
        rate.to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(path.to_str().unwrap().to_string());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    ffmpeg(&args);
    path
}

/// `ffprobe` output as JSON for `path` (format and streams).
pub fn probe(path: &Path) -> serde_json::Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_format",
            "-show_streams",
        ])
        .arg(path)
        .output()
        .expect("ffprobe is installed");
    assert!(
        out.status.success(),
        "ffprobe {path:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Duration in seconds of `path` as ffprobe's demuxer reports it.
pub fn probe_duration(path: &Path) -> f64 {
    probe(path)["format"]["duration"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// Exact decoded duration: the samples ffmpeg decodes from `path`, over its sample rate.
pub fn decoded_duration(path: &Path) -> f64 {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "a:0",
            "-show_entries",
            "stream=sample_rate:packet=duration_time",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    json["packets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["duration_time"].as_str().unwrap().parse::<f64>().unwrap())
        .sum()
}

/// Every file under `dir`, relative path and bytes, sorted.
pub fn tree(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(base, &path, out);
            } else {
                let rel = path
                    .strip_prefix(base)
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .to_string();
                out.push((rel, std::fs::read(&path).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}
