//! Each CLI command as an RPC call, printing what the local command prints.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result, bail};
use futures::TryStreamExt;
use reqwest::multipart::{Form, Part};
use serde_json::Value;

use super::Remote;
use crate::add_inputs::{self, Entry, Line, Settings};
use crate::cli::{
    AddArgs, BlockCommand, CatArgs, Command, DagCommand, GetArgs, LsArgs, PinCommand, PinTypeArg,
    RepoCommand, RoutingCommand, StatsCommand, SwarmCommand,
};
use crate::report;
use crate::unpack;

/// Runs `command` against the daemon.
pub fn run(remote: Remote, command: Command) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async move {
        match command {
            Command::Add(a) => add(&remote, a).await,
            Command::Cat(a) => cat(&remote, a).await,
            Command::Get(a) => get(&remote, a).await,
            Command::Ls(a) => ls(&remote, a).await,
            Command::Block(c) => block(&remote, c).await,
            Command::Pin(c) => pin(&remote, c).await,
            Command::Dag(c) => dag(&remote, c).await,
            Command::Repo(c) => repo(&remote, c).await,
            Command::Id => id(&remote).await,
            Command::Swarm(c) => swarm(&remote, c).await,
            Command::Routing(c) => routing(&remote, c).await,
            Command::Stats(c) => stats(&remote, c).await,
            Command::Replication(c) => super::replication::run(&remote, c).await,
            Command::Chain(c) => super::chain::run(&remote, c).await,
            Command::Init
            | Command::Daemon(_)
            | Command::Track(_)
            | Command::TranscodeWorker
            | Command::Completions { .. }
            | Command::Man
            | Command::Bootstrap(_)
            | Command::Wallet(_)
            | Command::Config(_) => {
                bail!("this command does not run through the daemon")
            }
        }
    })
}

fn bool_arg(b: bool) -> String {
    b.to_string()
}

/// Percent-encodes a multipart file name the way kubo clients do (path separators kept).
fn encode_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'/' | b'.' | b'-' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

pub(super) async fn file_part(path: &Path, name: &str) -> Result<Part> {
    let f = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("cannot open {}", path.display()))?;
    let len = f.metadata().await?.len();
    let body = reqwest::Body::wrap_stream(tokio_util::io::ReaderStream::with_capacity(f, 1 << 20));
    Ok(Part::stream_with_length(body, len)
        .file_name(encode_name(name))
        .mime_str("application/octet-stream")?)
}

fn dir_part(name: &str) -> Result<Part> {
    Ok(Part::bytes(Vec::new())
        .file_name(encode_name(name))
        .mime_str("application/x-directory")?)
}

/// The multipart part of one entry, as kubo clients lay them out.
async fn entry_part(entry: &Entry) -> Result<Part> {
    Ok(match entry {
        Entry::File { name, path, .. } => file_part(path, name).await?,
        Entry::Dir { name } => dir_part(name)?,
        Entry::Symlink { name, target } => Part::bytes(target.as_bytes().to_vec())
            .file_name(encode_name(name))
            .mime_str("application/symlink")?,
        Entry::Stdin { name } => {
            // Streamed, not read into memory first.
            let stdin = tokio_util::io::ReaderStream::with_capacity(tokio::io::stdin(), 1 << 20);
            Part::stream(reqwest::Body::wrap_stream(stdin))
                .file_name(encode_name(name))
                .mime_str("application/octet-stream")?
        }
    })
}

/// Reads an NDJSON response line by line.
pub(super) async fn ndjson(
    resp: reqwest::Response,
    mut each: impl FnMut(Value) -> Result<()>,
) -> Result<()> {
    let mut stream = resp.bytes_stream();
    let mut buf: Vec<u8> = Vec::new();
    while let Some(chunk) = stream
        .try_next()
        .await
        .context("the daemon's answer broke off")?
    {
        buf.extend_from_slice(&chunk);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            each(serde_json::from_slice(&line).context("invalid JSON line from the daemon")?)?;
        }
    }
    if !buf.iter().all(u8::is_ascii_whitespace) {
        each(serde_json::from_slice(&buf).context("invalid JSON line from the daemon")?)?;
    }
    Ok(())
}

