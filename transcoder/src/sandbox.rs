//! The worker's confinement: a transcode job decodes an upload someone else made with a C
//! library, so the process doing it gets only what the job needs. The worker applies it to
//! itself, after reading its job and before opening the input or starting a thread (both
//! kinds of limit are inherited by every thread it starts later):
//!
//! - **resource limits** (`setrlimit`): data (private writable memory: heap, thread stacks;
//!   `RLIMIT_DATA` rather than `RLIMIT_AS`, because glibc reserves 64 MiB of address space per
//!   malloc arena and per core, so an address-space cap that holds on a 2-core machine breaks
//!   on a 64-core one), CPU seconds, the size of any file it writes, open files, no core
//!   dumps. Past the data limit an allocation fails (the job fails, or the worker aborts:
//!   either way the pool reports it and the host keeps its memory); past the file-size or CPU
//!   limit the kernel kills the worker.
//! - **a Landlock ruleset** (Linux 5.13+, unprivileged): read access to the input file and to
//!   the system directories FFmpeg's libraries may read, full access to the output directory,
//!   and nothing else. The repo (`identity.key`, the blockstore) is out of reach, and no
//!   program can be executed. On a kernel without Landlock the worker runs with the resource
//!   limits only and says so on stderr (the daemon logs it).

use std::path::Path;

use landlock::{
    ABI, Access, AccessFs, RestrictionStatus, Ruleset, RulesetAttr, RulesetCreatedAttr,
    RulesetError, RulesetStatus, path_beneath_rules,
};
use rlimit::Resource;

use crate::config::TranscodeConfig;

/// Files the worker may have open: the input, the outputs of one rendition at a time and
/// FFmpeg's few, with a wide margin.
const MAX_OPEN_FILES: u64 = 256;
/// Slack on the largest output file over its bit rate × duration (container overhead, a
/// variable-rate encoder's peaks).
const FILE_SIZE_SLACK: u64 = 16 * 1024 * 1024;
/// Least CPU time granted, for short jobs on slow machines.
const MIN_CPU_SECS: u64 = 600;
/// Directories FFmpeg and glibc may read at run time (locale, time zone, CPU topology); none
/// holds anything of the node's.
const SYSTEM_READ_DIRS: [&str; 6] = ["/usr", "/lib", "/lib64", "/etc", "/proc", "/sys"];
/// The Landlock ABI the rules are written for; older kernels enforce what they know.
const LANDLOCK_ABI: ABI = ABI::V5;

/// What one job may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Private writable memory, bytes.
    pub data_bytes: u64,
    /// CPU time, seconds (all threads).
    pub cpu_secs: u64,
    /// Largest file the worker may write, bytes.
    pub file_bytes: u64,
    /// Open file descriptors.
    pub open_files: u64,
}

impl Limits {
    /// The limits of a job with `config`: its memory cap, CPU time for its longest accepted
    /// input (encoding runs 20× real time or faster, so this is a backstop behind the pool's
    /// wall-clock timeout), and files no larger than its highest bit rate over that duration.
    pub fn for_job(config: &TranscodeConfig) -> Self {
        let top_bitrate = config
            .renditions
            .iter()
            .map(|r| r.bitrate)
            .chain(config.mp3_bitrate)
            .max()
            .unwrap_or(0);
        let stream_bytes = config
            .max_duration_secs
            .saturating_mul(u64::from(top_bitrate))
            / 8;
        Limits {
            data_bytes: config.max_memory_bytes,
            cpu_secs: config.max_duration_secs.max(MIN_CPU_SECS),
            file_bytes: stream_bytes
                .saturating_add(stream_bytes / 4)
                .saturating_add(FILE_SIZE_SLACK),
            open_files: MAX_OPEN_FILES,
        }
    }
}

/// How far the confinement went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsConfinement {
    /// Every rule enforced.
    Full,
    /// The kernel's Landlock is older than the rules: enforced in part.
    Partial,
    /// No Landlock on this kernel: resource limits only.
    None,
}

/// Why the worker could not confine itself (the job is then refused).
#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    /// A resource limit could not be set.
    #[error("cannot set {what}: {source}")]
    Rlimit {
        /// Which limit.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
    /// The Landlock ruleset could not be built or applied.
    #[error("cannot apply the file-system sandbox: {0}")]
    Landlock(#[from] RulesetError),
}

/// Confines the calling process to `limits` and to `input` (read) and `output_dir` (full).
pub fn confine(
    limits: &Limits,
    input: &Path,
    output_dir: &Path,
) -> Result<FsConfinement, ConfineError> {
    set(Resource::DATA, limits.data_bytes, "the data (memory) limit")?;
    set(Resource::CPU, limits.cpu_secs, "the CPU time limit")?;
    set(Resource::FSIZE, limits.file_bytes, "the file size limit")?;
    set(Resource::NOFILE, limits.open_files, "the open file limit")?;
    set(Resource::CORE, 0, "the core dump limit")?;
    let status = restrict_files(input, output_dir)?;
    Ok(match status.ruleset {
        RulesetStatus::FullyEnforced => FsConfinement::Full,
        RulesetStatus::PartiallyEnforced => FsConfinement::Partial,
        RulesetStatus::NotEnforced => FsConfinement::None,
    })
}

/// Lowers both the soft and the hard limit (never raises them: an operator's tighter limit
/// stays).
fn set(resource: Resource, limit: u64, what: &'static str) -> Result<(), ConfineError> {
    let (soft, hard) = resource
        .get()
        .map_err(|source| ConfineError::Rlimit { what, source })?;
    let hard = hard.min(limit);
    resource
        .set(soft.min(hard), hard)
        .map_err(|source| ConfineError::Rlimit { what, source })
}

fn restrict_files(input: &Path, output_dir: &Path) -> Result<RestrictionStatus, RulesetError> {
    let all = AccessFs::from_all(LANDLOCK_ABI);
    let read = AccessFs::from_read(LANDLOCK_ABI) & !AccessFs::Execute;
    let system: Vec<&Path> = SYSTEM_READ_DIRS
        .iter()
        .map(Path::new)
        .filter(|p| p.exists())
        .collect();
    Ruleset::default()
        .handle_access(all)?
        .create()?
        .add_rules(path_beneath_rules(system, read))?
        .add_rules(path_beneath_rules([input], read))?
        .add_rules(path_beneath_rules([output_dir], all & !AccessFs::Execute))?
        .restrict_self()
}
