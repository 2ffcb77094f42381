//! One module per command family; [`run`] dispatches.

mod add;
mod block;
mod chain;
mod config;
mod dag;
mod net;
mod pin;
mod read;
mod repo;
mod track;
mod wallet;

use anyhow::Result;

pub(crate) use add::{add_directory, hash_file};
pub(crate) use read::get_destination;
pub(crate) use wallet::read_key;

use crate::cli::{Cli, Command};
use crate::repo::{RepoPaths, resolve_path};

/// Runs one CLI invocation.
pub fn run(cli: Cli) -> Result<()> {
    if matches!(cli.command, Command::TranscodeWorker) {
        // Needs no repo; stdout is the worker protocol, so nothing else may print there.
        std::process::exit(chorus_transcoder::worker_main());
    }
    // Generated from the CLI's own definitions; no repo needed.
    match &cli.command {
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            // Into memory first: clap_complete panics on a failed write (`| head`).
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut cmd, "chorus", &mut script);
            std::io::Write::write_all(&mut std::io::stdout(), &script)?;
            return Ok(());
        }
        Command::Man => {
            let cmd = <Cli as clap::CommandFactory>::command();
            clap_mangen::Man::new(cmd).render(&mut std::io::stdout())?;
            return Ok(());
        }
        _ => {}
    }
    let cli_repo = cli.repo.clone();
    let paths = RepoPaths::new(resolve_path(cli.repo.as_deref())?);
    if crate::remote::applies_to(&cli.command)
        && let Some(remote) = crate::remote::Remote::connect(&paths)?
    {
        return crate::remote::run(remote, cli.command);
    }
    match cli.command {
        Command::Init => {
            let done = crate::repo::init(&paths)?;
            println!("initialized chorus repo at {}", paths.root().display());
            println!("peer identity: {}", done.peer_id);
            Ok(())
        }
        Command::Add(args) => add::run(&paths, args),
        Command::Cat(args) => read::cat(&paths, args),
        Command::Get(args) => read::get(&paths, args),
        Command::Ls(args) => read::ls(&paths, args),
        Command::Block(cmd) => block::run(&paths, cmd),
        Command::Pin(cmd) => pin::run(&paths, cmd),
        Command::Dag(cmd) => dag::run(&paths, cmd),
        Command::Repo(cmd) => repo::run(&paths, cmd),
        Command::Daemon(args) => crate::daemon::run(&paths, args),
        Command::Track(cmd) => track::run(cli_repo, &paths, cmd),
        Command::Id => net::id_offline(&paths),
        Command::Bootstrap(cmd) => net::bootstrap(&paths, cmd),
        Command::Config(args) => config::run(&paths, args),
        Command::Wallet(cmd) => wallet::run(&paths, cmd),
        Command::Chain(cmd) => chain::run(&paths, cmd),
        Command::Swarm(_) | Command::Routing(_) | Command::Stats(_) | Command::Replication(_) => {
            paths.ensure_initialized()?;
            anyhow::bail!("{}", net::NEEDS_DAEMON)
        }
        Command::TranscodeWorker => std::process::exit(chorus_transcoder::worker_main()),
        // Answered before the repo is resolved, above.
        Command::Completions { .. } | Command::Man => Ok(()),
    }
}

/// A single-threaded runtime for the async readers (the CLI does one thing at a time).
fn runtime() -> Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?)
}

/// Parses a CID or `/ipfs/<cid>/path` argument.
fn parse_path(arg: &str) -> Result<(chorus_storage::Cid, Vec<String>)> {
    chorus_protocol::unixfs::parse_ipfs_path(arg)
        .map_err(|e| anyhow::anyhow!("invalid path {arg:?}: {e}"))
}
