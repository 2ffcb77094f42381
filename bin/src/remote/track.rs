//! `chorus track add` through the daemon: upload to `/api/v0/track/add`, draw its NDJSON
//! progress, print the root CID as the local command does.

use std::io::Write;
use std::path::Path;

use anyhow::{Result, bail};
use reqwest::multipart::Form;

use super::Remote;
use super::commands::{file_part, last_hash, ndjson, signed_options};
use crate::add_inputs::Settings;
use crate::track::percent_bar;

/// Uploads `file` (named `name`) with extra renditions `extra_kbps`; the daemon transcodes,
/// stores, pins and announces it.
pub fn track_add(
    remote: &Remote,
    file: &Path,
    name: &str,
    extra_kbps: &[u32],
    show: bool,
    sign: Option<&Path>,
) -> Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut query: Vec<(&str, String)> =
        vec![("pin", "true".to_owned()), ("progress", show.to_string())];
    query.extend(extra_kbps.iter().map(|k| ("rendition", k.to_string())));
    let bar = percent_bar(show);
    let result = rt.block_on(async {
        if let Some(key_file) = sign {
            // The artist signs the source audio's CID, as the daemon's import settings make it.
            let settings = Settings::new(
                &remote.import_config()?,
                &crate::cli::AddArgs::for_directory(file.to_path_buf()),
            )?;
            let mut hashing: Vec<(&str, String)> =
                vec![("only-hash", "true".into()), ("quieter", "true".into())];
            hashing.extend(settings.query());
            let form = Form::new().part("file", file_part(file, name).await?);
            let source = last_hash(remote.post("add", &hashing, Some(form)).await?).await?;
            query.extend(signed_options(remote, key_file, &source).await?);
        }
        let form = Form::new().part("file", file_part(file, name).await?);
        let resp = remote.post("track/add", &query, Some(form)).await?;
        let mut cid = None;
        ndjson(resp, |line| {
            if line.get("Type").and_then(|t| t.as_str()) == Some("error") {
                let message = line
                    .get("Message")
                    .and_then(|m| m.as_str())
                    .unwrap_or("the daemon reported an error");
                bail!("{message}");
            }
            if let Some(c) = line.get("Cid").and_then(|c| c.as_str()) {
                cid = Some(c.to_owned());
            } else if let Some(p) = line.get("Percent").and_then(|p| p.as_u64()) {
                bar.set_position(p.min(100));
                if line.get("Stage").and_then(|s| s.as_str()) == Some("storing") {
                    bar.set_message("storing");
                }
            }
            Ok(())
        })
        .await?;
        match cid {
            Some(cid) => Ok(cid),
            None => bail!("the daemon's answer ended without a track CID"),
        }
    });
    bar.finish_and_clear();
    let cid = result?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{cid}")?;
    Ok(out.flush()?)
}
