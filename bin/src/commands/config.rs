//! `chorus config`: one setting of `config.toml` read or changed, `show` and `replace`; the
//! editing itself is [`crate::config_edit`], shared with the daemon's RPC `config`.

use std::io::Write;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use crate::cli::{ConfigArgs, ConfigCommand};
use crate::config_edit::{ConfigFile, display};
use crate::repo::RepoPaths;

pub fn run(paths: &RepoPaths, args: ConfigArgs) -> Result<()> {
    paths.ensure_initialized()?;
    let file = ConfigFile::new(paths.config());
    let mut out = std::io::stdout().lock();
    match (args.command, args.key, args.value) {
        (Some(ConfigCommand::Show { effective: false }), _, _) => write!(out, "{}", file.show()?)?,
        (Some(ConfigCommand::Show { effective: true }), _, _) => {
            writeln!(out, "{}", serde_json::to_string_pretty(&file.effective()?)?)?
        }
        (Some(ConfigCommand::Replace { file: new }), _, _) => {
            let text = std::fs::read_to_string(&new)
                .with_context(|| format!("cannot read {}", new.display()))?;
            file.replace(&text)?;
        }
        (None, Some(key), None) => writeln!(out, "{}", display(&file.get(&key)?))?,
        (None, Some(key), Some(raw)) => {
            let value = if args.json {
                serde_json::from_str(&raw)
                    .with_context(|| format!("--json: {raw:?} is not JSON"))?
            } else if args.bool {
                Value::Bool(crate::cli::parse_bool(&raw).map_err(anyhow::Error::msg)?)
            } else {
                Value::String(raw)
            };
            file.set(&key, &value)?;
        }
        (None, None, _) => {
            bail!("give a key (e.g. chorus config swarm.bootstrap), show or replace")
        }
    }
    Ok(())
}
