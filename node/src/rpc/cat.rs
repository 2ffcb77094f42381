//! `/api/v0/cat`: the bytes of a UnixFS file, with `offset` and `length`.

use axum::extract::State;
use axum::response::Response;
use chorus_protocol::unixfs::{NodeKind, ReadError, UnixfsFile};
use futures::TryStreamExt;

use super::args::Args;
use super::error::ApiError;
use super::respond::{byte_stream, resolve_arg};
use crate::context::NodeContext;
use crate::fetch::FetcherSource;

pub(crate) async fn cat(State(ctx): State<NodeContext>, args: Args) -> Result<Response, ApiError> {
    let arg = args.required("ipfs-path")?;
    let offset = args.parsed::<i64>("offset")?.unwrap_or(0);
    if offset < 0 {
        return Err(ApiError::invalid(
            "offset",
            &offset.to_string(),
            "cannot be negative",
        ));
    }
    let length = match args.parsed::<i64>("length")? {
        Some(l) if l < 0 => {
            return Err(ApiError::invalid(
                "length",
                &l.to_string(),
                "cannot be negative",
            ));
        }
        Some(l) => Some(l as u64),
        None => None,
    };
    let cid = resolve_arg(&ctx, "ipfs-path", arg).await?;
    let source = FetcherSource::new(ctx.fetcher());
    let file = match UnixfsFile::open(&source, &cid).await {
        Ok(f) => f,
        Err(ReadError::NotAFile {
            kind: NodeKind::Directory | NodeKind::HamtShard,
            ..
        }) => return Err(ApiError::Failed("this dag node is a directory".to_owned())),
        Err(e) => return Err(e.into()),
    };
    let start = (offset as u64).min(file.size());
    let len = match length {
        Some(l) => l.min(file.size() - start),
        None => file.size() - start,
    };
    let stream = file
        .read(source, start, Some(len))
        .map_err(|e| std::io::Error::other(e.to_string()));
    Ok(byte_stream(stream, "text/plain", Some(len)))
}