/// The strings of a JSON array (CIDs).
fn strings(items: &[Value]) -> Vec<String> {
    items
        .iter()
        .map(|v| v.as_str().unwrap_or_default().to_owned())
        .collect()
}

fn str_field<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// kubo's `{"/": "<cid>"}` links, or plain strings.
fn cid_field(v: &Value, key: &str) -> String {
    match v.get(key) {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Object(o)) => o
            .get("/")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        _ => String::new(),
    }
}

async fn add(remote: &Remote, args: AddArgs) -> Result<()> {
    // The same settings and walk as the offline add, so both give the same CIDs and lines.
    let settings = Settings::new(&remote.import_config()?, &args)?;
    let entries = add_inputs::walk(&args)?;
    let mut q: Vec<(&str, String)> = vec![
        ("pin", bool_arg(args.pin)),
        ("only-hash", bool_arg(args.only_hash)),
        ("wrap-with-directory", bool_arg(args.wrap)),
        ("quieter", bool_arg(args.quieter)),
    ];
    q.extend(settings.query());
    if let Some(key_file) = &args.sign {
        // The root the daemon will compute, then the owner's signature over it.
        let mut hashing: Vec<(&str, String)> = q
            .iter()
            .filter(|(k, _)| !matches!(*k, "only-hash" | "quieter"))
            .cloned()
            .collect();
        hashing.push(("only-hash", "true".into()));
        hashing.push(("quieter", "true".into()));
        let mut form = Form::new();
        for entry in &entries {
            form = form.part("file", entry_part(entry).await?);
        }
        let root = last_hash(remote.post("add", &hashing, Some(form)).await?).await?;
        q.extend(signed_options(remote, key_file, &root).await?);
    }
    let mut form = Form::new();
    for entry in &entries {
        form = form.part("file", entry_part(entry).await?);
    }
    let resp = remote.post("add", &q, Some(form)).await?;
    let mut lines: Vec<Line> = Vec::new();
    ndjson(resp, |v| {
        if v.get("Hash").is_some() {
            lines.push(Line {
                cid: str_field(&v, "Hash").to_owned(),
                name: str_field(&v, "Name").to_owned(),
            });
        }
        Ok(())
    })
    .await?;
    add_inputs::print(&lines, &args)
}

/// The last `Hash` of an `add` answer (its root with `quieter`).
pub(super) async fn last_hash(resp: reqwest::Response) -> Result<String> {
    let mut root = None;
    ndjson(resp, |v| {
        if let Some(h) = v.get("Hash").and_then(Value::as_str) {
            root = Some(h.to_owned());
        }
        Ok(())
    })
    .await?;
    root.context("the daemon's answer named no root")
}

/// The four options of an upload signed by the key in `key_file` for `root`: the daemon's
/// `chain/upload-request` typed data, signed here as a wallet would.
pub(super) async fn signed_options(
    remote: &Remote,
    key_file: &Path,
    root: &str,
) -> Result<Vec<(&'static str, String)>> {
    let key = crate::commands::read_key(key_file, None)?;
    let owner = key.address().to_checksum(None);
    let typed = remote
        .json(
            "chain/upload-request",
            &[("arg", root.to_owned()), ("owner", owner)],
        )
        .await?;
    let signed = chorus_chain::sign::sign_upload_request(&typed, &key)
        .map_err(|e| anyhow::anyhow!("cannot sign the upload request: {e}"))?;
    Ok(signed.query())
}

/// Streams a response body to stdout.
async fn to_stdout(resp: reqwest::Response) -> Result<()> {
    let mut out = std::io::stdout().lock();
    let mut stream = resp.bytes_stream();
    while let Some(chunk) = stream
        .try_next()
        .await
        .context("the daemon's answer broke off")?
    {
        out.write_all(&chunk)?;
    }
    Ok(out.flush()?)
}

async fn cat(remote: &Remote, args: CatArgs) -> Result<()> {
    let mut q = vec![
        ("arg", args.path.clone()),
        ("offset", args.offset.to_string()),
    ];
    if let Some(l) = args.length {
        q.push(("length", l.to_string()));
    }
    to_stdout(remote.post("cat", &q, None).await?).await
}

