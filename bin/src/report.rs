//! What the CLI prints for commands that change or list state, shared by the offline path (the
//! core in process) and the path through a daemon (the RPC's JSON), so both print the same.

use std::io::Write;

use anyhow::Result;

/// `pin add`: one line per pinned CID.
pub fn pinned(out: &mut impl Write, cids: &[String], recursive: bool) -> Result<()> {
    let how = if recursive { "recursively" } else { "directly" };
    for cid in cids {
        writeln!(out, "pinned {cid} {how}")?;
    }
    Ok(())
}

/// `pin rm`: one line per unpinned CID.
pub fn unpinned(out: &mut impl Write, cids: &[String]) -> Result<()> {
    for cid in cids {
        writeln!(out, "unpinned {cid}")?;
    }
    Ok(())
}

/// `pin ls`: `<cid> <type>` (or the CID alone with `--quiet`), sorted by CID as kubo's JSON
/// object orders them.
pub fn pin_rows(out: &mut impl Write, mut rows: Vec<(String, String)>, quiet: bool) -> Result<()> {
    rows.sort();
    for (cid, kind) in rows {
        if quiet {
            writeln!(out, "{cid}")?;
        } else {
            writeln!(out, "{cid} {kind}")?;
        }
    }
    Ok(())
}

/// `dag import`: one line per root; a root that could not be pinned fails the command.
pub fn car_roots(
    out: &mut impl Write,
    roots: &[(String, Option<String>)],
    pin_roots: bool,
) -> Result<()> {
    for (cid, pin_error) in roots {
        if let Some(err) = pin_error.as_deref().filter(|e| !e.is_empty()) {
            anyhow::bail!("cannot pin root {cid}: {err}");
        }
        if pin_roots {
            writeln!(out, "Pinned root\t{cid}\tsuccess")?;
        } else {
            writeln!(out, "Imported root\t{cid}")?;
        }
    }
    Ok(())
}

/// `block rm`: `removed <cid>` per removed block; the refusals fail the command together.
pub fn removed_blocks(out: &mut impl Write, outcomes: &[(String, Option<String>)]) -> Result<()> {
    let mut failures = Vec::new();
    for (cid, error) in outcomes {
        match error {
            None => writeln!(out, "removed {cid}")?,
            Some(error) => failures.push(format!("cannot remove {cid}: {error}")),
        }
    }
    out.flush()?;
    if !failures.is_empty() {
        anyhow::bail!("{}", failures.join("; "));
    }
    Ok(())
}

/// `repo stat` as kubo prints it (`--size-only`: the size and the bound only).
pub fn repo_stat(
    out: &mut impl Write,
    stat: &chorus_node::core::RepoStat,
    size_only: bool,
) -> Result<()> {
    if !size_only {
        writeln!(out, "NumObjects: {}", stat.num_objects)?;
    }
    writeln!(out, "RepoSize:   {}", stat.repo_size)?;
    writeln!(out, "StorageMax: {}", stat.storage_max)?;
    if !size_only {
        writeln!(out, "RepoPath:   {}", stat.repo_path)?;
        writeln!(out, "Version:    {}", stat.version)?;
    }
    Ok(())
}

/// `repo verify`: the core's lines; a damaged repo fails the command.
pub fn verified(out: &mut impl Write, lines: &[String], ok: bool) -> Result<()> {
    for line in lines {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    if !ok {
        anyhow::bail!(
            "the repo has damaged blocks (see above); remove them with `chorus block rm` and re-add the content"
        );
    }
    Ok(())
}
