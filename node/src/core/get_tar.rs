//! `get`: a UnixFS file or directory tree as kubo's tar stream, the one producer behind RPC
//! `get` and the CLI's `get` with or without a daemon (the CLI unpacks the same stream).
//!
//! The `tar` crate writes synchronously, so the archive is built on a blocking thread that
//! reads blocks through the runtime handle and hands 64 KiB chunks to the consumer over a
//! bounded channel; dropping the stream stops the thread at its next send. The walk is
//! iterative (a directory chain thousands deep costs a stack entry each, not a stack frame),
//! symlinks are written as symlink entries, and a directory that names two entries alike, or
//! an entry `.`, `..`, empty or with a `/`, ends the stream with an error: such a tree cannot
//! be written to a file system faithfully, and unpacked naively it could write outside its
//! destination.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::pin::Pin;

use bytes::Bytes;
use chorus_protocol::unixfs::{self, ListLimits, NodeKind, ReadError, UnixfsFile};
use chorus_storage::Cid;
use futures::{Stream, StreamExt};
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use super::Core;
use crate::fetch::FetcherSource;

/// Bytes the tar writer collects before handing a chunk on.
const TAR_CHUNK: usize = 64 * 1024;
/// Chunks buffered between the tar thread and the consumer.
const TAR_CHANNEL_CAPACITY: usize = 8;

type Chunk = Result<Bytes, io::Error>;

/// The tar stream of `cid` with its top-level entry named `name`, read through the core's
/// fetcher, each directory listed within the core's [`ListLimits`]. An error after the start
/// ends the stream with that error. Needs a tokio runtime.
pub fn tar_stream(
    core: &Core,
    cid: Cid,
    name: String,
) -> impl Stream<Item = Chunk> + Send + 'static {
    let source = FetcherSource::new(core.fetcher());
    let limits = core.list_limits();
    let (tx, rx) = mpsc::channel::<Chunk>(TAR_CHANNEL_CAPACITY);
    let handle = Handle::current();
    tokio::task::spawn_blocking(move || {
        let writer = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(TAR_CHUNK),
        };
        let mut builder = tar::Builder::new(writer);
        builder.mode(tar::HeaderMode::Deterministic);
        let result = append_tree(&handle, &source, limits, &mut builder, name, cid)
            .and_then(|()| builder.into_inner())
            .and_then(|mut w| w.flush());
        if let Err(e) = result {
            tracing::debug!(%cid, error = %e, "tar stream ended early");
            let _ = tx.blocking_send(Err(e));
        }
    });
    futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) })
}

/// The tar's top-level name for the `get` argument `arg` resolving to `cid`: its last path
/// segment, or the CID for a bare CID (kubo's naming).
pub fn tar_name(arg: &str, cid: &Cid) -> String {
    arg.trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| cid.to_string())
}

fn read_err(e: ReadError) -> io::Error {
    io::Error::other(e.to_string())
}

/// Appends the tree under `root` at `name`, depth-first in directory order.
fn append_tree(
    handle: &Handle,
    source: &FetcherSource,
    limits: ListLimits,
    builder: &mut tar::Builder<ChannelWriter>,
    name: String,
    root: Cid,
) -> io::Result<()> {
    let mut pending = vec![(name, root)];
    while let Some((path, cid)) = pending.pop() {
        let stat = handle
            .block_on(unixfs::stat(source, &cid))
            .map_err(read_err)?;
        match stat.kind {
            NodeKind::File => {
                let file = handle
                    .block_on(UnixfsFile::open(source, &cid))
                    .map_err(read_err)?;
                let mut header = tar::Header::new_gnu();
                header.set_entry_type(tar::EntryType::Regular);
                header.set_size(file.size());
                header.set_mode(0o644);
                let reader = StreamReader {
                    handle: handle.clone(),
                    stream: Box::pin(file.read(source.clone(), 0, None)),
                    current: Bytes::new(),
                };
                builder.append_data(&mut header, &path, reader)?;
            }
            NodeKind::Directory | NodeKind::HamtShard => {
                let mut header = tar::Header::new_gnu();
                header.set_entry_type(tar::EntryType::Directory);
                header.set_size(0);
                header.set_mode(0o755);
                builder.append_data(&mut header, &path, io::empty())?;
                let entries = handle
                    .block_on(unixfs::list_directory(source, &cid, limits))
                    .map_err(read_err)?;
                let mut names = HashSet::with_capacity(entries.len());
                let mut children = Vec::with_capacity(entries.len());
                for e in entries {
                    if e.name.is_empty() || e.name == "." || e.name == ".." || e.name.contains('/')
                    {
                        return Err(io::Error::other(format!(
                            "directory {cid} has an unsafe entry name {:?}",
                            e.name
                        )));
                    }
                    if !names.insert(e.name.clone()) {
                        return Err(io::Error::other(format!(
                            "directory {cid} names {:?} twice",
                            e.name
                        )));
                    }
                    children.push((format!("{path}/{}", e.name), e.cid));
                }
                pending.extend(children.into_iter().rev());
            }
            NodeKind::Symlink => {
                let target = handle
                    .block_on(unixfs::read_symlink(source, &cid))
                    .map_err(read_err)?;
                let mut header = tar::Header::new_gnu();
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_size(0);
                header.set_mode(0o777);
                builder.append_link(&mut header, &path, &target)?;
            }
            other => {
                tracing::debug!(%cid, kind = %other, "skipping entry the tar output cannot hold");
            }
        }
    }
    Ok(())
}

/// `Read` over the UnixFS reader's async stream.
struct StreamReader {
    handle: Handle,
    stream: Pin<Box<dyn Stream<Item = Result<Bytes, ReadError>> + Send>>,
    current: Bytes,
}

impl Read for StreamReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.handle.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Err(e)) => return Err(read_err(e)),
                Some(Ok(b)) => self.current = b,
            }
        }
        let n = out.len().min(self.current.len());
        out[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

/// `Write` into the channel in [`TAR_CHUNK`] pieces.
struct ChannelWriter {
    tx: mpsc::Sender<Chunk>,
    buf: Vec<u8>,
}

impl ChannelWriter {
    fn send(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buf,
            Vec::with_capacity(TAR_CHUNK),
        ));
        self.tx
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "reader went away"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= TAR_CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send()
    }
}
