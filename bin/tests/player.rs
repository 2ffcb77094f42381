//! The gateway's built-in player page (`/player/<cid>`) in a real browser: Debian's headless
//! Chromium, driven by npm `playwright-core` (`tests/js/player_check.mjs`), plays a track made by
//! `chorus track add` with the hls.js the binary embeds. Also proves the embedded hls.js is the
//! npm release byte for byte.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use chorus_node::gateway::{HLSJS_BUNDLE, HLSJS_BUNDLE_NAME, hlsjs_version};
use common::*;

/// Debian's `chromium` (scripts/install-deps.sh installs it). Playwright never downloads one.
const CHROMIUM: &str = "/usr/bin/chromium";

/// Length of the test track: long enough that `currentTime > 2` needs several segments
/// (chorus cuts ~6 s segments), short enough to transcode in a second.
const TRACK_SECS: u32 = 15;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn npm_hlsjs() -> PathBuf {
    test_cache().join("npm/node_modules/hls.js")
}

fn package_version(package_json: &Path) -> String {
    let v: serde_json::Value =
        serde_json::from_slice(&std::fs::read(package_json).unwrap()).unwrap();
    v["version"].as_str().unwrap().to_owned()
}

#[test]
fn embedded_hlsjs_is_the_npm_release() {
    let dist = npm_hlsjs().join("dist").join(HLSJS_BUNDLE_NAME);
    let npm = std::fs::read(&dist).unwrap_or_else(|e| panic!("{}: {e}", dist.display()));
    assert!(
        HLSJS_BUNDLE == npm.as_slice(),
        "the embedded {HLSJS_BUNDLE_NAME} ({} bytes) differs from {} ({} bytes): \
         run scripts/update-hlsjs.sh",
        HLSJS_BUNDLE.len(),
        dist.display(),
        npm.len()
    );
    // The version the binary states is the installed one, and that is the locked one.
    assert_eq!(
        hlsjs_version(),
        package_version(&npm_hlsjs().join("package.json"))
    );
    let lock: serde_json::Value = serde_json::from_slice(
        &std::fs::read(repo_root().join("tests/npm/package-lock.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        lock["packages"]["node_modules/hls.js"]["version"].as_str(),
        Some(hlsjs_version())
    );
    // Its licence travels with it.
    assert_eq!(
        std::fs::read(repo_root().join("node/assets/player/hls.js-LICENSE.txt")).unwrap(),
        std::fs::read(npm_hlsjs().join("LICENSE")).unwrap()
    );
}

/// A stereo 44.1 kHz sine of `secs` seconds, as WAV, made by the ffmpeg CLI.
fn sine_wav(dir: &Path, secs: u32) -> PathBuf {
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

/// `curl -s URL`: (status, body).
fn curl_get(url: &str) -> (u16, Vec<u8>) {
    let out = Command::new("curl")
        .args(["-s", "-w", "\n%{http_code}", url])
        .output()
        .unwrap();
    assert!(out.status.success(), "curl {url} failed");
    let mut body = out.stdout;
    let split = body.iter().rposition(|&b| b == b'\n').unwrap();
    let status = std::str::from_utf8(&body[split + 1..])
        .unwrap()
        .parse()
        .unwrap();
    body.truncate(split);
    (status, body)
}

/// Runs the checked-in `tests/js/player_check.mjs` from the npm cache dir (ES modules resolve
/// packages next to the script; copying it here means an edited script is never run stale).
fn run_player_check(args: &[&str]) -> serde_json::Value {
    let npm = test_cache().join("npm");
    let script = std::fs::read(repo_root().join("tests/js/player_check.mjs")).unwrap();
    let tmp = npm.join(format!(".player_check.{}.mjs", std::process::id()));
    std::fs::write(&tmp, script).unwrap();
    std::fs::rename(&tmp, npm.join("player_check.mjs")).unwrap();
    let browsers = tempfile::tempdir().unwrap();
    let out = Command::new(node_bin())
        .arg(npm.join("player_check.mjs"))
        .args(args)
        .current_dir(&npm)
        // Never fetch a browser: use Debian's, and point playwright's own cache at nothing.
        .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
        .env("PLAYWRIGHT_BROWSERS_PATH", browsers.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "player_check.mjs failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

#[test]
fn a_track_plays_in_headless_chromium() {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} missing: run scripts/install-deps.sh (Debian package chromium)"
    );
    let repo = Repo::init();
    let wav = sine_wav(repo.dir.path(), TRACK_SECS);
    let track = repo
        .ok(&["track", "add", wav.to_str().unwrap()])
        .trim()
        .to_owned();
    let text = write_file(repo.dir.path(), "notes.txt", b"not a track\n");
    let other = last_added_cid(&repo.ok(&["add", text.to_str().unwrap()]));
    let daemon = Daemon::start(&repo, &["--offline"]);
    let gateway = format!("http://{}", daemon.gateway);

    // The binary serves the npm release bytes of hls.js, at the URL its page names.
    let (status, page) = curl_get(&format!("{gateway}/player/{track}"));
    assert_eq!(status, 200);
    let page = String::from_utf8(page).unwrap();
    let hls_url = page
        .split('"')
        .find(|s| s.starts_with("/player/assets/") && s.ends_with(HLSJS_BUNDLE_NAME))
        .unwrap_or_else(|| panic!("no hls.js script in {page}"));
    let (status, served) = curl_get(&format!("{gateway}{hls_url}"));
    assert_eq!(status, 200);
    assert!(served == std::fs::read(npm_hlsjs().join("dist").join(HLSJS_BUNDLE_NAME)).unwrap());

    let shots = tempfile::tempdir().unwrap();
    let screenshot = shots.path().join("player.png");
    let found = run_player_check(&[
        &gateway,
        &track,
        &other,
        screenshot.to_str().unwrap(),
        CHROMIUM,
    ]);

    println!("player findings: {found}");
    // Played with hls.js (Chromium has Media Source Extensions), past 2 s of a 15 s track.
    assert_eq!(found["engine"], "hls.js", "{found}");
    assert_eq!(found["state"], "playing", "{found}");
    assert!(found["currentTime"].as_f64().unwrap() > 2.0, "{found}");
    let duration = found["duration"].as_f64().unwrap();
    assert!(
        (duration - f64::from(TRACK_SECS)).abs() < 0.1,
        "media duration {duration}: {found}"
    );
    assert!(
        found["meta"].as_str().unwrap().starts_with("0:15"),
        "{found}"
    );
    assert_eq!(found["playerErrors"], serde_json::json!([]), "{found}");
    assert_eq!(found["consoleErrors"], serde_json::json!([]), "{found}");
    assert_eq!(found["blocked"], serde_json::json!([]), "{found}");
    // The download link serves the MP3 as an attachment.
    let dl = &found["downloadResponse"];
    assert_eq!(dl["status"], 200, "{found}");
    assert_eq!(dl["type"], "audio/mpeg", "{found}");
    assert!(
        dl["disposition"]
            .as_str()
            .unwrap()
            .starts_with(&format!("attachment; filename=\"{track}.mp3\"")),
        "{found}"
    );
    let head: Vec<u64> = dl["head"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b.as_u64().unwrap())
        .collect();
    assert!(
        head == [0x49, 0x44, 0x33] || head[0] == 0xff,
        "not an MP3: {found}"
    );
    // The screenshot is a real PNG.
    let png = std::fs::read(&screenshot).unwrap();
    assert!(png.len() > 1000, "screenshot of {} bytes", png.len());
    assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"));
    if let Some(keep) = std::env::var_os("CHORUS_PLAYER_SCREENSHOT") {
        std::fs::copy(&screenshot, keep).unwrap();
    }

    // Not a track: the page shows why instead of spinning.
    assert_eq!(found["notTrack"]["state"], "error", "{found}");
    let message = found["notTrack"]["status"].as_str().unwrap();
    assert!(
        message.contains(&format!("{other} is not a chorus track")),
        "{message}"
    );
    // Junk: a plain 400 naming the problem.
    assert_eq!(found["junk"]["status"], 400, "{found}");
    assert!(
        found["junk"]["body"]
            .as_str()
            .unwrap()
            .starts_with("invalid track CID \"not-a-cid\""),
        "{found}"
    );
    daemon.stop();
}
