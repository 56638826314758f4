//! Applying writes: each write's precondition is in its SQL, each batch is a SAVEPOINT, each
//! group of batches is one transaction and one COMMIT.

use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::{ffi, params, Connection, ErrorCode};
use trent_core::ids::{AliasName, KeyId, Scope};
use trent_core::model::{AliasRecord, KeyRecord};
use trent_core::store::{StoreError, Write};

use super::audit::GroupTrail;
use super::{sqlite, to_sql_version};
use crate::group::Job;

/// Runs the batches of `jobs` in one transaction and wakes every job with its own result.
///
/// A batch whose precondition fails is rolled back to its savepoint and gets its own error;
/// the others proceed. Successes are reported only after the COMMIT (and its fsync) succeeded.
/// An error that ends the transaction itself (I/O, a failed COMMIT) fails the whole group.
pub(super) fn run_group(conn: &Connection, jobs: Vec<Job>, index_batch: u64) {
    if !conn.is_autocommit() {
        // A previous leader unwound mid-transaction; nothing of it was acknowledged.
        tracing::warn!("sqlite: rolling back a transaction left open");
        if let Err(e) = conn.execute_batch("ROLLBACK") {
            return fail_all(jobs, sqlite(e));
        }
    }
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        return fail_all(jobs, sqlite(e));
    }
    let mut results = Vec::with_capacity(jobs.len());
    let mut trail = GroupTrail::new(index_batch);
    for job in &jobs {
        match run_batch(conn, &job.writes, &mut trail) {
            Ok(result) => results.push(result),
            Err(fatal) => {
                abort(conn);
                return fail_all(jobs, fatal);
            }
        }
    }
    if let Err(e) = trail.index_due(conn).and_then(|()| trail.store_heads(conn)) {
        abort(conn);
        return fail_all(jobs, e);
    }
    if let Err(e) = conn.execute_batch("COMMIT") {
        abort(conn);
        return fail_all(jobs, sqlite(e));
    }
    tracing::trace!(batches = jobs.len(), "sqlite group committed");
    if FULL.swap(false, Ordering::Relaxed) {
        tracing::info!("sqlite: the store accepts changes again");
    }
    for (job, result) in jobs.into_iter().zip(results) {
        job.finish(result);
    }
    checkpoint_if_due(conn);
}

/// WAL pages after which the writer copies the log back into the database file. SQLite's
/// default (1,000) checkpoints every few groups under a write load, rewriting the same hot
/// B-tree pages each time; a larger log rewrites each page once per many groups.
pub(super) const CHECKPOINT_PAGES: i32 = 10_000;

thread_local! {
    /// Pages in the WAL after this thread's last commit (set by [`note_wal_size`]); only the
    /// writer thread commits on a file-backed store.
    static WAL_PAGES: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
}

/// SQLite's commit hook for the write connection: it replaces the automatic checkpoint, which
/// would run inside COMMIT, before the group's callers are answered. The writer checkpoints
/// after answering them instead ([`checkpoint_if_due`]).
pub(super) fn note_wal_size(
    _: &rusqlite::hooks::Wal,
    pages: std::ffi::c_int,
) -> rusqlite::Result<()> {
    WAL_PAGES.with(|p| p.set(pages));
    Ok(())
}

/// Checkpoints once the WAL has grown past [`CHECKPOINT_PAGES`], on the writer thread between
/// groups (no commit runs meanwhile, so the checkpoint completes and the next commit starts the
/// log over). A checkpoint that fails is logged and tried again after the next commit: the
/// committed data is safe in the WAL either way.
fn checkpoint_if_due(conn: &Connection) {
    if WAL_PAGES.with(|p| p.get()) < CHECKPOINT_PAGES {
        return;
    }
    match conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
        Ok((r.get::<_, i64>(1)?, r.get::<_, i64>(2)?))
    }) {
        Ok((log, done)) => {
            tracing::debug!(log, done, "sqlite checkpoint");
            WAL_PAGES.with(|p| p.set(0));
        }
        Err(e) => tracing::warn!(error = %e, "sqlite checkpoint failed"),
    }
}

