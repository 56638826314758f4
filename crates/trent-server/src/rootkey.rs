//! The root key provider: the AES-256 key that seals all key material at rest.
//!
//! From `TRENT_ROOT_KEY` (64 hex characters) if set; otherwise from `<data-dir>/root.key`,
//! created on first start with mode 0600. The key is never logged; the hex text and decoded
//! bytes are wiped after use.

use std::io::Write;
use std::path::Path;

use trent_crypto::{AeadKey, SecretBytes, AES_256_KEY_LEN};
use zeroize::Zeroizing;

pub const ENV_VAR: &str = "TRENT_ROOT_KEY";
pub const FILE_NAME: &str = "root.key";

fn decode_hex(text: &str) -> Result<SecretBytes, String> {
    let bytes = Zeroizing::new(
        hex::decode(text.trim()).map_err(|_| "root key is not valid hex".to_owned())?,
    );
    if bytes.len() != AES_256_KEY_LEN {
        return Err(format!(
            "root key must be {AES_256_KEY_LEN} bytes (64 hex characters)"
        ));
    }
    Ok(SecretBytes::new(bytes.to_vec()))
}

/// Where the root key came from, for the startup message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Environment,
    ExistingFile,
    CreatedFile,
}

pub fn load(data_dir: &Path) -> Result<(AeadKey, Source), String> {
    if let Ok(text) = std::env::var(ENV_VAR) {
        let text = Zeroizing::new(text);
        let key = decode_hex(&text)?;
        return Ok((
            AeadKey::new(&key).map_err(|e| e.to_string())?,
            Source::Environment,
        ));
    }
    let path = data_dir.join(FILE_NAME);
    let (key, source) = match std::fs::read_to_string(&path) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            check_permissions(&path)?;
            (decode_hex(&text)?, Source::ExistingFile)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SecretBytes::random(AES_256_KEY_LEN).map_err(|e| e.to_string())?;
            write_new(&path, &key)?;
            (key, Source::CreatedFile)
        }
        Err(e) => return Err(format!("cannot read root key {}: {e}", path.display())),
    };
    Ok((AeadKey::new(&key).map_err(|e| e.to_string())?, source))
}

/// The root key of an existing data directory (or `TRENT_ROOT_KEY`), for the administrative
/// commands: unlike [`load`], never creates one.
pub fn load_existing(data_dir: &Path) -> Result<AeadKey, String> {
    if std::env::var_os(ENV_VAR).is_none() && !data_dir.join(FILE_NAME).is_file() {
        return Err(format!(
            "no root key: neither {ENV_VAR} nor {} exists",
            data_dir.join(FILE_NAME).display()
        ));
    }
    load(data_dir).map(|(key, _)| key)
}

fn write_new(path: &Path, key: &SecretBytes) -> Result<(), String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| format!("cannot create root key {}: {e}", path.display()))?;
    let text = Zeroizing::new(hex::encode(key.expose()));
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write root key {}: {e}", path.display()))?;
    // The directory entry must be durable too, or a crash could lose the key that seals data
    // already committed.
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| format!("cannot sync {}: {e}", dir.display()))?;
    }
    Ok(())
}

fn check_permissions(path: &Path) -> Result<(), String> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .map_err(|e| format!("cannot stat {}: {e}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            return Err(format!(
                "root key {} is readable by group or others (mode {:o}); run chmod 600 on it",
                path.display(),
                mode & 0o777
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_with_mode_0600_then_reused() {
        let dir = tempfile::tempdir().unwrap();
        let (a, source) = load(dir.path()).unwrap();
        assert_eq!(source, Source::CreatedFile);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(FILE_NAME))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let (b, source) = load(dir.path()).unwrap();
        assert_eq!(source, Source::ExistingFile);
        let sealed = a.seal(b"aad", b"x").unwrap();
        assert_eq!(b.open(b"aad", &sealed).unwrap().expose(), b"x");
    }

    #[test]
    fn loose_permissions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        load(dir.path()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.path().join(FILE_NAME);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(load(dir.path()).is_err());
        }
    }

    #[test]
    fn hex_must_be_32_bytes() {
        assert!(decode_hex(&"ab".repeat(32)).is_ok());
        assert!(decode_hex("abcd").is_err());
        assert!(decode_hex("zz").is_err());
    }
}
