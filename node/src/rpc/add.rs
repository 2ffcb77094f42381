//! `/api/v0/add`: multipart upload → UnixFS DAGs, with kubo's options and NDJSON output.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use chorus_protocol::unixfs::{FileImporter, ImportOptions, Layout, TreeBuilder};
use chorus_storage::{Block, Cid, HashAlg};
use serde::Serialize;

use super::args::Args;
use super::error::ApiError;
use super::respond::{body_error, decode_file_name, multipart, ndjson};
use crate::context::NodeContext;
use crate::core::{Commit, Writer};

/// Progress lines are emitted at most once per this many bytes (kubo's CLI refresh is similar).
const PROGRESS_STEP: u64 = 256 * 1024;

/// Media type kubo clients give directory parts.
const DIRECTORY_PART: &str = "application/x-directory";
/// Media type kubo clients give symlink parts.
const SYMLINK_PART: &str = "application/symlink";

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

/// Writes blocks unless `--only-hash`.
async fn write(writer: &Option<Writer>, blocks: Vec<Block>) -> Result<(), ApiError> {
    if let Some(writer) = writer {
        writer.put_many(blocks).await?;
    }
    Ok(())
}

pub(crate) async fn add(
    State(ctx): State<NodeContext>,
    args: Args,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let opts = import_options(&args)?;
    let pin = args.bool("pin", true)?;
    let only_hash = args.bool("only-hash", false)?;
    let wrap = args.bool("wrap-with-directory", false)?;
    let progress = args.bool("progress", false)?;
    let quieter = args.bool("quieter", false)?;

    let writer = (!only_hash).then(|| ctx.core().writer());
    let (mut parts, rest) = multipart(&headers, body)?;
    let mut tree = TreeBuilder::new(&opts).map_err(|e| ApiError::invalid("options", "", e))?;
    let mut lines = Vec::new();
    let mut files: Vec<(String, Cid, u64)> = Vec::new();
    let mut dir_parts: Vec<String> = Vec::new();
    let mut nested = false;

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
            if !name.is_empty() {
                tree.add_dir(&name)
                    .map_err(|e| ApiError::invalid("file", &name, e))?;
                nested = true;
                dir_parts.push(name);
            }
            continue;
        }
        if kind == SYMLINK_PART {
            return Err(ApiError::Failed(format!(
                "cannot add {name:?}: symlinks are not supported"
            )));
        }
        let mut importer =
            FileImporter::new(&opts).map_err(|e| ApiError::invalid("options", "", e))?;
        let mut total = 0u64;
        let mut reported = 0u64;
        while let Some(chunk) = field.chunk().await.map_err(body_error)? {
            total += chunk.len() as u64;
            let blocks = importer
                .push(&chunk)
                .map_err(|e| ApiError::Failed(format!("importing {name:?}: {e}")))?;
            write(&writer, blocks).await?;
            if progress && total - reported >= PROGRESS_STEP {
                reported = total;
                lines.push(AddLine::Progress {
                    name: name.clone(),
                    bytes: total,
                });
            }
        }
        let (summary, blocks) = importer
            .finish()
            .map_err(|e| ApiError::Failed(format!("importing {name:?}: {e}")))?;
        write(&writer, blocks).await?;
        if progress {
            lines.push(AddLine::Progress {
                name: name.clone(),
                bytes: total,
            });
        }
        let shown = if name.is_empty() {
            summary.root.to_string()
        } else {
            name.clone()
        };
        if !quieter {
            lines.push(AddLine::Entry {
                name: shown,
                hash: summary.root.to_string(),
                size: summary.tsize.to_string(),
            });
        }
        if !name.is_empty() {
            nested |= name.contains('/');
            tree.add(&name, summary.root, summary.tsize)
                .map_err(|e| ApiError::invalid("file", &name, e))?;
        }
        files.push((name, summary.root, summary.tsize));
    }
    drop(parts);
    rest.drain().await;

    // The roots to pin and, with --quieter, to print.
    let mut roots: Vec<(String, Cid, u64)> = Vec::new();
    if nested || wrap {
        let mut blocks = Vec::new();
        let built = tree
            .finish(&mut blocks)
            .map_err(|e| ApiError::Failed(format!("building directories: {e}")))?;
        write(&writer, blocks).await?;
        let top: BTreeSet<&str> = files
            .iter()
            .map(|(n, _, _)| n.as_str())
            .chain(dir_parts.iter().map(String::as_str))
            .filter_map(|n| n.split('/').next())
            .filter(|n| !n.is_empty())
            .collect();
        for (path, dir) in &built.dirs {
            if path.is_empty() {
                continue;
            }
            let line = AddLine::Entry {
                name: path.clone(),
                hash: dir.cid.to_string(),
                size: dir.tsize.to_string(),
            };
            if !quieter {
                lines.push(line);
            }
            if !wrap && top.contains(path.as_str()) {
                roots.push((path.clone(), dir.cid, dir.tsize));
            }
        }
        if wrap {
            roots.push((String::new(), built.root.cid, built.root.tsize));
            if !quieter {
                lines.push(AddLine::Entry {
                    name: String::new(),
                    hash: built.root.cid.to_string(),
                    size: built.root.tsize.to_string(),
                });
            }
        } else {
            for (name, cid, tsize) in &files {
                if !name.contains('/') {
                    roots.push((name.clone(), *cid, *tsize));
                }
            }
        }
    } else {
        roots.extend(files.iter().cloned());
    }

    if quieter && let Some((name, cid, tsize)) = roots.last() {
        lines.push(AddLine::Entry {
            name: if name.is_empty() {
                cid.to_string()
            } else {
                name.clone()
            },
            hash: cid.to_string(),
            size: tsize.to_string(),
        });
    }
    if let Some(writer) = writer {
        let roots: Vec<Cid> = roots.iter().map(|(_, c, _)| *c).collect();
        let commit = if pin {
            Commit::pin_and_announce(&roots)
        } else {
            Commit::announce_only(&roots)
        };
        // The durability point: the lines go out only once the content is on disk.
        writer.commit(commit).await?;
    }
    ndjson(&lines)
}