/// Whether the store is refusing changes for want of space, so that is logged once when it
/// starts (and once when it ends), not per request.
static FULL: AtomicBool = AtomicBool::new(false);

fn fail_all(jobs: Vec<Job>, error: StoreError) {
    if error == StoreError::Full {
        if !FULL.swap(true, Ordering::Relaxed) {
            tracing::error!(
                "sqlite: the disk holding the store is full; every change is refused (reads still work) until space is freed"
            );
        }
    } else {
        tracing::warn!(batches = jobs.len(), %error, "sqlite group commit failed");
    }
    for job in jobs {
        job.finish(Err(error.clone()));
    }
}

fn abort(conn: &Connection) {
    if !conn.is_autocommit() {
        if let Err(e) = conn.execute_batch("ROLLBACK") {
            tracing::error!(error = %e, "sqlite: rollback failed");
        }
    }
}

/// Runs one batch inside a savepoint. The outer error means the transaction can no longer be
/// committed; the inner result is the batch's own.
fn run_batch(
    conn: &Connection,
    writes: &[Write],
    trail: &mut GroupTrail,
) -> Result<Result<(), StoreError>, StoreError> {
    if writes.iter().all(|w| matches!(w, Write::Audit(_))) {
        // Records have no precondition that can fail on its own: only an error of the
        // database itself, which ends the group anyway. Most batches of a busy server are
        // such (a request that changed nothing), so they go without the savepoint.
        return writes
            .iter()
            .try_for_each(|w| apply(conn, w, trail))
            .map(Ok);
    }
    conn.execute_batch("SAVEPOINT batch").map_err(sqlite)?;
    let before = trail.clone();
    let outcome = writes.iter().try_for_each(|w| apply(conn, w, trail));
    if conn.is_autocommit() {
        // SQLite rolled back the whole transaction by itself (I/O error, disk full, ...).
        return Err(match outcome {
            Err(e @ (StoreError::Backend(_) | StoreError::Full)) => e,
            _ => StoreError::Backend("sqlite: transaction rolled back by the database".into()),
        });
    }
    match outcome {
        Ok(()) => {
            conn.execute_batch("RELEASE batch").map_err(sqlite)?;
            Ok(Ok(()))
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK TO batch; RELEASE batch")
                .map_err(sqlite)?;
            *trail = before;
            Ok(Err(e))
        }
    }
}

fn apply(conn: &Connection, write: &Write, trail: &mut GroupTrail) -> Result<(), StoreError> {
    match write {
        Write::InsertKey(record) => insert_key(conn, record),
        Write::UpdateKey {
            record,
            expected_version,
        } => update_key(conn, record, *expected_version),
        Write::DeleteKey {
            scope,
            id,
            expected_version,
        } => delete_key(conn, scope, id, *expected_version),
        Write::InsertAlias(alias) => insert_alias(conn, alias),
        Write::RetargetAlias {
            alias,
            expected_target,
        } => retarget_alias(conn, alias, expected_target),
        Write::DeleteAlias {
            scope,
            name,
            expected_target,
        } => delete_alias(conn, scope, name, expected_target),
        Write::Audit(event) => super::audit::append(conn, trail, event),
    }
}

enum Constraint {
    Unique,
    ForeignKey,
}

fn constraint(e: &rusqlite::Error) -> Option<Constraint> {
    match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == ErrorCode::ConstraintViolation => {
            match f.extended_code {
                ffi::SQLITE_CONSTRAINT_PRIMARYKEY | ffi::SQLITE_CONSTRAINT_UNIQUE => {
                    Some(Constraint::Unique)
                }
                ffi::SQLITE_CONSTRAINT_FOREIGNKEY => Some(Constraint::ForeignKey),
                _ => None,
            }
        }
        _ => None,
    }
}

fn invalid(what: String) -> StoreError {
    StoreError::Backend(format!("invalid write: {what}"))
}

/// The indexed columns and the document of a key, all from the one record.
struct KeyRow {
    version: i64,
    state: &'static str,
    deletion_date: Option<i64>,
    due_at: Option<i64>,
    meta: String,
}

