//! `/api/v0/get`: a UnixFS file or directory as a tar stream, as kubo sends it (built by
//! [`crate::core::tar_stream`], which the CLI's offline `get` unpacks too); dropping the
//! response stops it.

use axum::extract::State;
use axum::response::Response;
use chorus_protocol::unixfs;
use futures::StreamExt;

use super::args::Args;
use super::error::ApiError;
use super::respond::{byte_stream, resolve_arg};
use crate::context::NodeContext;
use crate::fetch::FetcherSource;

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
    let name = crate::core::tar_name(&arg, &cid);

    // An error before the first chunk (a small tree refused as a whole, a missing block near
    // the top) is still an ordinary error answer; a later one cuts the stream.
    let mut stream = Box::pin(crate::core::tar_stream(ctx.core(), cid, name));
    let first = match stream.next().await {
        Some(Err(e)) => return Err(ApiError::Failed(e.to_string())),
        first => first,
    };
    let stream = futures::stream::iter(first).chain(stream);
    Ok(byte_stream(stream, "application/x-tar", None))
}
