//! The transport limit the network benchmark compares Bitswap against: how fast one plain
//! rust-libp2p stream moves bytes between two processes on loopback, over TCP + noise + yamux
//! and over QUIC-v1, with the same libp2p version and transport settings as the chorus swarm.
//!
//! ```text
//! cargo run --release -p chorus-protocol --example stream_limit -- [SIZE_MIB]   # default 256
//! ```
//!
//! The process spawns a copy of itself as the listener (a second process, as two nodes would
//! be), dials it once per transport, opens one stream, writes `SIZE_MIB` MiB, half-closes and
//! waits for the listener to acknowledge the byte count. Printed per transport:
//! `stream <tcp|quic> <MiB> MiB in <s> s = <MB/s> MB/s; cpu sender <s> s, receiver <s> s`.
//!
//! Then the fair reference for Bitswap, `stream tcp-stored …`: the same TCP stream doing the
//! work a Bitswap receiver cannot skip. The sender frames the bytes as 256 KiB chunks (chorus's
//! default block size), each behind its SHA-256 digest; the listener verifies every chunk's
//! digest, writes the chunk to a file in `DIR` (default: the working directory, so the same disk
//! as the repos the benchmark compares with) and fsyncs the file before it acknowledges.
//! What it leaves out is everything chorus adds on top: the index, the DAG, Bitswap's
//! messages, the HTTP hop.
//!
//! ```text
//! stream_limit SIZE_MIB DIR   # DIR receives the stored stream's file (removed afterwards)
//! ```
//! The clock covers opening the stream, the write and the acknowledgement (not the
//! connection's dial and handshake), so it is the ceiling for a transfer over an established
//! connection, which is what a Bitswap fetch between two connected nodes is. The CPU seconds
//! are each process's user + system time over the same span (from `/proc`, so Linux only;
//! left out elsewhere): the network benchmark sets them beside chorus's own, which shows how
//! much of the two cores each side of its ratio uses. Only 127.0.0.1 is ever dialed.

use std::error::Error;
use std::process::Stdio;
use std::time::{Duration, Instant};

use std::io::Write;
use std::path::{Path, PathBuf};

use futures::{AsyncReadExt, AsyncWriteExt, StreamExt};
use libp2p::{Multiaddr, PeerId, StreamProtocol, Swarm, multiaddr::Protocol, noise, tcp, yamux};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, BufReader};

/// The benchmark's own protocol name: bytes counted and dropped.
const PROTOCOL: StreamProtocol = StreamProtocol::new("/chorus/stream-limit/1.0.0");

/// The fair reference: digest-framed chunks verified and written to a file, fsynced.
const STORED: StreamProtocol = StreamProtocol::new("/chorus/stream-limit-stored/1.0.0");

/// Chunk size of the stored stream: chorus's default UnixFS leaf (256 KiB), so the receiver
/// verifies as many bytes per digest as a Bitswap receiver does per block.
const CHUNK_SIZE: usize = 256 * 1024;

/// SHA-256 digest length, the header of each chunk of the stored stream.
const DIGEST_LEN: usize = 32;

/// Bytes per write: 1 MiB, large enough that per-call overhead is negligible next to the
/// transport's own framing (yamux splits into 16 KiB frames, QUIC into packets).
const WRITE_SIZE: usize = 1024 * 1024;

/// Default transfer, matching the network benchmark's default file (256 MiB).
const DEFAULT_SIZE_MIB: usize = 256;

/// Clock ticks per second in `/proc/<pid>/stat` (Linux's `USER_HZ`, `getconf CLK_TCK`): 100
/// on every architecture, fixed by the kernel's user-space ABI.
const USER_HZ: f64 = 100.0;

/// How long a connection may sit idle before libp2p closes it; longer than any run here.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// The chorus node's yamux setting (`YAMUX_MAX_STREAMS` in node/src/network/mod.rs: caps a
/// stream's receive window at 1 MiB for js-yamux's sake). Measured here: no effect on the
/// loopback figure against yamux defaults.
const YAMUX_MAX_STREAMS: usize = 4093;

/// Builds a swarm with the transports of the chorus node (TCP with nodelay + noise + yamux,
/// QUIC-v1 defaults) and only the plain-stream behaviour.
fn swarm() -> Result<Swarm<libp2p_stream::Behaviour>, Box<dyn Error>> {
    Ok(libp2p::SwarmBuilder::with_new_identity()
        .with_tokio()
        .with_tcp(
            tcp::Config::default().nodelay(true),
            noise::Config::new,
            || {
                let mut c = yamux::Config::default();
                c.set_max_num_streams(YAMUX_MAX_STREAMS);
                c
            },
        )?
        .with_quic()
        .with_behaviour(|_| libp2p_stream::Behaviour::new())?
        .with_swarm_config(|c| c.with_idle_connection_timeout(IDLE_TIMEOUT))
        .build())
}

