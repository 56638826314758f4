//! The administrative commands that work on a data directory rather than over the API:
//! `trent seed export`, `trent backup`, `trent restore`, `trent root-key rotate`.
//!
//! Owns: opening an existing store and root key for them (never creating either), and what each
//! command writes. They may run while a server uses the same data directory, except where a
//! command says otherwise.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use trent_core::clock::SystemClock;
use trent_core::engine::Kms;
use trent_core::ids::{AccountId, Region, Scope};
use trent_store::sqlite::SqliteStore;

use crate::rootkey;

/// The database file of a data directory.
pub const DB_FILE: &str = "trent.db";

/// The data directory of an administrative command.
#[derive(Debug, Clone, clap::Args)]
pub struct DataDirArg {
    /// Directory of the embedded store and the root key
    #[arg(long, env = "TRENT_DATA_DIR", default_value = crate::config::DEFAULT_DATA_DIR)]
    pub data_dir: PathBuf,
}

/// Opens the store of an existing data directory.
pub fn open_store(data_dir: &Path) -> Result<SqliteStore, String> {
    let db = data_dir.join(DB_FILE);
    if !db.is_file() {
        return Err(format!("no Trent database at {}", db.display()));
    }
    SqliteStore::open(&db).map_err(|e| format!("cannot open store {}: {e}", db.display()))
}

/// `trent seed export` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct SeedExportArgs {
    #[command(flatten)]
    pub data_dir: DataDirArg,
    /// The account whose keys to export
    #[arg(long)]
    pub account: String,
    /// The region whose keys to export
    #[arg(long)]
    pub region: String,
    /// Include key material (hex, or PEM for asymmetric keys). The file is then as secret as
    /// the keys themselves.
    #[arg(long)]
    pub with_material: bool,
    /// Write here (created with mode 0600) instead of standard output
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Writes the seed file of a scope's keys. Keys a seed cannot describe are named on stderr.
pub fn seed_export(args: SeedExportArgs) -> Result<(), String> {
    let data_dir = &args.data_dir.data_dir;
    let account = AccountId::parse(&args.account)
        .ok_or_else(|| format!("invalid account {:?}: 12 or 16 digits", args.account))?;
    let store = open_store(data_dir)?;
    let root = rootkey::open_existing(data_dir, &store)?;
    let kms = Kms::new(Arc::new(store), root, Arc::new(SystemClock));
    let scope = Scope {
        account,
        region: Region(args.region.clone()),
    };
    let export = kms
        .export_seed(&scope, args.with_material)
        .map_err(|e| format!("cannot export: {e}"))?;
    for (id, why) in &export.skipped {
        eprintln!("skipped key {id}: {why}");
    }
    for (id, why) in &export.without_material {
        eprintln!("key {id} exported without material: {why}");
    }
    let text = zeroize::Zeroizing::new(crate::seed::write(&export)?);
    match &args.out {
        None => print!("{}", text.as_str()),
        Some(path) => write_private(path, text.as_bytes())?,
    }
    Ok(())
}

/// Writes a new file readable by its owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// `trent backup` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct BackupArgs {
    #[command(flatten)]
    pub data_dir: DataDirArg,
    /// The snapshot file to create (must not exist)
    #[arg(long)]
    pub out: PathBuf,
}

/// Writes a consistent snapshot of the store, also while a server runs on it. The snapshot
/// holds sealed material only: it is useless without the root key, which it does not contain.
pub fn backup(args: BackupArgs) -> Result<(), String> {
    let db = args.data_dir.data_dir.join(DB_FILE);
    if !db.is_file() {
        return Err(format!("no Trent database at {}", db.display()));
    }
    trent_store::sqlite::copy_database(&db, &args.out)
        .map_err(|e| format!("backup failed: {e}"))?;
    eprintln!(
        "backed up {} to {}. The snapshot holds key material sealed under the root key only: \
         keep the root key too, stored apart from the snapshot.",
        db.display(),
        args.out.display()
    );
    Ok(())
}

/// `trent restore` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub data_dir: DataDirArg,
    /// A snapshot written by `trent backup`
    #[arg(long)]
    pub from: PathBuf,
}

/// Restores a snapshot into a data directory that has no database yet (it may already hold the
/// root key).
pub fn restore(args: RestoreArgs) -> Result<(), String> {
    let data_dir = &args.data_dir.data_dir;
    // Created private if absent, and locked: no server may start on it mid-restore.
    let _lock = crate::datadir::DataDir::open(data_dir)?;
    let db = data_dir.join(DB_FILE);
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let path = PathBuf::from(format!("{}{suffix}", db.display()));
        if path.exists() {
            return Err(format!(
                "{} exists: restore only into a data directory without a database",
                path.display()
            ));
        }
    }
    if !args.from.is_file() {
        return Err(format!("no snapshot at {}", args.from.display()));
    }
    trent_store::sqlite::copy_database(&args.from, &db)
        .map_err(|e| format!("restore failed: {e}"))?;
    // Opening brings the schema up to this build's version and the file into WAL mode.
    SqliteStore::open(&db).map_err(|e| format!("restored database unusable: {e}"))?;
    eprintln!("restored {} into {}", args.from.display(), db.display());
    if std::env::var_os(rootkey::ENV_VAR).is_none() && !data_dir.join(rootkey::FILE_NAME).is_file()
    {
        eprintln!(
            "no root key here yet: copy the root key of the backed-up store to {} (mode 0600) or \
             set {} before starting the server; a new root key would open nothing",
            data_dir.join(rootkey::FILE_NAME).display(),
            rootkey::ENV_VAR
        );
    }
    Ok(())
}

