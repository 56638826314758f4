//! The embedded default backend: one SQLite database file.
//!
//! - Durability: WAL journal with `synchronous=FULL`; [`Store::commit`] returns after the
//!   COMMIT's fsync, so an acknowledged commit survives kill -9 and power loss.
//! - Concurrency: one writer connection, used only by the writer thread, and a small pool of
//!   reader connections, so reads never wait for a writer's fsync (WAL readers see the last
//!   committed snapshot).
//! - Group commit: concurrent commits are queued; the writer thread runs every queued batch as a
//!   SAVEPOINT inside one transaction and COMMITs once. A batch whose precondition fails is
//!   rolled back to its savepoint and gets its own error; the others proceed.

mod audit;
mod backup;
mod reseal;
mod schema;
mod writes;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use rusqlite::{params, Connection, OpenFlags, OptionalExtension, ToSql};
use trent_core::audit::{AuditQuery, ChainHead, StoredAuditEvent};
use trent_core::ids::{AccountId, AliasName, KeyId, Region, Scope};
use trent_core::model::{AliasRecord, KeyMeta, KeyRecord, KeyState, SealedMaterial, Timestamp};
use trent_core::store::{Reply, Store, StoreError, Write};

pub use crate::group::CommitStats;
use crate::group::GroupCommit;
pub use backup::copy_database;
pub use reseal::Resealed;

/// Reader connections of a file-backed store.
const READERS: usize = 4;

/// A [`Store`] on an SQLite database. See the module documentation.
pub struct SqliteStore {
    // Field order is drop order: readers close first; dropping `group` stops the writer thread,
    // which holds the last reference to the write connection, so that connection closes last
    // and checkpoints the WAL.
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    writer: Arc<Mutex<Connection>>,
    group: GroupCommit,
    path: Option<PathBuf>,
    /// See [`AUDIT_INDEX_BATCH`].
    audit_index_batch: Arc<AtomicU64>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field(
                "path",
                &self.path.as_deref().unwrap_or(Path::new(":memory:")),
            )
            .field("readers", &self.readers.len())
            .finish_non_exhaustive()
    }
}

/// A SQLite error as a store error: a full disk (or database size limit) is [`StoreError::Full`].
pub(crate) fn sqlite(e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::DiskFull => {
            StoreError::Full
        }
        _ => backend(e),
    }
}

pub(crate) fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("sqlite: {e}"))
}

pub(crate) fn to_sql_version(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Backend(format!("invalid write: version {v}")))
}

fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("sqlite: corrupt row: {what}"))
}

fn decode_key_id(bytes: &[u8]) -> Result<KeyId, StoreError> {
    KeyId::from_storage(bytes).ok_or_else(|| corrupt(format!("key id of {} bytes", bytes.len())))
}

/// Audit records an account may have beyond its lookup index before a group commit indexes
/// them (see `audit::GroupTrail::index_due`): large enough that index pages are rewritten
/// once per many groups, small enough that a lookup's walk of the unindexed records and the
/// group that indexes them stay short.
const AUDIT_INDEX_BATCH: u64 = 256;

/// The writer thread: it alone commits, on the write connection.
fn start_writer(
    conn: &Arc<Mutex<Connection>>,
    index_batch: &Arc<AtomicU64>,
) -> Result<GroupCommit, StoreError> {
    let conn = conn.clone();
    let index_batch = index_batch.clone();
    GroupCommit::start("trent-sqlite-writer", move |jobs, tally| {
        tally.trying(jobs.len());
        writes::run_group(&conn.lock(), jobs, index_batch.load(Ordering::Relaxed))
    })
}

