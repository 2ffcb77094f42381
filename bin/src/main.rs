//! `chorus`: the command-line interface and daemon.
//!
//! Errors are printed as one line (`Error: ...`, with causes joined by `: `) and exit with
//! status 1; a panic is a bug, never the way bad input is reported.

mod add_inputs;
mod cli;
mod commands;
mod config;
mod config_edit;
mod daemon;
mod output;
mod progress;
mod remote;
mod repo;
mod report;
mod store;
mod track;
mod unpack;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    tune_allocator();
    let cli = match cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return usage_error(e),
    };
    init_logging(&cli);
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // A closed stdout (`chorus cat x | head`) is not an error worth a message.
            if output::is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("Error: {}", output::one_line(&e));
            ExitCode::FAILURE
        }
    }
}

/// Block-sized buffers (256 KiB) are above glibc's default mmap threshold, so every block would
/// be a fresh mmap (or a brk grow/trim) and 64 page faults: measured, that doubled the time of
/// `add --only-hash`. Raising the thresholds lets freed block buffers be reused.
fn tune_allocator() {
    /// Allocations below this come from the heap (glibc's cap for the dynamic threshold).
    const MMAP_THRESHOLD: libc::c_int = 32 << 20;
    /// Free heap kept instead of returned to the kernel: a few batches of blocks.
    const TRIM_THRESHOLD: libc::c_int = 128 << 20;
    // SAFETY: mallopt only changes allocator tunables; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
        libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
    }
}

/// `--help` and `--version` print as usual; a usage mistake is one `Error:` line (exit 2), like
/// every other failure, with clap's hint folded in.
fn usage_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return if e.use_stderr() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        };
    }
    let text = e.to_string();
    let first = text.lines().next().unwrap_or("invalid arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    eprintln!("Error: {first} (see chorus --help)");
    ExitCode::from(2)
}

/// Logs go to stderr, filtered by `RUST_LOG`, else the config's `log.level` (default: warnings
/// only, so CLI output stays clean), as text or JSON (`--log-format`, else `log.format`).
fn init_logging(cli: &cli::Cli) {
    let settings = repo::resolve_path(cli.repo.as_deref())
        .ok()
        .map(repo::RepoPaths::new)
        .filter(|paths| paths.config().is_file())
        .and_then(|paths| paths.load_config().ok())
        .map(|config| config.log)
        .unwrap_or_default();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"))
        // The TLS verifier logs every refused certificate at ERROR; the refusal reaches the
        // user as the failing request's error already (with its cause), once.
        .add_directive(
            "rustls_platform_verifier=off"
                .parse()
                .expect("a valid directive"),
        );
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match cli.log_format.unwrap_or(settings.format) {
        config::LogFormat::Json => builder.json().try_init(),
        config::LogFormat::Text => builder.try_init(),
    };
}
