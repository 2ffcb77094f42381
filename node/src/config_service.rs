//! [`ConfigService`]: the node's settings file, read and edited by the RPC `config` commands.
//!
//! The settings' schema belongs to the binary (it holds the transcoder's defaults, which this
//! crate cannot depend on), so the binary implements this trait over the same code as its
//! `chorus config` command and hands it to the core; both front ends then behave the same.

use serde_json::Value;

/// Why a config command failed; the message names the key and says what is wrong.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Reads and edits the node's config file. Changes take effect at the next start.
pub trait ConfigService: Send + Sync + 'static {
    /// The value of `key` (`section.key` or `section`) the node uses, as JSON.
    fn get(&self, key: &str) -> Result<Value, ConfigError>;
    /// Sets `key` to `value` in the file, keeping everything else; refuses unknown keys and
    /// values of the wrong type.
    fn set(&self, key: &str, value: &Value) -> Result<(), ConfigError>;
    /// Every setting, defaults filled in, as JSON.
    fn show(&self) -> Result<Value, ConfigError>;
    /// Replaces the whole file with `text` once it checks as a valid config.
    fn replace(&self, text: &str) -> Result<(), ConfigError>;
}
