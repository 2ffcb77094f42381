//! `POST /api/v0/track/add` on a running daemon: real uploads with curl, NDJSON progress, the
//! same CID as the offline `chorus track add`, transcode metrics on /metrics, and hostile
//! uploads (including worker crashes and hangs through the fault switch) that fail clearly,
//! store nothing and leave the daemon serving.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

/// The transcoder's worker fault switch (`chorus_transcoder::FAULT_ENV`).
const FAULT_ENV: &str = "CHORUS_TRANSCODE_FAULT";

fn ffmpeg(args: &[&str]) {
    let status = Command::new("ffmpeg")
        .args(["-loglevel", "error", "-y"])
        .args(args)
        .status()
        .expect("ffmpeg (Debian ffmpeg) missing");
    assert!(status.success(), "ffmpeg {args:?}");
}

/// A stereo 44.1 kHz sine of `secs` seconds.
fn sine(dir: &Path, name: &str, secs: u32, extra: &[&str]) -> PathBuf {
    let path = dir.join(name);
    let mut args = vec![
        "-f".to_string(),
        "lavfi".to_string(),
        "-i".to_string(),
        format!("sine=frequency=440:duration={secs}"),
        "-ac".to_string(),
        "2".to_string(),
        "-ar".to_string(),
        "44100".to_string(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    args.push(path.to_str().unwrap().to_string());
    ffmpeg(&args.iter().map(String::as_str).collect::<Vec<_>>());
    path
}

/// curl's answer to a multipart upload of `file` to `track/add?query`: (HTTP status, body).
fn curl_track_add(api: &str, query: &str, file: &Path) -> (u16, String) {
    curl_upload(api, &format!("track/add?{query}"), file)
}

/// Every NDJSON line of a body.
fn ndjson_lines(body: &str) -> Vec<serde_json::Value> {
    body.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("bad line {l:?}: {e}")))
        .collect()
}

fn scrape(addr: &str) -> String {
    http_get(addr, "/metrics")
}

fn num_objects(repo: &Repo) -> String {
    repo.ok(&["repo", "stat"])
        .lines()
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn rpc_track_add_streams_progress_and_matches_the_offline_cid() {
    // Offline: the CLI's own worker pool and store.
    let offline = Repo::init();
    let wav = sine(offline.dir.path(), "tune.wav", 20, &[]);
    let offline_cid = offline
        .ok(&["track", "add", "--rendition", "128", wav.to_str().unwrap()])
        .trim()
        .to_string();

    // The daemon of a fresh repo, through a real HTTP client.
    let repo = Repo::init();
    let daemon = Daemon::start(&repo, &["--offline"]);
    let (status, body) = curl_track_add(&daemon.api, "rendition=128", &wav);
    assert_eq!(status, 200, "{body}");
    let lines = ndjson_lines(&body);
    let progress: Vec<&serde_json::Value> = lines
        .iter()
        .filter(|l| l["Stage"] == "transcoding")
        .collect();
    assert!(!progress.is_empty(), "no progress lines: {body}");
    let percents: Vec<u64> = progress
        .iter()
        .map(|l| l["Percent"].as_u64().unwrap())
        .collect();
    assert!(
        percents.windows(2).all(|w| w[0] <= w[1]) && *percents.last().unwrap() <= 100,
        "{percents:?}"
    );
    assert!(lines.iter().any(|l| l["Stage"] == "storing"), "{body}");
    let last = lines.last().unwrap();
    assert_eq!(last["Cid"], offline_cid.as_str(), "{body}");
    assert_eq!(last["Name"], "tune.wav", "{body}");
    assert!(
        (last["Duration"].as_f64().unwrap() - 20.0).abs() < 0.05,
        "{body}"
    );
    // Pinned, and playable: both renditions are in the master playlist.
    assert!(
        repo.ok(&["pin", "ls", "--type", "recursive"])
            .contains(&offline_cid)
    );
    let master = repo.ok(&["cat", &format!("{offline_cid}/master.m3u8")]);
    assert!(
        master.contains("320k/index.m3u8") && master.contains("128k/index.m3u8"),
        "{master}"
    );

    // progress=false: just the result line.
    let (status, body) = curl_track_add(&daemon.api, "rendition=128&progress=false", &wav);
    assert_eq!(status, 200, "{body}");
    let quiet = ndjson_lines(&body);
    assert_eq!(quiet.len(), 1, "{body}");
    assert_eq!(quiet[0]["Cid"], offline_cid.as_str());

    // The daemon's pool did the work: jobs by outcome, queue, seconds, realtime factor.
    let metrics = scrape(&daemon.metrics);
    assert_eq!(
        sample(&metrics, "chorus_transcode_jobs_total{outcome=\"ok\"}"),
        2.0
    );
    assert_eq!(sample(&metrics, "chorus_transcode_queue_length"), 0.0);
    assert_eq!(sample(&metrics, "chorus_transcode_seconds_count"), 2.0);
    assert_eq!(
        sample(&metrics, "chorus_transcode_realtime_factor_count"),
        2.0
    );
    assert!(sample(&metrics, "chorus_transcode_realtime_factor_sum") > 0.0);
}

/// One hostile upload: what the RPC must answer, and what the CLI's error must say.
struct Case {
    file: PathBuf,
    /// Acceptable `Kind`s of the error line.
    kinds: &'static [&'static str],
    /// HTTP status: 200 when the error comes mid-stream (after progress lines).
    statuses: &'static [u16],
    /// Text the CLI's one-line error must contain (besides the file name).
    says: &'static str,
}

