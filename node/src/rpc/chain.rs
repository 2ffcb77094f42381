//! The chain in the RPC: an upload's signed consent (`owner`, `timestamp`, `nonce`,
//! `signature` query options of `add`, `dag/import` and `track/add`; kubo clients pass extra
//! options through unchanged), and `chain/upload-request`, `chain/owner`, `chain/status`.

use axum::extract::State;
use axum::response::Response;
use chorus_chain::UploadProof;
use chorus_chain::proof::parse_address;
use chorus_chain::relay::JobState;
use serde::Serialize;
use serde_json::json;

use super::args::Args;
use super::error::ApiError;
use super::respond::{ndjson, resolve_arg};
use crate::context::NodeContext;
use crate::core::{Consent, CoreError};
use crate::onchain::OnChain;

/// The upload's consent from its query options, checked as far as it can be before a byte of
/// content is read (a refusal here stores nothing and reads nothing).
pub(crate) fn consent(ctx: &NodeContext, args: &Args) -> Result<Consent, ApiError> {
    let proof = UploadProof::parse(
        args.option("owner"),
        args.option("timestamp"),
        args.option("nonce"),
        args.option("signature"),
    )
    .map_err(CoreError::Refused)?;
    ctx.core().precheck_upload(proof.as_ref())?;
    Ok(Consent {
        proof,
        meta: args.option("meta").unwrap_or_default().to_owned(),
    })
}

fn chain(ctx: &NodeContext) -> Result<&OnChain, ApiError> {
    ctx.core()
        .chain()
        .ok_or_else(|| ApiError::Failed("this node has no chain service".into()))
}

/// `chain/upload-request?arg=<CID>&owner=<0x address>`: the EIP-712 typed data the owner's
/// wallet signs (`eth_signTypedData_v4`), with a fresh nonce and this node's time.
pub(crate) async fn upload_request(
    State(ctx): State<NodeContext>,
    args: Args,
) -> Result<Response, ApiError> {
    let arg = args.required("cid")?;
    let cid = resolve_arg(&ctx, "cid", arg).await?;
    let owner_arg = args
        .option("owner")
        .ok_or(ApiError::MissingArgument { name: "owner" })?;
    let owner = parse_address(owner_arg).map_err(|e| ApiError::invalid("owner", owner_arg, e))?;
    let typed = chain(&ctx)?.upload_request(&cid.to_string(), owner)?;
    ndjson(&[json!({ "TypedData": typed })])
}

#[derive(Debug, Serialize)]
struct OwnerOut {
    #[serde(rename = "Cid")]
    cid: String,
    #[serde(rename = "Owner")]
    owner: String,
    #[serde(rename = "Kind")]
    kind: &'static str,
    #[serde(rename = "Meta")]
    meta: String,
    #[serde(rename = "Timestamp")]
    timestamp: u64,
    #[serde(rename = "Block")]
    block: u64,
    #[serde(rename = "Tx")]
    tx: String,
    #[serde(rename = "Delisted")]
    delisted: bool,
    #[serde(rename = "DelistedTx", skip_serializing_if = "Option::is_none")]
    delisted_tx: Option<String>,
}

/// `chain/owner?arg=<CID>`: the chain's record as this node's follower applied it, with its
/// proof (block and transaction); 404 when the chain has none (yet).
pub(crate) async fn owner(
    State(ctx): State<NodeContext>,
    args: Args,
) -> Result<Response, ApiError> {
    let arg = args.required("cid")?;
    let cid = resolve_arg(&ctx, "cid", arg).await?;
    let Some(record) = chain(&ctx)?.owner(&cid)? else {
        return Err(ApiError::NotFound(format!(
            "{cid} has no owner on chain (not registered, or not yet confirmed)"
        )));
    };
    ndjson(&[OwnerOut {
        cid: record.cid,
        owner: record.owner.to_checksum(None),
        kind: record.kind.name(),
        meta: record.meta,
        timestamp: record.timestamp,
        block: record.block,
        tx: record.tx.to_string(),
        delisted: record.delisted.is_some(),
        delisted_tx: record.delisted.map(|(_, tx)| tx.to_string()),
    }])
}

/// `chain/status[?arg=<CID>]`: the follower and relay, or one CID's relay job (its state and,
/// once mined, the transaction hash).
pub(crate) async fn status(
    State(ctx): State<NodeContext>,
    args: Args,
) -> Result<Response, ApiError> {
    let chain = chain(&ctx)?;
    let Some(arg) = args.positional().first() else {
        return ndjson(&[chain.status()]);
    };
    let cid = resolve_arg(&ctx, "cid", arg).await?.to_string();
    let Some(job) = chain.relay_job(&cid)? else {
        return Err(ApiError::NotFound(format!(
            "this node has not relayed a registration of {cid}"
        )));
    };
    let (state, tx, block, reason) = match &job.state {
        JobState::Queued => ("queued", None, None, job.last_error.clone()),
        JobState::Sent { tx } => ("sent", Some(tx.to_string()), None, None),
        JobState::Mined { tx, block } => ("mined", tx.map(|t| t.to_string()), *block, None),
        JobState::Confirmed { tx, block } => ("confirmed", tx.map(|t| t.to_string()), *block, None),
        JobState::Failed { reason } => ("failed", None, None, Some(reason.clone())),
    };
    ndjson(&[json!({
        "Cid": cid,
        "Owner": job.owner.to_checksum(None),
        "State": state,
        "Tx": tx,
        "Block": block,
        "Attempts": job.attempts,
        "Error": reason,
    })])
}