impl SqliteStore {
    /// Opens (creating if absent) the database file at `path`, whose directory must exist, and
    /// creates or upgrades the schema.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let open_err =
            |e: rusqlite::Error| StoreError::Backend(format!("sqlite: {}: {e}", path.display()));
        let mut writer = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_err)?;
        schema::configure_common(&writer)?;
        schema::configure_durable_writer(&writer)?;
        schema::migrate(&mut writer)?;
        writer.wal_hook(Some(writes::note_wal_size));
        let readers = (0..READERS)
            .map(|_| {
                let conn = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(open_err)?;
                schema::configure_common(&conn)?;
                conn.execute_batch("PRAGMA query_only = ON;")
                    .map_err(backend)?;
                Ok(Mutex::new(conn))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        tracing::debug!(path = %path.display(), readers = READERS, "sqlite store open");
        let writer = Arc::new(Mutex::new(writer));
        let audit_index_batch = Arc::new(AtomicU64::new(AUDIT_INDEX_BATCH));
        Ok(SqliteStore {
            readers,
            next_reader: AtomicUsize::new(0),
            group: start_writer(&writer, &audit_index_batch)?,
            writer,
            path: Some(path.to_owned()),
            audit_index_batch,
        })
    }

    /// A private in-memory database (for tests): not durable, reads share the one connection.
    pub fn open_in_memory() -> Result<SqliteStore, StoreError> {
        let mut conn = Connection::open_in_memory().map_err(backend)?;
        schema::configure_common(&conn)?;
        schema::migrate(&mut conn)?;
        let writer = Arc::new(Mutex::new(conn));
        let audit_index_batch = Arc::new(AtomicU64::new(AUDIT_INDEX_BATCH));
        Ok(SqliteStore {
            readers: Vec::new(),
            next_reader: AtomicUsize::new(0),
            group: start_writer(&writer, &audit_index_batch)?,
            writer,
            path: None,
            audit_index_batch,
        })
    }

    /// Sets how many audit records an account may have beyond its lookup index before a group
    /// commit indexes them (default 256). Any value gives the same lookups; tests use it to
    /// cover records on both sides of the index.
    pub fn set_audit_index_batch(&self, records: u64) {
        self.audit_index_batch
            .store(records.max(1), Ordering::Relaxed);
    }

    /// The database file, or `None` for an in-memory store.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// How many transactions carried how many batches so far.
    pub fn commit_stats(&self) -> CommitStats {
        self.group.stats()
    }

    /// How many keys are in each state, across all accounts and regions (for the `trent_keys`
    /// gauge). Keys past their deletion date that the sweeper has not destroyed yet count as
    /// `PendingDeletion`.
    pub fn key_counts(&self) -> Result<Vec<(KeyState, u64)>, StoreError> {
        self.read(|conn| {
            let rows = conn
                .prepare_cached("SELECT state, count(*) FROM keys GROUP BY state")
                .map_err(backend)?
                .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            rows.into_iter()
                .map(|(state, n)| {
                    let state = KeyState::parse(&state)
                        .ok_or_else(|| corrupt(format!("key state {state:?}")))?;
                    Ok((state, u64::try_from(n).unwrap_or(0)))
                })
                .collect()
        })
    }

    /// Whether the store can serve: the database file is still where it was opened (a file
    /// deleted or moved away while open would swallow every later write) and answers a query.
    pub fn check(&self) -> Result<(), StoreError> {
        if let Some(path) = &self.path {
            if !path.is_file() {
                return Err(StoreError::Backend(format!(
                    "sqlite: database file {} is gone",
                    path.display()
                )));
            }
        }
        self.read(|conn| {
            conn.query_row("SELECT count(*) FROM keys WHERE 0", [], |r| {
                r.get::<_, i64>(0)
            })
            .map_err(backend)
            .map(drop)
        })
    }

    /// The lookup attributes of one account's records with sequence numbers in `from..=to`,
    /// as (seq, attribute name, value) in seq order, for `trent migrate`: the indexed ones and
    /// those kept in the records' tags alike.
    pub fn audit_attributes(
        &self,
        account: &str,
        from: u64,
        to: u64,
    ) -> Result<Vec<(u64, String, String)>, StoreError> {
        let (from, to) = (
            i64::try_from(from).unwrap_or(i64::MAX),
            i64::try_from(to).unwrap_or(i64::MAX),
        );
        self.read(|conn| {
            // The index has no entry by seq; the range's records lie in a time range, which
            // each of the account's values is walked by. EventId is the records' own column.
            let mut out: Vec<(u64, String, String)> = conn
                .prepare_cached(
                    "SELECT a.seq, v.name, v.value FROM audit_values v
                     JOIN audit_index a ON a.value_id = v.id
                     WHERE v.account = ?1 AND v.name <> '' AND a.seq BETWEEN ?2 AND ?3
                       AND a.time BETWEEN
                           (SELECT MIN(time) FROM audit_events WHERE account = ?1 AND seq BETWEEN ?2 AND ?3)
                       AND (SELECT MAX(time) FROM audit_events WHERE account = ?1 AND seq BETWEEN ?2 AND ?3)
                     UNION ALL
                     SELECT seq, 'EventId', event_id FROM audit_events
                     WHERE account = ?1 AND seq BETWEEN ?2 AND ?3",
                )
                .map_err(backend)?
                .query_map(params![account, from, to], |r| {
                    Ok((r.get::<_, i64>(0)? as u64, r.get(1)?, r.get(2)?))
                })
                .map_err(backend)?
                .collect::<Result<_, _>>()
                .map_err(backend)?;
            // The attributes kept in the records' tags, as the same triples.
            let tagged = conn
                .prepare_cached(
                    "SELECT seq, tags FROM audit_events
                     WHERE account = ?1 AND seq BETWEEN ?2 AND ?3 AND tags <> ''",
                )
                .map_err(backend)?
                .query_map(params![account, from, to], |r| {
                    Ok((r.get::<_, i64>(0)? as u64, r.get::<_, String>(1)?))
                })
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            for (seq, tags) in tagged {
                for tag in tags.split('\n').filter(|t| !t.is_empty()) {
                    if let Some((name, value)) = tag.split_once('=') {
                        out.push((seq, name.to_owned(), value.to_owned()));
                    }
                }
            }
            // A record indexed since schema 10 has its attributes both in the index and in its
            // tags: each once, in the order found.
            out.sort_by_key(|(seq, _, _)| *seq);
            let mut seen = std::collections::HashSet::new();
            out.retain(|triple| seen.insert(triple.clone()));
            Ok(out)
        })
    }

    /// Every key of every scope, in (account, region, id) order (the primary key's), strictly
    /// after `after` (for `trent migrate`).
    pub fn all_key_ids(
        &self,
        after: Option<&(Scope, KeyId)>,
        limit: usize,
    ) -> Result<Vec<(Scope, KeyId)>, StoreError> {
        let (after_account, after_region, after) = crate::key_cursor(after);
        let limit = sql_limit(limit);
        self.read(|conn| {
            let rows = conn
                .prepare_cached(
                    "SELECT account, region, id FROM keys
                     WHERE (account, region, id) > (?1, ?2, ?3)
                     ORDER BY account, region, id LIMIT ?4",
                )
                .map_err(backend)?
                .query_map(params![after_account, after_region, after, limit], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                    ))
                })
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            rows.into_iter()
                .map(|(account, region, id)| {
                    Ok((
                        Scope {
                            account: AccountId(account),
                            region: Region(region),
                        },
                        decode_key_id(&id)?,
                    ))
                })
                .collect()
        })
    }

    /// How many keys, material versions and aliases the database holds (for `trent migrate`).
    pub fn counts(&self) -> Result<(u64, u64, u64), StoreError> {
        self.read(|conn| {
            conn.query_row(
                "SELECT (SELECT count(*) FROM keys), (SELECT count(*) FROM key_material),
                        (SELECT count(*) FROM aliases)",
                [],
                |r| {
                    let n = |i| r.get::<_, i64>(i).map(|v| u64::try_from(v).unwrap_or(0));
                    Ok((n(0)?, n(1)?, n(2)?))
                },
            )
            .map_err(backend)
        })
    }

    /// Runs `f` on a free reader connection (blocking on one if all are busy), or on the
    /// writer connection of an in-memory store.
    fn read<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let n = self.readers.len();
        if n == 0 {
            return f(&mut self.writer.lock());
        }
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed) % n;
        for i in 0..n {
            if let Some(mut conn) = self.readers[(start + i) % n].try_lock() {
                return f(&mut conn);
            }
        }
        f(&mut self.readers[start].lock())
    }
}

