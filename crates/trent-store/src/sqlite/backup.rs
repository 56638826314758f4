//! Snapshots of a database file with SQLite's online backup API: `trent backup` and
//! `trent restore`.
//!
//! A backup copies every page in one step, inside one read transaction of the source, so the
//! copy is one committed state of the database even while a server writes to it (in WAL mode a
//! reader does not block the writer, nor the writer the reader). The copy is a self-contained
//! rollback-journal file, synced before it is reported done. It holds key material only as
//! sealed by the root key.

use std::path::Path;
use std::time::Duration;

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};
use trent_core::store::StoreError;

use super::{backend, schema};

/// How often a step that found the source busy is retried before giving up.
const BUSY_RETRIES: u32 = 100;

/// Copies the database at `source` (a live store or a snapshot) into a new file at `dest`,
/// which must not exist. Refuses a source that is not a Trent database.
pub fn copy_database(source: &Path, dest: &Path) -> Result<(), StoreError> {
    let from = Connection::open_with_flags(
        source,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::Backend(format!("sqlite: {}: {e}", source.display())))?;
    from.busy_timeout(schema::BUSY_TIMEOUT).map_err(backend)?;
    let app: i32 = from
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|e| StoreError::Backend(format!("sqlite: {}: {e}", source.display())))?;
    if app != schema::APPLICATION_ID {
        return Err(StoreError::Backend(format!(
            "{} is not a Trent database",
            source.display()
        )));
    }
    // Created here, exclusively and readable by the owner alone, before anything is copied:
    // no other user can open it meanwhile, and an existing file or link is never followed. A
    // copy that fails is removed, so that it is neither mistaken for a backup nor left in a data
    // directory where the next restore would refuse it.
    create_private(dest)?;
    let copied = fill(&from, dest);
    if copied.is_err() {
        for leftover in [dest.to_owned(), journal_of(dest)] {
            let _ = std::fs::remove_file(leftover);
        }
    }
    copied
}

/// SQLite's rollback journal beside `path`.
fn journal_of(path: &Path) -> std::path::PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push("-journal");
    name.into()
}

/// Copies `from` into the empty database file `dest`, then makes it self-contained, checks and
/// syncs it.
fn fill(from: &Connection, dest: &Path) -> Result<(), StoreError> {
    let mut to = Connection::open_with_flags(
        dest,
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_NOFOLLOW
            | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| StoreError::Backend(format!("sqlite: {}: {e}", dest.display())))?;
    {
        let backup = Backup::new(from, &mut to).map_err(backend)?;
        let mut retries = 0;
        loop {
            // -1: every page in one step, so one read transaction sees one committed state.
            match backup.step(-1).map_err(backend)? {
                StepResult::Done => break,
                StepResult::More => {}
                _ if retries < BUSY_RETRIES => {
                    retries += 1;
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => {
                    return Err(StoreError::Backend(
                        "sqlite: the source stayed locked; backup abandoned".into(),
                    ))
                }
            }
        }
    }
    let mode: String = to
        .query_row("PRAGMA journal_mode = DELETE", [], |r| r.get(0))
        .map_err(backend)?;
    if !mode.eq_ignore_ascii_case("delete") {
        return Err(StoreError::Backend(format!(
            "sqlite: cannot make the copy self-contained (journal mode {mode})"
        )));
    }
    let check: String = to
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .map_err(backend)?;
    if check != "ok" {
        return Err(StoreError::Backend(format!(
            "sqlite: the copy fails its integrity check: {check}"
        )));
    }
    drop(to);
    sync(dest)
}

/// Creates `path` as a new, empty file (an empty SQLite database) that only its owner may
/// read; refuses if anything, a dangling link included, is there already.
fn create_private(path: &Path) -> Result<(), StoreError> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(StoreError::Backend(
            format!("{} already exists; not overwriting it", path.display()),
        )),
        Err(e) => Err(StoreError::Backend(format!("{}: {e}", path.display()))),
    }
}

/// Syncs the file and its directory entry.
fn sync(path: &Path) -> Result<(), StoreError> {
    let io = |e: std::io::Error| StoreError::Backend(format!("sync {}: {e}", path.display()));
    std::fs::File::open(path)
        .and_then(|f| f.sync_all())
        .map_err(io)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(io)?;
    }
    Ok(())
}
