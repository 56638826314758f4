//! Applying writes: each write's precondition is in its SQL, each group of batches is one
//! transaction and one COMMIT (one WAL flush), its statements pipelined; a batch gets a SAVEPOINT
//! of its own only when the group has to be run again because a precondition failed.

use std::future::Future;
use std::pin::Pin;
use std::task::Poll;

use deadpool_postgres::{GenericClient, Pool, Transaction};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::Statement;
use trent_core::audit::AuditEvent;
use trent_core::ids::{AliasName, KeyId, Scope};
use trent_core::model::{AliasRecord, KeyRecord};
use trent_core::store::{StoreError, Write};

use super::{audit, db_error, to_sql_version};

/// How often a group is run again after PostgreSQL aborted it for a deadlock with another
/// node's transaction (nothing of it was committed, so running it again is safe).
const DEADLOCK_RETRIES: usize = 3;

/// The text of [`GENERIC_PLANS`], for messages that begin with it (PostgreSQL 12 or later).
macro_rules! generic_plans {
    () => {
        "SET LOCAL plan_cache_mode = force_generic_plan"
    };
}
pub(super) use generic_plans;

/// Sent at the start of every transaction of a group with records, and of every burst
/// ([`audit::append_expecting`], also one of new keys alone). A group runs the same few
/// prepared statements each time, with new arrays or values: PostgreSQL's default plans such a
/// statement anew on each execution until a generic plan looks as cheap, which it never did for
/// the audit trail's (about a tenth of PostgreSQL's CPU per Encrypt with the trail on, by
/// `perf`; docs/BENCHMARK-ANALYSIS.md). Their plans do not depend on the values.
pub(super) const GENERIC_PLANS: &str = generic_plans!();

/// What a group was given when it was formed: for a group of records and new keys alone whose
/// chain heads this node expects, the records' links and the heads before and after them.
pub(super) struct Plan(Option<(Vec<audit::Link>, audit::Heads, audit::Heads)>);

/// Plans a group (see [`Plan`]).
pub(super) fn plan(speculation: &audit::Speculation, batches: &[Vec<Write>]) -> Plan {
    let mut events = Vec::new();
    for w in batches.iter().flatten() {
        match w {
            Write::Audit(event) => events.push(event),
            // A new key's only precondition is that its place is free, which its insertion
            // checks inside the burst.
            Write::InsertKey(_) => {}
            // Other changes have preconditions, checked before the COMMIT is sent.
            _ => return Plan(None),
        }
    }
    Plan(speculation.plan(&events))
}

