//! `chorus chain owner CID` and `chorus chain status [CID]` through the daemon's
//! `chain/owner` and `chain/status`.

use std::io::Write;

use anyhow::{Result, bail};
use serde_json::Value;

use super::Remote;
use crate::cli::ChainCommand;

pub(super) async fn run(remote: &Remote, cmd: ChainCommand) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match cmd {
        ChainCommand::Owner { cid, json } => {
            let v = remote.json("chain/owner", &[("arg", cid)]).await?;
            if json {
                writeln!(out, "{v}")?;
                return Ok(());
            }
            writeln!(out, "{} owned by {}", text(&v, "Cid"), text(&v, "Owner"))?;
            writeln!(
                out,
                "  kind {}, registered in block {} by transaction {}",
                text(&v, "Kind"),
                v.get("Block").and_then(Value::as_u64).unwrap_or(0),
                text(&v, "Tx")
            )?;
            if v.get("Delisted").and_then(Value::as_bool) == Some(true) {
                writeln!(out, "  delisted by transaction {}", text(&v, "DelistedTx"))?;
            }
        }
        ChainCommand::Status { cid, json } => {
            let args: Vec<(&str, String)> = cid.iter().map(|c| ("arg", c.clone())).collect();
            let v = remote.json("chain/status", &args).await?;
            if json || cid.is_some() {
                writeln!(out, "{v}")?;
                return Ok(());
            }
            let endpoint = text(&v, "Endpoint");
            writeln!(
                out,
                "endpoint   {}",
                if endpoint.is_empty() {
                    "(none)"
                } else {
                    endpoint
                }
            )?;
            for (label, key) in [
                ("chain id", "ChainId"),
                ("head", "Head"),
                ("cursor", "Cursor"),
                ("lag", "Lag"),
                ("relay queue", "RelayQueue"),
                ("indexed", "IndexedCids"),
            ] {
                let value = v.get(key).map(|n| n.to_string()).unwrap_or_default();
                writeln!(out, "{label:<10} {value}")?;
            }
            writeln!(out, "registry   {}", text(&v, "ContentRegistry"))?;
            writeln!(out, "operator   {}", text(&v, "Operator"))?;
            if let Some(e) = v.get("LastError").and_then(Value::as_str) {
                writeln!(out, "last error {e}")?;
            }
        }
        ChainCommand::Deploy { .. }
        | ChainCommand::RegisterNode { .. }
        | ChainCommand::DeregisterNode
        | ChainCommand::Nodes { .. } => bail!("this command does not run through the daemon"),
    }
    Ok(())
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}
