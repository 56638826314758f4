//! The data directory: created private, locked for this process's life, raised limits.
//!
//! Owns what the process does to its environment before serving: the file-creation mask (every
//! file Trent or SQLite creates is 0600, every directory 0700, whatever the caller's umask),
//! the directory's creation and the warning when an existing one is readable by others, the
//! exclusive advisory lock that keeps a second `trent serve` off a directory in use (each
//! process caches keys, so two would disagree about a key's state indefinitely), and the soft
//! open-file limit. Must not read or write the store itself.

use std::fs::File;
use std::path::{Path, PathBuf};

/// The lock file inside the data directory; its content is the holder's pid, for operators.
pub const LOCK_FILE: &str = "trent.lock";

/// Makes every file and directory created from now on private to the owner.
pub fn restrict_new_files() {
    #[cfg(unix)]
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
}

/// The data directory, held: the lock is released when this is dropped (or the process dies).
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    _lock: File,
}

impl DataDir {
    /// Creates the directory (0700) if absent, warns when an existing one is readable by group
    /// or others, and takes the exclusive lock, refusing when another process holds it.
    pub fn open(path: &Path) -> Result<DataDir, String> {
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder
            .create(path)
            .map_err(|e| format!("cannot create data directory {}: {e}", path.display()))?;
        warn_if_readable(path);
        let lock_path = path.join(LOCK_FILE);
        let lock = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(|e| format!("cannot open lock file {}: {e}", lock_path.display()))?;
        lock_exclusive(&lock).map_err(|held| {
            if held {
                let holder = std::fs::read_to_string(&lock_path).unwrap_or_default();
                format!(
                    "data directory {} is in use by another trent process{}; \
                     two processes on one directory would each serve their own view of the keys. \
                     Stop the other one, or give this one its own --data-dir",
                    path.display(),
                    match holder.trim() {
                        "" => String::new(),
                        pid => format!(" (pid {pid})"),
                    }
                )
            } else {
                format!("cannot lock {}", lock_path.display())
            }
        })?;
        // Only the holder writes its pid, so it is never the pid of a process that lost.
        let _ = lock.set_len(0).and_then(|()| {
            std::io::Write::write_all(&mut &lock, std::process::id().to_string().as_bytes())
        });
        Ok(DataDir {
            path: path.to_owned(),
            _lock: lock,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// `Err(true)` when another process holds the lock, `Err(false)` for any other failure.
fn lock_exclusive(file: &File) -> Result<(), bool> {
    #[cfg(unix)]
    {
        use rustix::fs::{flock, FlockOperation};
        match flock(file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(()),
            Err(e) if e == rustix::io::Errno::WOULDBLOCK => Err(true),
            Err(_) => Err(false),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = file;
        Ok(())
    }
}

fn warn_if_readable(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(path) {
            let mode = meta.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                tracing::warn!(
                    data_dir = %path.display(),
                    mode = format!("{mode:o}"),
                    "the data directory is accessible to group or others: key metadata, policies, tags and aliases are readable by them; run chmod 700 on it"
                );
            }
        }
    }
}

/// Raises the soft limit on open files to the hard limit, and returns the soft limit now in
/// force (None when unlimited or unknown).
pub fn raise_open_files_limit() -> Option<u64> {
    #[cfg(unix)]
    {
        use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
        let limit = getrlimit(Resource::Nofile);
        if limit.current != limit.maximum {
            let raised = Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            };
            if let Err(e) = setrlimit(Resource::Nofile, raised) {
                tracing::warn!(cause = %e, "cannot raise the open-file limit");
            }
        }
        getrlimit(Resource::Nofile).current
    }
    #[cfg(not(unix))]
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_until_the_first_lets_go() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let first = DataDir::open(&dir).unwrap();
        let err = DataDir::open(&dir).unwrap_err();
        assert!(err.contains("in use by another trent process"), "{err}");
        assert!(
            err.contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        DataDir::open(&dir).unwrap();
    }

    #[cfg(unix)]
    #[test]
    fn a_new_directory_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        DataDir::open(&dir).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }
}
