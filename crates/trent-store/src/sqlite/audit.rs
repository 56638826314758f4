//! The audit trail in SQLite: records, their lookup index and each account's chain head.
//!
//! Appending runs inside the group-commit transaction (one writer connection), so reading the
//! head, inserting the record and moving the head happen in one serial order.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension, Row};
use trent_core::audit::{
    chain_hash, parse_tags, tags_where, AuditAttribute, AuditEvent, AuditQuery, ChainHead,
    StoredAuditEvent,
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

/// An account's chain head as the writer keeps it during a group: the head, and the last of
/// the account's records the lookup index covers.
#[derive(Debug, Clone, Copy)]
struct GroupHead {
    head: ChainHead,
    indexed_through: u64,
}

/// What a group's transaction has done to the trail so far: each account's chain head (read
/// once per group, written once before the COMMIT) and the ids of the lookup values it used.
/// A batch rolled back to its savepoint restores the state from before it
/// (`writes::run_batch` keeps a copy).
#[derive(Debug, Clone)]
pub(super) struct GroupTrail {
    heads: HashMap<String, GroupHead>,
    values: HashMap<(String, AuditAttribute, String), i64>,
    /// Records an account may have beyond its index before the group indexes them.
    index_batch: u64,
}

impl GroupTrail {
    pub(super) fn new(index_batch: u64) -> Self {
        GroupTrail {
            heads: HashMap::new(),
            values: HashMap::new(),
            index_batch: index_batch.max(1),
        }
    }

    fn head(&mut self, conn: &Connection, account: &str) -> Result<&mut GroupHead, StoreError> {
        if !self.heads.contains_key(account) {
            let row = conn
                .prepare_cached(
                    "SELECT seq, hash, pruned_through, indexed_through FROM audit_heads
                     WHERE account = ?1",
                )
                .map_err(backend)?
                .query_row(params![account], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                    ))
                })
                .optional()
                .map_err(backend)?;
            let head = match row {
                None => GroupHead {
                    head: ChainHead::default(),
                    indexed_through: 0,
                },
                Some((seq, hash, pruned, indexed)) => GroupHead {
                    head: ChainHead {
                        seq: seq as u64,
                        hash: hash_of(hash)?,
                        pruned_through: pruned as u64,
                    },
                    indexed_through: indexed as u64,
                },
            };
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

    fn index_entry(
        &mut self,
        conn: &Connection,
        account: &str,
        attribute: AuditAttribute,
        value: &str,
        time: i64,
        seq: i64,
    ) -> Result<(), StoreError> {
        let value_id = self.value_id(conn, account, attribute, value)?;
        conn.prepare_cached(
            "INSERT OR IGNORE INTO audit_index (value_id, time, seq) VALUES (?1, ?2, ?3)",
        )
        .map_err(backend)?
        .execute(params![value_id, time, seq])
        .map_err(backend)?;
        Ok(())
    }

    /// Indexes, from their tags, the records of every account the group appended to that has
    /// `index_batch` or more records beyond its index. Each record's entries land in index
    /// pages that many records share, so a group commit does not rewrite them every time
    /// (most of what a record cost the commit before).
    pub(super) fn index_due(&mut self, conn: &Connection) -> Result<(), StoreError> {
        let due: Vec<(String, u64, u64)> = self
            .heads
            .iter()
            .filter(|(_, h)| h.head.seq >= h.indexed_through + self.index_batch)
            .map(|(account, h)| (account.clone(), h.indexed_through, h.head.seq))
            .collect();
        for (account, from, through) in due {
            let rows = conn
                .prepare_cached(
                    "SELECT seq, time, tags FROM audit_events
                     WHERE account = ?1 AND seq > ?2 AND seq <= ?3 ORDER BY seq",
                )
                .map_err(backend)?
                .query_map(
                    params![account, seq_to_sql(from)?, seq_to_sql(through)?],
                    |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, i64>(1)?,
                            r.get::<_, String>(2)?,
                        ))
                    },
                )
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            let mut entries = Vec::with_capacity(rows.len() * 4);
            for (seq, time, tags) in &rows {
                for (attribute, value) in parse_tags(tags).filter(|(a, _)| a.is_indexed()) {
                    let value_id = self.value_id(conn, &account, attribute, value)?;
                    entries.push((value_id, *time, *seq));
                }
            }
            insert_entries(conn, entries)?;
            if let Some(h) = self.heads.get_mut(&account) {
                h.indexed_through = through;
            }
        }
        Ok(())
    }

    /// Writes the heads the group moved (inside its transaction, before the COMMIT).
    pub(super) fn store_heads(&self, conn: &Connection) -> Result<(), StoreError> {
        for (account, h) in &self.heads {
            conn.prepare_cached(
                "INSERT INTO audit_heads (account, seq, hash, pruned_through, indexed_through)
                 VALUES (?1, ?2, ?3, 0, ?4)
                 ON CONFLICT (account) DO UPDATE SET seq = excluded.seq, hash = excluded.hash,
                     indexed_through = excluded.indexed_through",
            )
            .map_err(backend)?
            .execute(params![
                account,
                seq_to_sql(h.head.seq)?,
                &h.head.hash[..],
                seq_to_sql(h.indexed_through)?
            ])
            .map_err(backend)?;
        }
        Ok(())
    }
}