/// Runs `batches` in one transaction and returns each batch's own result.
///
/// A batch whose precondition fails gets its own error and the others proceed. Successes are
/// reported only after the COMMIT succeeded. An error that ends the transaction itself (a lost
/// connection, a failed COMMIT) fails the whole group.
///
/// A group of records and new keys alone that was planned against expected chain heads is
/// sent at once with its COMMIT ([`audit::append_expecting`]); if a head has moved, nothing is
/// committed and it runs as any other group. That is first run without savepoints
/// ([`Guard::None`]): a batch's writes cost one round trip each, and preconditions almost always
/// hold. If one fails, nothing of that attempt is committed and the group runs again with a
/// SAVEPOINT around each batch ([`Guard::Savepoints`]), which rolls the failed batch back alone.
/// A burst whose new key was invalid or refused (a taken id) goes to that guarded run at once.
pub(super) async fn run_group(
    pool: &Pool,
    batches: &[Vec<Write>],
    plan: Plan,
    speculation: &audit::Speculation,
) -> Result<Vec<Result<(), StoreError>>, StoreError> {
    let mut guard = Guard::None;
    if let Some((links, before, after)) = plan.0 {
        let mut events: Vec<&AuditEvent> = Vec::new();
        let mut keys: Vec<&KeyRecord> = Vec::new();
        for w in batches.iter().flatten() {
            match w {
                Write::Audit(event) => events.push(event),
                Write::InsertKey(record) => keys.push(record),
                _ => {}
            }
        }
        // The heads this node expects stay those after the group until a guarded attempt
        // below commits and says where they are (`Speculation::committed`), or fails and they
        // are forgotten.
        match KeyRows::of(&keys) {
            // An invalid key: the guarded attempt names it.
            Err(_) => guard = Guard::Savepoints,
            Ok(keys) => {
                let conn = pool.get().await.map_err(|e| {
                    speculation.missed();
                    super::pool_error(e)
                })?;
                match audit::append_expecting(&conn, &keys, &events, &links, &before, &after).await
                {
                    Ok(audit::Burst::Committed) => {
                        speculation.burst_committed();
                        return Ok(vec![Ok(()); batches.len()]);
                    }
                    Ok(audit::Burst::HeadMoved) => {
                        tracing::debug!("postgres: a chain head moved; the group locks them");
                        speculation.missed();
                    }
                    Ok(audit::Burst::KeyRefused) => {
                        tracing::debug!("postgres: a new key was refused; the group runs guarded");
                        guard = Guard::Savepoints;
                    }
                    // Rolled back by PostgreSQL: nothing committed, the group runs again.
                    Err(e) if retryable(&e) => {
                        tracing::debug!(error = %e, "postgres group aborted; running it again");
                        speculation.missed();
                    }
                    Err(e) => {
                        speculation.missed();
                        let e = db_error(e);
                        tracing::warn!(batches = batches.len(), error = %e, "postgres group commit failed");
                        return Err(e);
                    }
                }
            }
        }
    }
    let mut attempt = 0;
    loop {
        attempt += 1;
        match try_group(pool, batches, guard, speculation).await {
            Ok(results) => {
                tracing::trace!(batches = batches.len(), ?guard, "postgres group committed");
                return Ok(results);
            }
            Err(Fatal::BatchFailed) => {
                // Not an attempt of its own: the failed batch's error is only known guarded.
                attempt -= 1;
                guard = Guard::Savepoints;
            }
            Err(Fatal::Retry(e)) if attempt < DEADLOCK_RETRIES => {
                tracing::debug!(error = %e, attempt, "postgres group aborted; running it again");
            }
            Err(Fatal::Retry(e) | Fatal::Other(e)) => {
                tracing::warn!(batches = batches.len(), error = %e, "postgres group commit failed");
                return Err(e);
            }
        }
    }
}

/// How a group's batches are kept apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Guard {
    /// Not at all: a failed precondition ends the attempt ([`Fatal::BatchFailed`]).
    None,
    /// Each batch that changes keys or aliases in its own SAVEPOINT.
    Savepoints,
}

/// Why a whole attempt failed.
enum Fatal {
    /// PostgreSQL aborted the transaction to break a deadlock or a serialization conflict.
    Retry(StoreError),
    /// A batch's precondition failed in an unguarded attempt (which is rolled back).
    BatchFailed,
    Other(StoreError),
}

/// Whether PostgreSQL rolled the transaction back to break a deadlock or a serialization
/// conflict (so running it again is safe).
fn retryable(e: &tokio_postgres::Error) -> bool {
    e.code().is_some_and(|c| {
        *c == SqlState::T_R_DEADLOCK_DETECTED || *c == SqlState::T_R_SERIALIZATION_FAILURE
    })
}

fn fatal(e: tokio_postgres::Error) -> Fatal {
    if retryable(&e) {
        Fatal::Retry(db_error(e))
    } else {
        Fatal::Other(db_error(e))
    }
}

