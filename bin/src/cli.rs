//! The command line, shaped like kubo's so operators feel at home.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// chorus: an IPFS node for community audio streaming.
#[derive(Debug, Parser)]
#[command(name = "chorus", version, about, max_term_width = 100)]
pub struct Cli {
    /// Repo directory (default: $CHORUS_PATH, else ~/.chorus).
    #[arg(long, global = true, value_name = "DIR")]
    pub repo: Option<PathBuf>,

    /// Log line format on stderr (default: `log.format` of the config, else text).
    #[arg(long, global = true, value_enum)]
    pub log_format: Option<crate::config::LogFormat>,

    /// The command.
    #[command(subcommand)]
    pub command: Command,
}

/// Parses kubo-style booleans: `true/false/True/False/1/0`.
pub fn parse_bool(s: &str) -> Result<bool, String> {
    match s {
        "true" | "True" | "TRUE" | "1" => Ok(true),
        "false" | "False" | "FALSE" | "0" => Ok(false),
        other => Err(format!("expected true or false, got {other:?}")),
    }
}

/// Top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create a repo: config, identity, empty store.
    Init,
    /// Add files or directories; prints `added <cid> <name>` per entry.
    Add(AddArgs),
    /// Print a file's bytes.
    Cat(CatArgs),
    /// Write a file or directory tree to disk.
    Get(GetArgs),
    /// List a directory's links.
    Ls(LsArgs),
    /// Raw blocks.
    #[command(subcommand)]
    Block(BlockCommand),
    /// Pins that protect content from garbage collection.
    #[command(subcommand)]
    Pin(PinCommand),
    /// IPLD DAGs as CAR files.
    #[command(subcommand)]
    Dag(DagCommand),
    /// The repo itself.
    #[command(subcommand)]
    Repo(RepoCommand),
    /// Run the node: the libp2p network, the RPC API, the gateway and metrics.
    Daemon(DaemonArgs),
    /// This node's identity and addresses, as kubo's JSON.
    Id,
    /// Peers to dial at start-up (`swarm.bootstrap` in the config).
    #[command(subcommand)]
    Bootstrap(BootstrapCommand),
    /// Read or change a setting of config.toml (kubo's `ipfs config`): `config KEY`,
    /// `config KEY VALUE`, `config show`, `config replace FILE`.
    Config(ConfigArgs),
    /// Connections of the running daemon.
    #[command(subcommand)]
    Swarm(SwarmCommand),
    /// Content and peer routing (DHT) through the running daemon.
    #[command(subcommand)]
    Routing(RoutingCommand),
    /// Statistics of the running daemon.
    #[command(subcommand)]
    Stats(StatsCommand),
    /// Audio tracks: transcode to HLS and store as one UnixFS directory.
    #[command(subcommand)]
    Track(TrackCommand),
    /// Replication within the community of nodes, through the running daemon.
    #[command(subcommand)]
    Replication(ReplicationCommand),
    /// The operator's Ethereum wallet, kept in the repo: the daemon registers uploads on
    /// chain with it (an artist's key never needs to touch a node).
    #[command(subcommand)]
    Wallet(WalletCommand),
    /// Ownership on Ethereum: deploy the registries, look up owners, follow the chain.
    #[command(subcommand)]
    Chain(ChainCommand),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff), e.g. `chorus man > /usr/local/share/man/man1/chorus.1`
    Man,
    /// Internal: the isolated transcoding worker (one job on stdin, reports on stdout).
    #[command(name = "transcode-worker", hide = true)]
    TranscodeWorker,
}

/// `chorus bootstrap ...`.
#[derive(Debug, Subcommand)]
pub enum BootstrapCommand {
    /// Print the bootstrap list.
    List,
    /// Add peers (multiaddrs with /p2p/PEER_ID), or kubo's public list with `--default`.
    Add {
        /// Multiaddrs to add.
        addrs: Vec<String>,
        /// Add kubo's default public bootstrap peers (to join the public IPFS network).
        #[arg(long)]
        default: bool,
    },
    /// Remove peers, or all of them with `--all`.
    Rm {
        /// Multiaddrs to remove.
        addrs: Vec<String>,
        /// Empty the list.
        #[arg(long)]
        all: bool,
    },
}

