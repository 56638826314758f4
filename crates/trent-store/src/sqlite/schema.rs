//! Connection set-up and the schema, versioned by `PRAGMA user_version`.
//!
//! Each entry of [`MIGRATIONS`] takes the schema from version `i` to `i + 1`; a new release
//! appends an entry and never edits an old one.

use std::time::Duration;

use rusqlite::Connection;
use trent_core::store::StoreError;

use super::backend;

/// Marks the file as Trent's (`PRAGMA application_id`, "TRNT").
pub(super) const APPLICATION_ID: i32 = 0x5452_4E54;

/// How long a statement waits for a lock held by another connection before failing.
pub(super) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The schema version this build writes and understands.
pub(super) const SCHEMA_VERSION: i32 = MIGRATIONS.len() as i32;

/// Key ids are `KeyId::storage_bytes` BLOBs (16 bytes, 17 for `mrk-` ids) so that SQLite's memcmp
/// order equals `KeyId`'s `Ord`; alias names
/// are TEXT under BINARY collation so that their order equals `String`'s. `state`,
/// `deletion_date` and `due_at` are derived from the record (the JSON of `KeyMeta` is `meta`)
/// for indexing and are always written from the same record in the same statement.
pub(super) const MIGRATIONS: &[&str] = &[
    // 0 -> 1
    "CREATE TABLE keys (
         id            BLOB    NOT NULL PRIMARY KEY CHECK (length(id) = 16),
         account       TEXT    NOT NULL,
         region        TEXT    NOT NULL,
         version       INTEGER NOT NULL CHECK (version >= 1),
         state         TEXT    NOT NULL,
         deletion_date INTEGER,
         meta          TEXT    NOT NULL,
         UNIQUE (account, region, id)
     );
     CREATE INDEX keys_by_deletion_date ON keys (state, deletion_date);
     CREATE TABLE key_material (
         key_id  BLOB    NOT NULL REFERENCES keys (id) ON DELETE CASCADE,
         version INTEGER NOT NULL,
         sealed  BLOB    NOT NULL,
         PRIMARY KEY (key_id, version)
     );
     CREATE TABLE aliases (
         account       TEXT    NOT NULL,
         region        TEXT    NOT NULL,
         name          TEXT    NOT NULL COLLATE BINARY,
         target_key_id BLOB    NOT NULL,
         created_at    INTEGER NOT NULL,
         updated_at    INTEGER NOT NULL,
         PRIMARY KEY (account, region, name),
         FOREIGN KEY (account, region, target_key_id)
             REFERENCES keys (account, region, id) ON DELETE CASCADE
     );
     CREATE INDEX aliases_by_target ON aliases (account, region, target_key_id, name);",
    // 1 -> 2: `due_at` is `KeyRecord::next_due` (deletion, material expiry or automatic
    // rotation, whichever comes first), so the sweeper finds every key with work to do.
    "ALTER TABLE keys ADD COLUMN due_at INTEGER;
     UPDATE keys SET due_at = deletion_date WHERE state = 'PendingDeletion';
     CREATE INDEX keys_by_due_at ON keys (due_at);",
    // 2 -> 3: no table changes. A key's metadata may now list several imported materials
    // (`imports`, where releases before it kept one `import`); a release that predates this
    // would read such a key as having no imported material and accept other material into it,
    // so the version goes up to make older releases refuse the file instead.
    "SELECT 1;",
    // 3 -> 4: the root-key check value (one row), sealed under the root key when the store is
    // initialised, so a wrong root key is refused at startup rather than found per request.
    "CREATE TABLE root_check (
         id     INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
         sealed BLOB    NOT NULL
     );",
    // 4 -> 5: the audit trail. `audit_events` holds each account's hash chain (see
    // trent_core::audit); `audit_attributes` indexes every LookupEvents attribute by time;
    // `audit_heads` is each chain's last record and pruned prefix.
    "CREATE TABLE audit_events (
         account   TEXT    NOT NULL,
         seq       INTEGER NOT NULL,
         time      INTEGER NOT NULL,
         event_id  TEXT    NOT NULL,
         body      TEXT    NOT NULL,
         prev_hash BLOB    NOT NULL,
         hash      BLOB    NOT NULL,
         PRIMARY KEY (account, seq)
     );
     CREATE INDEX audit_events_by_time ON audit_events (account, time, seq);
     CREATE TABLE audit_attributes (
         account TEXT    NOT NULL,
         name    TEXT    NOT NULL,
         value   TEXT    NOT NULL,
         time    INTEGER NOT NULL,
         seq     INTEGER NOT NULL,
         PRIMARY KEY (account, name, value, time, seq)
     ) WITHOUT ROWID;
     CREATE INDEX audit_attributes_by_seq ON audit_attributes (account, seq);
     CREATE TABLE audit_heads (
         account        TEXT    NOT NULL PRIMARY KEY,
         seq            INTEGER NOT NULL,
         hash           BLOB    NOT NULL,
         pruned_through INTEGER NOT NULL DEFAULT 0
     );",
    // 5 -> 6: multi-Region keys. A key's copies in several Regions share one id, so keys are
    // identified by (account, region, id) and so is their material; a multi-Region id's
    // storage form is 17 bytes (`KeyId::storage_bytes`). The tables are rebuilt with the rows
    // they held; every existing key keeps its id, scope and material.
    "CREATE TABLE keys_v6 (
         id            BLOB    NOT NULL CHECK (length(id) IN (16, 17)),
         account       TEXT    NOT NULL,
         region        TEXT    NOT NULL,
         version       INTEGER NOT NULL CHECK (version >= 1),
         state         TEXT    NOT NULL,
         deletion_date INTEGER,
         meta          TEXT    NOT NULL,
         due_at        INTEGER,
         PRIMARY KEY (account, region, id)
     );
     INSERT INTO keys_v6 (id, account, region, version, state, deletion_date, meta, due_at)
         SELECT id, account, region, version, state, deletion_date, meta, due_at FROM keys;
     CREATE TABLE key_material_v6 (
         account TEXT    NOT NULL,
         region  TEXT    NOT NULL,
         key_id  BLOB    NOT NULL,
         version INTEGER NOT NULL,
         sealed  BLOB    NOT NULL,
         PRIMARY KEY (account, region, key_id, version),
         FOREIGN KEY (account, region, key_id)
             REFERENCES keys_v6 (account, region, id) ON DELETE CASCADE
     );
     INSERT INTO key_material_v6 (account, region, key_id, version, sealed)
         SELECT k.account, k.region, m.key_id, m.version, m.sealed
         FROM key_material m JOIN keys k ON k.id = m.key_id;
     CREATE TABLE aliases_v6 (
         account       TEXT    NOT NULL,
         region        TEXT    NOT NULL,
         name          TEXT    NOT NULL COLLATE BINARY,
         target_key_id BLOB    NOT NULL,
         created_at    INTEGER NOT NULL,
         updated_at    INTEGER NOT NULL,
         PRIMARY KEY (account, region, name),
         FOREIGN KEY (account, region, target_key_id)
             REFERENCES keys_v6 (account, region, id) ON DELETE CASCADE
     );
     INSERT INTO aliases_v6 (account, region, name, target_key_id, created_at, updated_at)
         SELECT account, region, name, target_key_id, created_at, updated_at FROM aliases;
     DROP TABLE aliases;
     DROP TABLE key_material;
     DROP TABLE keys;
     ALTER TABLE keys_v6 RENAME TO keys;
     ALTER TABLE key_material_v6 RENAME TO key_material;
     ALTER TABLE aliases_v6 RENAME TO aliases;
     CREATE INDEX keys_by_deletion_date ON keys (state, deletion_date);
     CREATE INDEX keys_by_due_at ON keys (due_at);
     CREATE INDEX keys_by_id ON keys (id);
     CREATE INDEX aliases_by_target ON aliases (account, region, target_key_id, name);",
    // 6 -> 7: the audit attributes with one or two values (ReadOnly, EventSource,
    // ResourceType) move from the lookup index into the record's `tags`
    // (`trent_core::audit::AuditAttribute::is_indexed`): three fewer index entries per record.
    "ALTER TABLE audit_events ADD COLUMN tags TEXT NOT NULL DEFAULT '';
     UPDATE audit_events SET tags = coalesce(
         (SELECT char(10) || group_concat(a.name || '=' || a.value, char(10)) || char(10)
          FROM audit_attributes a
          WHERE a.account = audit_events.account AND a.seq = audit_events.seq
            AND a.name IN ('ReadOnly', 'EventSource', 'ResourceType')),
         '');
     DELETE FROM audit_attributes WHERE name IN ('ReadOnly', 'EventSource', 'ResourceType');",
    // 7 -> 8: a smaller lookup index. Each (account, attribute, value) is stored once in
    // `audit_values` and the index holds (value id, time, seq), about 15 bytes an entry instead
    // of the account, name and value again; it has no second index for pruning (pruning walks
    // each of the account's values by time). EventId leaves it for an index on the record's
    // own `event_id` column (time-ordered UUIDv7, so that index is appended to).
    "CREATE TABLE audit_values (
         id      INTEGER PRIMARY KEY,
         account TEXT NOT NULL,
         name    TEXT NOT NULL,
         value   TEXT NOT NULL,
         UNIQUE (account, name, value)
     );
     CREATE TABLE audit_index (
         value_id INTEGER NOT NULL,
         time     INTEGER NOT NULL,
         seq      INTEGER NOT NULL,
         PRIMARY KEY (value_id, time, seq)
     ) WITHOUT ROWID;
     CREATE INDEX audit_events_by_event_id ON audit_events (event_id);
     INSERT INTO audit_values (account, name, value)
         SELECT DISTINCT account, name, value FROM audit_attributes WHERE name <> 'EventId';
     INSERT OR IGNORE INTO audit_index (value_id, time, seq)
         SELECT v.id, a.time, a.seq FROM audit_attributes a
         JOIN audit_values v ON v.account = a.account AND v.name = a.name AND v.value = a.value;
     DROP TABLE audit_attributes;",
    // 8 -> 9: no index on the key id alone. Every lookup names the account and Region and so
    // uses the primary key; a second B-tree keyed by a random id cost CreateKey one more
    // random page per insert (about 12 % of its throughput). Paging over all keys (`trent
    // migrate`) follows the primary key instead.
    "DROP INDEX keys_by_id;",
    // 9 -> 10: the audit trail's indexes are written behind the records, in batches
    // (`audit::GroupTrail::index_due`), so that a group commit does not rewrite their pages
    // every time: each record's tags carry its lookup attributes (but EventId, its own column, and
    // a value with a line break, indexed at once), and `indexed_through` is
    // the last of the account's records the indexes cover. A lookup walks an index and the
    // records after it. The index by time becomes the lookup index's entries under the value
    // ('', ''), the index by event id a table of its own; both cover the indexed records.
    "ALTER TABLE audit_heads ADD COLUMN indexed_through INTEGER NOT NULL DEFAULT 0;
     UPDATE audit_heads SET indexed_through = seq;
     CREATE TABLE audit_event_ids (
         event_id TEXT    NOT NULL,
         account  TEXT    NOT NULL,
         seq      INTEGER NOT NULL,
         PRIMARY KEY (event_id, account, seq)
     ) WITHOUT ROWID;
     INSERT INTO audit_event_ids (event_id, account, seq)
         SELECT e.event_id, e.account, e.seq FROM audit_events e
         JOIN audit_heads h ON h.account = e.account AND e.seq <= h.indexed_through;
     INSERT INTO audit_values (account, name, value)
         SELECT account, '', '' FROM audit_heads;
     INSERT INTO audit_index (value_id, time, seq)
         SELECT v.id, e.time, e.seq FROM audit_events e
         JOIN audit_heads h ON h.account = e.account AND e.seq <= h.indexed_through
         JOIN audit_values v ON v.account = e.account AND v.name = '' AND v.value = '';
     DROP INDEX audit_events_by_time;
     DROP INDEX audit_events_by_event_id;",
];