/// The listener process: prints `peer <id>`, then `listen <addr>` per address, then `ready`;
/// for each inbound stream reads to the end and answers with the byte count (8 bytes, big
/// endian); a stored stream's chunks are verified and written to a file in `dir` first (see
/// [`receive_stored`]). Exits when stdin closes.
async fn listen(dir: PathBuf) -> Result<(), Box<dyn Error>> {
    let mut swarm = swarm()?;
    swarm.listen_on("/ip4/127.0.0.1/tcp/0".parse()?)?;
    swarm.listen_on("/ip4/127.0.0.1/udp/0/quic-v1".parse()?)?;
    let mut incoming = swarm.behaviour().new_control().accept(PROTOCOL)?;
    let mut stored = swarm.behaviour().new_control().accept(STORED)?;
    println!("peer {}", swarm.local_peer_id());
    let mut bound = 0;
    while bound < 2 {
        if let libp2p::swarm::SwarmEvent::NewListenAddr { address, .. } =
            swarm.select_next_some().await
        {
            println!("listen {address}");
            bound += 1;
        }
    }
    println!("ready");
    tokio::spawn(async move {
        while let Some((_, mut stream)) = incoming.next().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; WRITE_SIZE];
                let mut total: u64 = 0;
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) => break,
                        Ok(n) => total += n as u64,
                        Err(e) => {
                            eprintln!("listener: read failed: {e}");
                            return;
                        }
                    }
                }
                if let Err(e) = stream.write_all(&total.to_be_bytes()).await {
                    eprintln!("listener: ack failed: {e}");
                }
                let _ = stream.close().await;
            });
        }
    });
    tokio::spawn(async move {
        while let Some((_, mut stream)) = stored.next().await {
            let path = dir.join(format!("stream-limit-{}.bin", std::process::id()));
            tokio::spawn(async move {
                match receive_stored(&mut stream, &path).await {
                    Ok(total) => {
                        if let Err(e) = stream.write_all(&total.to_be_bytes()).await {
                            eprintln!("listener: ack failed: {e}");
                        }
                    }
                    Err(e) => eprintln!("listener: stored stream failed: {e}"),
                }
                let _ = stream.close().await;
                let _ = std::fs::remove_file(&path);
            });
        }
    });
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            _ = swarm.select_next_some() => {}
            line = stdin.next_line() => if !matches!(line, Ok(Some(_))) { return Ok(()) },
        }
    }
}

/// Receives a stored stream into `path`: each frame is a SHA-256 digest and up to
/// [`CHUNK_SIZE`] bytes (the last chunk may be shorter); every chunk is verified against its
/// digest and appended to the file, which is fsynced at the end. Returns the chunk bytes
/// received. The file is written with blocking calls on the receiving task, as chorus's store
/// appends to its pack file.
async fn receive_stored(
    stream: &mut libp2p::Stream,
    path: &Path,
) -> Result<u64, Box<dyn Error + Send + Sync>> {
    let mut file = std::fs::File::create(path)?;
    let mut frame = vec![0u8; DIGEST_LEN + CHUNK_SIZE];
    let mut total: u64 = 0;
    loop {
        // Fill one frame, or what is left before the sender's half-close.
        let mut filled = 0;
        while filled < frame.len() {
            match stream.read(&mut frame[filled..]).await? {
                0 => break,
                n => filled += n,
            }
        }
        if filled == 0 {
            break;
        }
        if filled <= DIGEST_LEN {
            return Err("truncated frame".into());
        }
        let (digest, chunk) = frame[..filled].split_at(DIGEST_LEN);
        if Sha256::digest(chunk).as_slice() != digest {
            return Err(format!("chunk at byte {total} does not match its digest").into());
        }
        file.write_all(chunk)?;
        total += chunk.len() as u64;
        if filled < frame.len() {
            break;
        }
    }
    file.sync_all()?;
    Ok(total)
}