/// Index entries, sorted so that each value's run is appended in one place, in multi-row
/// statements (one statement per entry cost more than the B-tree insert itself).
fn insert_entries(conn: &Connection, mut entries: Vec<(i64, i64, i64)>) -> Result<(), StoreError> {
    const ROWS: usize = 128;
    entries.sort_unstable();
    entries.dedup();
    for chunk in entries.chunks(ROWS) {
        let sql = format!(
            "INSERT OR IGNORE INTO audit_index (value_id, time, seq) VALUES {}",
            vec!["(?, ?, ?)"; chunk.len()].join(", ")
        );
        let params: Vec<&dyn rusqlite::ToSql> = chunk
            .iter()
            .flat_map(|(v, t, s)| [v as &dyn rusqlite::ToSql, t, s])
            .collect();
        conn.prepare_cached(&sql)
            .map_err(backend)?
            .execute(&params[..])
            .map_err(backend)?;
    }
    Ok(())
}

/// Appends `event` to its account's chain (inside the group's transaction). Its lookup
/// attributes go into its tags; the index follows in batches ([`GroupTrail::index_due`]).
pub(super) fn append(
    conn: &Connection,
    trail: &mut GroupTrail,
    event: &AuditEvent,
) -> Result<(), StoreError> {
    let GroupHead { head, .. } = trail.head(conn, &event.account)?;
    let seq = head.seq + 1;
    let prev_hash = head.hash;
    let hash = chain_hash(&prev_hash, &event.account, seq, &event.body);
    let sql_seq = seq_to_sql(seq)?;
    let attributes = || event.attributes.iter().map(|(a, v)| (*a, v.as_str()));
    // EventId is the record's own column, indexed by SQLite.
    let tags = tags_where(attributes(), |a| a != AuditAttribute::EventId);
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
        tags
    ])
    .map_err(backend)?;
    head.seq = seq;
    head.hash = hash;
    // A value with a line break cannot be a tag: it is indexed at once (never seen in a KMS
    // trail, where these values are ARNs, names and access key ids).
    for (attribute, value) in event.indexed() {
        if attribute != AuditAttribute::EventId && value.contains('\n') {
            trail.index_entry(
                conn,
                &event.account,
                attribute,
                value,
                event.time.0,
                sql_seq,
            )?;
        }
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
    // The kinds of lookup by the records' own columns differ in the index they walk and in
    // the filter on ?7 (the value); the rest is shared. Indexed attributes: `indexed_lookup`.
    const EVENTS: &str = "audit_events e";
    // `bound`: whether the filter uses ?7.
    let (from, filter, value, bound): (&str, &str, String, usize) = match &q.attribute {
        None => (EVENTS, "", String::new(), 0),
        Some((attribute, value)) if !attribute.is_indexed() => {
            let Some(tag) = attribute.tag(value) else {
                return Ok(vec![]);
            };
            (EVENTS, "AND instr(e.tags, ?7) > 0", tag, 1)
        }
        // The record's own column, indexed (not in the value index). Named, since the
        // planner would otherwise walk the time index for the ORDER BY.
        Some((AuditAttribute::EventId, value)) => (
            "audit_events e INDEXED BY audit_events_by_event_id",
            "AND e.event_id = ?7",
            value.clone(),
            1,
        ),
        Some((attribute, value)) => {
            return indexed_lookup(
                conn,
                q,
                *attribute,
                value,
                [start, end, after_time, after_seq, limit],
            );
        }
    };
    let args: [&dyn rusqlite::ToSql; 7] = [
        &q.account,
        &start,
        &end,
        &after_time,
        &after_seq,
        &limit,
        &value,
    ];
    let rows = conn
        .prepare_cached(&format!(
            "SELECT {COLUMNS} FROM {from}
             WHERE e.account = ?1 AND e.time >= ?2 AND e.time <= ?3
               AND (e.time < ?4 OR (e.time = ?4 AND e.seq < ?5)) {filter}
             ORDER BY e.time DESC, e.seq DESC LIMIT ?6"
        ))
        .map_err(backend)?
        .query_map(&args[..6 + bound], stored)
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    finish(rows)
}

/// A lookup by an indexed attribute: the index, up to the account's `indexed_through`, and the
/// records after it by their tags, in one statement (one snapshot, so a batch indexed
/// meanwhile is seen exactly once).
fn indexed_lookup(
    conn: &Connection,
    q: &AuditQuery,
    attribute: AuditAttribute,
    value: &str,
    [start, end, after_time, after_seq, limit]: [i64; 5],
) -> Result<Vec<StoredAuditEvent>, StoreError> {
    // A value with a line break has no tag (and was indexed at once): the index alone.
    let (tail, tag) = match attribute.tag(value) {
        Some(tag) => ("", tag),
        None => ("AND 0", String::new()),
    };
    let window = |t: &str| {
        format!("{t}.time >= ?2 AND {t}.time <= ?3 AND ({t}.time < ?4 OR ({t}.time = ?4 AND {t}.seq < ?5))")
    };
    let rows = conn
        .prepare_cached(&format!(
            "SELECT * FROM (
                 SELECT {COLUMNS} FROM audit_values v
                 JOIN audit_index a ON a.value_id = v.id
                 JOIN audit_events e ON e.account = v.account AND e.seq = a.seq
                 WHERE v.account = ?1 AND v.name = ?6 AND v.value = ?7 AND {}
                 ORDER BY a.time DESC, a.seq DESC LIMIT ?8)
             UNION ALL
             SELECT * FROM (
                 SELECT {COLUMNS} FROM audit_events e
                 WHERE e.account = ?1 AND e.seq > coalesce(
                     (SELECT indexed_through FROM audit_heads WHERE account = ?1), 0)
                   AND {} AND instr(e.tags, ?9) > 0 {tail})
             ORDER BY 3 DESC, 2 DESC LIMIT ?8",
            window("a"),
            window("e"),
        ))
        .map_err(backend)?
        .query_map(
            params![
                q.account,
                start,
                end,
                after_time,
                after_seq,
                attribute.as_str(),
                value,
                limit,
                tag
            ],
            stored,
        )
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
