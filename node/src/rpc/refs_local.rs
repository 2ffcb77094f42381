//! `/api/v0/refs/local`: every block in the store, as kubo's `ipfs refs local` lists them
//! (CIDv1 raw of each multihash, one `{"Ref","Err"}` line per block).
//!
//! Streamed, in constant memory whatever the store's size: a blocking walk of the index hands
//! the lines over in chunks ([`blocking_stream`]), so a repo of millions of blocks never sits
//! in memory as one response, a slow client holds the walk back, and a client that goes away
//! ends it.

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use chorus_storage::{Cid, codec};

use super::error::ApiError;
use super::line_stream::blocking_stream;
use super::ls::RefLine;
use crate::context::NodeContext;

pub(crate) async fn refs_local(State(ctx): State<NodeContext>) -> Result<Response, ApiError> {
    let store = ctx.core().store();
    Ok(blocking_stream(Bytes::new(), move |sink| {
        let mut line = Vec::with_capacity(128);
        for item in store.list() {
            let row = match item {
                Ok(mh) => RefLine {
                    reference: Cid::new_v1(codec::RAW, mh).to_string(),
                    err: String::new(),
                },
                Err(e) => RefLine {
                    reference: String::new(),
                    err: e.to_string(),
                },
            };
            line.clear();
            // Two strings always serialise.
            if serde_json::to_writer(&mut line, &row).is_err() {
                continue;
            }
            line.push(b'\n');
            if !sink.write(&line) {
                break;
            }
        }
        Ok(())
    }))
}
