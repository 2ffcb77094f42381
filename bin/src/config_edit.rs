//! `chorus config`, kubo's way: read and change one key of `config.toml` without touching the
//! rest of the file.
//!
//! Keys are `section.key` (or a whole `section`), as the file spells them. Values are read as
//! JSON (`--json`: numbers, booleans, lists, tables) or taken as a string, as `ipfs config`
//! does. The file is edited with `toml_edit`, so the operator's comments, the order of keys
//! and anything else in the file survive. Every change is checked against the schema before
//! it is written: an unknown key or a value of the wrong type is refused with a message naming
//! the key, and the file is left as it was. The file is written atomically (a temp file,
//! fsynced, renamed) with mode 0600, because it can hold the API token.
//!
//! The same code serves the CLI (offline: the file needs no repo lock) and the daemon's RPC
//! `config` commands (through [`chorus_node::ConfigService`]), so both behave the same.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use serde_json::Value as Json;
use toml_edit::{DocumentMut, Item, Table};

use crate::config::Config;

/// One repo's `config.toml`.
#[derive(Debug, Clone)]
pub struct ConfigFile {
    path: PathBuf,
}

/// What a key names: a whole section, or one key in it.
enum Key<'a> {
    Section(&'a str),
    Entry(&'a str, &'a str),
}

impl ConfigFile {
    /// The file at `path` (read at each call: the file is the truth).
    pub fn new(path: impl Into<PathBuf>) -> Self {
        ConfigFile { path: path.into() }
    }

    /// The value of `key` as the node uses it (the file's value, else the default), as JSON.
    pub fn get(&self, key: &str) -> Result<Json> {
        let effective = serde_json::to_value(self.load()?)?;
        lookup(&effective, key)
    }

    /// Sets `key` to `value` and writes the file; refuses unknown keys and wrong types.
    pub fn set(&self, key: &str, value: &Json) -> Result<()> {
        let mut doc = self.document()?;
        let parsed = parse_key(key)?;
        schema_check(key, &parsed)?;
        let item = to_item(value).with_context(|| format!("cannot set {key}"))?;
        match parsed {
            Key::Section(section) => {
                if !item.is_table() {
                    bail!("{section} is a section: give its keys as a JSON object with --json");
                }
                doc[section] = item;
            }
            Key::Entry(section, name) => {
                let table = doc
                    .entry(section)
                    .or_insert_with(|| Item::Table(Table::new()));
                let Some(table) = table.as_table_like_mut() else {
                    bail!("[{section}] in {} is not a table", self.path.display());
                };
                match table.get_mut(name) {
                    // Keep the key and its comments; only the value changes.
                    Some(existing) => *existing = item,
                    None => {
                        table.insert(name, item);
                    }
                }
            }
        }
        let text = doc.to_string();
        validate(&text).with_context(|| format!("cannot set {key}"))?;
        self.write(&text)
    }

    /// The file as it is on disk.
    pub fn show(&self) -> Result<String> {
        std::fs::read_to_string(&self.path)
            .with_context(|| format!("cannot read config {}", self.path.display()))
    }

    /// The settings the node runs with (every key, defaults filled in), as JSON.
    pub fn effective(&self) -> Result<Json> {
        Ok(serde_json::to_value(self.load()?)?)
    }

    /// Replaces the whole file with `text`, after checking it is a valid config.
    pub fn replace(&self, text: &str) -> Result<()> {
        validate(text).context("the new config is not valid")?;
        self.write(text)
    }

    fn load(&self) -> Result<Config> {
        Config::load(&self.path)
    }

    fn document(&self) -> Result<DocumentMut> {
        self.show()?
            .parse::<DocumentMut>()
            .with_context(|| format!("invalid config {}", self.path.display()))
    }

    fn write(&self, text: &str) -> Result<()> {
        write_private(&self.path, text.as_bytes())
    }
}

fn parse_key(key: &str) -> Result<Key<'_>> {
    let mut parts = key.split('.');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(s), None, None) if !s.is_empty() => Ok(Key::Section(s)),
        (Some(s), Some(k), None) if !s.is_empty() && !k.is_empty() => Ok(Key::Entry(s, k)),
        _ => bail!("invalid config key {key:?}: use section.key, e.g. swarm.bootstrap"),
    }
}

