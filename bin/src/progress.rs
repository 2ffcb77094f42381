//! Progress bars for long CLI work: shown only when stderr is a terminal (or forced with
//! `--progress`), so scripts and pipes get clean output.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Whether to draw: the explicit flag, else "stderr is a terminal".
pub fn enabled(flag: Option<bool>) -> bool {
    flag.unwrap_or_else(|| std::io::stderr().is_terminal())
}

/// A byte-counting bar with a known total, or a spinner with a byte count when `total` is None.
/// Hidden when `show` is false, so callers update it unconditionally.
pub fn bytes_bar(show: bool, total: Option<u64>, label: &str) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(t) => ProgressBar::new(t).with_style(
            ProgressStyle::with_template(
                "{msg} {wide_bar} {bytes}/{total_bytes} {binary_bytes_per_sec} {eta}",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{spinner} {msg} {bytes} {binary_bytes_per_sec}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    };
    bar.set_draw_target(ProgressDrawTarget::stderr());
    bar.set_message(label.to_string());
    bar
}
