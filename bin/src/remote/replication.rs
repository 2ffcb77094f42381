//! `chorus replication status [CID] [--json]` through the daemon's `replication/status`.

use std::io::Write;

use anyhow::Result;
use serde_json::Value;

use super::Remote;
use crate::cli::ReplicationCommand;

pub(super) async fn run(remote: &Remote, cmd: ReplicationCommand) -> Result<()> {
    let (cid, json) = match cmd {
        ReplicationCommand::Status { cid, json } => (cid, json),
        ReplicationCommand::Remove { cid } => {
            let v = remote.json("replication/remove", &[("arg", cid)]).await?;
            writeln!(std::io::stdout().lock(), "removed {}", text(&v, "Removed"))?;
            return Ok(());
        }
    };
    let args: Vec<(&str, String)> = cid.iter().map(|c| ("arg", c.clone())).collect();
    let v = remote.json("replication/status", &args).await?;
    let mut out = std::io::stdout().lock();
    if json {
        writeln!(out, "{v}")?;
        return Ok(());
    }
    if cid.is_some() {
        root(&mut out, &v)?;
    } else {
        overview(&mut out, &v)?;
    }
    Ok(())
}

fn text<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

fn number(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}

/// One root: its ranking with the holders marked.
fn root(out: &mut impl Write, v: &Value) -> Result<()> {
    let holders = strings(v, "Holders");
    let factor = number(v, "Factor");
    let under = v
        .get("UnderReplicated")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let removed = v.get("InContentSet").and_then(Value::as_bool) == Some(false);
    writeln!(
        out,
        "{}: {} of {} copies{}{}",
        text(v, "Cid"),
        holders.len(),
        factor,
        if under { " (under-replicated)" } else { "" },
        if removed {
            " (not in the content set)"
        } else {
            ""
        }
    )?;
    for (rank, peer) in strings(v, "Ranked").iter().enumerate() {
        let mark = if holders.contains(peer) { "holds" } else { "-" };
        writeln!(out, "{:>3} {peer} {mark}", rank + 1)?;
    }
    Ok(())
}

/// This node's view.
fn overview(out: &mut impl Write, v: &Value) -> Result<()> {
    writeln!(
        out,
        "factor {}, write quorum {}; {} roots in the content set ({} log entries), {} under-replicated",
        number(v, "Factor"),
        number(v, "WriteQuorum"),
        number(v, "ContentRoots"),
        number(v, "LogEntries"),
        number(v, "UnderReplicated"),
    )?;
    for node in v
        .get("Nodes")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let state = if node.get("Self").and_then(Value::as_bool) == Some(true) {
            "self".to_owned()
        } else if node.get("Connected").and_then(Value::as_bool) == Some(true) {
            "connected".to_owned()
        } else if node.get("Up").and_then(Value::as_bool) == Some(true) {
            format!("unreachable for {} s", number(node, "UnreachableSecs"))
        } else {
            format!(
                "down (unreachable for {} s)",
                number(node, "UnreachableSecs")
            )
        };
        writeln!(out, "  {} {state}", text(node, "Peer"))?;
    }
    let repair = v.get("Repair").cloned().unwrap_or_default();
    let last = match repair.get("LastPassSecsAgo").and_then(Value::as_u64) {
        Some(s) => format!("last pass {s} s ago"),
        None => "no pass yet".to_owned(),
    };
    writeln!(
        out,
        "repair: {} passes, {last}; pending {}, repaired {}, cleaned {}, failed {}",
        number(&repair, "Passes"),
        number(&repair, "Pending"),
        number(&repair, "Repaired"),
        number(&repair, "Cleaned"),
        number(&repair, "Failed"),
    )?;
    Ok(())
}