async fn get(remote: &Remote, args: GetArgs) -> Result<()> {
    let dest = crate::commands::get_destination(&args);
    unpack::check_destination(&dest)?;
    let resp = remote
        .post("get", &[("arg", args.path.clone())], None)
        .await?;
    unpack::save(
        Box::pin(resp.bytes_stream().map_err(std::io::Error::other)),
        &dest,
    )
    .await?;
    println!("Saving file(s) to {}", dest.display());
    Ok(())
}

async fn ls(remote: &Remote, args: LsArgs) -> Result<()> {
    let v = remote.json("ls", &[("arg", args.path.clone())]).await?;
    let mut out = std::io::stdout().lock();
    for obj in v
        .get("Objects")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for link in obj
            .get("Links")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let hash = str_field(link, "Hash");
            let name = str_field(link, "Name");
            let size = link.get("Size").and_then(Value::as_u64).unwrap_or(0);
            if link.get("Type").and_then(Value::as_u64) == Some(1) {
                writeln!(out, "{hash} - {name}/")?;
            } else {
                writeln!(out, "{hash} {size} {name}")?;
            }
        }
    }
    Ok(out.flush()?)
}

async fn block(remote: &Remote, cmd: BlockCommand) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match cmd {
        BlockCommand::Put {
            file,
            cid_codec,
            mhtype,
            pin,
        } => {
            let part = match file.as_deref().filter(|p| p.as_os_str() != "-") {
                Some(p) => file_part(p, "block").await?,
                None => {
                    let mut data = Vec::new();
                    std::io::Read::read_to_end(&mut std::io::stdin().lock(), &mut data)?;
                    Part::bytes(data).file_name("block")
                }
            };
            let q = [("cid-codec", cid_codec), ("mhtype", mhtype)];
            let resp = remote
                .post("block/put", &q, Some(Form::new().part("file", part)))
                .await?;
            let v: Value = resp.json().await?;
            let key = str_field(&v, "Key");
            if pin {
                // `--pin` pins the block directly, as without a daemon (RPC block/put's own
                // pin=true is kubo's recursive pin).
                let q = [("arg", key.to_owned()), ("recursive", bool_arg(false))];
                remote.json("pin/add", &q).await?;
            }
            writeln!(out, "{key}")?;
        }
        BlockCommand::Get { cid } => {
            drop(out);
            return to_stdout(remote.post("block/get", &[("arg", cid)], None).await?).await;
        }
        BlockCommand::Stat { cid } => {
            let v = remote.json("block/stat", &[("arg", cid)]).await?;
            let size = v.get("Size").and_then(Value::as_u64).unwrap_or(0);
            writeln!(out, "Key: {}\nSize: {size}", str_field(&v, "Key"))?;
        }
        BlockCommand::Rm { cids, force } => {
            let mut q: Vec<(&str, String)> = cids.into_iter().map(|c| ("arg", c)).collect();
            q.push(("force", bool_arg(force)));
            let resp = remote.post("block/rm", &q, None).await?;
            let mut outcomes = Vec::new();
            ndjson(resp, |v| {
                let err = str_field(&v, "Error");
                outcomes.push((
                    str_field(&v, "Hash").to_owned(),
                    (!err.is_empty()).then(|| err.to_owned()),
                ));
                Ok(())
            })
            .await?;
            report::removed_blocks(&mut out, &outcomes)?;
        }
    }
    Ok(())
}

