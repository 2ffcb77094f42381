//! The CLI through a running daemon: while a daemon holds the repo (its address is in
//! `<repo>/api`), commands are sent to its `/api/v0` RPC instead of opening the store, and print
//! the same output as the local commands.

mod chain;
mod commands;
mod replication;
mod track;

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use reqwest::{Response, multipart::Form};

use crate::cli::Command;
use crate::repo::RepoPaths;

pub use commands::run;
pub use track::track_add;

/// How long to wait for the daemon's port to accept before deciding `<repo>/api` is stale.
const CONNECT_PROBE: Duration = Duration::from_secs(2);

/// A connection to the daemon's RPC API.
pub struct Remote {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
    /// The repo's `[import]` settings: the CLI sends them with every add, so a daemon adds
    /// with the same settings as the offline CLI.
    import: Option<crate::config::ImportConfig>,
}

impl Remote {
    /// The daemon of `paths`, if one is running: `<repo>/api` names an address that accepts.
    /// A leftover file from a killed daemon (nothing listening) means "no daemon".
    pub fn connect(paths: &RepoPaths) -> Result<Option<Remote>> {
        let Ok(text) = std::fs::read_to_string(paths.api_file()) else {
            return Ok(None);
        };
        let addr: chorus_node::ListenAddr = text
            .trim()
            .parse()
            .with_context(|| format!("invalid address in {}", paths.api_file().display()))?;
        let sock: SocketAddr = addr.socket_addr();
        if TcpStream::connect_timeout(&sock, CONNECT_PROBE).is_err() {
            return Ok(None);
        }
        let config = paths.load_config().ok();
        let token = config
            .as_ref()
            .map(|c| c.api.auth_token.clone())
            .filter(|t| !t.is_empty());
        let import = config.map(|c| c.import);
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .context("cannot build the HTTP client")?;
        Ok(Some(Remote {
            base: format!("http://{sock}/api/v0"),
            token,
            http,
            import,
        }))
    }

    /// The repo's `[import]` settings (defaults when its config cannot be read).
    fn import_config(&self) -> Result<crate::config::ImportConfig> {
        Ok(self.import.clone().unwrap_or_default())
    }

    /// POSTs `path` with query `args` (and an optional multipart body); errors carry the
    /// daemon's own message.
    async fn post(
        &self,
        path: &str,
        args: &[(&str, String)],
        form: Option<Form>,
    ) -> Result<Response> {
        let url = format!("{}/{path}", self.base);
        let mut req = self.http.post(&url).query(args);
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        if let Some(f) = form {
            req = req.multipart(f);
        }
        let resp = req
            .send()
            .await
            .with_context(|| format!("cannot reach the daemon at {}", self.base))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let body = resp.text().await.unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("Message").and_then(|m| m.as_str()).map(str::to_owned))
            .unwrap_or_else(|| body.trim().to_owned());
        if message.is_empty() {
            bail!("the daemon answered {status}");
        }
        bail!("{message}");
    }

    /// POST and parse one JSON document.
    async fn json(&self, path: &str, args: &[(&str, String)]) -> Result<serde_json::Value> {
        let resp = self.post(path, args, None).await?;
        resp.json()
            .await
            .with_context(|| format!("invalid JSON from the daemon's {path}"))
    }
}

/// Whether `command` can run through the daemon (everything but `init` and `daemon`).
pub fn applies_to(command: &Command) -> bool {
    !matches!(
        command,
        Command::Init
            | Command::Daemon(_)
            | Command::Track(_)
            | Command::TranscodeWorker
            | Command::Completions { .. }
            | Command::Man
            | Command::Bootstrap(_)
            | Command::Config(_)
            | Command::Wallet(_)
            | Command::Chain(
                crate::cli::ChainCommand::Deploy { .. }
                    | crate::cli::ChainCommand::RegisterNode { .. }
                    | crate::cli::ChainCommand::DeregisterNode
                    | crate::cli::ChainCommand::Nodes { .. }
            )
    )
}
