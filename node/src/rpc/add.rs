//! `/api/v0/add`: multipart upload → UnixFS DAGs, with kubo's options and NDJSON output.

use axum::body::Body;
use axum::extract::{Extension, State};
use axum::http::HeaderMap;
use axum::response::Response;
use chorus_protocol::unixfs::{ImportOptions, Layout};
use chorus_storage::{Cid, HashAlg};
use serde::Serialize;

use super::args::Args;
use super::error::ApiError;
use super::replication::replicate;
use super::respond::{body_error, decode_file_name, multipart, ndjson};
use super::upload_guard::UploadLimits;
use crate::context::NodeContext;
use crate::core::{AddError, Added, Adder};

/// Progress lines are emitted at most once per this many bytes (kubo's CLI refresh is similar).
const PROGRESS_STEP: u64 = 256 * 1024;

/// Media type kubo clients give directory parts.
const DIRECTORY_PART: &str = "application/x-directory";
/// Media type kubo clients give symlink parts.
const SYMLINK_PART: &str = "application/symlink";
/// Longest symlink target accepted (Linux's `PATH_MAX`).
const MAX_SYMLINK_TARGET: usize = 4096;

/// One NDJSON line of `add`: a finished entry or a progress report.
#[derive(Debug, Serialize)]
#[serde(untagged)]
enum AddLine {
    Entry {
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "Hash")]
        hash: String,
        /// kubo sends the cumulative DAG size as a string.
        #[serde(rename = "Size")]
        size: String,
        /// With replication on, the nodes holding this root durably (kubo clients ignore it).
        #[serde(rename = "Holders", skip_serializing_if = "Option::is_none")]
        holders: Option<Vec<String>>,
    },
    Progress {
        #[serde(rename = "Name")]
        name: String,
        #[serde(rename = "Bytes")]
        bytes: u64,
    },
}

fn import_options(args: &Args) -> Result<ImportOptions, ApiError> {
    let mut opts = ImportOptions::default();
    if let Some(v) = args.parsed::<u8>("cid-version")? {
        opts = opts.with_cid_version(v);
    }
    if let Some(v) = args.option("raw-leaves") {
        let raw = super::args::parse_bool(v)
            .ok_or_else(|| ApiError::invalid("raw-leaves", v, "expected a boolean"))?;
        opts = opts.with_raw_leaves(raw);
    }
    if let Some(spec) = args.option("chunker") {
        opts = opts
            .with_chunker(spec)
            .map_err(|e| ApiError::invalid("chunker", spec, e))?;
    }
    if args.bool("trickle", false)? {
        opts = opts.with_layout(Layout::Trickle);
    }
    if let Some(h) = args.option("hash") {
        let alg = HashAlg::from_name(h)
            .ok_or_else(|| ApiError::invalid("hash", h, "supported: sha2-256, blake3, identity"))?;
        opts = opts.with_hash(alg);
    }
    opts.resolve()
        .map_err(|e| ApiError::invalid("options", "", e))?;
    Ok(opts)
}

