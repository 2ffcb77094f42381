//! `chorus block put|get|stat|rm`.

use std::io::{Read, Write};

use anyhow::{Context, Result, bail};
use chorus_storage::{Block, Blockstore, Cid, HashAlg, PinMode, codec};

use crate::cli::BlockCommand;
use crate::repo::RepoPaths;

/// kubo's block size limit for `block put` (boxo `BlockSizeLimit`, 1 MiB + headroom is refused
/// by peers; bitswap peers will not accept more than 2 MiB).
const MAX_BLOCK_SIZE: usize = 2 << 20;

fn parse_cid(arg: &str) -> Result<Cid> {
    let s = arg.trim_start_matches("/ipfs/");
    s.parse()
        .map_err(|e| anyhow::anyhow!("invalid CID {arg:?}: {e}"))
}

pub fn run(paths: &RepoPaths, cmd: BlockCommand) -> Result<()> {
    let store = crate::store::open_existing(paths)?;
    let mut out = std::io::stdout().lock();
    match cmd {
        BlockCommand::Put {
            file,
            cid_codec,
            mhtype,
            pin,
        } => {
            let mut data = Vec::new();
            let limit = MAX_BLOCK_SIZE as u64 + 1;
            match file.as_deref().filter(|p| p.as_os_str() != "-") {
                None => std::io::stdin()
                    .lock()
                    .take(limit)
                    .read_to_end(&mut data)
                    .context("cannot read the block from standard input")?,
                Some(p) => std::fs::File::open(p)
                    .and_then(|f| f.take(limit).read_to_end(&mut data))
                    .with_context(|| format!("cannot read {}", p.display()))?,
            };
            if data.len() > MAX_BLOCK_SIZE {
                bail!("block is larger than the {MAX_BLOCK_SIZE}-byte limit");
            }
            let codec = match cid_codec.as_str() {
                "raw" => codec::RAW,
                "dag-pb" | "protobuf" => codec::DAG_PB,
                other => bail!("unsupported --cid-codec {other:?} (raw or dag-pb)"),
            };
            let hash = HashAlg::from_name(&mhtype)
                .with_context(|| format!("unknown --mhtype {mhtype:?}"))?;
            let block = Block::from_data(codec, hash, data)?;
            if codec == codec::DAG_PB {
                chorus_protocol::car::block_links(&block).with_context(|| {
                    format!("the data is not a valid dag-pb node ({})", block.cid())
                })?;
            }
            let session = store.session();
            session.put(&block)?;
            if pin {
                session.pin(block.cid(), PinMode::Direct)?;
            }
            store.flush()?;
            writeln!(out, "{}", block.cid())?;
        }
        BlockCommand::Get { cid } => {
            let c = parse_cid(&cid)?;
            let block = store
                .get(&c)
                .with_context(|| format!("cannot read block {c}"))?
                .with_context(|| format!("block {c} not found in the local store"))?;
            out.write_all(block.data())?;
        }
        BlockCommand::Stat { cid } => {
            let c = parse_cid(&cid)?;
            let size = store
                .size(c.hash())?
                .with_context(|| format!("block {c} not found in the local store"))?;
            writeln!(out, "Key: {c}\nSize: {size}")?;
        }
        BlockCommand::Rm { cids, force } => {
            let parsed = cids
                .iter()
                .map(|c| parse_cid(c))
                .collect::<Result<Vec<_>>>()?;
            let pinned = pinned_roots(&store)?;
            let mut failures = Vec::new();
            for c in parsed {
                if let Some(mode) = pinned
                    .iter()
                    .find(|(p, _)| p.hash() == c.hash())
                    .map(|(_, m)| *m)
                {
                    failures.push(format!("cannot remove {c}: pinned: {}", mode.name()));
                    continue;
                }
                if store.delete(c.hash())? {
                    writeln!(out, "removed {c}")?;
                } else if !force {
                    failures.push(format!("cannot remove {c}: block not found"));
                }
            }
            store.flush()?;
            if !failures.is_empty() {
                bail!("{}", failures.join("; "));
            }
        }
    }
    out.flush()?;
    Ok(())
}

fn pinned_roots(store: &chorus_storage::SledStore) -> Result<Vec<(Cid, PinMode)>> {
    store
        .pins()
        .ls(None)
        .collect::<Result<Vec<_>, _>>()
        .context("cannot read pins")
}