/// `trent root-key rotate` arguments.
#[derive(Debug, Clone, clap::Args)]
pub struct RotateRootKeyArgs {
    #[command(flatten)]
    pub data_dir: DataDirArg,
    /// Where to write the new root key (hex, mode 0600) when the current one comes from
    /// TRENT_ROOT_KEY; with `root.key`, the file is replaced instead
    #[arg(long)]
    pub new_key_out: Option<PathBuf>,
}

/// The new root key while a rotation is under way, next to `root.key`.
const NEW_KEY_FILE: &str = "root.key.new";

/// Re-seals everything the store holds under a new root key, in one transaction, with no server
/// running on the data directory (its lock is taken). Afterwards the old root key opens nothing
/// in the store. Run again after an interruption: a rotation whose transaction committed is
/// completed, one that did not is started over.
pub fn rotate_root_key(args: RotateRootKeyArgs) -> Result<(), String> {
    let data_dir = &args.data_dir.data_dir;
    if !data_dir.join(DB_FILE).is_file() {
        return Err(format!("no Trent database in {}", data_dir.display()));
    }
    let _lock = crate::datadir::DataDir::open(data_dir)?;
    let from_env = std::env::var_os(rootkey::ENV_VAR).is_some();
    let new_key_path = match (&args.new_key_out, from_env) {
        (Some(path), true) => path.clone(),
        (None, true) => {
            return Err(format!(
                "the root key comes from {}: give --new-key-out FILE for the new one",
                rootkey::ENV_VAR
            ))
        }
        (Some(_), false) => {
            return Err(format!(
                "--new-key-out is for a root key from {}; {} is replaced in place",
                rootkey::ENV_VAR,
                data_dir.join(rootkey::FILE_NAME).display()
            ))
        }
        (None, false) => data_dir.join(NEW_KEY_FILE),
    };
    let store = open_store(data_dir)?;
    let key_file = data_dir.join(rootkey::FILE_NAME);
    if !from_env && new_key_path.is_file() {
        // An earlier rotation stopped after writing the new key. If its transaction committed,
        // the new key opens the store: only the file swap is left.
        let pending = rootkey::read_file(&new_key_path)?;
        let check = trent_core::store::Store::root_check(&store)
            .map_err(|e| format!("cannot read the root-key check value: {e}"))?;
        // Only with a stored check value is verify a pure read.
        if check.is_some() && trent_core::root_check::verify(&store, &pending).is_ok() {
            replace_file(&new_key_path, &key_file)?;
            eprintln!(
                "completed an interrupted root-key rotation: {} now holds the new key",
                key_file.display()
            );
            return Ok(());
        }
        std::fs::remove_file(&new_key_path)
            .map_err(|e| format!("cannot remove {}: {e}", new_key_path.display()))?;
    }
    let old = rootkey::open_existing(data_dir, &store)?;
    let (new, new_hex) = rootkey::generate()?;
    write_private(&new_key_path, new_hex.as_bytes())?;
    let resealed = store
        .reseal_all(
            |record| trent_core::engine::reseal_key(&old, &new, record).map_err(|e| e.to_string()),
            |sealed| trent_core::root_check::reseal(&old, &new, sealed).map_err(|e| e.to_string()),
        )
        .map_err(|e| {
            let _ = std::fs::remove_file(&new_key_path);
            format!("root-key rotation failed, nothing changed: {e}")
        })?;
    drop(store);
    if from_env {
        eprintln!(
            "re-sealed {} material versions of {} keys under a new root key, written to {}. \
             Set {} to it before starting the server; the old key opens nothing in this store now",
            resealed.materials,
            resealed.keys,
            new_key_path.display(),
            rootkey::ENV_VAR
        );
    } else {
        replace_file(&new_key_path, &key_file)?;
        eprintln!(
            "re-sealed {} material versions of {} keys under a new root key, now in {}; \
             the old key opens nothing in this store",
            resealed.materials,
            resealed.keys,
            key_file.display()
        );
    }
    Ok(())
}

/// Atomically replaces `to` with `from` and makes the rename durable.
fn replace_file(from: &Path, to: &Path) -> Result<(), String> {
    std::fs::rename(from, to)
        .map_err(|e| format!("cannot move {} to {}: {e}", from.display(), to.display()))?;
    if let Some(dir) = to.parent() {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| format!("cannot sync {}: {e}", dir.display()))?;
    }
    Ok(())
}