pub(crate) async fn add(
    State(ctx): State<NodeContext>,
    args: Args,
    Extension(upload): Extension<UploadLimits>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let opts = import_options(&args)?;
    let pin = args.bool("pin", true)?;
    let only_hash = args.bool("only-hash", false)?;
    let wrap = args.bool("wrap-with-directory", false)?;
    let progress = args.bool("progress", false)?;
    let quieter = args.bool("quieter", false)?;

    let mut adder = Adder::new(ctx.core(), opts, only_hash).map_err(add_error)?;
    // An upload's signed consent (nothing to consent to with --only-hash, which stores
    // nothing): refused here, before a byte is read, when it cannot pass.
    if !only_hash {
        adder = adder.with_consent(super::chain::consent(&ctx, &args)?);
    }
    let (mut parts, rest) = multipart(&headers, body, upload)?;
    let mut lines = Vec::new();
    let mut files = 0;
    while let Some(mut field) = parts.next_field().await.map_err(body_error)? {
        let name = field
            .file_name()
            .map(decode_file_name)
            .unwrap_or_default()
            .trim_matches('/')
            .to_owned();
        let kind = field
            .content_type()
            .map(|m| m.essence_str().to_ascii_lowercase())
            .unwrap_or_default();
        if kind == DIRECTORY_PART {
            adder.dir(&name).map_err(add_error)?;
            continue;
        }
        let added = if kind == SYMLINK_PART {
            let mut target = Vec::new();
            while let Some(chunk) = field.chunk().await.map_err(body_error)? {
                if target.len() + chunk.len() > MAX_SYMLINK_TARGET {
                    return Err(ApiError::InvalidBody {
                        reason: format!(
                            "symlink {name:?} has a target over {MAX_SYMLINK_TARGET} bytes"
                        ),
                    });
                }
                target.extend_from_slice(&chunk);
            }
            let target = String::from_utf8(target).map_err(|_| ApiError::InvalidBody {
                reason: format!("symlink {name:?} has a target that is not UTF-8"),
            })?;
            adder.symlink(&name, &target).await.map_err(add_error)?
        } else {
            let mut file = adder.file(&name).map_err(add_error)?;
            let mut reported = 0u64;
            while let Some(chunk) = field.chunk().await.map_err(body_error)? {
                file.push(&chunk).await.map_err(add_error)?;
                if progress && file.bytes() - reported >= PROGRESS_STEP {
                    reported = file.bytes();
                    lines.push(AddLine::Progress {
                        name: name.clone(),
                        bytes: reported,
                    });
                }
            }
            let total = file.bytes();
            let added = file.finish().await.map_err(add_error)?;
            if progress {
                lines.push(AddLine::Progress {
                    name: name.clone(),
                    bytes: total,
                });
            }
            added
        };
        files += 1;
        if !quieter {
            lines.push(entry_line(&added, true));
        }
    }
    drop(parts);
    rest.drain().await;

    // Builds the directories, pins and makes everything durable before any line goes out.
    let outcome = adder
        .finish(wrap, pin && !only_hash)
        .await
        .map_err(add_error)?;
    if quieter {
        lines.extend(outcome.roots.last().map(|root| entry_line(root, true)));
    } else {
        // The directories and the wrapping one, after the files (kubo's order).
        let dirs = outcome.entries.iter().skip(files);
        lines.extend(dirs.map(|dir| entry_line(dir, false)));
    }
    // With replication on, nothing is answered before W nodes hold each pinned root; each
    // root's line names its holders.
    if pin && !only_hash {
        let roots: Vec<(Cid, u64)> = outcome.roots.iter().map(|r| (r.cid, r.tsize)).collect();
        let mut holders = replicate(&ctx, &roots).await?;
        for line in lines.iter_mut().rev() {
            if let AddLine::Entry {
                hash, holders: h, ..
            } = line
                && let Some(found) = roots
                    .iter()
                    .find(|(c, _)| c.to_string() == *hash)
                    .and_then(|(c, _)| holders.remove(c))
            {
                *h = Some(found);
            }
        }
    }
    ndjson(&lines)
}

/// kubo's line for an added entry; an unnamed stream is shown by its CID (`cid_if_unnamed`),
/// the wrapping directory by its empty name.
fn entry_line(added: &Added, file: bool) -> AddLine {
    AddLine::Entry {
        name: added.shown_name(file),
        hash: added.cid.to_string(),
        size: added.tsize.to_string(),
        holders: None,
    }
}

/// The API's answer to an add that failed: kubo's 400 for a bad entry, 500 otherwise.
fn add_error(e: AddError) -> ApiError {
    match e {
        AddError::Entry { name, source } => ApiError::invalid("file", &name, source),
        AddError::Core(e) => ApiError::Core(e),
        other => ApiError::Failed(other.to_string()),
    }
}
