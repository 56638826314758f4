//! The root key provider: the AES-256 key that seals all key material at rest.
//!
//! From `TRENT_ROOT_KEY` (64 hex characters) if set; otherwise from `<data-dir>/root.key`,
//! created 0600 only for a store that holds no keys yet. The key is then checked against the
//! store (`trent_core::root_check`) before anything is served, and refused with the cause named:
//! a wrong key, a corrupted file, or a missing file for a store that has keys. The key is never
//! logged; the hex text and decoded bytes are wiped after use.

use std::io::Write;
use std::path::Path;

use trent_core::root_check::{self, RootCheck, RootCheckError};
use trent_core::store::Store;
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

impl Source {
    fn describe(self, data_dir: &Path) -> String {
        match self {
            Source::Environment => format!("the root key in {ENV_VAR}"),
            Source::ExistingFile | Source::CreatedFile => {
                format!("the root key in {}", data_dir.join(FILE_NAME).display())
            }
        }
    }
}

/// Loads the root key and checks it against `store`: the one way the server gets its root key.
pub fn open(data_dir: &Path, store: &dyn Store) -> Result<(AeadKey, Source, RootCheck), String> {
    let initialised = root_check::is_initialised(store)
        .map_err(|e| format!("cannot read the store to check the root key: {e}"))?;
    let (key, source) = load(data_dir, initialised)?;
    let check = root_check::verify(store, &key).map_err(|e| match e {
        RootCheckError::WrongKey | RootCheckError::WrongKeyForMaterial(_) => format!(
            "{} does not open this store: {e}. Either it is the wrong key, or {} was altered or corrupted; \
             start with the root key this store was created with",
            source.describe(data_dir),
            if source == Source::Environment { ENV_VAR.to_owned() } else { FILE_NAME.to_owned() },
        ),
        other => other.to_string(),
    })?;
    Ok((key, source, check))
}

