//! The operator's wallet: one secp256k1 key in the repo (`keystore/operator`, 0x-hex, mode
//! 0600 in a 0700 directory), as kubo keeps the node's identity key in its repo. The daemon
//! signs its relay transactions with it; an artist's key never touches a node.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use alloy::primitives::Address;
use alloy::signers::local::PrivateKeySigner;
use thiserror::Error;

/// Where the key lives inside the repo.
pub const KEY_FILE: &str = "keystore/operator";

/// A wallet that cannot be read or written.
#[derive(Debug, Error)]
pub enum WalletError {
    /// No key yet.
    #[error(
        "no operator wallet in this repo ({0}): run `chorus wallet new` or `chorus wallet import FILE`"
    )]
    Missing(PathBuf),
    /// One exists already (`new`/`import` never overwrite a key).
    #[error("this repo already has an operator wallet ({0}); remove it first to replace it")]
    Exists(PathBuf),
    /// File I/O.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// Not a key.
    #[error("{0}")]
    Invalid(String),
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> WalletError + '_ {
    move |source| WalletError::Io {
        path: path.to_owned(),
        source,
    }
}

/// The key file's path in `repo`.
pub fn key_path(repo: &Path) -> PathBuf {
    repo.join(KEY_FILE)
}

/// Reads a signer from a 0x-hex private key (64 hex digits, surrounding space ignored).
pub fn parse_hex_key(text: &str) -> Result<PrivateKeySigner, WalletError> {
    let t = text.trim();
    let hex = t.strip_prefix("0x").unwrap_or(t);
    let bytes = hex::decode(hex)
        .ok()
        .filter(|b| b.len() == 32)
        .ok_or_else(|| WalletError::Invalid("not a 32-byte hex private key".into()))?;
    PrivateKeySigner::from_slice(&bytes)
        .map_err(|e| WalletError::Invalid(format!("not a valid secp256k1 key: {e}")))
}

/// Reads a key file an operator brings: a 0x-hex private key, or an Ethereum JSON keystore
/// (v3) decrypted with `password` (asked for only when the file is a keystore).
pub fn read_key_file(
    path: &Path,
    password: impl FnOnce() -> Result<String, WalletError>,
) -> Result<PrivateKeySigner, WalletError> {
    let text = fs::read_to_string(path).map_err(io(path))?;
    if text.trim_start().starts_with('{') {
        let password = password()?;
        let invalid = |e: &dyn std::fmt::Display| {
            WalletError::Invalid(format!("{}: keystore: {e}", path.display()))
        };
        // ethers and MyEtherWallet write the v3 `crypto` object as `Crypto` (geth reads
        // both): hand the decrypter a copy with the spec's spelling.
        let mut json: serde_json::Value = serde_json::from_str(&text).map_err(|e| invalid(&e))?;
        let normalized = match json.as_object_mut() {
            Some(o) if !o.contains_key("crypto") && o.contains_key("Crypto") => {
                let c = o.remove("Crypto").expect("checked");
                o.insert("crypto".into(), c);
                true
            }
            _ => false,
        };
        let password = password.trim_end_matches(['\r', '\n']);
        if !normalized {
            return PrivateKeySigner::decrypt_keystore(path, password).map_err(|e| invalid(&e));
        }
        let copy = std::env::temp_dir().join(format!(
            "chorus-keystore-{}-{}.json",
            std::process::id(),
            rand::random::<u64>()
        ));
        let written = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&copy)
            .and_then(|mut f| f.write_all(json.to_string().as_bytes()));
        let result = written.map_err(|e| invalid(&e)).and_then(|()| {
            PrivateKeySigner::decrypt_keystore(&copy, password).map_err(|e| invalid(&e))
        });
        let _ = fs::remove_file(&copy);
        result
    } else {
        parse_hex_key(&text).map_err(|e| WalletError::Invalid(format!("{}: {e}", path.display())))
    }
}

/// The repo's operator key.
pub fn load(repo: &Path) -> Result<PrivateKeySigner, WalletError> {
    let path = key_path(repo);
    if !path.exists() {
        return Err(WalletError::Missing(path));
    }
    let text = fs::read_to_string(&path).map_err(io(&path))?;
    parse_hex_key(&text).map_err(|e| WalletError::Invalid(format!("{}: {e}", path.display())))
}

/// Stores `signer` as the repo's operator key (never replacing one); returns its address.
pub fn store(repo: &Path, signer: &PrivateKeySigner) -> Result<Address, WalletError> {
    let path = key_path(repo);
    let dir = path.parent().expect("KEY_FILE has a directory");
    fs::create_dir_all(dir).map_err(io(dir))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(io(dir))?;
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::AlreadyExists {
                WalletError::Exists(path.clone())
            } else {
                WalletError::Io {
                    path: path.clone(),
                    source: e,
                }
            }
        })?;
    writeln!(file, "0x{}", hex::encode(signer.to_bytes())).map_err(io(&path))?;
    file.sync_all().map_err(io(&path))?;
    Ok(signer.address())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_key_is_private_and_never_overwritten() {
        let repo = tempfile::tempdir().unwrap();
        assert!(matches!(load(repo.path()), Err(WalletError::Missing(_))));
        let key = PrivateKeySigner::random();
        assert_eq!(store(repo.path(), &key).unwrap(), key.address());
        let mode = fs::metadata(key_path(repo.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert_eq!(load(repo.path()).unwrap().address(), key.address());
        let other = PrivateKeySigner::random();
        assert!(matches!(
            store(repo.path(), &other),
            Err(WalletError::Exists(_))
        ));
        assert_eq!(load(repo.path()).unwrap().address(), key.address());
    }

    #[test]
    fn imports_hex_and_keystore_files() {
        let dir = tempfile::tempdir().unwrap();
        let key = PrivateKeySigner::random();
        let hex_file = dir.path().join("key.txt");
        fs::write(&hex_file, format!("0x{}\n", hex::encode(key.to_bytes()))).unwrap();
        let read = read_key_file(&hex_file, || panic!("no password for a hex key")).unwrap();
        assert_eq!(read.address(), key.address());
        let mut rng = alloy::signers::k256::elliptic_curve::rand_core::OsRng;
        let (_, _) = PrivateKeySigner::encrypt_keystore(
            dir.path(),
            &mut rng,
            key.to_bytes(),
            "pw",
            Some("ks.json"),
        )
        .unwrap();
        let read = read_key_file(&dir.path().join("ks.json"), || Ok("pw\n".into())).unwrap();
        assert_eq!(read.address(), key.address());
        assert!(read_key_file(&dir.path().join("ks.json"), || Ok("wrong".into())).is_err());
        fs::write(&hex_file, "0x1234").unwrap();
        assert!(read_key_file(&hex_file, || Ok(String::new())).is_err());
    }
}
