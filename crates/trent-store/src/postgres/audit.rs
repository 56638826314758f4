//! The audit trail in PostgreSQL: records, their lookup index and each account's chain head.
//!
//! Several nodes append to one account's chain: an append locks the account's head row
//! (`SELECT ... FOR UPDATE`) for the rest of its transaction, so appends to one chain are
//! serialised in commit order and every record names its true predecessor.

use deadpool_postgres::{GenericClient, Object, Transaction};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Row, Statement};
use trent_core::audit::{
    self, chain_hash, AuditAttribute, AuditEvent, AuditQuery, ChainHead, SqlWindow,
    StoredAuditEvent,
};
use trent_core::model::Timestamp;
use trent_core::store::StoreError;

use super::writes::{KeyRows, KeyStatements, Outcome};
use super::{corrupt, db_error};

fn seq_to_sql(seq: u64) -> Result<i64, StoreError> {
    i64::try_from(seq).map_err(|_| StoreError::Backend(format!("audit sequence {seq} too large")))
}

fn hash_of(bytes: Vec<u8>) -> Result<[u8; 32], StoreError> {
    bytes.try_into().map_err(|_| corrupt("audit hash"))
}

/// Appends `events`, in order, to their accounts' chains, in the caller's transaction, from the
/// heads [`lock_heads`] locked and returned (an account missing from them is locked here).
pub(super) async fn append_all(
    tx: &Transaction<'_>,
    mut heads: Heads,
    events: &[&AuditEvent],
) -> Result<Heads, tokio_postgres::Error> {
    if events.is_empty() {
        return Ok(heads);
    }
    // The group locks every record's account first; an account it missed is locked here
    // rather than appended to unlocked.
    for event in events {
        if heads.find(&event.account).is_none() {
            heads.0.push(lock_head(tx, &event.account).await?);
        }
    }
    let links = heads.chain(events);
    let statements = AppendStatements::prepare(tx).await?;
    insert_rows(tx, &statements, events, &links, &heads).await?;
    Ok(heads)
}

/// A record's place in its chain: its sequence number, its predecessor's hash and its own.
#[derive(Debug, Clone, Copy)]
pub(super) struct Link {
    seq: i64,
    prev: [u8; 32],
    hash: [u8; 32],
}

/// The statements that append records: the records, their lookup attributes, the heads.
struct AppendStatements([Statement; 3]);

impl AppendStatements {
    async fn prepare<C: GenericClient>(client: &C) -> Result<Self, tokio_postgres::Error> {
        let (events, attributes, heads) = tokio::try_join!(
            client.prepare_cached(
                "INSERT INTO audit_events (account, seq, time, event_id, body, prev_hash, hash, tags)
                 SELECT * FROM unnest($1::text[], $2::int8[], $3::int8[], $4::text[], $5::text[],
                                      $6::bytea[], $7::bytea[], $8::text[])",
            ),
            client.prepare_cached(
                "INSERT INTO audit_attributes (account, name, value, time, seq)
                 SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[])",
            ),
            client.prepare_cached(
                "UPDATE audit_heads h SET seq = n.seq, hash = n.hash
                 FROM unnest($1::text[], $2::int8[], $3::bytea[]) AS n(account, seq, hash)
                 WHERE h.account = n.account",
            ),
        )?;
        Ok(AppendStatements([events, attributes, heads]))
    }
}