/// `chorus config ...`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ConfigArgs {
    /// `show` or `replace`.
    #[command(subcommand)]
    pub command: Option<ConfigCommand>,
    /// The key: `section.key` (e.g. swarm.bootstrap) or a whole `section`.
    pub key: Option<String>,
    /// The new value: a string, or JSON with --json.
    pub value: Option<String>,
    /// Read VALUE as JSON (numbers, booleans, lists, tables).
    #[arg(long, conflicts_with = "bool")]
    pub json: bool,
    /// Read VALUE as a boolean.
    #[arg(long = "bool")]
    pub bool: bool,
}

/// `chorus config show|replace`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// Print config.toml as it is (`--effective`: every setting, defaults filled in, as JSON).
    Show {
        /// Print the settings the node runs with, as JSON.
        #[arg(long)]
        effective: bool,
    },
    /// Replace config.toml with FILE, once it checks as a valid config.
    Replace {
        /// The new config file.
        file: PathBuf,
    },
}

/// `chorus replication ...`.
#[derive(Debug, Subcommand)]
pub enum ReplicationCommand {
    /// Where a root is held (its ranked nodes, which hold it, whether it is under-replicated),
    /// or, without a CID, this node's view: nodes and their health, content set, repair.
    Status {
        /// The root.
        cid: Option<String>,
        /// Print the daemon's JSON as it is.
        #[arg(long)]
        json: bool,
    },
    /// Remove a root from the community's content set (a signed tombstone in the log): no
    /// node repairs it any more; copies stay pinned until each operator unpins them.
    Remove {
        /// The root.
        cid: String,
    },
}

/// `chorus wallet ...`.
#[derive(Debug, Subcommand)]
pub enum WalletCommand {
    /// Create a new key in the repo (`keystore/operator`, mode 0600) and print its address.
    New,
    /// Take an existing key into the repo: FILE holds a 0x-hex private key or an Ethereum JSON
    /// keystore (v3), whose password is asked for (or read from --password-file).
    Import {
        /// The key file.
        file: PathBuf,
        /// Read the keystore's password from this file (its first line).
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
    /// Print the wallet's address.
    Address,
}

/// `chorus chain ...`.
#[derive(Debug, Subcommand)]
pub enum ChainCommand {
    /// Deploy ContentRegistry and NodeRegistry to a chain (devnets, the compose file) from the
    /// repo's wallet or --key-file, and print their addresses.
    Deploy {
        /// The chain's JSON-RPC endpoint (http://).
        #[arg(long)]
        rpc_url: String,
        /// Sign with this key file (0x-hex or JSON keystore) instead of the repo's wallet.
        #[arg(long)]
        key_file: Option<PathBuf>,
        /// The keystore's password, from this file.
        #[arg(long)]
        password_file: Option<PathBuf>,
        /// Print `{"ContentRegistry":"0x…","NodeRegistry":"0x…","ChainId":N}`.
        #[arg(long)]
        json: bool,
    },
    /// Who owns a CID on chain, with the proof (block, transaction), as the daemon's follower
    /// applied it.
    Owner {
        /// The CID.
        cid: String,
        /// Print the daemon's JSON as it is.
        #[arg(long)]
        json: bool,
    },
    /// Register this node in the NodeRegistry from the repo's operator wallet (peer id, swarm
    /// addresses others reach it at, gateway URL); registering again updates it.
    RegisterNode {
        /// A swarm address others dial (repeatable; default: `swarm.listen` without the
        /// unspecified ones); `/p2p/<peer id>` is appended.
        #[arg(long = "addr")]
        addrs: Vec<String>,
        /// The node's public gateway URL.
        #[arg(long, default_value = "")]
        gateway_url: String,
    },
    /// Remove this node from the NodeRegistry.
    DeregisterNode,
    /// The nodes registered in the NodeRegistry.
    Nodes {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The follower (endpoint, chain id, head, cursor, lag) and the relay queue; with a CID,
    /// the relay of that CID's registration (state, transaction once mined).
    Status {
        /// A CID this node relayed.
        cid: Option<String>,
        /// Print the daemon's JSON as it is.
        #[arg(long)]
        json: bool,
    },
}

/// `chorus stats ...`.
#[derive(Debug, Subcommand)]
pub enum StatsCommand {
    /// Bytes of libp2p streams in and out, with rates (kubo's `stats bw`).
    Bw {
        /// Only the traffic with this peer.
        #[arg(long, short = 't', conflicts_with = "proto")]
        peer: Option<String>,
        /// Only the traffic of this protocol, e.g. /ipfs/bitswap/1.2.0.
        #[arg(long, short = 'p')]
        proto: Option<String>,
        /// Print again every interval until interrupted.
        #[arg(long)]
        poll: bool,
        /// Time between reports with --poll (Go duration, e.g. 500ms, 2s).
        #[arg(long, short = 'i', default_value = "1s")]
        interval: String,
    },
}

/// `chorus swarm ...`.
#[derive(Debug, Subcommand)]
pub enum SwarmCommand {
    /// Connected peers.
    Peers,
    /// Open a connection to a peer (multiaddr ending in /p2p/PEER_ID).
    Connect {
        /// Multiaddrs.
        #[arg(required = true)]
        addrs: Vec<String>,
    },
    /// Known addresses of connected peers.
    Addrs,
}

/// `chorus routing ...`.
#[derive(Debug, Subcommand)]
pub enum RoutingCommand {
    /// Find peers that provide a CID.
    Findprovs {
        /// The CID.
        cid: String,
        /// Stop after this many providers.
        #[arg(short = 'n', long = "num-providers", default_value_t = 20)]
        num_providers: u32,
    },
    /// Announce that this node provides a CID.
    Provide {
        /// The CIDs.
        #[arg(required = true)]
        cids: Vec<String>,
    },
    /// Find a peer's addresses.
    Findpeer {
        /// The peer id.
        peer: String,
    },
}

/// `chorus track ...`.
#[derive(Debug, Subcommand)]
pub enum TrackCommand {
    /// Transcode an audio file into HLS (+ MP3 download), store it as one directory, pin it,
    /// and print the track's root CID.
    Add {
        /// The audio file (wav, aiff, flac, mp3, ogg, opus, m4a, ...).
        file: PathBuf,
        /// Extra HLS rendition bitrates in kbps besides the default 320 (e.g. `--rendition 128`).
        #[arg(long = "rendition", value_name = "KBPS")]
        renditions: Vec<u32>,
        /// Show progress (default: when stderr is a terminal).
        #[arg(short = 'p', long, value_name = "BOOL", num_args = 0..=1,
              default_missing_value = "true", require_equals = true, value_parser = parse_bool)]
        progress: Option<bool>,
        /// Sign the upload (the source audio's CID) with the key in KEY_FILE as its owner; the
        /// daemon registers the track and its source on chain.
        #[arg(long, value_name = "KEY_FILE")]
        sign: Option<PathBuf>,
    },
    /// Print a track's `track.json`.
    Info {
        /// The track's root CID.
        cid: String,
    },
}

