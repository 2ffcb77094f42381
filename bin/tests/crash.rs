//! Crash safety: SIGKILL in the middle of a large add, then reopen.
//!
//! Every add that reported success before the kill must be fully readable afterwards, the repo
//! must open, and `repo verify` must find no corrupt block.

mod common;

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use common::*;

#[test]
fn sigkill_during_add_loses_nothing_reported() {
    let repo = Repo::init();
    let inputs = repo.dir.path().join("inputs");
    // 12 files of 6 MiB: each add takes long enough that the kill lands inside one.
    let files: Vec<_> = (0..12)
        .map(|i| {
            write_file(
                &inputs,
                &format!("f{i}.bin"),
                &pseudo_random(6 << 20, 100 + i),
            )
        })
        .collect();

    // One shell runs the adds back to back and echoes each reported CID with its file.
    let script = files
        .iter()
        .map(|f| {
            format!(
                "c=$(\"$CHORUS\" --repo \"$REPO\" add -Q --chunker size-65536 '{}') && echo \"$c {}\"",
                f.display(),
                f.display()
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut child = Command::new("bash")
        .arg("-c")
        .arg(format!("set -e\n{script}\n"))
        .env("CHORUS", env!("CARGO_BIN_EXE_chorus"))
        .env("REPO", repo.path())
        .stdout(Stdio::piped())
        .process_group(0)
        .spawn()
        .unwrap();
    let pgid = child.id() as i32;
    let mut reported = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // After the third success, the fourth add is running: kill it mid-way.
    while reported.len() < 3 {
        let line = lines.next().expect("adds stopped early").unwrap();
        let (cid, path) = line.split_once(' ').unwrap();
        reported.push((cid.to_string(), std::path::PathBuf::from(path)));
    }
    // Let the next add get going: wait until its store grows past what the three hold.
    let store = repo.path().join("store");
    let size_now = dir_size(&store);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while dir_size(&store) < size_now + (2 << 20) && std::time::Instant::now() < deadline {
        std::thread::yield_now();
    }
    // SIGKILL the whole group (the shell and the chorus add under it).
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
    let _ = child.wait();
    // The chorus grandchild is reaped by init, not by us: wait until the group is gone, i.e.
    // until the kernel has closed its files (and so released its repo lock).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while unsafe { libc::kill(-pgid, 0) } == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "killed processes did not exit"
        );
        std::thread::yield_now();
    }
    // Lines printed between our last read and the kill were also reported successes.
    for line in lines.map_while(Result::ok) {
        if let Some((cid, path)) = line.split_once(' ') {
            reported.push((cid.to_string(), path.into()));
        }
    }

    // The repo opens again (the killed process's lock is gone with it) and is sound.
    let verify = repo.ok(&["repo", "verify"]);
    assert!(verify.contains("0 corrupt"), "{verify}");
    for (cid, path) in &reported {
        let want = std::fs::read(path).unwrap();
        assert_eq!(
            repo.ok_bytes(&["cat", cid]),
            want,
            "{cid} from {}",
            path.display()
        );
        assert!(repo.ok(&["pin", "ls"]).contains(cid.as_str()));
    }
    // Whatever the killed add left behind is collectable and the repo keeps working.
    repo.ok(&["repo", "gc"]);
    assert!(repo.ok(&["repo", "verify"]).contains("0 corrupt"));
    for (cid, path) in &reported {
        assert_eq!(repo.ok_bytes(&["cat", cid]), std::fs::read(path).unwrap());
    }
    let again = repo.ok(&["add", "-Q", files[5].to_str().unwrap()]);
    assert_eq!(
        repo.ok_bytes(&["cat", again.trim()]),
        std::fs::read(&files[5]).unwrap()
    );
}

fn dir_size(dir: &std::path::Path) -> u64 {
    let mut total = 0;
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    for e in rd.flatten() {
        let Ok(md) = e.metadata() else { continue };
        total += if md.is_dir() {
            dir_size(&e.path())
        } else {
            md.len()
        };
    }
    total
}