impl KeyRow {
    fn of(record: &KeyRecord) -> Result<Self, StoreError> {
        Ok(KeyRow {
            version: to_sql_version(record.version)?,
            state: record.meta.state.as_str(),
            deletion_date: record.meta.deletion_date.map(|t| t.0),
            due_at: record.next_due().map(|t| t.0),
            meta: serde_json::to_string(&record.meta)
                .map_err(|e| invalid(format!("key {}: metadata: {e}", record.id)))?,
        })
    }
}

fn insert_key(conn: &Connection, record: &KeyRecord) -> Result<(), StoreError> {
    if record.version != 1 {
        return Err(invalid(format!(
            "InsertKey {} at version {} (must be 1)",
            record.id, record.version
        )));
    }
    let row = KeyRow::of(record)?;
    let id_bytes = record.id.storage_bytes();
    let id = &id_bytes[..];
    let (account, region) = (&record.scope.account.0, &record.scope.region.0);
    conn.prepare_cached(
        "INSERT INTO keys (id, account, region, version, state, deletion_date, due_at, meta)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .map_err(sqlite)?
    .execute(params![
        id,
        record.scope.account.0,
        record.scope.region.0,
        row.version,
        row.state,
        row.deletion_date,
        row.due_at,
        row.meta,
    ])
    .map_err(|e| match constraint(&e) {
        Some(Constraint::Unique) => StoreError::Conflict,
        _ => sqlite(e),
    })?;
    // Material left behind by anything that bypassed the cascade must not resurface.
    conn.prepare_cached(
        "DELETE FROM key_material WHERE key_id = ?1 AND account = ?2 AND region = ?3",
    )
    .map_err(sqlite)?
    .execute(params![id, account, region])
    .map_err(sqlite)?;
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO key_material (account, region, key_id, version, sealed)
             VALUES (?1, ?2, ?3, ?4, ?5)",
        )
        .map_err(sqlite)?;
    for m in &record.materials {
        insert
            .execute(params![account, region, id, m.version, m.sealed])
            .map_err(|e| match constraint(&e) {
                Some(Constraint::Unique) => invalid(format!(
                    "InsertKey {}: material version {} twice",
                    record.id, m.version
                )),
                _ => sqlite(e),
            })?;
    }
    Ok(())
}

fn update_key(conn: &Connection, record: &KeyRecord, expected: u64) -> Result<(), StoreError> {
    if expected.checked_add(1) != Some(record.version) {
        return Err(invalid(format!(
            "UpdateKey {} to version {} from expected version {expected}",
            record.id, record.version
        )));
    }
    let row = KeyRow::of(record)?;
    let id_bytes = record.id.storage_bytes();
    let id = &id_bytes[..];
    let (account, region) = (&record.scope.account.0, &record.scope.region.0);
    let changed = conn
        .prepare_cached(
            "UPDATE keys SET version = ?1, state = ?2, deletion_date = ?3, due_at = ?4, meta = ?5
             WHERE id = ?6 AND account = ?7 AND region = ?8 AND version = ?9",
        )
        .map_err(sqlite)?
        .execute(params![
            row.version,
            row.state,
            row.deletion_date,
            row.due_at,
            row.meta,
            id,
            record.scope.account.0,
            record.scope.region.0,
            to_sql_version(expected)?,
        ])
        .map_err(sqlite)?;
    if changed == 0 {
        return Err(StoreError::Conflict);
    }
    // The record's versions are the key's material from now on. A stored version is
    // immutable: it is kept as it is while listed and destroyed (secure_delete overwrites it)
    // once it is not; new versions are added.
    let stored: Vec<u32> = conn
        .prepare_cached(
            "SELECT version FROM key_material WHERE key_id = ?1 AND account = ?2 AND region = ?3",
        )
        .map_err(sqlite)?
        .query_map(params![id, account, region], |r| r.get(0))
        .map_err(sqlite)?
        .collect::<Result<_, _>>()
        .map_err(sqlite)?;
    let mut remove = conn
        .prepare_cached(
            "DELETE FROM key_material
             WHERE key_id = ?1 AND account = ?2 AND region = ?3 AND version = ?4",
        )
        .map_err(sqlite)?;
    for v in stored {
        if !record.materials.iter().any(|m| m.version == v) {
            remove
                .execute(params![id, account, region, v])
                .map_err(sqlite)?;
        }
    }
    let mut insert = conn
        .prepare_cached(
            "INSERT INTO key_material (account, region, key_id, version, sealed)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (account, region, key_id, version) DO NOTHING",
        )
        .map_err(sqlite)?;
    for m in &record.materials {
        insert
            .execute(params![account, region, id, m.version, m.sealed])
            .map_err(sqlite)?;
    }
    Ok(())
}