/// `chorus daemon`.
#[derive(Debug, Args)]
pub struct DaemonArgs {
    /// Do not start the network; serve local content only.
    #[arg(long)]
    pub offline: bool,
    /// RPC API address (`127.0.0.1:5001` or `/ip4/127.0.0.1/tcp/5001`; port 0 = any free port).
    #[arg(long = "api-addr", value_name = "ADDR")]
    pub api_addr: Option<String>,
    /// Gateway address.
    #[arg(long = "gateway-addr", value_name = "ADDR")]
    pub gateway_addr: Option<String>,
    /// Metrics address (`""` disables the separate listener).
    #[arg(long = "metrics-addr", value_name = "ADDR")]
    pub metrics_addr: Option<String>,
    /// libp2p listen multiaddr, repeatable (replaces `swarm.listen` of the config).
    #[arg(long = "swarm-addr", value_name = "MULTIADDR")]
    pub swarm_addrs: Vec<String>,
    /// Run garbage collection automatically (every `datastore.gc_period`, and past
    /// `datastore.storage_gc_watermark` of `datastore.storage_max_bytes`), as kubo's flag.
    #[arg(long = "enable-gc")]
    pub enable_gc: bool,
}

/// `chorus add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Files or directories to add (`-` or nothing: standard input).
    #[arg(value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// Add directory contents recursively.
    #[arg(short = 'r', long)]
    pub recursive: bool,
    /// Wrap the added entries in a directory.
    #[arg(short = 'w', long = "wrap-with-directory")]
    pub wrap: bool,
    /// Print only CIDs, one per line.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Print only the final (root) CID.
    #[arg(short = 'Q', long)]
    pub quieter: bool,
    /// Compute CIDs without writing anything.
    #[arg(short = 'n', long = "only-hash")]
    pub only_hash: bool,
    /// Pin the added root recursively.
    #[arg(long, value_name = "BOOL", default_value = "true", num_args = 0..=1,
          default_missing_value = "true", require_equals = true, value_parser = parse_bool)]
    pub pin: bool,
    /// CID version: 0 or 1 (1 implies --raw-leaves).
    #[arg(long = "cid-version", value_name = "N")]
    pub cid_version: Option<u8>,
    /// Store leaves as raw blocks instead of UnixFS nodes.
    #[arg(long = "raw-leaves", value_name = "BOOL", num_args = 0..=1,
          default_missing_value = "true", require_equals = true, value_parser = parse_bool)]
    pub raw_leaves: Option<bool>,
    /// Chunking algorithm: size-N.
    #[arg(short = 's', long, value_name = "size-N")]
    pub chunker: Option<String>,
    /// Include files and directories whose names start with a dot.
    #[arg(short = 'H', long)]
    pub hidden: bool,
    /// Use the trickle DAG layout instead of balanced.
    #[arg(short = 't', long)]
    pub trickle: bool,
    /// Hash function: sha2-256 or blake3.
    #[arg(long, value_name = "NAME")]
    pub hash: Option<String>,
    /// Name used for standard input.
    #[arg(long = "stdin-name", default_value = "")]
    pub stdin_name: String,
    /// Show a progress bar (default: when stderr is a terminal).
    #[arg(short = 'p', long, value_name = "BOOL", num_args = 0..=1,
          default_missing_value = "true", require_equals = true, value_parser = parse_bool)]
    pub progress: Option<bool>,
    /// Sign the upload with the key in KEY_FILE (0x-hex) as its owner, as a wallet would
    /// (EIP-712): the daemon verifies it and registers the upload on chain.
    #[arg(long, value_name = "KEY_FILE")]
    pub sign: Option<PathBuf>,
}

