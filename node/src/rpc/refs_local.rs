//! `/api/v0/refs/local`: every block in the store, as kubo's `ipfs refs local` lists them
//! (CIDv1 raw of each multihash, one `{"Ref","Err"}` line per block).
//!
//! Streamed, in constant memory whatever the store's size: a blocking task walks the index and
//! hands the lines over in chunks through a bounded channel, so a repo of millions of blocks
//! never sits in memory as one response, a slow client holds the walk back (the channel
//! fills), and a client that goes away ends it.

use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::response::Response;
use chorus_storage::{Cid, codec};
use serde::Serialize;
use tokio::sync::mpsc;

use super::error::ApiError;
use super::respond::ndjson_body;
use crate::context::NodeContext;

/// Bytes of lines gathered before they are handed to the response (~900 lines).
const CHUNK_BYTES: usize = 64 * 1024;

/// Chunks waiting for the client: with [`CHUNK_BYTES`], at most 512 KiB buffered.
const CHUNKS_IN_FLIGHT: usize = 8;

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct RefLine<'a> {
    #[serde(rename = "Ref")]
    reference: String,
    err: &'a str,
}

pub(crate) async fn refs_local(State(ctx): State<NodeContext>) -> Result<Response, ApiError> {
    let store = ctx.core().store();
    let (tx, mut rx) = mpsc::channel::<Bytes>(CHUNKS_IN_FLIGHT);
    tokio::task::spawn_blocking(move || {
        let mut chunk = Vec::with_capacity(CHUNK_BYTES + 256);
        for item in store.list() {
            let line = match &item {
                Ok(mh) => RefLine {
                    reference: Cid::new_v1(codec::RAW, *mh).to_string(),
                    err: "",
                },
                Err(e) => RefLine {
                    reference: String::new(),
                    err: &e.to_string(),
                },
            };
            // Serializing two strings cannot fail.
            if serde_json::to_writer(&mut chunk, &line).is_err() {
                return;
            }
            chunk.push(b'\n');
            if chunk.len() >= CHUNK_BYTES {
                let full = std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK_BYTES + 256));
                if tx.blocking_send(Bytes::from(full)).is_err() {
                    return;
                }
            }
        }
        if !chunk.is_empty() {
            let _ = tx.blocking_send(Bytes::from(chunk));
        }
    });
    let lines = futures::stream::poll_fn(move |cx| {
        rx.poll_recv(cx)
            .map(|chunk| chunk.map(Ok::<_, std::io::Error>))
    });
    Ok(ndjson_body(Body::from_stream(lines)))
}
