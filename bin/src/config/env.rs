//! Environment overrides of `config.toml`: `CHORUS_<SECTION>_<KEY>` (upper case) replaces
//! `section.key` for this process, so a container or a unit file configures a node without
//! editing the file (`CHORUS_API_ADDRESS=/ip4/0.0.0.0/tcp/5001`,
//! `CHORUS_SWARM_BOOTSTRAP='["/ip4/…"]'`). String keys take the value as it is; other keys
//! take it as JSON (numbers, booleans, lists), as `chorus config --json` does. A value of the
//! wrong type is an error naming the variable. Variables that name no key are left alone
//! (`CHORUS_PATH` and the like are not settings). `chorus config show --effective` shows the
//! result; the file itself is never changed.

use anyhow::{Context, Result, anyhow};
use serde_json::Value;

use super::Config;

/// Prefix of the override variables.
const PREFIX: &str = "CHORUS_";

/// `config` with the overrides among `vars` applied.
pub fn apply(config: Config, vars: impl IntoIterator<Item = (String, String)>) -> Result<Config> {
    let mut tree = serde_json::to_value(&config)?;
    let sections = tree
        .as_object_mut()
        .ok_or_else(|| anyhow!("the config schema is not a table"))?;
    let mut applied = false;
    for (name, raw) in vars {
        let Some(rest) = name.strip_prefix(PREFIX) else {
            continue;
        };
        for (section, entries) in sections.iter_mut() {
            let Some(key) = rest.strip_prefix(&format!("{}_", section.to_uppercase())) else {
                continue;
            };
            let Some(entries) = entries.as_object_mut() else {
                continue;
            };
            let Some((_, slot)) = entries.iter_mut().find(|(k, _)| k.to_uppercase() == key) else {
                continue;
            };
            *slot = if slot.is_string() {
                Value::String(raw.clone())
            } else {
                serde_json::from_str(&raw).with_context(|| {
                    format!("{name}={raw:?}: expected JSON (a number, true/false or a list)")
                })?
            };
            applied = true;
        }
    }
    if !applied {
        return Ok(config);
    }
    serde_json::from_value(tree).context("an environment override has the wrong type")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn overrides_apply_by_section_and_key() {
        let c = apply(
            Config::default(),
            vars(&[
                ("CHORUS_API_ADDRESS", "/ip4/0.0.0.0/tcp/5001"),
                ("CHORUS_SWARM_FETCH_TIMEOUT_SECS", "90"),
                (
                    "CHORUS_SWARM_BOOTSTRAP",
                    r#"["/ip4/10.0.0.2/tcp/4001/p2p/x"]"#,
                ),
                ("CHORUS_IMPORT_RAW_LEAVES", "true"),
                ("CHORUS_LIMITS_MAX_DIRECTORY_ENTRIES", "5"),
                ("CHORUS_PATH", "/var/lib/chorus"),
                ("CHORUS_NOT_A_SECTION_KEY", "x"),
                ("HOME", "/root"),
            ]),
        )
        .unwrap();
        assert_eq!(c.api.address, "/ip4/0.0.0.0/tcp/5001");
        assert_eq!(c.swarm.fetch_timeout_secs, 90);
        assert_eq!(c.swarm.bootstrap, vec!["/ip4/10.0.0.2/tcp/4001/p2p/x"]);
        assert_eq!(c.import.raw_leaves, Some(true));
        assert_eq!(c.limits.max_directory_entries, 5);
    }

    #[test]
    fn a_wrong_type_names_the_variable() {
        let err = apply(
            Config::default(),
            vars(&[("CHORUS_SWARM_FETCH_TIMEOUT_SECS", "soon")]),
        )
        .unwrap_err();
        assert!(
            format!("{err:#}").contains("CHORUS_SWARM_FETCH_TIMEOUT_SECS"),
            "{err:#}"
        );
        let err = apply(
            Config::default(),
            vars(&[("CHORUS_API_ALLOW_GET", "\"yes\"")]),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("wrong type"), "{err:#}");
    }
}