/// Settings every connection gets.
pub(super) fn configure_common(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(BUSY_TIMEOUT).map_err(backend)?;
    conn.set_prepared_statement_cache_capacity(32);
    conn.execute_batch(
        "PRAGMA foreign_keys = ON; PRAGMA trusted_schema = OFF; PRAGMA secure_delete = ON; PRAGMA temp_store = MEMORY;",
    )
    .map_err(backend)?;
    let fk: i64 = conn
        .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
        .map_err(backend)?;
    if fk != 1 {
        return Err(StoreError::Backend(
            "sqlite: foreign key enforcement is unavailable".into(),
        ));
    }
    Ok(())
}

/// Settings of the file-backed writer: WAL (readers do not block the writer) and a full fsync
/// at every commit, so an acknowledged commit survives kill -9 and power loss.
pub(super) fn configure_durable_writer(conn: &Connection) -> Result<(), StoreError> {
    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(backend)?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend(format!(
            "sqlite: cannot enable WAL journal mode (got {mode:?})"
        )));
    }
    conn.execute_batch("PRAGMA synchronous = FULL;")
        .map_err(backend)?;
    let sync: i64 = conn
        .query_row("PRAGMA synchronous", [], |r| r.get(0))
        .map_err(backend)?;
    // 2 = FULL, 3 = EXTRA; both fsync the WAL at every commit.
    if sync < 2 {
        return Err(StoreError::Backend(format!(
            "sqlite: cannot set synchronous=FULL (got {sync})"
        )));
    }
    Ok(())
}

/// Creates or upgrades the schema in one transaction. Refuses a file written by a newer build
/// or by another application.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn
        .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
        .map_err(backend)?;
    let app: i32 = tx
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(backend)?;
    let version: i32 = tx
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(backend)?;
    let fresh = app == 0 && version == 0;
    let ours = app == APPLICATION_ID && (1..=SCHEMA_VERSION).contains(&version);
    if !fresh && !ours {
        return Err(StoreError::Backend(if app == APPLICATION_ID {
            format!(
                "sqlite: database schema version {version} is not supported by this build \
                 (supports up to {SCHEMA_VERSION})"
            )
        } else {
            format!(
                "sqlite: not a Trent database (application_id {app:#x}, user_version {version})"
            )
        }));
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        tx.execute_batch(sql)
            .map_err(|e| StoreError::Backend(format!("sqlite: migration {from}: {e}")))?;
    }
    tx.execute_batch(&format!(
        "PRAGMA application_id = {APPLICATION_ID}; PRAGMA user_version = {SCHEMA_VERSION};"
    ))
    .map_err(backend)?;
    tx.commit().map_err(backend)?;
    tracing::info!(
        from = version,
        to = SCHEMA_VERSION,
        "sqlite schema migrated"
    );
    Ok(())
}