async fn pin(remote: &Remote, cmd: PinCommand) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match cmd {
        PinCommand::Add {
            paths,
            recursive,
            progress,
        } => {
            let mut q: Vec<(&str, String)> = paths.into_iter().map(|p| ("arg", p)).collect();
            q.push(("recursive", bool_arg(recursive)));
            q.push(("progress", bool_arg(progress)));
            let resp = remote.post("pin/add", &q, None).await?;
            let mut shown = false;
            // kubo's lines: `{"Progress":N}` every 500 ms (with --progress), then `{"Pins":…}`.
            let result = ndjson(resp, |line| {
                if line.get("Type").and_then(Value::as_str) == Some("error") {
                    bail!("{}", str_field(&line, "Message"));
                }
                if let Some(pins) = line.get("Pins").and_then(Value::as_array) {
                    report::pinned(&mut out, &strings(pins), recursive)?;
                } else if progress {
                    let n = line.get("Progress").and_then(Value::as_u64).unwrap_or(0);
                    eprint!("Fetched/Processed {n} nodes\r");
                    shown = true;
                }
                Ok(())
            })
            .await;
            if shown {
                eprintln!();
            }
            result?;
        }
        PinCommand::Rm { paths } => {
            let q: Vec<(&str, String)> = paths.into_iter().map(|p| ("arg", p)).collect();
            let v = remote.json("pin/rm", &q).await?;
            let pins = v.get("Pins").and_then(Value::as_array);
            report::unpinned(&mut out, &strings(pins.map_or(&[][..], Vec::as_slice)))?;
        }
        PinCommand::Ls {
            paths,
            pin_type,
            quiet,
        } => {
            let t = match pin_type {
                PinTypeArg::All => "all",
                PinTypeArg::Recursive => "recursive",
                PinTypeArg::Direct => "direct",
                PinTypeArg::Indirect => "indirect",
            };
            let mut q: Vec<(&str, String)> = paths.into_iter().map(|p| ("arg", p)).collect();
            q.push(("type", t.to_owned()));
            let v = remote.json("pin/ls", &q).await?;
            let rows = v
                .get("Keys")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
                .map(|(cid, info)| (cid.clone(), str_field(info, "Type").to_owned()))
                .collect();
            report::pin_rows(&mut out, rows, quiet)?;
        }
    }
    Ok(out.flush()?)
}

async fn dag(remote: &Remote, cmd: DagCommand) -> Result<()> {
    match cmd {
        DagCommand::Export { cid, .. } => {
            to_stdout(remote.post("dag/export", &[("arg", cid)], None).await?).await
        }
        DagCommand::Import {
            files, pin_roots, ..
        } => {
            let mut form = Form::new();
            if files.is_empty() || files.iter().all(|f| f.as_os_str() == "-") {
                // Streamed, not read into memory first.
                let stdin =
                    tokio_util::io::ReaderStream::with_capacity(tokio::io::stdin(), 1 << 20);
                form = form.part(
                    "file",
                    Part::stream(reqwest::Body::wrap_stream(stdin)).file_name("stdin.car"),
                );
            } else {
                for f in &files {
                    form = form.part("file", file_part(f, "import.car").await?);
                }
            }
            let resp = remote
                .post(
                    "dag/import",
                    &[("pin-roots", bool_arg(pin_roots))],
                    Some(form),
                )
                .await?;
            let mut roots = Vec::new();
            ndjson(resp, |v| {
                if let Some(root) = v.get("Root") {
                    let err = str_field(root, "PinErrorMsg");
                    roots.push((
                        cid_field(root, "Cid"),
                        (!err.is_empty()).then(|| err.to_owned()),
                    ));
                }
                Ok(())
            })
            .await?;
            let mut out = std::io::stdout().lock();
            report::car_roots(&mut out, &roots, pin_roots)?;
            Ok(out.flush()?)
        }
    }
}

async fn repo(remote: &Remote, cmd: RepoCommand) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match cmd {
        RepoCommand::Stat { size_only } => {
            let v = remote.json("repo/stat", &[]).await?;
            let stat: chorus_node::core::RepoStat =
                serde_json::from_value(v).context("the daemon's repo/stat answer is not kubo's")?;
            report::repo_stat(&mut out, &stat, size_only)?;
        }
        RepoCommand::Gc { quiet } => {
            let resp = remote.post("repo/gc", &[], None).await?;
            ndjson(resp, |v| {
                let err = str_field(&v, "Error");
                if !err.is_empty() {
                    bail!("{err}");
                }
                if !quiet {
                    writeln!(out, "removed {}", cid_field(&v, "Key"))?;
                }
                Ok(())
            })
            .await?;
        }
        RepoCommand::Verify => {
            let resp = remote.post("repo/verify", &[], None).await?;
            let (mut lines, mut ok) = (Vec::new(), true);
            ndjson(resp, |v| {
                lines.push(str_field(&v, "Msg").to_owned());
                if let Some(intact) = v.get("Ok").and_then(Value::as_bool) {
                    ok = intact;
                }
                Ok(())
            })
            .await?;
            report::verified(&mut out, &lines, ok)?;
        }
    }
    Ok(out.flush()?)
}

async fn id(remote: &Remote) -> Result<()> {
    let v = remote.json("id", &[]).await?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", serde_json::to_string_pretty(&v)?)?;
    Ok(out.flush()?)
}