/// Refuses a key the schema does not have, naming the keys it does.
fn schema_check(key: &str, parsed: &Key<'_>) -> Result<()> {
    let schema = serde_json::to_value(Config::default())?;
    let sections = schema
        .as_object()
        .ok_or_else(|| anyhow!("the config schema is not a table"))?;
    let section = match parsed {
        Key::Section(s) | Key::Entry(s, _) => *s,
    };
    let Some(Json::Object(keys)) = sections.get(section) else {
        let known: Vec<&str> = sections.keys().map(String::as_str).collect();
        bail!(
            "unknown config key {key:?}: no section [{section}] (sections: {})",
            known.join(", ")
        );
    };
    if let Key::Entry(_, name) = parsed
        && !keys.contains_key(*name)
    {
        let known: Vec<&str> = keys.keys().map(String::as_str).collect();
        bail!(
            "unknown config key {key:?} (keys of [{section}]: {})",
            known.join(", ")
        );
    }
    Ok(())
}

/// The value at a dotted key of the effective config; an unset optional key is `null`.
fn lookup(effective: &Json, key: &str) -> Result<Json> {
    let parsed = parse_key(key)?;
    schema_check(key, &parsed)?;
    let value = match parsed {
        Key::Section(s) => effective.get(s),
        Key::Entry(s, k) => effective.get(s).and_then(|t| t.get(k)),
    };
    Ok(value.cloned().unwrap_or(Json::Null))
}

/// Parses `text` as the node would; the error names the offending key.
fn validate(text: &str) -> Result<()> {
    toml::from_str::<Config>(text).map_err(|e| anyhow!("{}", e.message().trim()))?;
    Ok(())
}

/// A JSON value as a TOML item (a table for an object, an inline value otherwise).
fn to_item(value: &Json) -> Result<Item> {
    Ok(match value {
        Json::Object(map) => {
            let mut table = Table::new();
            for (k, v) in map {
                table.insert(k, to_item(v)?);
            }
            Item::Table(table)
        }
        other => Item::Value(to_value(other)?),
    })
}

fn to_value(value: &Json) -> Result<toml_edit::Value> {
    Ok(match value {
        Json::Null => bail!("TOML has no null: leave the key out instead"),
        Json::Bool(b) => (*b).into(),
        Json::Number(n) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => i.into(),
            (None, Some(f)) => f.into(),
            _ => bail!("number {n} is out of range"),
        },
        Json::String(s) => s.as_str().into(),
        Json::Array(items) => {
            let mut array = toml_edit::Array::new();
            for item in items {
                array.push(to_value(item)?);
            }
            toml_edit::Value::Array(array)
        }
        Json::Object(map) => {
            let mut table = toml_edit::InlineTable::new();
            for (k, v) in map {
                table.insert(k, to_value(v)?);
            }
            toml_edit::Value::InlineTable(table)
        }
    })
}

/// Writes `bytes` to `path` atomically with mode 0600: a temp file beside it, fsynced, renamed.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = path.with_file_name(tmp_name);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    // A temp file left by an older build keeps its mode; make sure of 0600 before the rename.
    std::fs::set_permissions(&tmp, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))
}

/// A value as `chorus config KEY` prints it: strings bare, everything else as JSON (kubo).
pub fn display(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    }
}

/// The daemon's RPC `config` commands, on the same code as `chorus config`.
impl chorus_node::ConfigService for ConfigFile {
    fn get(&self, key: &str) -> Result<Json, chorus_node::ConfigError> {
        ConfigFile::get(self, key).map_err(rpc_error)
    }

    fn set(&self, key: &str, value: &Json) -> Result<(), chorus_node::ConfigError> {
        ConfigFile::set(self, key, value).map_err(rpc_error)
    }

    fn show(&self) -> Result<Json, chorus_node::ConfigError> {
        self.effective().map_err(rpc_error)
    }

    fn replace(&self, text: &str) -> Result<(), chorus_node::ConfigError> {
        ConfigFile::replace(self, text).map_err(rpc_error)
    }
}

