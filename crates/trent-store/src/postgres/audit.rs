//! The audit trail in PostgreSQL: records, their lookup index and each account's chain head.
//!
//! Several nodes append to one account's chain: an append locks the account's head row
//! (`SELECT ... FOR UPDATE`) for the rest of its transaction, so appends to one chain are
//! serialised in commit order and every record names its true predecessor.

use deadpool_postgres::{Object, Transaction};
use tokio_postgres::Row;
use trent_core::audit::{chain_hash, AuditEvent, AuditQuery, ChainHead, StoredAuditEvent};
use trent_core::model::Timestamp;
use trent_core::store::StoreError;

use super::{corrupt, db_error};

fn seq_to_sql(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| StoreError::Backend(format!("audit sequence {seq} too large")))
}

fn hash_of(bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    bytes.try_into().map_err(|_| corrupt("audit hash"))
}

/// Appends `event` to its account's chain, in the caller's transaction.
pub(super) async fn append(
    tx: &Transaction<'_>,
    event: &AuditEvent,
) -> Result<(), tokio_postgres::Error> {
    let zero = vec![0u8; 32];
    let st = tx
        .prepare_cached(
            "INSERT INTO audit_heads (account, seq, hash, pruned_through) VALUES ($1, 0, $2, 0)
             ON CONFLICT (account) DO NOTHING",
        )
        .await?;
    tx.execute(&st, &[&event.account, &zero]).await?;
    let st = tx
        .prepare_cached("SELECT seq, hash FROM audit_heads WHERE account = $1 FOR UPDATE")
        .await?;
    let head = tx.query_one(&st, &[&event.account]).await?;
    let seq: i64 = head.get(0);
    let prev: Vec<u8> = head.get(1);
    let prev: [u8; 32] = prev.try_into().unwrap_or([0; 32]);
    let seq = seq + 1;
    let hash = chain_hash(&prev, &event.account, seq as u64, &event.body);
    let st = tx
        .prepare_cached(
            "INSERT INTO audit_events (account, seq, time, event_id, body, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .await?;
    tx.execute(
        &st,
        &[
            &event.account,
            &seq,
            &event.time.0,
            &event.event_id,
            &event.body,
            &&prev[..],
            &&hash[..],
        ],
    )
    .await?;
    let st = tx
        .prepare_cached(
            "INSERT INTO audit_attributes (account, name, value, time, seq)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
        )
        .await?;
    for (attribute, value) in &event.attributes {
        tx.execute(
            &st,
            &[
                &event.account,
                &attribute.as_str(),
                value,
                &event.time.0,
                &seq,
            ],
        )
        .await?;
    }
    let st = tx
        .prepare_cached("UPDATE audit_heads SET seq = $2, hash = $3 WHERE account = $1")
        .await?;
    tx.execute(&st, &[&event.account, &seq, &&hash[..]]).await?;
    Ok(())
}

/// Inserts records verbatim and moves the head (see `PgStore::import_audit`).
pub(super) async fn import(
    tx: &Transaction<'_>,
    account: &str,
    records: &[StoredAuditEvent],
    attributes: &[(u64, String, String)],
    head: &ChainHead,
) -> Result<(), tokio_postgres::Error> {
    let sql_seq = |seq: u64| i64::try_from(seq).unwrap_or(i64::MAX);
    let st = tx
        .prepare_cached(
            "INSERT INTO audit_events (account, seq, time, event_id, body, prev_hash, hash)
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .await?;
    for r in records {
        tx.execute(
            &st,
            &[
                &account,
                &sql_seq(r.seq),
                &r.time.0,
                &r.event_id,
                &r.body,
                &&r.prev_hash[..],
                &&r.hash[..],
            ],
        )
        .await?;
    }
    let st = tx
        .prepare_cached(
            "INSERT INTO audit_attributes (account, name, value, time, seq)
             SELECT $1, $2, $3, time, seq FROM audit_events WHERE account = $1 AND seq = $4
             ON CONFLICT DO NOTHING",
        )
        .await?;
    for (seq, name, value) in attributes {
        tx.execute(&st, &[&account, name, value, &sql_seq(*seq)])
            .await?;
    }
    let st = tx
        .prepare_cached(
            "INSERT INTO audit_heads (account, seq, hash, pruned_through) VALUES ($1, $2, $3, $4)
             ON CONFLICT (account) DO UPDATE
             SET seq = excluded.seq, hash = excluded.hash, pruned_through = excluded.pruned_through",
        )
        .await?;
    tx.execute(
        &st,
        &[
            &account,
            &sql_seq(head.seq),
            &&head.hash[..],
            &sql_seq(head.pruned_through),
        ],
    )
    .await?;
    Ok(())
}

const COLUMNS: &str = "e.account, e.seq, e.time, e.event_id, e.body, e.prev_hash, e.hash";

fn stored(r: &Row) -> Result<StoredAuditEvent, StoreError> {
    Ok(StoredAuditEvent {
        account: r.get(0),
        seq: r.get::<_, i64>(1) as u64,
        time: Timestamp(r.get(2)),
        event_id: r.get(3),
        body: r.get(4),
        prev_hash: hash_of(r.get(5))?,
        hash: hash_of(r.get(6))?,
    })
}

pub(super) async fn lookup(
    conn: &Object,
    q: &AuditQuery,
) -> Result<Vec<StoredAuditEvent>, StoreError> {
    let start = q.start.map_or(i64::MIN, |t| t.0);
    let end = q.end.map_or(i64::MAX, |t| t.0);
    let (after_time, after_seq) = match q.after {
        Some((t, s)) => (t.0, seq_to_sql(s)?),
        None => (i64::MAX, i64::MAX),
    };
    let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
    let rows = match &q.attribute {
        None => {
            let st = conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM audit_events e
                     WHERE e.account = $1 AND e.time >= $2 AND e.time <= $3
                       AND (e.time, e.seq) < ($4, $5)
                     ORDER BY e.time DESC, e.seq DESC LIMIT $6"
                ))
                .await
                .map_err(db_error)?;
            conn.query(
                &st,
                &[&q.account, &start, &end, &after_time, &after_seq, &limit],
            )
            .await
        }
        Some((attribute, value)) => {
            let st = conn
                .prepare_cached(&format!(
                    "SELECT {COLUMNS} FROM audit_attributes a
                     JOIN audit_events e ON e.account = a.account AND e.seq = a.seq
                     WHERE a.account = $1 AND a.name = $7 AND a.value = $8
                       AND a.time >= $2 AND a.time <= $3
                       AND (a.time, a.seq) < ($4, $5)
                     ORDER BY a.time DESC, a.seq DESC LIMIT $6"
                ))
                .await
                .map_err(db_error)?;
            conn.query(
                &st,
                &[
                    &q.account,
                    &start,
                    &end,
                    &after_time,
                    &after_seq,
                    &limit,
                    &attribute.as_str(),
                    value,
                ],
            )
            .await
        }
    }
    .map_err(db_error)?;
    rows.iter().map(stored).collect()
}