#[test]
fn hostile_uploads_fail_clearly_store_nothing_and_the_daemon_keeps_serving() {
    let repo = Repo::init();
    // A hang is cut after 3 s; uploads over 12 MiB are refused (the 10-hour FLAC is ~7 MB).
    set_config(&repo, "transcode", "job_timeout_secs", "3");
    set_config(&repo, "transcode", "max_input_bytes", "12582912");
    let dir = repo.dir.path();

    let full = sine(dir, "full.mp3", 10, &["-c:a", "libmp3lame"]);
    let bytes = std::fs::read(&full).unwrap();
    let truncated = write_file(dir, "truncated.mp3", &bytes[..bytes.len() * 2 / 5 + 77]);
    let noise = write_file(dir, "noise.wav", &pseudo_random(200_000, 7));
    let empty = write_file(dir, "empty.mp3", b"");
    let ten_hours = dir.join("ten-hours.flac");
    ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "anullsrc=r=8000:cl=mono:nb_samples=8192",
        "-t",
        "36000",
        "-c:a",
        "flac",
        ten_hours.to_str().unwrap(),
    ]);
    let huge = write_file(dir, "huge.wav", &pseudo_random(13 * 1024 * 1024, 9));
    let crash = sine(dir, "crashme.wav", 5, &[]);
    let hang = sine(dir, "hangme.wav", 5, &[]);
    let good = sine(dir, "good.wav", 5, &[]);
    let text = write_file(dir, "hello.txt", b"still serving\n");

    let daemon = Daemon::start_with_env(
        &repo,
        &["--offline"],
        &[(FAULT_ENV, "crash:crashme,hang:hangme")],
    );
    let text_cid = last_added_cid(&repo.ok(&["add", text.to_str().unwrap()]));
    let pins_before = repo.ok(&["pin", "ls"]);
    let objects_before = num_objects(&repo);

    let cases = [
        Case {
            file: truncated,
            kinds: &["corrupt"],
            statuses: &[200, 400],
            says: "truncated",
        },
        Case {
            file: noise,
            kinds: &["not_audio", "corrupt"],
            statuses: &[200, 400],
            says: "noise.wav",
        },
        Case {
            file: empty,
            kinds: &["empty"],
            statuses: &[400],
            says: "empty",
        },
        Case {
            file: ten_hours,
            kinds: &["too_long"],
            statuses: &[400],
            says: "above the limit",
        },
        Case {
            file: huge,
            kinds: &["too_large"],
            statuses: &[413],
            says: "limit",
        },
        Case {
            file: crash,
            kinds: &["worker_crashed"],
            statuses: &[200],
            says: "worker crashed",
        },
        Case {
            file: hang,
            kinds: &["timed_out"],
            statuses: &[200],
            says: "timed out",
        },
    ];
    for case in &cases {
        let name = case.file.file_name().unwrap().to_str().unwrap();
        let (status, body) = curl_track_add(&daemon.api, "", &case.file);
        assert!(case.statuses.contains(&status), "{name}: {status} {body}");
        let last = ndjson_lines(&body).pop().unwrap();
        assert_eq!(last["Type"], "error", "{name}: {body}");
        let kind = last["Kind"].as_str().unwrap();
        assert!(case.kinds.contains(&kind), "{name}: {kind} {body}");
        let message = last["Message"].as_str().unwrap();
        assert!(message.contains(name), "{name}: {message}");
        assert!(!message.contains("upload-"), "spool path leaked: {message}");

        let err = repo.fails(&["track", "add", case.file.to_str().unwrap()]);
        assert!(err.contains(name), "{name}: {err}");
        assert!(err.contains(case.says), "{name}: {err}");

        // Nothing pinned or stored, and the daemon still answers.
        assert_eq!(repo.ok(&["pin", "ls"]), pins_before, "{name}");
        assert_eq!(num_objects(&repo), objects_before, "{name}");
        assert_eq!(repo.ok(&["cat", &text_cid]), "still serving\n");
    }
    // A client that gives up mid-job cancels it: the hung worker is killed at once, not at
    // the timeout, and the job counts as cancelled.
    let hang_file = dir.join("hangme.wav");
    let out = Command::new("curl")
        .args(["-sS", "-N", "--max-time", "1", "-X", "POST", "-F"])
        .arg(format!("file=@{}", hang_file.display()))
        .arg(format!("http://{}/api/v0/track/add", daemon.api))
        .output()
        .unwrap();
    assert!(!out.status.success(), "curl should have timed out");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let metrics = scrape(&daemon.metrics);
        if metrics.contains("chorus_transcode_jobs_total{outcome=\"cancelled\"} 1") {
            assert_eq!(sample(&metrics, "chorus_transcode_running"), 0.0);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the abandoned job was never cancelled:\n{metrics}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    // Only POST, as every RPC command.
    let out = Command::new("curl")
        .args(["-sS", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("http://{}/api/v0/track/add", daemon.api))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "405");

    // No upload or transcode left behind in the repo.
    let leftovers: Vec<_> = std::fs::read_dir(repo.path().join("tmp"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    // The pool survived its crashed and killed workers: a good track still transcodes.
    let cid = repo
        .ok(&["track", "add", good.to_str().unwrap()])
        .trim()
        .to_string();
    assert!(repo.ok(&["pin", "ls"]).contains(&cid));
    let info: serde_json::Value =
        serde_json::from_slice(&repo.ok_bytes(&["track", "info", &cid])).unwrap();
    assert!(
        (info["duration"].as_f64().unwrap() - 5.0).abs() < 0.05,
        "{info}"
    );

    let metrics = scrape(&daemon.metrics);
    assert_eq!(
        sample(&metrics, "chorus_transcode_jobs_total{outcome=\"crashed\"}"),
        2.0
    );
    assert_eq!(
        sample(
            &metrics,
            "chorus_transcode_jobs_total{outcome=\"timed_out\"}"
        ),
        2.0
    );
    assert_eq!(
        sample(&metrics, "chorus_transcode_jobs_total{outcome=\"ok\"}"),
        1.0
    );
    // Truncated, noise, empty and ten-hours, each over RPC and CLI; the oversized upload
    // never reached the pool.
    assert_eq!(
        sample(&metrics, "chorus_transcode_jobs_total{outcome=\"failed\"}"),
        8.0
    );
    assert_eq!(sample(&metrics, "chorus_transcode_queue_length"), 0.0);
    assert_eq!(sample(&metrics, "chorus_transcode_running"), 0.0);
    drop(daemon);
}
