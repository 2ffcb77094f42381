//! `/api/v0/get`: a UnixFS file or directory as a tar stream, as kubo sends it.
//!
//! The `tar` crate writes synchronously, so the archive is built on a blocking thread that
//! reads blocks through the runtime handle and hands 64 KiB chunks to the HTTP body over a
//! bounded channel; dropping the response stops the thread at its next send.

use std::io::{self, Read, Write};
use std::pin::Pin;

use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use chorus_protocol::unixfs::{self, NodeKind, ReadError, UnixfsFile};
use chorus_storage::Cid;
use futures::{Stream, StreamExt};
use tokio::runtime::Handle;
use tokio::sync::mpsc;

use super::args::Args;
use super::error::ApiError;
use super::respond::{byte_stream, resolve_arg};
use crate::context::NodeContext;
use crate::fetch::FetcherSource;

/// Bytes the tar writer collects before handing a chunk to the body.
const TAR_CHUNK: usize = 64 * 1024;
/// Chunks buffered between the tar thread and the HTTP body.
const TAR_CHANNEL_CAPACITY: usize = 8;

type Chunk = Result<Bytes, io::Error>;

pub(crate) async fn get(State(ctx): State<NodeContext>, args: Args) -> Result<Response, ApiError> {
    let arg = args.required("ipfs-path")?.to_owned();
    if args.bool("compress", false)? {
        return Err(ApiError::invalid(
            "compress",
            "true",
            "compressed output is not supported",
        ));
    }
    let cid = resolve_arg(&ctx, "ipfs-path", &arg).await?;
    let source = FetcherSource::new(ctx.fetcher());
    // Fail with a proper error before the 200 when the root is unreadable.
    unixfs::stat(&source, &cid).await?;
    let name = arg
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .filter(|n| !n.is_empty())
        .map(str::to_owned)
        .unwrap_or_else(|| cid.to_string());

    let (tx, rx) = mpsc::channel::<Chunk>(TAR_CHANNEL_CAPACITY);
    let handle = Handle::current();
    tokio::task::spawn_blocking(move || {
        let writer = ChannelWriter {
            tx: tx.clone(),
            buf: Vec::with_capacity(TAR_CHUNK),
        };
        let mut builder = tar::Builder::new(writer);
        builder.mode(tar::HeaderMode::Deterministic);
        let result = append(&handle, &source, &mut builder, &name, cid)
            .and_then(|()| builder.into_inner())
            .and_then(|mut w| w.flush());
        if let Err(e) = result {
            tracing::debug!(%cid, error = %e, "tar stream ended early");
            let _ = tx.blocking_send(Err(e));
        }
    });
    let stream =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    Ok(byte_stream(stream, "application/x-tar", None))
}

fn read_err(e: ReadError) -> io::Error {
    io::Error::other(e.to_string())
}

/// Appends `cid` at `path`, recursing into directories.
fn append(
    handle: &Handle,
    source: &FetcherSource,
    builder: &mut tar::Builder<ChannelWriter>,
    path: &str,
    cid: Cid,
) -> io::Result<()> {
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
            builder.append_data(&mut header, path, reader)
        }
        NodeKind::Directory | NodeKind::HamtShard => {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::Directory);
            header.set_size(0);
            header.set_mode(0o755);
            builder.append_data(&mut header, path, io::empty())?;
            let entries = handle
                .block_on(unixfs::list_directory(source, &cid))
                .map_err(read_err)?;
            for e in entries {
                if e.name.is_empty() || e.name == "." || e.name == ".." || e.name.contains('/') {
                    return Err(io::Error::other(format!(
                        "directory {cid} has an unsafe entry name {:?}",
                        e.name
                    )));
                }
                append(
                    handle,
                    source,
                    builder,
                    &format!("{path}/{}", e.name),
                    e.cid,
                )?;
            }
            Ok(())
        }
        other => {
            tracing::debug!(%cid, kind = %other, "skipping entry the tar output cannot hold");
            Ok(())
        }
    }
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

/// `Write` into the body channel in [`TAR_CHUNK`] pieces.
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
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))
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