impl AddArgs {
    /// `add -r -Q --pin=true <dir>` with every other option at its default (config applies).
    pub fn for_directory(dir: PathBuf) -> Self {
        AddArgs {
            paths: vec![dir],
            recursive: true,
            wrap: false,
            quiet: false,
            quieter: true,
            only_hash: false,
            pin: true,
            cid_version: None,
            raw_leaves: None,
            chunker: None,
            hidden: false,
            trickle: false,
            hash: None,
            stdin_name: String::new(),
            progress: Some(false),
            sign: None,
        }
    }
}

/// `chorus cat`.
#[derive(Debug, Args)]
pub struct CatArgs {
    /// CID or /ipfs/ path.
    pub path: String,
    /// Byte offset to start at.
    #[arg(short = 'o', long, default_value_t = 0)]
    pub offset: u64,
    /// Maximum number of bytes to print.
    #[arg(short = 'l', long)]
    pub length: Option<u64>,
}

/// `chorus get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    /// CID or /ipfs/ path.
    pub path: String,
    /// Where to write (default: the CID in the current directory).
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// Show a progress bar (default: when stderr is a terminal).
    #[arg(short = 'p', long, value_name = "BOOL", num_args = 0..=1,
          default_missing_value = "true", require_equals = true, value_parser = parse_bool)]
    pub progress: Option<bool>,
}

/// `chorus ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// CID or /ipfs/ path of a directory (or file).
    pub path: String,
}

/// `chorus block ...`.
#[derive(Debug, Subcommand)]
pub enum BlockCommand {
    /// Store the bytes of a file (or stdin) as one block; prints its CID.
    Put {
        /// File to read (`-` or nothing: standard input).
        file: Option<PathBuf>,
        /// Codec of the new CID.
        #[arg(long = "cid-codec", default_value = "raw")]
        cid_codec: String,
        /// Hash function.
        #[arg(long = "mhtype", default_value = "sha2-256")]
        mhtype: String,
        /// Pin the block directly.
        #[arg(long, value_name = "BOOL", default_value = "false", num_args = 0..=1,
              default_missing_value = "true", require_equals = true, value_parser = parse_bool)]
        pin: bool,
    },
    /// Print a block's bytes.
    Get {
        /// The block's CID.
        cid: String,
    },
    /// Print a block's CID and size.
    Stat {
        /// The block's CID.
        cid: String,
    },
    /// Remove blocks (pinned blocks are refused).
    Rm {
        /// CIDs to remove.
        #[arg(required = true)]
        cids: Vec<String>,
        /// Do not fail for blocks that are not present.
        #[arg(short, long)]
        force: bool,
    },
}