/// Reads the root key; creates `root.key` only when the store does not depend on one yet.
pub fn load(data_dir: &Path, initialised: bool) -> Result<(AeadKey, Source), String> {
    if let Ok(text) = std::env::var(ENV_VAR) {
        let text = Zeroizing::new(text);
        let key = decode_hex(&text).map_err(|e| format!("{ENV_VAR}: {e}"))?;
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
            let key = decode_hex(&text)
                .map_err(|e| format!("root key file {} is corrupted: {e}", path.display()))?;
            (key, Source::ExistingFile)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && initialised => {
            return Err(format!(
                "root key file {} is missing, but this store holds keys sealed under a root key; \
                 restore the file (or set {ENV_VAR}). A new root key would not open them, so none is created",
                path.display()
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let key = SecretBytes::random(AES_256_KEY_LEN).map_err(|e| e.to_string())?;
            write_new(&path, &key)?;
            (key, Source::CreatedFile)
        }
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => {
            return Err(format!(
                "root key file {} is corrupted: it is not text",
                path.display()
            ))
        }
        Err(e) => return Err(format!("cannot read root key {}: {e}", path.display())),
    };
    Ok((AeadKey::new(&key).map_err(|e| e.to_string())?, source))
}

/// The root key of an existing data directory (or `TRENT_ROOT_KEY`), checked against its
/// store, for the administrative commands: unlike [`open`], never creates one.
pub fn open_existing(data_dir: &Path, store: &dyn Store) -> Result<AeadKey, String> {
    if std::env::var_os(ENV_VAR).is_none() && !data_dir.join(FILE_NAME).is_file() {
        return Err(format!(
            "no root key: neither {ENV_VAR} nor {} exists",
            data_dir.join(FILE_NAME).display()
        ));
    }
    open(data_dir, store).map(|(key, _, _)| key)
}

/// A new random root key and its hex text (wiped on drop).
pub fn generate() -> Result<(AeadKey, Zeroizing<String>), String> {
    let key = SecretBytes::random(AES_256_KEY_LEN).map_err(|e| e.to_string())?;
    let text = Zeroizing::new(hex::encode(key.expose()));
    Ok((AeadKey::new(&key).map_err(|e| e.to_string())?, text))
}

/// A root key from a file of 64 hex characters.
pub fn read_file(path: &Path) -> Result<AeadKey, String> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read root key {}: {e}", path.display()))?,
    );
    let key = decode_hex(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    AeadKey::new(&key).map_err(|e| e.to_string())
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
        let (a, source) = load(dir.path(), false).unwrap();
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
        let (b, source) = load(dir.path(), false).unwrap();
        assert_eq!(source, Source::ExistingFile);
        let sealed = a.seal(b"aad", b"x").unwrap();
        assert_eq!(b.open(b"aad", &sealed).unwrap().expose(), b"x");
    }

    #[test]
    fn loose_permissions_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        load(dir.path(), false).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let path = dir.path().join(FILE_NAME);
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
            assert!(load(dir.path(), false).is_err());
        }
    }

    use std::collections::BTreeMap;

    use trent_core::engine::material_aad;
    use trent_core::model::*;
    use trent_core::store::Write;
    use trent_core::{KeyId, Scope};
    use trent_store::SqliteStore;

    fn store(dir: &Path) -> SqliteStore {
        SqliteStore::open(&dir.join("trent.db")).unwrap()
    }

    fn other_key_file(dir: &Path) {
        std::fs::write(dir.join(FILE_NAME), "ab".repeat(32)).unwrap();
    }

    #[test]
    fn a_new_store_gets_a_check_value_that_later_starts_verify() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let (_, source, check) = open(dir.path(), &s).unwrap();
        assert_eq!(
            (source, check),
            (Source::CreatedFile, RootCheck::Initialised)
        );
        assert!(s.root_check().unwrap().is_some());
        let (_, source, check) = open(dir.path(), &s).unwrap();
        assert_eq!((source, check), (Source::ExistingFile, RootCheck::Verified));
    }

    #[test]
    fn a_wrong_or_corrupted_root_key_is_refused_with_its_cause() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        open(dir.path(), &s).unwrap();
        let path = dir.path().join(FILE_NAME);
        #[cfg(unix)]
        let set_mode = |p: &Path| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o600)).unwrap();
        };
        other_key_file(dir.path());
        #[cfg(unix)]
        set_mode(&path);
        let err = open(dir.path(), &s).unwrap_err();
        assert!(err.contains("does not open this store"), "{err}");
        assert!(err.contains("wrong key"), "{err}");
        std::fs::write(&path, "not hex at all").unwrap();
        let err = open(dir.path(), &s).unwrap_err();
        assert!(err.contains("is corrupted"), "{err}");
    }

    #[test]
    fn no_root_key_is_created_for_a_store_that_has_one() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        open(dir.path(), &s).unwrap();
        std::fs::remove_file(dir.path().join(FILE_NAME)).unwrap();
        let err = open(dir.path(), &s).unwrap_err();
        assert!(err.contains("is missing"), "{err}");
        assert!(!dir.path().join(FILE_NAME).exists());
    }

    /// A key as a release before the check value stored it, its material sealed under `root`.
    fn legacy_key(root: &AeadKey) -> KeyRecord {
        let id = KeyId::generate();
        KeyRecord {
            id,
            scope: Scope::new("111122223333", "us-east-1"),
            version: 1,
            meta: KeyMeta {
                description: String::new(),
                key_spec: KeySpec::SymmetricDefault,
                key_usage: KeyUsage::EncryptDecrypt,
                origin: Origin::AwsKms,
                state: KeyState::Enabled,
                created_at: Timestamp(1),
                deletion_date: None,
                pending_window_days: None,
                policy: "{}".into(),
                tags: BTreeMap::new(),
                current_material: Some(1),
                multi_region: false,
                multi_region_set: None,
                imports: vec![],
                last_material_version: 1,
                rotation: Default::default(),
                deletion_protection: None,
                usage: Default::default(),
                grants: vec![],
            },
            materials: vec![SealedMaterial {
                version: 1,
                sealed: root.seal(&material_aad(&id, 1), &[7; 32]).unwrap(),
            }],
        }
    }

    #[test]
    fn a_store_from_before_the_check_value_is_verified_by_its_material() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path());
        let (root, _) = load(dir.path(), false).unwrap();
        s.commit(vec![Write::InsertKey(legacy_key(&root))]).unwrap();
        assert_eq!(s.root_check().unwrap(), None);
        // The wrong key is refused and writes no check value.
        let good = std::fs::read(dir.path().join(FILE_NAME)).unwrap();
        other_key_file(dir.path());
        let err = open(dir.path(), &s).unwrap_err();
        assert!(err.contains("material of key"), "{err}");
        assert_eq!(s.root_check().unwrap(), None);
        std::fs::write(dir.path().join(FILE_NAME), good).unwrap();
        let (_, _, check) = open(dir.path(), &s).unwrap();
        assert_eq!(check, RootCheck::VerifiedByMaterial);
        assert!(s.root_check().unwrap().is_some());
        let (_, _, check) = open(dir.path(), &s).unwrap();
        assert_eq!(check, RootCheck::Verified);
    }

    #[test]
    fn hex_must_be_32_bytes() {
        assert!(decode_hex(&"ab".repeat(32)).is_ok());
        assert!(decode_hex("abcd").is_err());
        assert!(decode_hex("zz").is_err());
    }
}