fn delete_key(
    conn: &Connection,
    scope: &Scope,
    id: &KeyId,
    expected: u64,
) -> Result<(), StoreError> {
    let id_bytes = id.storage_bytes();
    let id = &id_bytes[..];
    let changed = conn
        .prepare_cached(
            "DELETE FROM keys WHERE id = ?1 AND account = ?2 AND region = ?3 AND version = ?4",
        )
        .map_err(sqlite)?
        .execute(params![
            id,
            scope.account.0,
            scope.region.0,
            to_sql_version(expected)?
        ])
        .map_err(sqlite)?;
    if changed == 0 {
        return Err(StoreError::Conflict);
    }
    // The foreign keys cascade; these make it hold without them too.
    conn.prepare_cached(
        "DELETE FROM key_material WHERE key_id = ?1 AND account = ?2 AND region = ?3",
    )
    .map_err(sqlite)?
    .execute(params![id, scope.account.0, scope.region.0])
    .map_err(sqlite)?;
    conn.prepare_cached(
        "DELETE FROM aliases WHERE account = ?1 AND region = ?2 AND target_key_id = ?3",
    )
    .map_err(sqlite)?
    .execute(params![scope.account.0, scope.region.0, id])
    .map_err(sqlite)?;
    Ok(())
}

fn insert_alias(conn: &Connection, alias: &AliasRecord) -> Result<(), StoreError> {
    conn.prepare_cached(
        "INSERT INTO aliases (account, region, name, target_key_id, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )
    .map_err(sqlite)?
    .execute(params![
        alias.scope.account.0,
        alias.scope.region.0,
        alias.name.0,
        &alias.target.storage_bytes()[..],
        alias.created_at.0,
        alias.updated_at.0,
    ])
    .map_err(|e| match constraint(&e) {
        Some(Constraint::Unique) => StoreError::AliasExists,
        // The target key is gone (or in another scope): re-read and decide.
        Some(Constraint::ForeignKey) => StoreError::Conflict,
        None => sqlite(e),
    })?;
    Ok(())
}

fn retarget_alias(
    conn: &Connection,
    alias: &AliasRecord,
    expected: &KeyId,
) -> Result<(), StoreError> {
    let changed = conn
        .prepare_cached(
            "UPDATE aliases SET target_key_id = ?1, created_at = ?2, updated_at = ?3
             WHERE account = ?4 AND region = ?5 AND name = ?6 AND target_key_id = ?7",
        )
        .map_err(sqlite)?
        .execute(params![
            &alias.target.storage_bytes()[..],
            alias.created_at.0,
            alias.updated_at.0,
            alias.scope.account.0,
            alias.scope.region.0,
            alias.name.0,
            &expected.storage_bytes()[..],
        ])
        .map_err(|e| match constraint(&e) {
            Some(Constraint::ForeignKey) => StoreError::Conflict,
            _ => sqlite(e),
        })?;
    if changed == 0 {
        return Err(StoreError::Conflict);
    }
    Ok(())
}

fn delete_alias(
    conn: &Connection,
    scope: &Scope,
    name: &AliasName,
    expected: &KeyId,
) -> Result<(), StoreError> {
    let changed = conn
        .prepare_cached(
            "DELETE FROM aliases
             WHERE account = ?1 AND region = ?2 AND name = ?3 AND target_key_id = ?4",
        )
        .map_err(sqlite)?
        .execute(params![
            scope.account.0,
            scope.region.0,
            name.0,
            &expected.storage_bytes()[..]
        ])
        .map_err(sqlite)?;
    if changed == 0 {
        return Err(StoreError::Conflict);
    }
    Ok(())
}