/// The pin type filter of `pin ls`.
#[derive(Debug, Clone, Copy, ValueEnum, PartialEq, Eq)]
pub enum PinTypeArg {
    /// Every pinned CID.
    All,
    /// Recursively pinned roots.
    Recursive,
    /// Directly pinned blocks.
    Direct,
    /// Blocks protected because a recursive pin reaches them.
    Indirect,
}

/// `chorus pin ...`.
#[derive(Debug, Subcommand)]
pub enum PinCommand {
    /// Pin CIDs (and, recursively, everything they link to).
    Add {
        /// CIDs or /ipfs/ paths.
        #[arg(required = true)]
        paths: Vec<String>,
        /// Pin the whole DAG (false: only the block).
        #[arg(short, long, value_name = "BOOL", default_value = "true", num_args = 0..=1,
              default_missing_value = "true", require_equals = true, value_parser = parse_bool)]
        recursive: bool,
        /// Show how many blocks have been fetched or read so far (on stderr).
        #[arg(long)]
        progress: bool,
    },
    /// Remove pins.
    Rm {
        /// CIDs or /ipfs/ paths.
        #[arg(required = true)]
        paths: Vec<String>,
    },
    /// List pins.
    Ls {
        /// Only these CIDs.
        paths: Vec<String>,
        /// Which pins to list.
        #[arg(short = 't', long = "type", value_enum, default_value = "all")]
        pin_type: PinTypeArg,
        /// Print only CIDs.
        #[arg(short, long)]
        quiet: bool,
    },
}

/// `chorus dag ...`.
#[derive(Debug, Subcommand)]
pub enum DagCommand {
    /// Write a DAG as a CAR v1 stream to stdout.
    Export {
        /// Root CID.
        cid: String,
        /// Show a progress bar (default: when stderr is a terminal).
        #[arg(short = 'p', long, value_name = "BOOL", num_args = 0..=1,
              default_missing_value = "true", require_equals = true, value_parser = parse_bool)]
        progress: Option<bool>,
    },
    /// Import CAR v1/v2 files (or stdin), verifying every block; pins the roots.
    Import {
        /// CAR files (`-` or nothing: standard input).
        files: Vec<PathBuf>,
        /// Pin the roots recursively.
        #[arg(long = "pin-roots", value_name = "BOOL", default_value = "true", num_args = 0..=1,
              default_missing_value = "true", require_equals = true, value_parser = parse_bool)]
        pin_roots: bool,
        /// Show a progress bar (default: when stderr is a terminal).
        #[arg(short = 'p', long, value_name = "BOOL", num_args = 0..=1,
              default_missing_value = "true", require_equals = true, value_parser = parse_bool)]
        progress: Option<bool>,
    },
}

/// `chorus repo ...`.
#[derive(Debug, Subcommand)]
pub enum RepoCommand {
    /// Blocks, bytes, pins and path of the repo.
    Stat {
        /// Print sizes in bytes with no units (default; kept for kubo compatibility).
        #[arg(long = "size-only")]
        size_only: bool,
    },
    /// Remove every block not reachable from a pin; prints what it removed.
    Gc {
        /// Print nothing.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Re-hash every block and report corruption.
    Verify,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn global_repo_before_subcommand() {
        let cli = Cli::try_parse_from(["chorus", "--repo", "/tmp/r", "add", "f"]).unwrap();
        assert_eq!(cli.repo.as_deref(), Some(std::path::Path::new("/tmp/r")));
        assert!(matches!(cli.command, Command::Add(_)));
    }

    #[test]
    fn kubo_style_booleans() {
        let cli = Cli::try_parse_from(["chorus", "add", "--pin=false", "f"]).unwrap();
        let Command::Add(a) = cli.command else {
            panic!()
        };
        assert!(!a.pin);
        let cli =
            Cli::try_parse_from(["chorus", "add", "--pin=True", "--raw-leaves", "f"]).unwrap();
        let Command::Add(a) = cli.command else {
            panic!()
        };
        assert!(a.pin);
        assert_eq!(a.raw_leaves, Some(true));
        assert!(Cli::try_parse_from(["chorus", "add", "--pin=maybe", "f"]).is_err());
    }
}