async fn try_group(
    pool: &Pool,
    batches: &[Vec<Write>],
    guard: Guard,
    speculation: &audit::Speculation,
) -> Result<Vec<Result<(), StoreError>>, Fatal> {
    let mut conn = pool
        .get()
        .await
        .map_err(|e| Fatal::Other(super::pool_error(e)))?;
    let mut tx = conn.transaction().await.map_err(fatal)?;
    let accounts: Vec<&str> = batches
        .iter()
        .flatten()
        .filter_map(|w| match w {
            Write::Audit(event) => Some(event.account.as_str()),
            _ => None,
        })
        .collect();
    // Generic plans for a group with records, sent with their heads' locks (a group without
    // records would pay a round trip of its own for them).
    let heads = if accounts.is_empty() {
        audit::Heads::default()
    } else {
        let (generic, heads) = tokio::join!(
            biased;
            tx.batch_execute(GENERIC_PLANS),
            audit::lock_heads(&tx, &accounts)
        );
        generic.map_err(fatal)?;
        heads.map_err(fatal)?
    };
    // Each batch's changes, and its records: appended together (in batch order) before the
    // COMMIT if the batch succeeded, so that a record commits with its batch's change or not at
    // all. A record has no precondition of its own to fail (see the SQLite store), so an error
    // appending ends the group.
    let split: Vec<(Vec<&Write>, Vec<&AuditEvent>)> = batches
        .iter()
        .map(|batch| {
            let mut changes = Vec::new();
            let mut records = Vec::new();
            for w in batch {
                match w {
                    Write::Audit(event) => records.push(event),
                    change => changes.push(change),
                }
            }
            (changes, records)
        })
        .collect();
    let results = match guard {
        Guard::None => {
            // Every batch's first statements sent at once, in batch order (pipelined on the
            // one connection): a round trip or two for the whole group rather than one per
            // write. A write's later statements follow its earlier ones' answers, so they may
            // reach PostgreSQL after other batches' statements: the attempt is accepted only if
            // every statement succeeded, and no batch can depend on another's uncommitted
            // writes, so its outcome is that of the batches in order.
            //
            // A group whose every change creates a key (concurrent CreateKeys) inserts them all
            // in two statements over arrays instead: PostgreSQL's cost per statement (executor
            // start, the CHECK constraints' expressions, an answer sent per statement) was most
            // of a CreateKey's (docs/BENCHMARK-ANALYSIS.md). An invalid key or a constraint
            // violation there cannot name its batch, so it sends the group to the guarded
            // attempt, which runs key by key.
            let creations: Option<Vec<&KeyRecord>> = split
                .iter()
                .flat_map(|(changes, _)| changes)
                .map(|w| match w {
                    Write::InsertKey(record) => Some(record),
                    _ => None,
                })
                .collect();
            let outcomes = match creations {
                Some(records) if !records.is_empty() => vec![insert_keys(&tx, &records).await],
                _ => join_in_order(split.iter().map(|(changes, _)| apply_all(&tx, changes))).await,
            };
            if outcomes.iter().any(|o| matches!(o, Err(Outcome::Batch(_)))) {
                return Err(Fatal::BatchFailed);
            }
            let errors: Vec<tokio_postgres::Error> = outcomes
                .into_iter()
                .filter_map(|o| match o {
                    Err(Outcome::Fatal(e)) => Some(e),
                    _ => None,
                })
                .collect();
            if let Some(e) = first_cause(errors) {
                return Err(fatal(e));
            }
            vec![Ok(()); batches.len()]
        }
        Guard::Savepoints => {
            let mut results = Vec::with_capacity(batches.len());
            for (changes, _) in &split {
                if changes.is_empty() {
                    results.push(Ok(()));
                    continue;
                }
                let sp = tx.savepoint("batch").await.map_err(fatal)?;
                match apply_all(&sp, changes).await {
                    Ok(()) => {
                        sp.commit().await.map_err(fatal)?;
                        results.push(Ok(()));
                    }
                    Err(Outcome::Batch(e)) => {
                        sp.rollback().await.map_err(fatal)?;
                        results.push(Err(e));
                    }
                    Err(Outcome::Fatal(e)) => return Err(fatal(e)),
                }
            }
            results
        }
    };
    let records: Vec<&AuditEvent> = split
        .iter()
        .zip(&results)
        .filter(|(_, result)| result.is_ok())
        .flat_map(|((_, records), _)| records.iter().copied())
        .collect();
    let heads = audit::append_all(&tx, heads, &records)
        .await
        .map_err(fatal)?;
    tx.commit().await.map_err(fatal)?;
    speculation.committed(&heads);
    Ok(results)
}