pub(super) async fn heads(conn: &Object) -> Result<Vec<(String, ChainHead)>, StoreError> {
    let rows = conn
        .query(
            "SELECT account, seq, hash, pruned_through FROM audit_heads ORDER BY account",
            &[],
        )
        .await
        .map_err(db_error)?;
    rows.iter()
        .map(|r| {
            Ok((
                r.get(0),
                ChainHead {
                    seq: r.get::<_, i64>(1) as u64,
                    hash: hash_of(r.get(2))?,
                    pruned_through: r.get::<_, i64>(3) as u64,
                },
            ))
        })
        .collect()
}

pub(super) async fn chain(
    conn: &Object,
    account: &str,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<StoredAuditEvent>, StoreError> {
    let rows = conn
        .query(
            &format!(
                "SELECT {COLUMNS} FROM audit_events e WHERE e.account = $1 AND e.seq > $2
                 ORDER BY e.seq LIMIT $3"
            ),
            &[
                &account,
                &seq_to_sql(after_seq)?,
                &i64::try_from(limit).unwrap_or(i64::MAX),
            ],
        )
        .await
        .map_err(db_error)?;
    rows.iter().map(stored).collect()
}

/// Prunes each account's prefix older than `before`, holding the account's head lock so that
/// no append interleaves.
pub(super) async fn prune(conn: &mut Object, before: Timestamp) -> Result<u64, StoreError> {
    let tx = conn.transaction().await.map_err(db_error)?;
    let cuts = tx
        .query(
            "SELECT account, MAX(seq) FROM audit_events WHERE time < $1 GROUP BY account
             ORDER BY account",
            &[&before.0],
        )
        .await
        .map_err(db_error)?;
    let mut removed = 0;
    for row in cuts {
        let account: String = row.get(0);
        let through: i64 = row.get(1);
        tx.execute(
            "SELECT 1 FROM audit_heads WHERE account = $1 FOR UPDATE",
            &[&account],
        )
        .await
        .map_err(db_error)?;
        removed += tx
            .execute(
                "DELETE FROM audit_events WHERE account = $1 AND seq <= $2",
                &[&account, &through],
            )
            .await
            .map_err(db_error)?;
        tx.execute(
            "DELETE FROM audit_attributes WHERE account = $1 AND seq <= $2",
            &[&account, &through],
        )
        .await
        .map_err(db_error)?;
        tx.execute(
            "UPDATE audit_heads SET pruned_through = GREATEST(pruned_through, $2)
             WHERE account = $1",
            &[&account, &through],
        )
        .await
        .map_err(db_error)?;
    }
    tx.commit().await.map_err(db_error)?;
    Ok(removed)
}