/// Inserts `events` at their `links` and moves the chains to `heads` (the heads after them):
/// three statements over arrays whatever the number of records, all sent when the future is
/// first polled (tokio-postgres pipelines statements polled at once on one connection).
async fn insert_rows<C: GenericClient>(
    client: &C,
    statements: &AppendStatements,
    events: &[&AuditEvent],
    links: &[Link],
    heads: &Heads,
) -> Result<(), tokio_postgres::Error> {
    let mut rows = EventRows::default();
    for (event, link) in events.iter().zip(links) {
        rows.push(event, link);
    }
    let [insert_events, insert_attributes, move_heads] = &statements.0;
    let prevs: Vec<&[u8]> = rows.prev.iter().map(|h| &h[..]).collect();
    let hashes: Vec<&[u8]> = rows.hash.iter().map(|h| &h[..]).collect();
    let event_params: [&(dyn ToSql + Sync); 8] = [
        &rows.account,
        &rows.seq,
        &rows.time,
        &rows.event_id,
        &rows.body,
        &prevs,
        &hashes,
        &rows.tags,
    ];
    let a = &rows.attributes;
    let attribute_params: [&(dyn ToSql + Sync); 5] = [&a.0, &a.1, &a.2, &a.3, &a.4];
    let (head_accounts, head_seqs, head_hashes) = heads.columns();
    let head_params: [&(dyn ToSql + Sync); 3] = [&head_accounts, &head_seqs, &head_hashes];
    let (events, attributes, heads) = tokio::join!(
        biased;
        client.execute(insert_events, &event_params),
        client.execute(insert_attributes, &attribute_params),
        client.execute(move_heads, &head_params),
    );
    match super::writes::first_cause(
        [events.err(), attributes.err(), heads.err()]
            .into_iter()
            .flatten()
            .collect(),
    ) {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// How a burst ([`append_expecting`]) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Burst {
    Committed,
    /// A chain head was not where this node expected it: nothing was committed.
    HeadMoved,
    /// A new key's place was taken (or its row refused by a key constraint): nothing was
    /// committed, and the guarded attempt tells whose.
    KeyRefused,
}

/// Creates `keys` and appends `events` at `links` to chains that this node expects at `before`
/// and leaves at `after`, in one transaction sent at once: BEGIN, a check that locks the heads
/// and fails the transaction if any moved (another node appended, or a group ahead of this one
/// failed), the keys, the records, and the COMMIT. No round trip happens while the heads are
/// locked, which is what bounds how many groups a second one chain takes.
pub(super) async fn append_expecting(
    client: &deadpool_postgres::Client,
    keys: &KeyRows<'_>,
    events: &[&AuditEvent],
    links: &[Link],
    before: &Heads,
    after: &Heads,
) -> Result<Burst, tokio_postgres::Error> {
    // Every statement prepared first: the transaction's messages must all be sent at once, in
    // order, or the COMMIT could overtake a statement still being prepared.
    let (expect, statements, key_statements) = tokio::try_join!(
        client.prepare_cached(EXPECT_HEADS),
        AppendStatements::prepare(client),
        async {
            if keys.is_empty() {
                return Ok(None);
            }
            KeyStatements::prepare(client).await.map(Some)
        },
    )?;
    let (accounts, seqs, hashes) = before.columns();
    let expect_params: [&(dyn ToSql + Sync); 3] = [&accounts, &seqs, &hashes];
    let (begin, expected, created, appended, commit) = tokio::join!(
        biased;
        client.batch_execute(BEGIN_GENERIC),
        async {
            if before.0.is_empty() {
                return Ok(0);
            }
            client.execute(&expect, &expect_params).await
        },
        async {
            match &key_statements {
                Some(statements) => keys.insert(client, statements).await,
                None => Ok(()),
            }
        },
        async {
            if events.is_empty() {
                return Ok(());
            }
            insert_rows(client, &statements, events, links, after).await
        },
        client.batch_execute("COMMIT"),
    );
    // A failed statement aborts the transaction, and the COMMIT after it rolls back (without
    // an error of its own), so the statements decide; the check's failure is the one cause
    // that a group run again with locked heads cures, a key refused by a constraint the one
    // that the guarded attempt tells apart. (A statement the driver could not encode would not
    // be sent at all, and the COMMIT would keep the rest: these statements' parameters are
    // arrays of fixed types, at most a few thousand elements, which always encode; the keys
    // were checked by `KeyRows::of` before anything was sent.)
    begin?;
    match expected {
        Err(e) if e.code() == Some(&SqlState::T_R_SERIALIZATION_FAILURE) => {
            return Ok(Burst::HeadMoved)
        }
        other => {
            other?;
        }
    }
    match created {
        Err(Outcome::Batch(_)) => return Ok(Burst::KeyRefused),
        Err(Outcome::Fatal(e)) => return Err(e),
        Ok(()) => {}
    }
    appended?;
    commit?;
    Ok(Burst::Committed)
}

/// A burst's first message: its transaction, with generic plans ([`super::writes::GENERIC_PLANS`]).
const BEGIN_GENERIC: &str = concat!("BEGIN; ", super::writes::generic_plans!());

/// Locks the heads given (in account order, as [`lock_heads`] does) and fails with a
/// serialization failure unless every one is still at the given sequence number and hash.
const EXPECT_HEADS: &str = "SELECT trent_expect_audit_heads($1::text[], $2::int8[], $3::bytea[])";

/// What this node expects each account's chain head to be once the groups it has sent
/// commit: the heads its last group left, so that a group of records can be sent in one burst
/// without reading them first (see [`append_expecting`]). Only a hint: the database checks it.
/// After a miss (another node appends to the same chains), groups lock the heads first for a
/// while.
#[derive(Default)]
pub(super) struct Speculation {
    state: std::sync::Mutex<SpeculationState>,
    /// Groups committed in one burst (`CommitStats::bursts`).
    bursts: std::sync::atomic::AtomicU64,
}

#[derive(Default)]
struct SpeculationState {
    heads: std::collections::HashMap<String, (i64, [u8; 32])>,
    paused_until: Option<std::time::Instant>,
}

/// How long groups lock the heads first after a miss.
const PAUSE_AFTER_MISS: std::time::Duration = std::time::Duration::from_secs(1);

impl Speculation {
    fn state(&self) -> std::sync::MutexGuard<'_, SpeculationState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The links of `events` and the heads before and after them, if every account's head is
    /// expected; the heads after them become the expected ones.
    pub(super) fn plan(&self, events: &[&AuditEvent]) -> Option<(Vec<Link>, Heads, Heads)> {
        let mut state = self.state();
        if state
            .paused_until
            .is_some_and(|t| t > std::time::Instant::now())
        {
            return None;
        }
        let mut before = Heads(Vec::new());
        for event in events {
            if before.find(&event.account).is_none() {
                let (seq, hash) = state.heads.get(&event.account)?;
                before.0.push((event.account.clone(), *seq, *hash));
            }
        }
        before.0.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut after = before.clone();
        let links = after.chain(events);
        for (account, seq, hash) in &after.0 {
            state.heads.insert(account.clone(), (*seq, *hash));
        }
        Some((links, before, after))
    }

    /// Heads a group that locked them left (committed): the true heads, expected from now on
    /// (one group at a time, so no later group of this node's has moved them since).
    pub(super) fn committed(&self, heads: &Heads) {
        let mut state = self.state();
        for (account, seq, hash) in &heads.0 {
            state.heads.insert(account.clone(), (*seq, *hash));
        }
    }

    /// A group was committed in one burst.
    pub(super) fn burst_committed(&self) {
        self.bursts
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub(super) fn bursts(&self) -> u64 {
        self.bursts.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A head was not where it was expected: forget every expectation and lock heads first
    /// for a while.
    pub(super) fn missed(&self) {
        let mut state = self.state();
        state.heads.clear();
        state.paused_until = Some(std::time::Instant::now() + PAUSE_AFTER_MISS);
    }
}

/// The columns of the records [`append_all`] inserts, one array per column.
#[derive(Default)]
struct EventRows<'a> {
    account: Vec<&'a str>,
    seq: Vec<i64>,
    time: Vec<i64>,
    event_id: Vec<&'a str>,
    body: Vec<&'a str>,
    prev: Vec<[u8; 32]>,
    hash: Vec<[u8; 32]>,
    tags: Vec<String>,
    /// (account, name, value, time, seq) of every indexed lookup attribute.
    #[allow(clippy::type_complexity)]
    attributes: (Vec<&'a str>, Vec<&'a str>, Vec<&'a str>, Vec<i64>, Vec<i64>),
}

impl<'a> EventRows<'a> {
    fn push(&mut self, event: &'a AuditEvent, link: &Link) {
        let Link { seq, prev, hash } = *link;
        self.account.push(&event.account);
        self.seq.push(seq);
        self.time.push(event.time.0);
        self.event_id.push(&event.event_id);
        self.body.push(&event.body);
        self.prev.push(prev);
        self.hash.push(hash);
        self.tags.push(event.tags());
        // Each (attribute, value) once per record (a record may name one key twice), so the
        // rows are new by construction and need no ON CONFLICT (a speculative insertion per row
        // cost as much as the rest of the append).
        let first = self.attributes.0.len();
        for (attribute, value) in event.indexed() {
            let name = attribute.as_str();
            if (first..self.attributes.0.len())
                .any(|i| self.attributes.1[i] == name && self.attributes.2[i] == value)
            {
                continue;
            }
            self.attributes.0.push(&event.account);
            self.attributes.1.push(name);
            self.attributes.2.push(value);
            self.attributes.3.push(event.time.0);
            self.attributes.4.push(seq);
        }
    }
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
    // Three statements over arrays, whatever the page's size (a statement per row would be
    // thousands of round trips a page, too slow against a database across a network).
    let seqs: Vec<i64> = records.iter().map(|r| sql_seq(r.seq)).collect();
    let times: Vec<i64> = records.iter().map(|r| r.time.0).collect();
    let ids: Vec<&str> = records.iter().map(|r| r.event_id.as_str()).collect();
    let bodies: Vec<&str> = records.iter().map(|r| r.body.as_str()).collect();
    let prevs: Vec<&[u8]> = records.iter().map(|r| &r.prev_hash[..]).collect();
    let hashes: Vec<&[u8]> = records.iter().map(|r| &r.hash[..]).collect();
    // The attributes each record keeps in its tags; the rest go to the index.
    let attribute = |name: &str| AuditAttribute::parse(name);
    let mut by_seq: std::collections::HashMap<u64, Vec<(AuditAttribute, &str)>> =
        std::collections::HashMap::new();
    for (seq, name, value) in attributes {
        if let Some(a) = attribute(name) {
            by_seq.entry(*seq).or_default().push((a, value.as_str()));
        }
    }
    let tags: Vec<String> = records
        .iter()
        .map(|r| audit::tags(by_seq.get(&r.seq).into_iter().flatten().copied()))
        .collect();
    let st = tx
        .prepare_cached(
            "INSERT INTO audit_events (account, seq, time, event_id, body, prev_hash, hash, tags)
             SELECT $1, * FROM unnest($2::int8[], $3::int8[], $4::text[], $5::text[],
                                      $6::bytea[], $7::bytea[], $8::text[])",
        )
        .await?;
    tx.execute(
        &st,
        &[
            &account, &seqs, &times, &ids, &bodies, &prevs, &hashes, &tags,
        ],
    )
    .await?;
    // A name that is no attribute (none is expected) is not copied.
    // Nor is a value PostgreSQL cannot hold (a record another store wrote before such values
    // were left out of the index).
    let indexed: Vec<_> = attributes
        .iter()
        .filter(|(_, n, v)| {
            attribute(n).is_some_and(AuditAttribute::is_indexed) && audit::is_lookup_value(v)
        })
        .collect();
    let attribute_seqs: Vec<i64> = indexed.iter().map(|(s, _, _)| sql_seq(*s)).collect();
    let names: Vec<&str> = indexed.iter().map(|(_, n, _)| n.as_str()).collect();
    let values: Vec<&str> = indexed.iter().map(|(_, _, v)| v.as_str()).collect();
    let st = tx
        .prepare_cached(
            "INSERT INTO audit_attributes (account, name, value, time, seq)
             SELECT $1, a.name, a.value, e.time, a.seq
             FROM unnest($2::int8[], $3::text[], $4::text[]) AS a(seq, name, value)
             JOIN audit_events e ON e.account = $1 AND e.seq = a.seq
             ON CONFLICT DO NOTHING",
        )
        .await?;
    tx.execute(&st, &[&account, &attribute_seqs, &names, &values])
        .await?;
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

/// Locks the heads of `accounts` (creating those missing) in sorted order, so that
/// transactions of several nodes that append to the same accounts take their locks in one
/// order and cannot deadlock on them, and returns them (for [`append_all`]). Called first in a
/// group, before any key row is locked; the upserts are sent together (one round trip).
pub(super) async fn lock_heads(
    tx: &Transaction<'_>,
    accounts: &[&str],
) -> Result<Heads, tokio_postgres::Error> {
    let mut sorted = accounts.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let zero = vec![0u8; 32];
    let st = tx.prepare_cached(LOCK_HEAD).await?;
    let params: Vec<[&(dyn ToSql + Sync); 2]> = sorted
        .iter()
        .map(|account| [account as &(dyn ToSql + Sync), &zero])
        .collect();
    let rows = super::writes::join_in_order(params.iter().map(|p| tx.query_one(&st, &p[..]))).await;
    let heads = sorted
        .into_iter()
        .zip(rows)
        .map(|(account, row)| Ok(head_of(account, row?)))
        .collect::<Result<_, tokio_postgres::Error>>()?;
    Ok(Heads(heads))
}

/// Locks one account's head (see [`lock_heads`]).
async fn lock_head(
    tx: &Transaction<'_>,
    account: &str,
) -> Result<(String, i64, [u8; 32]), tokio_postgres::Error> {
    let st = tx.prepare_cached(LOCK_HEAD).await?;
    let row = tx.query_one(&st, &[&account, &vec![0u8; 32]]).await?;
    Ok(head_of(account, row))
}

fn head_of(account: &str, row: Row) -> (String, i64, [u8; 32]) {
    let hash: Vec<u8> = row.get(1);
    (
        account.to_owned(),
        row.get(0),
        hash.try_into().unwrap_or([0; 32]),
    )
}

/// Chain heads: (account, seq, hash) of each.
#[derive(Clone, Default)]
pub(super) struct Heads(Vec<(String, i64, [u8; 32])>);

impl Heads {
    fn find(&self, account: &str) -> Option<usize> {
        self.0.iter().position(|(a, _, _)| a == account)
    }

    /// Chains `events` in order onto these heads (every account must be among them), which
    /// move to the last of each account's records, and returns each record's link.
    fn chain(&mut self, events: &[&AuditEvent]) -> Vec<Link> {
        let mut links = Vec::with_capacity(events.len());
        for event in events {
            let Some(at) = self.find(&event.account) else {
                unreachable!("every record's account has a head")
            };
            let (_, seq, prev) = &mut self.0[at];
            *seq += 1;
            let hash = chain_hash(prev, &event.account, *seq as u64, &event.body);
            links.push(Link {
                seq: *seq,
                prev: *prev,
                hash,
            });
            *prev = hash;
        }
        links
    }

    /// The heads as statement parameters: accounts, sequence numbers, hashes.
    fn columns(&self) -> (Vec<&str>, Vec<i64>, Vec<&[u8]>) {
        (
            self.0.iter().map(|(a, _, _)| a.as_str()).collect(),
            self.0.iter().map(|(_, s, _)| *s).collect(),
            self.0.iter().map(|(_, _, h)| &h[..]).collect(),
        )
    }
}

/// Creates an account's head if needed, locks it and returns its (seq, hash).
const LOCK_HEAD: &str =
    "INSERT INTO audit_heads (account, seq, hash, pruned_through) VALUES ($1, 0, $2, 0)
     ON CONFLICT (account) DO UPDATE SET account = excluded.account
     RETURNING seq, hash";

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

/// The bounds every walk shares, as the statement parameters $1 to $8: the account, the
/// time range, the position to continue after, the limit, and the oldest position to examine.
fn bounds<'a>(w: &'a SqlWindow<'a>) -> Vec<&'a (dyn ToSql + Sync)> {
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&w.account];
    params.extend(w.values().map(|v| v as &(dyn ToSql + Sync)));
    params
}

/// The condition on `t`'s time and seq.
fn window(t: &str) -> String {
    format!(
        "{t}.time >= $2 AND {t}.time <= $3 AND ({t}.time, {t}.seq) < ($4, $5) \
         AND ({t}.time, {t}.seq) >= ($7, $8)"
    )
}

pub(super) async fn lookup(
    conn: &Object,
    q: &AuditQuery,
) -> Result<Vec<StoredAuditEvent>, StoreError> {
    // One statement per kind of lookup: by time alone, by a tag, or through the index; the
    // first eight parameters are shared, the attribute's follow.
    let tag;
    let name;
    let (sql, extra): (String, Vec<&(dyn ToSql + Sync)>) = match &q.attribute {
        None => (
            format!(
                "SELECT {COLUMNS} FROM audit_events e WHERE e.account = $1 AND {}
                 ORDER BY e.time DESC, e.seq DESC LIMIT $6",
                window("e")
            ),
            vec![],
        ),
        Some((attribute, value)) if !attribute.is_indexed() => {
            let Some(t) = attribute.tag(value) else {
                return Ok(vec![]);
            };
            tag = t;
            (
                format!(
                    "SELECT {COLUMNS} FROM audit_events e
                     WHERE e.account = $1 AND {} AND strpos(e.tags, $9) > 0
                     ORDER BY e.time DESC, e.seq DESC LIMIT $6",
                    window("e")
                ),
                vec![&tag],
            )
        }
        Some((attribute, value)) => {
            name = attribute.as_str();
            (
                format!(
                    "SELECT {COLUMNS} FROM audit_attributes a
                     JOIN audit_events e ON e.account = a.account AND e.seq = a.seq
                     WHERE a.account = $1 AND a.name = $9 AND a.value = $10 AND {}
                     ORDER BY a.time DESC, a.seq DESC LIMIT $6",
                    window("a")
                ),
                vec![&name, value],
            )
        }
    };
    let walk = q.sql_window()?;
    let mut params = bounds(&walk);
    params.extend(extra);
    let st = conn.prepare_cached(&sql).await.map_err(db_error)?;
    let rows = conn.query(&st, &params).await.map_err(db_error)?;
    rows.iter().map(stored).collect()
}

/// The position of the query's `limit`-th record by time (see `Store::audit_nth`).
pub(super) async fn nth(
    conn: &Object,
    q: &AuditQuery,
) -> Result<Option<(Timestamp, u64)>, StoreError> {
    let Some(walk) = q.nth_window()? else {
        return Ok(None);
    };
    let st = conn
        .prepare_cached(&format!(
            "SELECT e.time, e.seq FROM audit_events e WHERE e.account = $1 AND {}
             ORDER BY e.time DESC, e.seq DESC OFFSET $6::bigint - 1 LIMIT 1",
            window("e")
        ))
        .await
        .map_err(db_error)?;
    let row = conn
        .query_opt(&st, &bounds(&walk))
        .await
        .map_err(db_error)?;
    Ok(row.map(|r| (Timestamp(r.get(0)), r.get::<_, i64>(1) as u64)))
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
/// no append interleaves; the heads are locked in byte order, as appends lock them.
pub(super) async fn prune(conn: &mut Object, before: Timestamp) -> Result<u64, StoreError> {
    let tx = conn.transaction().await.map_err(db_error)?;
    let cuts = tx
        .query(
            "SELECT account, MAX(seq) FROM audit_events WHERE time < $1 GROUP BY account
             ORDER BY account COLLATE \"C\"",
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

#[cfg(test)]
mod tests {
    use trent_core::ids::Scope;
    use trent_core::model::{KeyRecord, KeyState, SealedMaterial};
    use trent_core::store::conformance::key;
    use trent_core::store::{Store, Write};

    use super::*;
    use crate::postgres::testing::TestDatabase;
    use crate::{PgOptions, PgStore};

    fn event(account: &str, n: usize) -> AuditEvent {
        AuditEvent {
            account: account.into(),
            time: Timestamp(1_000 + n as i64),
            body: format!("{{\"eventID\":\"e-{n}\"}}"),
            attributes: vec![],
            event_id: format!("e-{n}"),
        }
    }

    /// Sends `n`'s record in one burst, expecting the chain head at `(seq, hash)`.
    fn send_expecting(
        store: &PgStore,
        account: &'static str,
        n: usize,
        seq: i64,
        hash: [u8; 32],
    ) -> bool {
        burst(store, Vec::new(), account, n, seq, hash) == Burst::Committed
    }

    /// Sends `keys` and record `n` of `account` in one burst, expecting the head at `seq`,
    /// `hash`.
    fn burst(
        store: &PgStore,
        keys: Vec<KeyRecord>,
        account: &'static str,
        n: usize,
        seq: i64,
        hash: [u8; 32],
    ) -> Burst {
        let pool = store.pool.clone();
        store
            .bridge
            .run(async move {
                let conn = pool.get().await.map_err(super::super::pool_error)?;
                let e = event(account, n);
                let events = [&e];
                let before = Heads(vec![(account.to_owned(), seq, hash)]);
                let mut after = before.clone();
                let links = after.chain(&events);
                let keys: Vec<&KeyRecord> = keys.iter().collect();
                let keys = KeyRows::of(&keys).expect("valid keys");
                append_expecting(&conn, &keys, &events, &links, &before, &after)
                    .await
                    .map_err(super::super::db_error)
            })
            .expect("the burst runs")
    }

    #[test]
    fn a_burst_creates_its_keys_with_its_records_or_nothing() {
        let db = TestDatabase::create();
        let store = PgStore::open(PgOptions::new(db.url())).expect("open the test database");
        let account = "111122223333";
        let scope = Scope::new(account, "eu-west-1");
        store.commit(vec![Write::Audit(event(account, 0))]).unwrap();
        let head = store.audit_chain(account, 0, 10).unwrap().remove(0);
        let (seq, hash) = (head.seq as i64, head.hash);
        let taken = key(&scope, KeyState::Enabled, None);
        store.commit(vec![Write::InsertKey(taken.clone())]).unwrap();
        let fresh = key(&scope, KeyState::Enabled, None);
        let mut second = key(&scope, KeyState::Enabled, None);
        second.materials.push(SealedMaterial {
            version: 2,
            sealed: vec![9; 48],
        });
        second.meta.last_material_version = 2;
        // A taken id, the head as expected: refused, and nothing of the burst committed.
        let refused = burst(
            &store,
            vec![fresh.clone(), taken.clone()],
            account,
            1,
            seq,
            hash,
        );
        assert_eq!(refused, Burst::KeyRefused);
        assert_eq!(store.audit_chain(account, 0, 10).unwrap().len(), 1);
        assert_eq!(store.get_key(&scope, &fresh.id).unwrap(), None);
        // A taken id and a moved head: the heads' check comes first.
        let moved = burst(
            &store,
            vec![fresh.clone(), taken],
            account,
            1,
            seq + 1,
            hash,
        );
        assert_eq!(moved, Burst::HeadMoved);
        assert_eq!(store.get_key(&scope, &fresh.id).unwrap(), None);
        // New keys (one with two materials) and their record: all of it.
        let committed = burst(
            &store,
            vec![fresh.clone(), second.clone()],
            account,
            1,
            seq,
            hash,
        );
        assert_eq!(committed, Burst::Committed);
        let chain = store.audit_chain(account, 0, 10).unwrap();
        assert_eq!((chain.len(), chain[1].prev_hash), (2, hash));
        assert_eq!(store.get_key(&scope, &fresh.id).unwrap(), Some(fresh));
        assert_eq!(store.get_key(&scope, &second.id).unwrap(), Some(second));
    }

    #[test]
    fn a_burst_expecting_a_moved_head_commits_nothing() {
        let db = TestDatabase::create();
        let store = PgStore::open(PgOptions::new(db.url())).expect("open the test database");
        let account = "expecting";
        store.commit(vec![Write::Audit(event(account, 0))]).unwrap();
        store.commit(vec![Write::Audit(event(account, 1))]).unwrap();
        let chain = store.audit_chain(account, 0, 10).unwrap();
        let (first, last) = (&chain[0], &chain[1]);
        // Behind the head, and ahead of it (as after a group that failed).
        assert!(!send_expecting(
            &store,
            account,
            2,
            first.seq as i64,
            first.hash
        ));
        assert!(!send_expecting(&store, account, 2, 3, [7; 32]));
        assert_eq!(store.audit_chain(account, 0, 10).unwrap().len(), 2);
        assert!(send_expecting(
            &store,
            account,
            2,
            last.seq as i64,
            last.hash
        ));
        let chain = store.audit_chain(account, 0, 10).unwrap();
        assert_eq!(chain.len(), 3);
        assert_eq!(chain[2].prev_hash, last.hash);
        let report = audit::verify_store(&store).unwrap();
        let mine = report.iter().find(|r| r.account == account).unwrap();
        assert_eq!((mine.records, &mine.fault), (3, &None));
    }
}