/// The error that ended a pipelined attempt: once one statement fails, the statements after
/// it fail with "current transaction is aborted", which says nothing of the cause (a deadlock
/// to retry, say), so the first other error is the one that counts.
pub(super) fn first_cause(errors: Vec<tokio_postgres::Error>) -> Option<tokio_postgres::Error> {
    let aborted =
        |e: &tokio_postgres::Error| e.code() == Some(&SqlState::IN_FAILED_SQL_TRANSACTION);
    let mut first = None;
    for e in errors {
        if !aborted(&e) {
            return Some(e);
        }
        first.get_or_insert(e);
    }
    first
}

/// Runs `futures` to completion together, polling them always in the order given, so that each
/// one's first statement is sent before the next one's (tokio's `join!` rotates its order).
pub(super) async fn join_in_order<F: Future>(
    futures: impl IntoIterator<Item = F>,
) -> Vec<F::Output> {
    let mut futures: Vec<Pin<Box<F>>> = futures.into_iter().map(Box::pin).collect();
    let mut outputs: Vec<Option<F::Output>> = futures.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (future, output) in futures.iter_mut().zip(outputs.iter_mut()) {
            if output.is_none() {
                match future.as_mut().poll(cx) {
                    Poll::Ready(v) => *output = Some(v),
                    Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    })
    .await;
    outputs
        .into_iter()
        .map(|o| o.expect("every future completed"))
        .collect()
}

/// Applies a batch's changes in order; the first failure ends it. Each write sends its first
/// statements when first polled, so batches joined in order start in order.
async fn apply_all(tx: &Transaction<'_>, changes: &[&Write]) -> Result<(), Outcome> {
    for w in changes {
        apply(tx, w).await?;
    }
    Ok(())
}

/// How one write failed: its batch's own error, or one that ends the transaction.
#[derive(Debug)]
pub(super) enum Outcome {
    Batch(StoreError),
    Fatal(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for Outcome {
    fn from(e: tokio_postgres::Error) -> Self {
        Outcome::Fatal(e)
    }
}

fn invalid(what: String) -> Outcome {
    Outcome::Batch(StoreError::Backend(format!("invalid write: {what}")))
}

fn version(v: u64) -> Result<i64, Outcome> {
    to_sql_version(v).map_err(Outcome::Batch)
}

/// Maps a constraint violation to the batch's error; anything else ends the transaction.
fn constraint(e: tokio_postgres::Error, unique: StoreError, foreign_key: StoreError) -> Outcome {
    match e.code() {
        Some(c) if *c == SqlState::UNIQUE_VIOLATION => Outcome::Batch(unique),
        Some(c) if *c == SqlState::FOREIGN_KEY_VIOLATION => Outcome::Batch(foreign_key),
        _ => Outcome::Fatal(e),
    }
}

async fn apply(tx: &Transaction<'_>, write: &Write) -> Result<(), Outcome> {
    match write {
        Write::InsertKey(record) => insert_keys(tx, &[record]).await,
        Write::UpdateKey {
            record,
            expected_version,
        } => update_key(tx, record, *expected_version).await,
        Write::DeleteKey {
            scope,
            id,
            expected_version,
        } => delete_key(tx, scope, id, *expected_version).await,
        Write::InsertAlias(alias) => insert_alias(tx, alias).await,
        Write::RetargetAlias {
            alias,
            expected_target,
        } => retarget_alias(tx, alias, expected_target).await,
        Write::DeleteAlias {
            scope,
            name,
            expected_target,
        } => delete_alias(tx, scope, name, expected_target).await,
        // Records are appended by the group, after the batches' changes (see `try_group`).
        Write::Audit(_) => Ok(()),
    }
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
    fn of(record: &KeyRecord) -> Result<Self, Outcome> {
        Ok(KeyRow {
            version: version(record.version)?,
            state: record.meta.state.as_str(),
            deletion_date: record.meta.deletion_date.map(|t| t.0),
            due_at: record.next_due().map(|t| t.0),
            meta: serde_json::to_string(&record.meta)
                .map_err(|e| invalid(format!("key {}: metadata: {e}", record.id)))?,
        })
    }
}

async fn insert_materials(tx: &Transaction<'_>, record: &KeyRecord) -> Result<(), Outcome> {
    let id_bytes = record.id.storage_bytes();
    let id = &id_bytes[..];
    let st = tx
        .prepare_cached(
            "INSERT INTO key_material (account, region, key_id, version, sealed)
             VALUES ($1, $2, $3, $4, $5)
             ON CONFLICT (account, region, key_id, version) DO NOTHING",
        )
        .await?;
    for m in &record.materials {
        let v = material_version(record, m.version)?;
        tx.execute(
            &st,
            &[
                &record.scope.account.0,
                &record.scope.region.0,
                &id,
                &v,
                &m.sealed,
            ],
        )
        .await?;
    }
    Ok(())
}

/// The row of a key to insert, once the record is checked: a new key is at version 1, and
/// holds each material version once.
fn new_key_row(record: &KeyRecord) -> Result<KeyRow, Outcome> {
    if record.version != 1 {
        return Err(invalid(format!(
            "InsertKey {} at version {} (must be 1)",
            record.id, record.version
        )));
    }
    if let Some(twice) = record.materials.iter().enumerate().find(|(i, m)| {
        record.materials[..*i]
            .iter()
            .any(|o| o.version == m.version)
    }) {
        return Err(invalid(format!(
            "InsertKey {}: material version {} twice",
            record.id, twice.1.version
        )));
    }
    KeyRow::of(record)
}

fn material_version(record: &KeyRecord, version: u32) -> Result<i32, Outcome> {
    i32::try_from(version)
        .map_err(|_| invalid(format!("key {}: material version {version}", record.id)))
}

/// Inserts new keys and their materials: two statements over arrays, sent together (the key
/// rows first), whatever the number of keys. An invalid key or a constraint violation is
/// [`Outcome::Batch`] without saying whose (for several keys, the caller runs the group again
/// guarded, one key at a time); other errors are [`Outcome::Fatal`].
async fn insert_keys(tx: &Transaction<'_>, records: &[&KeyRecord]) -> Result<(), Outcome> {
    let statements = KeyStatements::prepare(tx).await?;
    let rows = KeyRows::of(records)?;
    rows.insert(tx, &statements).await
}

/// The two statements that insert new keys and their materials.
pub(super) struct KeyStatements {
    keys: Statement,
    materials: Statement,
}

impl KeyStatements {
    pub(super) async fn prepare<C: GenericClient>(
        client: &C,
    ) -> Result<Self, tokio_postgres::Error> {
        let (keys, materials) = tokio::try_join!(
            client.prepare_cached(
                "INSERT INTO keys (id, account, region, version, state, deletion_date, due_at, meta)
                 SELECT * FROM unnest($1::bytea[], $2::text[], $3::text[], $4::int8[], $5::text[],
                                      $6::int8[], $7::int8[], $8::text[])",
            ),
            client.prepare_cached(
                "INSERT INTO key_material (account, region, key_id, version, sealed)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[], $4::int4[], $5::bytea[])
                 ON CONFLICT (account, region, key_id, version) DO NOTHING",
            ),
        )?;
        Ok(KeyStatements { keys, materials })
    }
}

/// New keys and their materials as the columns [`KeyStatements`] take, checked: an invalid
/// key is refused here, before anything is sent.
pub(super) struct KeyRows<'a> {
    ids: Vec<Vec<u8>>,
    accounts: Vec<&'a str>,
    regions: Vec<&'a str>,
    versions: Vec<i64>,
    states: Vec<&'static str>,
    deletion_dates: Vec<Option<i64>>,
    due_ats: Vec<Option<i64>>,
    metas: Vec<String>,
    /// (account, region, index of the key in `ids`, version, sealed) of every material.
    #[allow(clippy::type_complexity)]
    materials: (
        Vec<&'a str>,
        Vec<&'a str>,
        Vec<usize>,
        Vec<i32>,
        Vec<&'a [u8]>,
    ),
}

impl<'a> KeyRows<'a> {
    pub(super) fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub(super) fn of(records: &[&'a KeyRecord]) -> Result<Self, Outcome> {
        let mut rows = KeyRows {
            ids: Vec::with_capacity(records.len()),
            accounts: Vec::with_capacity(records.len()),
            regions: Vec::with_capacity(records.len()),
            versions: Vec::with_capacity(records.len()),
            states: Vec::with_capacity(records.len()),
            deletion_dates: Vec::with_capacity(records.len()),
            due_ats: Vec::with_capacity(records.len()),
            metas: Vec::with_capacity(records.len()),
            materials: Default::default(),
        };
        for record in records {
            let row = new_key_row(record)?;
            for m in &record.materials {
                let m_rows = &mut rows.materials;
                m_rows.0.push(record.scope.account.0.as_str());
                m_rows.1.push(record.scope.region.0.as_str());
                m_rows.2.push(rows.ids.len());
                m_rows.3.push(material_version(record, m.version)?);
                m_rows.4.push(&m.sealed[..]);
            }
            rows.ids.push(record.id.storage_bytes());
            rows.accounts.push(record.scope.account.0.as_str());
            rows.regions.push(record.scope.region.0.as_str());
            rows.versions.push(row.version);
            rows.states.push(row.state);
            rows.deletion_dates.push(row.deletion_date);
            rows.due_ats.push(row.due_at);
            rows.metas.push(row.meta);
        }
        Ok(rows)
    }

    /// Sends both statements (when the future is first polled) and waits for their answers. A
    /// key refused by a constraint (a taken id) is [`Outcome::Batch`], without saying whose.
    pub(super) async fn insert<C: GenericClient>(
        &self,
        client: &C,
        statements: &KeyStatements,
    ) -> Result<(), Outcome> {
        let ids: Vec<&[u8]> = self.ids.iter().map(|id| &id[..]).collect();
        let material_ids: Vec<&[u8]> = self.materials.2.iter().map(|&i| ids[i]).collect();
        let key_params: [&(dyn ToSql + Sync); 8] = [
            &ids,
            &self.accounts,
            &self.regions,
            &self.versions,
            &self.states,
            &self.deletion_dates,
            &self.due_ats,
            &self.metas,
        ];
        let m = &self.materials;
        let material_params: [&(dyn ToSql + Sync); 5] = [&m.0, &m.1, &material_ids, &m.3, &m.4];
        let (inserted, stored) = tokio::join!(
            biased;
            client.execute(&statements.keys, &key_params),
            client.execute(&statements.materials, &material_params),
        );
        match first_cause(
            [inserted.err(), stored.err()]
                .into_iter()
                .flatten()
                .collect(),
        ) {
            Some(e) => Err(constraint(e, StoreError::Conflict, StoreError::Conflict)),
            None => Ok(()),
        }
    }
}

async fn update_key(
    tx: &Transaction<'_>,
    record: &KeyRecord,
    expected: u64,
) -> Result<(), Outcome> {
    if expected.checked_add(1) != Some(record.version) {
        return Err(invalid(format!(
            "UpdateKey {} to version {} from expected version {expected}",
            record.id, record.version
        )));
    }
    let row = KeyRow::of(record)?;
    let id_bytes = record.id.storage_bytes();
    let id = &id_bytes[..];
    let st = tx
        .prepare_cached(
            "UPDATE keys SET version = $1, state = $2, deletion_date = $3, due_at = $4, meta = $5
             WHERE id = $6 AND account = $7 AND region = $8 AND version = $9",
        )
        .await?;
    let changed = tx
        .execute(
            &st,
            &[
                &row.version,
                &row.state,
                &row.deletion_date,
                &row.due_at,
                &row.meta,
                &id,
                &record.scope.account.0,
                &record.scope.region.0,
                &version(expected)?,
            ],
        )
        .await?;
    if changed == 0 {
        return Err(Outcome::Batch(StoreError::Conflict));
    }
    // The record's versions are the key's material from now on: stored versions it leaves
    // out are destroyed, new ones added, listed ones kept as they are (a stored version is
    // immutable).
    let keep: Vec<i32> = record
        .materials
        .iter()
        .filter_map(|m| i32::try_from(m.version).ok())
        .collect();
    let st = tx
        .prepare_cached(
            "DELETE FROM key_material
             WHERE key_id = $1 AND account = $2 AND region = $3 AND NOT (version = ANY($4))",
        )
        .await?;
    tx.execute(
        &st,
        &[&id, &record.scope.account.0, &record.scope.region.0, &keep],
    )
    .await?;
    insert_materials(tx, record).await
}

async fn delete_key(
    tx: &Transaction<'_>,
    scope: &Scope,
    id: &KeyId,
    expected: u64,
) -> Result<(), Outcome> {
    let id_bytes = id.storage_bytes();
    let id = &id_bytes[..];
    let st = tx
        .prepare_cached(
            "DELETE FROM keys WHERE id = $1 AND account = $2 AND region = $3 AND version = $4",
        )
        .await?;
    let changed = tx
        .execute(
            &st,
            &[&id, &scope.account.0, &scope.region.0, &version(expected)?],
        )
        .await?;
    if changed == 0 {
        return Err(Outcome::Batch(StoreError::Conflict));
    }
    // Material and aliases go with the key by the foreign keys' cascade.
    Ok(())
}

async fn insert_alias(tx: &Transaction<'_>, alias: &AliasRecord) -> Result<(), Outcome> {
    let st = tx
        .prepare_cached(
            "INSERT INTO aliases (account, region, name, target_key_id, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .await?;
    tx.execute(
        &st,
        &[
            &alias.scope.account.0,
            &alias.scope.region.0,
            &alias.name.0,
            &&alias.target.storage_bytes()[..],
            &alias.created_at.0,
            &alias.updated_at.0,
        ],
    )
    .await
    // A missing target (gone, or in another scope) is a conflict: re-read and decide.
    .map_err(|e| constraint(e, StoreError::AliasExists, StoreError::Conflict))?;
    Ok(())
}

async fn retarget_alias(
    tx: &Transaction<'_>,
    alias: &AliasRecord,
    expected: &KeyId,
) -> Result<(), Outcome> {
    let st = tx
        .prepare_cached(
            "UPDATE aliases SET target_key_id = $1, created_at = $2, updated_at = $3
             WHERE account = $4 AND region = $5 AND name = $6 AND target_key_id = $7",
        )
        .await?;
    let changed = tx
        .execute(
            &st,
            &[
                &&alias.target.storage_bytes()[..],
                &alias.created_at.0,
                &alias.updated_at.0,
                &alias.scope.account.0,
                &alias.scope.region.0,
                &alias.name.0,
                &&expected.storage_bytes()[..],
            ],
        )
        .await
        .map_err(|e| constraint(e, StoreError::Conflict, StoreError::Conflict))?;
    if changed == 0 {
        return Err(Outcome::Batch(StoreError::Conflict));
    }
    Ok(())
}

async fn delete_alias(
    tx: &Transaction<'_>,
    scope: &Scope,
    name: &AliasName,
    expected: &KeyId,
) -> Result<(), Outcome> {
    let st = tx
        .prepare_cached(
            "DELETE FROM aliases
             WHERE account = $1 AND region = $2 AND name = $3 AND target_key_id = $4",
        )
        .await?;
    let changed = tx
        .execute(
            &st,
            &[
                &scope.account.0,
                &scope.region.0,
                &name.0,
                &&expected.storage_bytes()[..],
            ],
        )
        .await?;
    if changed == 0 {
        return Err(Outcome::Batch(StoreError::Conflict));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use trent_core::store::conformance;

    use crate::postgres::testing::TestDatabase;
    use crate::{PgOptions, PgStore};

    #[test]
    fn a_failing_batch_in_a_group_fails_alone() {
        let db = TestDatabase::create();
        let store = PgStore::open(PgOptions::new(db.url())).expect("open the test database");
        conformance::a_failing_batch_in_a_group_fails_alone(&store, &|batches| {
            let pool = store.pool.clone();
            store
                .bridge
                .run(async move {
                    let speculation = Default::default();
                    super::run_group(&pool, &batches, super::Plan(None), &speculation).await
                })
                .expect("the group commits")
        });
    }
}