fn rpc_error(e: anyhow::Error) -> chorus_node::ConfigError {
    chorus_node::ConfigError(crate::output::one_line(&e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_with(text: &str) -> (tempfile::TempDir, ConfigFile) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        (dir, ConfigFile::new(path))
    }

    fn template() -> String {
        Config::default().to_commented_toml()
    }

    #[test]
    fn every_key_round_trips_through_set_and_get() {
        let (_dir, file) = file_with(&template());
        let effective = file.effective().unwrap();
        for (section, keys) in effective.as_object().unwrap() {
            for (key, value) in keys.as_object().unwrap() {
                let name = format!("{section}.{key}");
                let new = match value {
                    Json::Bool(b) => Json::Bool(!b),
                    Json::Number(n) => Json::from(n.as_u64().unwrap() + 1),
                    // The one string with a closed set of values.
                    Json::String(s) if name == "log.format" => {
                        Json::String(if s == "text" { "json" } else { "text" }.to_owned())
                    }
                    Json::String(s) => Json::String(format!("{s}x")),
                    Json::Array(_) => serde_json::json!([]),
                    Json::Null => Json::Bool(true),
                    Json::Object(_) => unreachable!("no nested tables"),
                };
                // Some strings are checked only by the daemon (addresses, modes); the file
                // takes any string there, so every key can be set and read back.
                file.set(&name, &new)
                    .unwrap_or_else(|e| panic!("{name}: {e:#}"));
                assert_eq!(file.get(&name).unwrap(), new, "{name}");
            }
        }
    }

    #[test]
    fn comments_order_and_other_keys_survive_an_edit() {
        let text = template().replace(
            "[swarm]\n",
            "[swarm]\n# operator's note: peers of the eu community\n",
        );
        let (_dir, file) = file_with(&text);
        file.set("swarm.fetch_timeout_secs", &Json::from(7))
            .unwrap();
        let after = file.show().unwrap();
        assert!(after.contains("# operator's note: peers of the eu community\n"));
        assert!(after.contains("fetch_timeout_secs = 7\n"), "{after}");
        // Only that line changed.
        let before_lines: Vec<&str> = text.lines().collect();
        let after_lines: Vec<&str> = after.lines().collect();
        assert_eq!(before_lines.len(), after_lines.len());
        let changed: Vec<_> = before_lines
            .iter()
            .zip(&after_lines)
            .filter(|(a, b)| a != b)
            .collect();
        assert_eq!(changed.len(), 1, "{changed:?}");
    }

    #[test]
    fn unknown_keys_and_wrong_types_are_refused_and_change_nothing() {
        let (_dir, file) = file_with(&template());
        let before = file.show().unwrap();
        let err = file.set("swarm.fetch_timeout", &Json::from(3)).unwrap_err();
        assert!(format!("{err:#}").contains("unknown config key"), "{err:#}");
        assert!(format!("{err:#}").contains("fetch_timeout_secs"), "{err:#}");
        let err = file.set("swarn.listen", &Json::from(3)).unwrap_err();
        assert!(format!("{err:#}").contains("no section [swarn]"), "{err:#}");
        let err = file
            .set("swarm.fetch_timeout_secs", &Json::from("soon"))
            .unwrap_err();
        assert!(format!("{err:#}").contains("fetch_timeout_secs"), "{err:#}");
        let err = file.set("swarm.bootstrap", &Json::from(1)).unwrap_err();
        assert!(format!("{err:#}").contains("bootstrap"), "{err:#}");
        assert!(file.get("nope.key").is_err());
        assert_eq!(file.show().unwrap(), before);
    }

    #[test]
    fn the_file_is_written_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let (_dir, file) = file_with(&template());
        file.set("api.auth_token", &Json::from("secret")).unwrap();
        let mode = std::fs::metadata(&file.path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn replace_checks_the_new_file_first() {
        let (_dir, file) = file_with(&template());
        assert!(file.replace("[import]\nchunkr = \"size-1\"\n").is_err());
        file.replace("[import]\nchunker = \"size-1024\"\n").unwrap();
        assert_eq!(file.get("import.chunker").unwrap(), "size-1024");
        assert_eq!(file.get("swarm.routing").unwrap(), "auto");
    }
}