fn decode_key(
    id: KeyId,
    scope: &Scope,
    version: i64,
    meta: &str,
    materials: Vec<(i64, Vec<u8>)>,
) -> Result<KeyRecord, StoreError> {
    let version = u64::try_from(version)
        .ok()
        .filter(|v| *v >= 1)
        .ok_or_else(|| corrupt(format!("key {id}: version {version}")))?;
    let meta: KeyMeta =
        serde_json::from_str(meta).map_err(|e| corrupt(format!("key {id}: metadata: {e}")))?;
    let materials = materials
        .into_iter()
        .map(|(v, sealed)| {
            let version =
                u32::try_from(v).map_err(|_| corrupt(format!("key {id}: material version {v}")))?;
            Ok(SealedMaterial { version, sealed })
        })
        .collect::<Result<Vec<_>, StoreError>>()?;
    Ok(KeyRecord {
        id,
        scope: scope.clone(),
        version,
        meta,
        materials,
    })
}

impl Store for SqliteStore {
    fn get_key(&self, scope: &Scope, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        let key_bytes = id.storage_bytes();
        let key = &key_bytes[..];
        self.read(|conn| {
            // One snapshot for the row and its material.
            let tx = conn.transaction().map_err(backend)?;
            let row = tx
                .prepare_cached(
                    "SELECT version, meta FROM keys WHERE id = ?1 AND account = ?2 AND region = ?3",
                )
                .map_err(backend)?
                .query_row(params![key, scope.account.0, scope.region.0], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })
                .optional()
                .map_err(backend)?;
            let Some((version, meta)) = row else {
                return Ok(None);
            };
            let materials = tx
                .prepare_cached(
                    "SELECT version, sealed FROM key_material
                     WHERE key_id = ?1 AND account = ?2 AND region = ?3 ORDER BY version",
                )
                .map_err(backend)?
                .query_map(params![key, scope.account.0, scope.region.0], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, Vec<u8>>(1)?))
                })
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            tx.commit().map_err(backend)?;
            decode_key(*id, scope, version, &meta, materials).map(Some)
        })
    }

    fn list_keys(
        &self,
        scope: &Scope,
        after: Option<&KeyId>,
        limit: usize,
    ) -> Result<Vec<KeyId>, StoreError> {
        let limit = sql_limit(limit);
        self.read(|conn| {
            let ids = match after {
                None => conn
                    .prepare_cached(
                        "SELECT id FROM keys WHERE account = ?1 AND region = ?2
                         ORDER BY id LIMIT ?3",
                    )
                    .map_err(backend)?
                    .query_map(params![scope.account.0, scope.region.0, limit], |r| {
                        r.get::<_, Vec<u8>>(0)
                    })
                    .map_err(backend)?
                    .collect::<Result<Vec<_>, _>>(),
                Some(after) => conn
                    .prepare_cached(
                        "SELECT id FROM keys WHERE account = ?1 AND region = ?2 AND id > ?3
                         ORDER BY id LIMIT ?4",
                    )
                    .map_err(backend)?
                    .query_map(
                        params![
                            scope.account.0,
                            scope.region.0,
                            &after.storage_bytes()[..],
                            limit
                        ],
                        |r| r.get::<_, Vec<u8>>(0),
                    )
                    .map_err(backend)?
                    .collect::<Result<Vec<_>, _>>(),
            }
            .map_err(backend)?;
            ids.iter().map(|b| decode_key_id(b)).collect()
        })
    }

    fn get_alias(
        &self,
        scope: &Scope,
        name: &AliasName,
    ) -> Result<Option<AliasRecord>, StoreError> {
        self.read(|conn| {
            let row = conn
                .prepare_cached(
                    "SELECT target_key_id, created_at, updated_at FROM aliases
                     WHERE account = ?1 AND region = ?2 AND name = ?3",
                )
                .map_err(backend)?
                .query_row(params![scope.account.0, scope.region.0, name.0], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                    ))
                })
                .optional()
                .map_err(backend)?;
            row.map(|(target, created, updated)| {
                Ok(AliasRecord {
                    scope: scope.clone(),
                    name: name.clone(),
                    target: decode_key_id(&target)?,
                    created_at: Timestamp(created),
                    updated_at: Timestamp(updated),
                })
            })
            .transpose()
        })
    }

    fn list_aliases(
        &self,
        scope: &Scope,
        target: Option<&KeyId>,
        after: Option<&AliasName>,
        limit: usize,
    ) -> Result<Vec<AliasRecord>, StoreError> {
        let limit = sql_limit(limit);
        let target_bytes = target.map(KeyId::storage_bytes);
        let target: Option<&[u8]> = target_bytes.as_deref();
        let mut sql = String::from(
            "SELECT name, target_key_id, created_at, updated_at FROM aliases
             WHERE account = ?1 AND region = ?2",
        );
        let mut args: Vec<&dyn ToSql> = vec![&scope.account.0, &scope.region.0];
        if let Some(target) = &target {
            args.push(target);
            sql.push_str(&format!(" AND target_key_id = ?{}", args.len()));
        }
        if let Some(after) = after {
            args.push(&after.0);
            sql.push_str(&format!(" AND name > ?{}", args.len()));
        }
        args.push(&limit);
        sql.push_str(&format!(" ORDER BY name LIMIT ?{}", args.len()));
        self.read(|conn| {
            let rows = conn
                .prepare_cached(&sql)
                .map_err(backend)?
                .query_map(args.as_slice(), |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            rows.into_iter()
                .map(|(name, target, created, updated)| {
                    Ok(AliasRecord {
                        scope: scope.clone(),
                        name: AliasName(name),
                        target: decode_key_id(&target)?,
                        created_at: Timestamp(created),
                        updated_at: Timestamp(updated),
                    })
                })
                .collect()
        })
    }

    fn keys_due(&self, now: Timestamp, limit: usize) -> Result<Vec<(Scope, KeyId)>, StoreError> {
        let limit = sql_limit(limit);
        self.read(|conn| {
            let rows = conn
                .prepare_cached(
                    "SELECT account, region, id FROM keys
                     WHERE due_at <= ?1
                     ORDER BY due_at, id LIMIT ?2",
                )
                .map_err(backend)?
                .query_map(params![now.0, limit], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                    ))
                })
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            rows.into_iter()
                .map(|(account, region, id)| {
                    Ok((
                        Scope {
                            account: AccountId(account),
                            region: Region(region),
                        },
                        decode_key_id(&id)?,
                    ))
                })
                .collect()
        })
    }

    fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        if writes.is_empty() {
            return Ok(());
        }
        self.group.submit(writes)
    }

    fn commit_then(&self, writes: Vec<Write>, done: Reply) {
        if writes.is_empty() {
            return done(Ok(()));
        }
        self.group.submit_then(writes, done)
    }

    fn root_check(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.read(|conn| {
            conn.query_row("SELECT sealed FROM root_check WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()
            .map_err(backend)
        })
    }

    fn init_root_check(&self, sealed: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        // On the writer, outside group commit: once per store, and durable (synchronous=FULL)
        // before the server answers anything.
        let mut conn = self.writer.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(backend)?;
        tx.execute(
            "INSERT OR IGNORE INTO root_check (id, sealed) VALUES (1, ?1)",
            [&sealed],
        )
        .map_err(backend)?;
        let stored: Vec<u8> = tx
            .query_row("SELECT sealed FROM root_check WHERE id = 1", [], |r| {
                r.get(0)
            })
            .map_err(backend)?;
        tx.commit().map_err(backend)?;
        Ok(stored)
    }

    fn sample_key(&self) -> Result<Option<KeyRecord>, StoreError> {
        let found = self.read(|conn| {
            conn.query_row(
                "SELECT k.account, k.region, k.id FROM keys k
                 ORDER BY NOT EXISTS (SELECT 1 FROM key_material m
                     WHERE m.key_id = k.id AND m.account = k.account AND m.region = k.region)
                 LIMIT 1",
                [],
                |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, Vec<u8>>(2)?,
                    ))
                },
            )
            .optional()
            .map_err(backend)
        })?;
        let Some((account, region, id)) = found else {
            return Ok(None);
        };
        let scope = Scope {
            account: AccountId(account),
            region: Region(region),
        };
        self.get_key(&scope, &decode_key_id(&id)?)
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.read(|conn| conn.query_row("SELECT 1", [], |_| Ok(())).map_err(backend))
    }

    /// One node uses an SQLite store (its data directory is locked), so there is nothing to
    /// share: the node's own memory of nonces refuses replays.
    fn claim_nonce(&self, _digest: &[u8; 16], _until: i64, _now: i64) -> Result<bool, StoreError> {
        Ok(true)
    }

    fn audit_lookup(&self, query: &AuditQuery) -> Result<Vec<StoredAuditEvent>, StoreError> {
        self.read(|conn| audit::lookup(conn, query))
    }

    fn audit_nth(&self, query: &AuditQuery) -> Result<Option<(Timestamp, u64)>, StoreError> {
        self.read(|conn| audit::nth(conn, query))
    }

    fn audit_heads(&self) -> Result<Vec<(String, ChainHead)>, StoreError> {
        self.read(|conn| audit::heads(conn))
    }

    fn audit_chain(
        &self,
        account: &str,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredAuditEvent>, StoreError> {
        self.read(|conn| audit::chain(conn, account, after_seq, limit))
    }

    fn audit_prune(&self, before: Timestamp) -> Result<u64, StoreError> {
        let mut conn = self.writer.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(backend)?;
        let removed = audit::prune(&tx, before)?;
        tx.commit().map_err(backend)?;
        Ok(removed)
    }
}

#[cfg(test)]
mod tests;
