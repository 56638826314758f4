//! The audit trail in SQLite: records, their lookup index and each account's chain head.
//!
//! Appending runs inside the group-commit transaction (one writer connection), so reading the
//! head, inserting the record and moving the head happen in one serial order.

use std::collections::HashMap;

use rusqlite::{params, Connection, OptionalExtension, Row};
use trent_core::audit::{
    chain_hash, parse_tags, tags_where, AuditAttribute, AuditEvent, AuditQuery, ChainHead,
    SqlWindow, StoredAuditEvent,
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
    values: HashMap<(String, &'static str, String), i64>,
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

    /// The id of (account, attribute name, value) in `audit_values`, added if new.
    fn value_id(
        &mut self,
        conn: &Connection,
        account: &str,
        name: &'static str,
        value: &str,
    ) -> Result<i64, StoreError> {
        let key = (account.to_owned(), name, value.to_owned());
        if let Some(id) = self.values.get(&key) {
            return Ok(*id);
        }
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
        let value_id = self.value_id(conn, account, attribute.as_str(), value)?;
        conn.prepare_cached(
            "INSERT OR IGNORE INTO audit_index (value_id, time, seq) VALUES (?1, ?2, ?3)",
        )
        .map_err(backend)?
        .execute(params![value_id, time, seq])
        .map_err(backend)?;
        Ok(())
    }

    /// Indexes the records of every account the group appended to that has `index_batch` or
    /// more records beyond its index: by time (under [`ALL`]), by event id, and by each
    /// indexed attribute in their tags. Each record's entries land in index pages that many
    /// records share, so a group commit does not rewrite them every time (most of what a
    /// record cost the commit before).
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
                    "SELECT seq, time, event_id, tags FROM audit_events
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
                            r.get::<_, String>(3)?,
                        ))
                    },
                )
                .map_err(backend)?
                .collect::<Result<Vec<_>, _>>()
                .map_err(backend)?;
            let all = self.value_id(conn, &account, ALL.0, ALL.1)?;
            let mut entries = Vec::with_capacity(rows.len() * 5);
            let mut ids = Vec::with_capacity(rows.len());
            for (seq, time, event_id, tags) in &rows {
                entries.push((all, *time, *seq));
                ids.push((event_id.as_str(), account.as_str(), *seq));
                for (attribute, value) in parse_tags(tags).filter(|(a, _)| a.is_indexed()) {
                    let value_id = self.value_id(conn, &account, attribute.as_str(), value)?;
                    entries.push((value_id, *time, *seq));
                }
            }
            insert_many(conn, "audit_index (value_id, time, seq)", entries)?;
            insert_many(conn, "audit_event_ids (event_id, account, seq)", ids)?;
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

