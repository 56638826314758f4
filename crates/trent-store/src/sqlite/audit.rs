//! The audit trail in SQLite: records, their lookup index and each account's chain head.
//!
//! Appending runs inside the group-commit transaction (one writer connection), so reading the
//! head, inserting the record and moving the head happen in one serial order.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension, Row};
use trent_core::audit::{
    chain_hash, AuditAttribute, AuditEvent, AuditQuery, ChainHead, StoredAuditEvent,
};
use trent_core::model::Timestamp;
use trent_core::store::StoreError;

use super::backend;

fn seq_to_sql(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| StoreError::Backend(format!("audit sequence {seq} too large")))
}

fn hash_of(bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    bytes
        .try_into()
        .map_err(|_| StoreError::Backend("sqlite: corrupt audit hash".into()))
}

pub(super) fn head(conn: &Connection, account: &str) -> Result<ChainHead, StoreError> {
    let row = conn
        .prepare_cached("SELECT seq, hash, pruned_through FROM audit_heads WHERE account = ?1")
        .map_err(backend)?
        .query_row(params![account], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .optional()
        .map_err(backend)?;
    match row {
        None => Ok(ChainHead::default()),
        Some((seq, hash, pruned)) => Ok(ChainHead {
            seq: seq as u64,
            hash: hash_of(hash)?,
            pruned_through: pruned as u64,
        }),
    }
}

/// What a group's transaction has done to the trail so far: each account's chain head (read
/// once per group, written once before the COMMIT) and the ids of the lookup values it used.
/// A batch rolled back to its savepoint restores the state from before it
/// (`writes::run_batch` keeps a copy).
#[derive(Debug, Default, Clone)]
pub(super) struct GroupTrail {
    heads: HashMap<String, ChainHead>,
    values: HashMap<(String, AuditAttribute, String), i64>,
}

impl GroupTrail {
    fn head(&mut self, conn: &Connection, account: &str) -> Result<&mut ChainHead, StoreError> {
        if !self.heads.contains_key(account) {
            let head = head(conn, account)?;
            self.heads.insert(account.to_owned(), head);
        }
        Ok(self.heads.get_mut(account).expect("inserted above"))
    }

    /// The id of (account, attribute, value) in `audit_values`, added if new.
    fn value_id(
        &mut self,
        conn: &Connection,
        account: &str,
        attribute: AuditAttribute,
        value: &str,
    ) -> Result<i64, StoreError> {
        let key = (account.to_owned(), attribute, value.to_owned());
        if let Some(id) = self.values.get(&key) {
            return Ok(*id);
        }
        let name = attribute.as_str();
        let found = conn
            .prepare_cached(
                "SELECT id FROM audit_values WHERE account = ?1 AND name = ?2 AND value = ?3",
            )
            .map_err(backend)?
            .query_row(params![account, name, value], |r| r.get(0))
            .optional()
            .map_err(backend)?;
        let id = match found {
            Some(id) => id,
            None => {
                conn.prepare_cached(
                    "INSERT INTO audit_values (account, name, value) VALUES (?1, ?2, ?3)",
                )
                .map_err(backend)?
                .execute(params![account, name, value])
                .map_err(backend)?;
                conn.last_insert_rowid()
            }
        };
        self.values.insert(key, id);
        Ok(id)
    }

    /// Writes the heads the group moved (inside its transaction, before the COMMIT).
    pub(super) fn store_heads(&self, conn: &Connection) -> Result<(), StoreError> {
        for (account, head) in &self.heads {
            conn.prepare_cached(
                "INSERT INTO audit_heads (account, seq, hash, pruned_through)
                 VALUES (?1, ?2, ?3, 0)
                 ON CONFLICT (account) DO UPDATE SET seq = excluded.seq, hash = excluded.hash",
            )
            .map_err(backend)?
            .execute(params![account, seq_to_sql(head.seq)?, &head.hash[..]])
            .map_err(backend)?;
        }
        Ok(())
    }
}

/// Appends `event` to its account's chain (inside the group's transaction).
pub(super) fn append(
    conn: &Connection,
    trail: &mut GroupTrail,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    let head = trail.head(conn, &event.account)?;
    let seq = head.seq + 1;
    let prev_hash = head.hash;
    let hash = chain_hash(&prev_hash, &event.account, seq, &event.body);
    let sql_seq = seq_to_sql(seq)?;
    conn.prepare_cached(
        "INSERT INTO audit_events (account, seq, time, event_id, body, prev_hash, hash, tags)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )
    .map_err(backend)?
    .execute(params![
        event.account,
        sql_seq,
        event.time.0,
        event.event_id,
        event.body,
        &prev_hash[..],
        &hash[..],
        event.tags()
    ])
    .map_err(backend)?;
    head.seq = seq;
    head.hash = hash;
    for (attribute, value) in event.indexed() {
        if attribute == AuditAttribute::EventId {
            continue; // the record's own event_id column is indexed
        }
        let value_id = trail.value_id(conn, &event.account, attribute, value)?;
        conn.prepare_cached(
            "INSERT OR IGNORE INTO audit_index (value_id, time, seq) VALUES (?1, ?2, ?3)",
        )
        .map_err(backend)?
        .execute(params![value_id, event.time.0, sql_seq])
        .map_err(backend)?;
    }
    Ok(())
}

const COLUMNS: &str = "e.account, e.seq, e.time, e.event_id, e.body, e.prev_hash, e.hash";

fn stored(r: &Row<'_>) -> rusqlite::Result<(StoredAuditEvent, Vec<u8>, Vec<u8>)> {
    Ok((
        StoredAuditEvent {
            account: r.get(0)?,
            seq: r.get::<_, i64>(1)? as u64,
            time: Timestamp(r.get(2)?),
            event_id: r.get(3)?,
            body: r.get(4)?,
            prev_hash: [0; 32],
            hash: [0; 32],
        },
        r.get(5)?,
        r.get(6)?,
    ))
}

fn finish(
    rows: Vec<(StoredAuditEvent, Vec<u8>, Vec<u8>)>,
) -> Result<Vec<StoredAuditEvent>, StoreError> {
    rows.into_iter()
        .map(|(mut e, prev, hash)| {
            e.prev_hash = hash_of(prev)?;
            e.hash = hash_of(hash)?;
            Ok(e)
        })
        .collect()
}

pub(super) fn lookup(
    conn: &Connection,
    q: &AuditQuery,
) -> Result<Vec<StoredAuditEvent>, StoreError> {
    let start = q.start.map_or(i64::MIN, |t| t.0);
    let end = q.end.map_or(i64::MAX, |t| t.0);
    let (after_time, after_seq) = match q.after {
        Some((t, s)) => (t.0, seq_to_sql(s)?),
        None => (i64::MAX, i64::MAX),
    };
    let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
    // The three kinds of lookup differ in what they walk (`from`, whose `t` has the time and
    // seq the results are ordered by) and in the filter on ?7/?8; the rest is shared.
    const EVENTS: &str = "audit_events e";
    // `bound`: how many of ?7 (the value) and ?8 (the attribute's name) the filter uses.
    let (from, t, filter, value, name, bound): (&str, &str, &str, String, &str, usize) =
        match &q.attribute {
            None => (EVENTS, "e", "", String::new(), "", 0),
            Some((attribute, value)) if !attribute.is_indexed() => {
                let Some(tag) = attribute.tag(value) else {
                    return Ok(vec![]);
                };
                (EVENTS, "e", "AND instr(e.tags, ?7) > 0", tag, "", 1)
            }
            // The record's own column, indexed (not in the value index). Named, since the
            // planner would otherwise walk the time index for the ORDER BY.
            Some((AuditAttribute::EventId, value)) => (
                "audit_events e INDEXED BY audit_events_by_event_id",
                "e",
                "AND e.event_id = ?7",
                value.clone(),
                "",
                1,
            ),
            Some((attribute, value)) => (
                "audit_values v JOIN audit_index a ON a.value_id = v.id
             JOIN audit_events e ON e.account = v.account AND e.seq = a.seq",
                "a",
                "AND v.account = ?1 AND v.name = ?8 AND v.value = ?7",
                value.clone(),
                attribute.as_str(),
                2,
            ),
        };
    let args: [&dyn rusqlite::ToSql; 8] = [
        &q.account,
        &start,
        &end,
        &after_time,
        &after_seq,
        &limit,
        &value,
        &name,
    ];
    let rows = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM {from}
             WHERE e.account = ?1 AND {t}.time >= ?2 AND {t}.time <= ?3
               AND ({t}.time < ?4 OR ({t}.time = ?4 AND {t}.seq < ?5)) {filter}
             ORDER BY {t}.time DESC, {t}.seq DESC LIMIT ?6"
        ))
        .map_err(backend)?
        .query_map(&args[..6 + bound], stored)
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    finish(rows)
}

