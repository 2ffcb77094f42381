//! Records the commit the binary is built from, for `chorus_build_info{commit}` and
//! `chorus --version`: `git rev-parse --short=12 HEAD`, or `unknown` outside a git checkout
//! (a source tarball) or without git.

fn main() {
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=CHORUS_COMMIT={commit}");
    // Rebuilt when HEAD moves (a commit or a checkout), not on every build.
    for path in ["../.git/HEAD", "../.git/refs/heads"] {
        if std::path::Path::new(path).exists() {
            println!("cargo:rerun-if-changed={path}");
        }
    }
}
