//! `chorus wallet new|import|address`: the operator's key in the repo (see
//! [`chorus_chain::wallet`]). Local commands: the daemon reads the key when it starts.

use std::path::Path;

use anyhow::{Context, Result};
use chorus_chain::PrivateKeySigner;
use chorus_chain::wallet::{self, WalletError};

use crate::cli::WalletCommand;
use crate::repo::RepoPaths;

pub fn run(paths: &RepoPaths, cmd: WalletCommand) -> Result<()> {
    paths.ensure_initialized()?;
    match cmd {
        WalletCommand::New => {
            let address = wallet::store(paths.root(), &PrivateKeySigner::random())?;
            println!("{}", address.to_checksum(None));
            eprintln!(
                "operator wallet created in {}; fund it to pay for registrations",
                wallet::key_path(paths.root()).display()
            );
        }
        WalletCommand::Import {
            file,
            password_file,
        } => {
            let key = read_key(&file, password_file.as_deref())?;
            let address = wallet::store(paths.root(), &key)?;
            println!("{}", address.to_checksum(None));
        }
        WalletCommand::Address => {
            println!(
                "{}",
                wallet::load(paths.root())?.address().to_checksum(None)
            );
        }
    }
    Ok(())
}

/// Reads a key file (0x-hex or JSON keystore, whose password comes from `password_file` or a
/// prompt on the terminal).
pub fn read_key(file: &Path, password_file: Option<&Path>) -> Result<PrivateKeySigner> {
    let key = wallet::read_key_file(file, || match password_file {
        Some(p) => std::fs::read_to_string(p)
            .map(|s| s.lines().next().unwrap_or_default().to_owned())
            .map_err(|e| WalletError::Invalid(format!("{}: {e}", p.display()))),
        None => rpassword::prompt_password(format!("password for {}: ", file.display()))
            .map_err(|e| WalletError::Invalid(format!("cannot read a password: {e}"))),
    })
    .with_context(|| format!("cannot read the key in {}", file.display()))?;
    Ok(key)
}