async fn swarm(remote: &Remote, cmd: SwarmCommand) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match cmd {
        SwarmCommand::Peers => {
            let v = remote.json("swarm/peers", &[]).await?;
            for p in v
                .get("Peers")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                writeln!(out, "{}/p2p/{}", str_field(p, "Addr"), str_field(p, "Peer"))?;
            }
        }
        SwarmCommand::Connect { addrs } => {
            let q: Vec<(&str, String)> = addrs.into_iter().map(|a| ("arg", a)).collect();
            let v = remote.json("swarm/connect", &q).await?;
            for s in v
                .get("Strings")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                writeln!(out, "{}", s.as_str().unwrap_or_default())?;
            }
        }
        SwarmCommand::Addrs => {
            let v = remote.json("swarm/addrs", &[]).await?;
            if let Some(peers) = v.get("Addrs").and_then(Value::as_object) {
                for (peer, addrs) in peers {
                    let addrs = addrs.as_array().cloned().unwrap_or_default();
                    writeln!(out, "{peer} ({})", addrs.len())?;
                    for a in addrs {
                        writeln!(out, "\t{}", a.as_str().unwrap_or_default())?;
                    }
                }
            }
        }
    }
    Ok(out.flush()?)
}

async fn stats(remote: &Remote, cmd: StatsCommand) -> Result<()> {
    let StatsCommand::Bw {
        peer,
        proto,
        poll,
        interval,
    } = cmd;
    let mut q: Vec<(&str, String)> = Vec::new();
    q.extend(peer.map(|p| ("peer", p)));
    q.extend(proto.map(|p| ("proto", p)));
    if poll {
        q.push(("poll", bool_arg(true)));
        q.push(("interval", interval));
    }
    let resp = remote.post("stats/bw", &q, None).await?;
    ndjson(resp, |v| {
        let mut out = std::io::stdout().lock();
        let n = |k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(0.0);
        writeln!(out, "Bandwidth")?;
        writeln!(out, "TotalIn: {}", human_bytes(n("TotalIn")))?;
        writeln!(out, "TotalOut: {}", human_bytes(n("TotalOut")))?;
        writeln!(out, "RateIn: {}/s", human_bytes(n("RateIn")))?;
        writeln!(out, "RateOut: {}/s", human_bytes(n("RateOut")))?;
        if poll {
            writeln!(out)?;
        }
        Ok(out.flush()?)
    })
    .await
}

/// Bytes in SI units with one decimal (`1.2 MB`), as kubo's `stats bw` prints them.
fn human_bytes(n: f64) -> String {
    const UNITS: [&str; 6] = ["B", "kB", "MB", "GB", "TB", "PB"];
    let mut value = n.max(0.0);
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{value:.0} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

async fn routing(remote: &Remote, cmd: RoutingCommand) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match cmd {
        RoutingCommand::Findprovs { cid, num_providers } => {
            let q = [("arg", cid), ("num-providers", num_providers.to_string())];
            let resp = remote.post("routing/findprovs", &q, None).await?;
            ndjson(resp, |v| {
                // kubo's routing event type 4 = Provider.
                if v.get("Type").and_then(Value::as_u64) == Some(4) {
                    for r in v
                        .get("Responses")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        writeln!(out, "{}", str_field(r, "ID"))?;
                    }
                }
                Ok(())
            })
            .await?;
        }
        RoutingCommand::Provide { cids } => {
            let q: Vec<(&str, String)> = cids.into_iter().map(|c| ("arg", c)).collect();
            let resp = remote.post("routing/provide", &q, None).await?;
            ndjson(resp, |v| {
                let err = str_field(&v, "Extra");
                if v.get("Type").and_then(Value::as_u64) == Some(3) && !err.is_empty() {
                    bail!("{err}");
                }
                Ok(())
            })
            .await?;
        }
        RoutingCommand::Findpeer { peer } => {
            let resp = remote
                .post("routing/findpeer", &[("arg", peer)], None)
                .await?;
            ndjson(resp, |v| {
                for r in v
                    .get("Responses")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    for a in r
                        .get("Addrs")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                    {
                        writeln!(out, "{}", a.as_str().unwrap_or_default())?;
                    }
                }
                Ok(())
            })
            .await?;
        }
    }
    Ok(out.flush()?)
}