/// Dials `peer` at `addr` from a fresh swarm (so the stream can only use this transport), and
/// pushes `bytes` over one new stream; returns the seconds it took and, where `/proc` tells,
/// the CPU seconds this process and the listener (`listener_pid`) used meanwhile.
async fn push(
    peer: PeerId,
    addr: Multiaddr,
    bytes: usize,
    listener_pid: Option<u32>,
    stored: bool,
) -> Result<(f64, Option<(f64, f64)>), Box<dyn Error>> {
    let mut swarm = swarm()?;
    let mut control = swarm.behaviour().new_control();
    swarm.dial(addr.with(Protocol::P2p(peer)))?;
    let driver = tokio::spawn(async move {
        loop {
            swarm.select_next_some().await;
        }
    });
    // Warm-up: a tiny stream waits for the connection, so the timed one measures transfer.
    let mut ack = [0u8; 8];
    let mut warm = control.open_stream(peer, PROTOCOL).await?;
    warm.close().await?;
    warm.read_exact(&mut ack).await?;

    let chunk = vec![0x5au8; WRITE_SIZE];
    // The stored stream's frames: the chunks are all alike, so their digest is computed once
    // and the frames of one write's worth are built once (the sender of a Bitswap transfer
    // reads blocks it verified when they were stored, it does not hash them again).
    let frame = |len: usize| [Sha256::digest(&chunk[..len]).as_slice(), &chunk[..len]].concat();
    let full_frames = frame(CHUNK_SIZE).repeat(WRITE_SIZE / CHUNK_SIZE);
    let listener = listener_pid.map(|p| p.to_string());
    let cpu_now = || Some((cpu_seconds("self")?, cpu_seconds(listener.as_deref()?)?));
    let cpu_before = cpu_now();
    let start = Instant::now();
    let mut stream = control
        .open_stream(peer, if stored { STORED } else { PROTOCOL })
        .await?;
    let mut left = bytes;
    while left > 0 {
        let n = left.min(WRITE_SIZE);
        if !stored {
            stream.write_all(&chunk[..n]).await?;
        } else if n == WRITE_SIZE {
            stream.write_all(&full_frames).await?;
        } else {
            for start in (0..n).step_by(CHUNK_SIZE) {
                stream
                    .write_all(&frame((n - start).min(CHUNK_SIZE)))
                    .await?;
            }
        }
        left -= n;
    }
    stream.close().await?;
    stream.read_exact(&mut ack).await?;
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_before
        .zip(cpu_now())
        .map(|((s0, r0), (s1, r1))| (s1 - s0, r1 - r0));
    driver.abort();
    let got = u64::from_be_bytes(ack);
    if got != bytes as u64 {
        return Err(format!("listener received {got} bytes, {bytes} sent").into());
    }
    Ok((secs, cpu))
}

/// User + system CPU seconds of process `pid` (a number, or `self`) so far, all its threads
/// together: fields 14 and 15 of `/proc/<pid>/stat`, in clock ticks. `None` off Linux.
fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after it are plain numbers.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

/// The dialer process: starts the listener, then measures each transport in turn.
async fn dial(size_mib: usize, dir: &Path) -> Result<(), Box<dyn Error>> {
    let mut child = tokio::process::Command::new(std::env::current_exe()?)
        .arg("--listen")
        .arg(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let mut lines = BufReader::new(child.stdout.take().ok_or("no listener stdout")?).lines();
    let mut peer = None;
    let mut addrs: Vec<Multiaddr> = Vec::new();
    while let Some(line) = lines.next_line().await? {
        match line.split_once(' ') {
            Some(("peer", id)) => peer = Some(id.parse::<PeerId>()?),
            Some(("listen", addr)) => addrs.push(addr.parse()?),
            _ if line == "ready" => break,
            _ => {}
        }
    }
    let peer = peer.ok_or("listener printed no peer id")?;

    let bytes = size_mib * 1024 * 1024;
    for (name, is_quic, stored) in [
        ("tcp", false, false),
        ("quic", true, false),
        ("tcp-stored", false, true),
    ] {
        let addr = addrs
            .iter()
            .find(|a| a.iter().any(|p| matches!(p, Protocol::QuicV1)) == is_quic)
            .ok_or_else(|| format!("listener has no {name} address"))?
            .clone();
        let (secs, cpu) = push(peer, addr, bytes, child.id(), stored).await?;
        let cpu = cpu
            .map(|(s, r)| format!("; cpu sender {s:.2} s, receiver {r:.2} s"))
            .unwrap_or_default();
        println!(
            "stream {name} {size_mib} MiB in {secs:.2} s = {:.1} MB/s{cpu}",
            bytes as f64 / 1e6 / secs
        );
    }
    drop(child.stdin.take());
    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = |i: usize| PathBuf::from(args.get(i).map_or(".", String::as_str));
    match args.first().map(String::as_str) {
        Some("--listen") => listen(dir(1)).await,
        Some(n) => {
            let size = n
                .parse()
                .map_err(|_| "usage: stream_limit [SIZE_MIB [DIR]]")?;
            dial(size, &dir(1)).await
        }
        None => dial(DEFAULT_SIZE_MIB, &dir(1)).await,
    }
}