/// Index rows, sorted so that each run of one key is appended in one place, in multi-row
/// statements (one statement per row cost more than the B-tree insert itself).
fn insert_many<A, B, C>(
    conn: &Connection,
    into: &str,
    mut rows: Vec<(A, B, C)>,
) -> Result<(), StoreError>
where
    A: rusqlite::ToSql + Ord,
    B: rusqlite::ToSql + Ord,
    C: rusqlite::ToSql + Ord,
{
    const ROWS: usize = 128;
    rows.sort_unstable();
    rows.dedup();
    for chunk in rows.chunks(ROWS) {
        let sql = format!(
            "INSERT OR IGNORE INTO {into} VALUES {}",
            vec!["(?, ?, ?)"; chunk.len()].join(", ")
        );
        let params: Vec<&dyn rusqlite::ToSql> = chunk
            .iter()
            .flat_map(|(a, b, c)| [a as &dyn rusqlite::ToSql, b, c])
            .collect();
        // A full chunk's statement is kept; a last, shorter one would only push others out.
        let run = |mut statement: rusqlite::CachedStatement<'_>| statement.execute(&params[..]);
        if chunk.len() == ROWS {
            run(conn.prepare_cached(&sql).map_err(backend)?)
        } else {
            conn.prepare(&sql).map_err(backend)?.execute(&params[..])
        }
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
    // EventId is the record's own column (indexed in `audit_event_ids` with the batch).
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

/// Every record of an account is indexed under this (attribute name, value) in `audit_values`
/// (no attribute has an empty name): the index by time.
const ALL: (&str, &str) = ("", "");

/// The bounds every walk shares, as the statement parameters ?1 to ?8: the account, the
/// time range, the position to continue after, the limit, and the oldest position to examine.
fn bounds<'a>(w: &'a SqlWindow<'a>) -> Vec<&'a dyn rusqlite::ToSql> {
    let mut params: Vec<&dyn rusqlite::ToSql> = vec![&w.account];
    params.extend(w.values().map(|v| v as &dyn rusqlite::ToSql));
    params
}

/// The condition on `t`'s time and seq.
fn window(t: &str) -> String {
    format!(
        "{t}.time >= ?2 AND {t}.time <= ?3 \
         AND ({t}.time < ?4 OR ({t}.time = ?4 AND {t}.seq < ?5)) \
         AND ({t}.time > ?7 OR ({t}.time = ?7 AND {t}.seq >= ?8))"
    )
}

/// The records after an account's index (a few hundred at most, by the primary key).
const TAIL: &str = "audit_events e WHERE e.account = ?1 AND e.seq > coalesce(
     (SELECT indexed_through FROM audit_heads WHERE account = ?1), 0)";

/// A lookup walks an index, which covers each account's records up to its `indexed_through`,
/// and the records after it, in one statement: one snapshot, so a batch indexed meanwhile is
/// seen exactly once.
pub(super) fn lookup(
    conn: &Connection,
    q: &AuditQuery,
) -> Result<Vec<StoredAuditEvent>, StoreError> {
    const BY_VALUE: &str = "audit_values v JOIN audit_index a ON a.value_id = v.id
         JOIN audit_events e ON e.account = v.account AND e.seq = a.seq
         WHERE v.account = ?1 AND v.name = ?10 AND v.value = ?9";
    const BY_EVENT_ID: &str = "audit_event_ids a
         JOIN audit_events e ON e.account = a.account AND e.seq = a.seq
         WHERE a.account = ?1 AND a.event_id = ?9";
    // What each part walks, what its records must also satisfy, and ?9 to ?11: (value,
    // attribute name, tag). `index` orders by its `a` (the index's own time and seq).
    let (index, index_filter, tail_filter, params): (&str, &str, &str, Vec<String>) =
        match &q.attribute {
            None => (BY_VALUE, "", "", vec![ALL.1.into(), ALL.0.into()]),
            Some((AuditAttribute::EventId, id)) => {
                (BY_EVENT_ID, "", "AND e.event_id = ?9", vec![id.clone()])
            }
            // Kept in the records' tags only: the time index, filtered by the tag.
            Some((attribute, value)) if !attribute.is_indexed() => {
                let Some(tag) = attribute.tag(value) else {
                    return Ok(vec![]);
                };
                let filter = "AND instr(e.tags, ?11) > 0";
                let params = vec![ALL.1.into(), ALL.0.into(), tag];
                (BY_VALUE, filter, filter, params)
            }
            Some((attribute, value)) => {
                // A value with a line break has no tag (it was indexed at once): the index alone.
                let tag = attribute.tag(value).unwrap_or_default();
                let params = vec![value.clone(), attribute.as_str().into(), tag];
                (
                    BY_VALUE,
                    "",
                    "AND ?11 <> '' AND instr(e.tags, ?11) > 0",
                    params,
                )
            }
        };
    // The event-id table has no time: its few rows are ordered by their records'.
    let t = if index == BY_EVENT_ID { "e" } else { "a" };
    let walk = q.sql_window()?;
    let mut args = bounds(&walk);
    args.extend(params.iter().map(|p| p as &dyn rusqlite::ToSql));
    let rows = conn
        .prepare_cached(&format!(
            "SELECT * FROM (
                 SELECT {COLUMNS} FROM {index} AND {} {index_filter}
                 ORDER BY {t}.time DESC, {t}.seq DESC LIMIT ?6)
             UNION ALL
             SELECT * FROM (SELECT {COLUMNS} FROM {TAIL} AND {} {tail_filter})
             ORDER BY 3 DESC, 2 DESC LIMIT ?6",
            window(t),
            window("e"),
        ))
        .map_err(backend)?
        .query_map(&args[..], stored)
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    finish(rows)
}

/// The position of the query's `limit`-th record by time (see `Store::audit_nth`): the time
/// index and the records after it, positions only.
pub(super) fn nth(
    conn: &Connection,
    q: &AuditQuery,
) -> Result<Option<(Timestamp, u64)>, StoreError> {
    let Some(walk) = q.nth_window()? else {
        return Ok(None);
    };
    conn.prepare_cached(&format!(
        "SELECT * FROM (
             SELECT a.time, a.seq FROM audit_values v JOIN audit_index a ON a.value_id = v.id
             WHERE v.account = ?1 AND v.name = '' AND v.value = '' AND {}
             ORDER BY a.time DESC, a.seq DESC LIMIT ?6)
         UNION ALL
         SELECT * FROM (SELECT e.time, e.seq FROM {TAIL} AND {})
         ORDER BY 1 DESC, 2 DESC LIMIT 1 OFFSET ?6 - 1",
        window("a"),
        window("e"),
    ))
    .map_err(backend)?
    .query_row(&bounds(&walk)[..], |r| {
        Ok((Timestamp(r.get(0)?), r.get::<_, i64>(1)? as u64))
    })
    .optional()
    .map_err(backend)
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
            // The index by time, and each account's records after its index.
            "SELECT account, MAX(seq) FROM (
                 SELECT h.account AS account, a.seq AS seq FROM audit_heads h
                 JOIN audit_values v ON v.account = h.account AND v.name = '' AND v.value = ''
                 JOIN audit_index a ON a.value_id = v.id AND a.time < ?1
                 UNION ALL
                 SELECT e.account, e.seq FROM audit_heads h
                 JOIN audit_events e ON e.account = h.account AND e.seq > h.indexed_through
                 WHERE e.time < ?1)
             GROUP BY account",
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
        conn.prepare_cached(
            "DELETE FROM audit_event_ids WHERE event_id IN
                 (SELECT event_id FROM audit_events WHERE account = ?1 AND seq <= ?2)
               AND account = ?1 AND seq <= ?2",
        )
        .map_err(backend)?
        .execute(params![account, through])
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