pub(super) fn heads(conn: &Connection) -> Result<Vec<(String, ChainHead)>, StoreError> {
    let rows = conn
        .prepare_cached(
            "SELECT account, seq, hash, pruned_through FROM audit_heads ORDER BY account",
        )
        .map_err(backend)?
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, Vec<u8>>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    rows.into_iter()
        .map(|(account, seq, hash, pruned)| {
            Ok((
                account,
                ChainHead {
                    seq: seq as u64,
                    hash: hash_of(hash)?,
                    pruned_through: pruned as u64,
                },
            ))
        })
        .collect()
}

pub(super) fn chain(
    conn: &Connection,
    account: &str,
    after_seq: u64,
    limit: usize,
) -> Result<Vec<StoredAuditEvent>, StoreError> {
    let rows = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM audit_events e WHERE e.account = ?1 AND e.seq > ?2
             ORDER BY e.seq LIMIT ?3"
        ))
        .map_err(backend)?
        .query_map(
            params![
                account,
                seq_to_sql(after_seq)?,
                i64::try_from(limit).unwrap_or(i64::MAX)
            ],
            stored,
        )
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    finish(rows)
}

/// Prunes in the caller's transaction.
pub(super) fn prune(conn: &Connection, before: Timestamp) -> Result<u64, StoreError> {
    let cuts = conn
        .prepare_cached(
            "SELECT account, MAX(seq) FROM audit_events WHERE time < ?1 GROUP BY account",
        )
        .map_err(backend)?
        .query_map(params![before.0], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?))
        })
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    let mut removed = 0;
    for (account, through) in cuts {
        // The index has no entry by seq: each of the account's values is walked by time, up
        // to the newest record pruned (a record is indexed at its own time).
        let newest: i64 = conn
            .prepare_cached(
                "SELECT coalesce(MAX(time), 0) FROM audit_events WHERE account = ?1 AND seq <= ?2",
            )
            .map_err(backend)?
            .query_row(params![account, through], |r| r.get(0))
            .map_err(backend)?;
        removed += conn
            .prepare_cached("DELETE FROM audit_events WHERE account = ?1 AND seq <= ?2")
            .map_err(backend)?
            .execute(params![account, through])
            .map_err(backend)? as u64;
        conn.prepare_cached(
            "DELETE FROM audit_index
             WHERE value_id IN (SELECT id FROM audit_values WHERE account = ?1)
               AND time <= ?3 AND seq <= ?2",
        )
        .map_err(backend)?
        .execute(params![account, through, newest])
        .map_err(backend)?;
        conn.prepare_cached(
            "DELETE FROM audit_values WHERE account = ?1
               AND NOT EXISTS (SELECT 1 FROM audit_index i WHERE i.value_id = audit_values.id)",
        )
        .map_err(backend)?
        .execute(params![account])
        .map_err(backend)?;
        conn.prepare_cached(
            "UPDATE audit_heads SET pruned_through = MAX(pruned_through, ?2) WHERE account = ?1",
        )
        .map_err(backend)?
        .execute(params![account, through])
        .map_err(backend)?;
    }
    Ok(removed)
}
