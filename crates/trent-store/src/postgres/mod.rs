//! The shared backend: a PostgreSQL database that several `trent serve` nodes use at once.
//!
//! - Driver: `tokio-postgres` with the `deadpool-postgres` pool, run on a small runtime of its
//!   own ([`bridge`]): the [`Store`] trait is synchronous and is called both from the server's
//!   async workers (cache misses) and from its blocking pool (writes), so every call is a future
//!   handed to the driver's runtime and waited for with `block_in_place` where the caller is an
//!   async worker. No call ever runs a runtime inside another one, and every call is bounded by
//!   [`PgOptions::request_timeout`].
//! - Durability: every connection runs with `synchronous_commit = on`; a commit returns after
//!   PostgreSQL flushed its WAL.
//! - Group commit: as for SQLite, concurrent commits of one node share one transaction and one
//!   WAL flush, their statements pipelined (a SAVEPOINT per batch only when a precondition
//!   failed and the group runs again, see `writes`); nodes' transactions meet only in row
//!   locks.
//! - Preconditions are in the SQL (row version compare-and-set, alias names as a primary key,
//!   foreign keys that cascade), so correctness across nodes is the database's.
//! - Change feed: triggers `NOTIFY` every committed update or deletion of a key and every alias
//!   change (a new key is news to no cache); [`PgStore::listen`]
//!   turns them into [`Change`]s for the engine's cache and reports how far the feed is
//!   trustworthy ([`ChangeFeed`]).
//! - Background work runs on one node at a time: [`PgStore::try_lead_background`] takes a
//!   session advisory lock on a connection of its own, released when the work ends or the
//!   node dies.

mod audit;
mod bridge;
mod listen;
mod schema;
pub mod testing;
mod tls;
mod writes;

use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres_rustls::MakeRustlsConnect;
use trent_core::audit::{AuditQuery, ChainHead, StoredAuditEvent};
use trent_core::ids::{AccountId, AliasName, KeyId, Region, Scope};
use trent_core::model::{AliasRecord, KeyMeta, KeyRecord, KeyState, SealedMaterial, Timestamp};
use trent_core::store::{Change, Reply, Store, StoreError, Write};

pub use crate::group::CommitStats;
use crate::group::{GroupCommit, Job};
use bridge::Bridge;
pub use listen::Listener;
pub use schema::SCHEMA_LOCK;

/// How long opening a store may spend creating or upgrading the schema, waiting for another
/// node's upgrade included (the request timeout does not apply).
pub const MIGRATION_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// Connection settings; see the README for the matching flags.
#[derive(Clone, PartialEq, Eq)]
pub struct PgOptions {
    /// A `postgres://` or `postgresql://` URL (libpq's URL form).
    pub url: String,
    /// Connections of this node's pool (reads, and the one group-commit writer at a time).
    pub pool_size: usize,
    /// Opening a connection, waiting for a free one, and each statement are bounded by this.
    pub connect_timeout: Duration,
    /// Every store call answers within this, with an error if the database does not.
    pub request_timeout: Duration,
}

impl std::fmt::Debug for PgOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgOptions")
            .field("url", &redact(&self.url))
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .field("request_timeout", &self.request_timeout)
            .finish()
    }
}

/// A database URL without its password, for messages and logs: the password of the user
/// part, which ends at the first `@` as the driver reads it (`user:password@`), and the value
/// of every query parameter the driver takes for the password (`password`, its name possibly
/// percent-encoded).
pub fn redact(url: &str) -> String {
    let Some(s) = url.find("://") else {
        return url.to_owned();
    };
    let (scheme, mut rest) = url.split_at(s + 3);
    let mut out = scheme.to_owned();
    if let Some(at) = rest.find('@') {
        let user = &rest[..at];
        match user.find(':') {
            Some(c) => out.push_str(&format!("{}:***@", &user[..c])),
            None => out.push_str(&rest[..=at]),
        }
        rest = &rest[at + 1..];
    }
    let (address, query) = match rest.find('?') {
        Some(q) => rest.split_at(q),
        None => (rest, ""),
    };
    out.push_str(address);
    for (i, pair) in query.trim_start_matches('?').split('&').enumerate() {
        if query.is_empty() {
            break;
        }
        out.push(if i == 0 { '?' } else { '&' });
        match pair.split_once('=') {
            Some((k, _)) if tls::percent_decode(k).eq_ignore_ascii_case("password") => {
                out.push_str(&format!("{k}=***"));
            }
            _ => out.push_str(pair),
        }
    }
    out
}

impl PgOptions {
    pub const DEFAULT_POOL_SIZE: usize = 16;
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

    pub fn new(url: impl Into<String>) -> Self {
        PgOptions {
            url: url.into(),
            pool_size: Self::DEFAULT_POOL_SIZE,
            connect_timeout: Self::DEFAULT_CONNECT_TIMEOUT,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
        }
    }
}

/// How often (in claims of one node) expired signature nonces are deleted.
const NONCE_PRUNE_EVERY: u64 = 1024;
/// How long (seconds) an expired signature nonce is kept: more than any clock difference
/// between nodes is expected to be.
const NONCE_PRUNE_MARGIN: i64 = 15 * 60;

/// Whether `url` names a PostgreSQL database.
pub fn is_postgres_url(url: &str) -> bool {
    url.starts_with("postgres://") || url.starts_with("postgresql://")
}

/// A [`Store`] on a PostgreSQL database. See the module documentation.
pub struct PgStore {
    pool: Pool,
    config: tokio_postgres::Config,
    tls: MakeRustlsConnect,
    group: GroupCommit,
    /// The chain heads the writer expects, shared with it (and the count of its bursts).
    speculation: Arc<audit::Speculation>,
    options: PgOptions,
    /// Nonces claimed by this node, to prune expired ones now and then.
    nonce_claims: std::sync::atomic::AtomicU64,
    // Last: its runtime (and every connection task on it) stops when the store is dropped.
    bridge: Bridge,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may carry a password: show only where it points.
        f.debug_struct("PgStore")
            .field("hosts", &self.config.get_hosts())
            .field("dbname", &self.config.get_dbname())
            .field("pool_size", &self.options.pool_size)
            .finish_non_exhaustive()
    }
}

pub(crate) fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("postgres: {e}"))
}

/// A driver error with PostgreSQL's own message and SQLSTATE, where it has them.
pub(crate) fn db_error(e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => {
            StoreError::Backend(format!("postgres: {} ({})", db.message(), db.code().code()))
        }
        None => backend(with_causes(&e)),
    }
}

/// An error with the errors under it (a TLS handshake's reason, say), as one line.
pub(crate) fn with_causes(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let more = c.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cause = c.source();
    }
    text
}

fn pool_error(e: deadpool_postgres::PoolError) -> StoreError {
    StoreError::Backend(format!("postgres: no connection: {}", with_causes(&e)))
}

pub(crate) fn to_sql_version(v: u64) -> Result<i64, StoreError> {
    i64::try_from(v).map_err(|_| StoreError::Backend(format!("invalid write: version {v}")))
}

fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

fn corrupt(what: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("postgres: corrupt row: {what}"))
}

fn decode_key_id(bytes: &[u8]) -> Result<KeyId, StoreError> {
    KeyId::from_storage(bytes).ok_or_else(|| corrupt(format!("key id of {} bytes", bytes.len())))
}

fn decode_key(
    id: KeyId,
    scope: Scope,
    version: i64,
    meta: &str,
    materials: Vec<(i32, Vec<u8>)>,
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
        scope,
        version,
        meta,
        materials,
    })
}

/// The session every connection gets, on top of what the URL says: Trent's settings follow the
/// URL's own `options` (which are kept, e.g. a `search_path`), so that where both set one, Trent's
/// holds.
/// - Durable commits whatever the server's default.
/// - A statement never outlives the call that waits for it.
/// - READ COMMITTED whatever the server's default: a group that waits for another node's lock on
///   a chain head reads the head that node committed, where REPEATABLE READ or SERIALIZABLE
///   would fail it with a serialization error.
/// - A connection whose data the server does not acknowledge within 30 s (or the request
///   timeout, if longer: a host gone without a reset) is closed by the kernel, so that the pool
///   replaces it instead of handing it out again for the kernel's ~15 minutes; idle connections
///   are probed after 15 s and closed after three unanswered probes 5 s apart.
fn configure(config: &mut tokio_postgres::Config, options: &PgOptions) {
    let timeout = options.request_timeout.as_millis();
    let ours = format!(
        "-c synchronous_commit=on -c statement_timeout={timeout} -c lock_timeout={timeout} \
         -c default_transaction_isolation=read\\ committed"
    );
    let session = match config.get_options() {
        Some(theirs) if !theirs.trim().is_empty() => format!("{theirs} {ours}"),
        _ => ours,
    };
    config.options(session);
    config.connect_timeout(options.connect_timeout);
    config.application_name("trent");
    // Linux applies the user timeout to keepalive probes too: below idle + interval × retries
    // it would reset an idle connection at its first unanswered probe.
    let (idle, interval, retries) = (Duration::from_secs(15), Duration::from_secs(5), 3);
    config.tcp_user_timeout(options.request_timeout.max(idle + interval * retries));
    config.keepalives(true);
    config.keepalives_idle(idle);
    config.keepalives_interval(interval);
    config.keepalives_retries(retries);
}

impl PgStore {
    /// Connects, then creates or upgrades the schema (one node at a time; see [`schema`]).
    pub fn open(options: PgOptions) -> Result<PgStore, StoreError> {
        let tls = tls::configure(&options.url)?;
        let mut config: tokio_postgres::Config = tls
            .url
            .parse()
            .map_err(|e| StoreError::Backend(format!("postgres: invalid database URL: {e}")))?;
        configure(&mut config, &options);
        let bridge = Bridge::new(options.request_timeout)?;
        let manager = Manager::from_config(
            config.clone(),
            tls.connector.clone(),
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = bridge.enter(|| {
            Pool::builder(manager)
                .max_size(options.pool_size.max(2))
                .runtime(deadpool_postgres::Runtime::Tokio1)
                .wait_timeout(Some(options.request_timeout))
                .create_timeout(Some(options.connect_timeout))
                .recycle_timeout(Some(options.connect_timeout))
                .build()
                .map_err(backend)
        })?;
        let speculation = Arc::new(audit::Speculation::default());
        let group = {
            let pool = pool.clone();
            let handle = bridge.handle();
            let limit = options.request_timeout;
            let speculation = speculation.clone();
            GroupCommit::start("trent-postgres-writer", move |jobs, tally| {
                // A batch that waited longer than the request timeout (behind groups the
                // database did not answer) is answered now, not attempted, so that a write
                // fails within about twice the timeout however long the queue: safe to retry,
                // nothing of it reached the database.
                let (jobs, late): (Vec<Job>, Vec<Job>) =
                    jobs.into_iter().partition(|j| !j.waited_longer_than(limit));
                for job in late {
                    job.finish(Err(StoreError::Backend(format!(
                        "postgres: not attempted: waited more than {} ms for the database",
                        limit.as_millis()
                    ))));
                }
                if jobs.is_empty() {
                    return;
                }
                tally.trying(jobs.len());
                let (batches, replies) = Job::split(jobs);
                // One group at a time: a second group of records would wait for the first's
                // lock on the chain heads until its COMMIT is flushed, and splitting the queue
                // in two smaller groups measured slower (docs/BENCHMARK-ANALYSIS.md).
                let plan = writes::plan(&speculation, &batches);
                let pool = pool.clone();
                let speculation = speculation.clone();
                let (done, finished) = std::sync::mpsc::sync_channel::<()>(1);
                // The driver's task answers the callers itself: handing the results back to
                // this thread first cost a wake-up of it per group (Encrypt, trail on, -10 %).
                handle.spawn(async move {
                    // A timeout fails the group: its outcome is unknown to the callers (the
                    // transaction may still commit), which is what they are told.
                    let result = bridge::within(
                        limit,
                        writes::run_group(&pool, &batches, plan, &speculation),
                    )
                    .await;
                    if result.is_err() {
                        // Whether the group committed is unknown: expect nothing of its heads.
                        speculation.missed();
                    }
                    match result {
                        Ok(results) => {
                            for (reply, result) in replies.into_iter().zip(results) {
                                reply(result);
                            }
                        }
                        Err(e) => {
                            for reply in replies {
                                reply(Err(e.clone()));
                            }
                        }
                    }
                    let _ = done.send(());
                });
                // The next group is formed once this one is done, of everything queued
                // meanwhile. A task that ended without saying so panicked (or the store is
                // shutting down); its callers' replies were dropped, which tells them the
                // outcome is unknown.
                if finished.recv().is_err() {
                    tracing::error!("store writer: a group commit ended without an answer; its callers are told the outcome is unknown");
                }
            })?
        };
        let store = PgStore {
            pool,
            config,
            tls: tls.connector,
            group,
            speculation,
            options,
            nonce_claims: Default::default(),
            bridge,
        };
        let pool = store.pool.clone();
        store
            .bridge
            .runner()
            .with_timeout(MIGRATION_TIMEOUT)
            .run(async move {
                let mut conn = pool.get().await.map_err(pool_error)?;
                schema::migrate(&mut conn).await
            })?;
        tracing::debug!(store = ?store, "postgres store open");
        Ok(store)
    }

    pub fn options(&self) -> &PgOptions {
        &self.options
    }

    /// How many transactions carried how many batches so far, and how many were bursts.
    pub fn commit_stats(&self) -> CommitStats {
        CommitStats {
            bursts: self.speculation.bursts(),
            ..self.group.stats()
        }
    }

    /// How many keys are in each state, across all accounts and regions (for the `trent_keys`
    /// gauge).
    pub fn key_counts(&self) -> Result<Vec<(KeyState, u64)>, StoreError> {
        let pool = self.pool.clone();
        self.bridge.run(async move {
            let conn = pool.get().await.map_err(pool_error)?;
            let rows = conn
                .query("SELECT state, count(*) FROM keys GROUP BY state", &[])
                .await
                .map_err(db_error)?;
            rows.iter()
                .map(|r| {
                    let state: &str = r.get(0);
                    let n: i64 = r.get(1);
                    let state = KeyState::parse(state).ok_or_else(|| {
                        StoreError::Backend(format!("postgres: key state {state:?}"))
                    })?;
                    Ok((state, u64::try_from(n).unwrap_or(0)))
                })
                .collect()
        })
    }

    /// Starts the change feed: every key or alias change committed by any node is passed to
    /// `on_change` (after a reconnection, [`Change::Everything`], since changes may have been
    /// missed). The returned listener tells how far the feed can be trusted.
    pub fn listen(&self, on_change: Arc<dyn Fn(Change) + Send + Sync>) -> Arc<Listener> {
        let listener = Arc::new(Listener::default());
        let mut config = self.config.clone();
        // Named, so operators (and tests) can tell the feed's session from the pool's.
        config.application_name(listen::APPLICATION_NAME);
        self.bridge.spawn(listen::run(
            config,
            self.tls.clone(),
            listener.clone(),
            on_change,
            self.options.connect_timeout,
        ));
        listener
    }

    /// Runs `work` if no other node is running background work now, holding a session
    /// advisory lock on a connection of its own until `work` returns. Returns `None` without
    /// running it when another node holds the lock. If this node dies, its connection closes
    /// and PostgreSQL releases the lock.
    pub fn try_lead_background<T>(
        &self,
        work: impl FnOnce() -> T,
    ) -> Result<Option<T>, StoreError> {
        let config = self.config.clone();
        let tls = self.tls.clone();
        let lease = self.bridge.run(async move {
            let (client, connection) = config.connect(tls).await.map_err(db_error)?;
            let task = tokio::spawn(connection);
            let row = client
                .query_one(
                    "SELECT pg_try_advisory_lock($1)",
                    &[&schema::BACKGROUND_LOCK],
                )
                .await
                .map_err(db_error)?;
            let held: bool = row.get(0);
            Ok((client, task, held))
        })?;
        let (client, task, held) = lease;
        let out = held.then(work);
        if held {
            // Released at once, so another node (or this one) may take it as soon as this
            // returns; if the unlock fails, closing the session releases the lock anyway.
            let _ = self.bridge.run(async move {
                client
                    .execute("SELECT pg_advisory_unlock($1)", &[&schema::BACKGROUND_LOCK])
                    .await
                    .map_err(db_error)?;
                drop(client);
                Ok(())
            });
        } else {
            drop(client);
        }
        task.abort();
        Ok(out)
    }

    /// Every key of every scope, in (account, region, id) order (the primary key's), strictly
    /// after `after` (for `trent migrate`).
    pub fn all_key_ids(
        &self,
        after: Option<&(Scope, KeyId)>,
        limit: usize,
    ) -> Result<Vec<(Scope, KeyId)>, StoreError> {
        let pool = self.pool.clone();
        let (after_account, after_region, after) = crate::key_cursor(after);
        let limit = sql_limit(limit);
        self.bridge.run(async move {
            let conn = pool.get().await.map_err(pool_error)?;
            let st = conn
                .prepare_cached(
                    "SELECT account, region, id FROM keys
                     WHERE (account, region, id) > ($2, $3, $1)
                     ORDER BY account, region, id LIMIT $4",
                )
                .await
                .map_err(db_error)?;
            let rows = conn
                .query(&st, &[&after, &after_account, &after_region, &limit])
                .await
                .map_err(db_error)?;
            rows.iter()
                .map(|r| {
                    Ok((
                        Scope {
                            account: AccountId(r.get(0)),
                            region: Region(r.get(1)),
                        },
                        decode_key_id(r.get(2))?,
                    ))
                })
                .collect()
        })
    }

    /// Copies records of one account's chain verbatim (sequence numbers, hashes, lookup
    /// attributes as (seq, name, value)) and sets the chain's head to `head`, in one
    /// transaction, for `trent migrate`. The records must continue the chain already here.
    pub fn import_audit(
        &self,
        account: &str,
        records: Vec<StoredAuditEvent>,
        attributes: Vec<(u64, String, String)>,
        head: ChainHead,
    ) -> Result<(), StoreError> {
        let pool = self.pool.clone();
        let account = account.to_owned();
        self.bridge.run(async move {
            let mut conn = pool.get().await.map_err(pool_error)?;
            let tx = conn.transaction().await.map_err(db_error)?;
            audit::import(&tx, &account, &records, &attributes, &head)
                .await
                .map_err(db_error)?;
            tx.commit().await.map_err(db_error)
        })
    }

    /// How many keys, material versions and aliases the database holds (for `trent migrate`).
    pub fn counts(&self) -> Result<(u64, u64, u64), StoreError> {
        let pool = self.pool.clone();
        self.bridge.run(async move {
            let conn = pool.get().await.map_err(pool_error)?;
            let row = conn
                .query_one(
                    "SELECT (SELECT count(*) FROM keys), (SELECT count(*) FROM key_material),
                            (SELECT count(*) FROM aliases)",
                    &[],
                )
                .await
                .map_err(db_error)?;
            let n = |i: usize| u64::try_from(row.get::<_, i64>(i)).unwrap_or(0);
            Ok((n(0), n(1), n(2)))
        })
    }

    fn aliases_where(
        &self,
        scope: &Scope,
        target: Option<&KeyId>,
        after: Option<&AliasName>,
        limit: usize,
    ) -> Result<Vec<AliasRecord>, StoreError> {
        let pool = self.pool.clone();
        let scope = scope.clone();
        let target = target.map(|t| t.storage_bytes());
        let after = after.map(|a| a.0.clone());
        let limit = sql_limit(limit);
        self.bridge.run(async move {
            let conn = pool.get().await.map_err(pool_error)?;
            // NULL parameters switch a condition off; one statement serves every form.
            let st = conn
                .prepare_cached(
                    "SELECT name, target_key_id, created_at, updated_at FROM aliases
                     WHERE account = $1 AND region = $2
                       AND ($3::bytea IS NULL OR target_key_id = $3)
                       AND ($4::text IS NULL OR name > $4)
                     ORDER BY name LIMIT $5",
                )
                .await
                .map_err(db_error)?;
            let rows = conn
                .query(
                    &st,
                    &[&scope.account.0, &scope.region.0, &target, &after, &limit],
                )
                .await
                .map_err(db_error)?;
            rows.iter()
                .map(|r| {
                    Ok(AliasRecord {
                        scope: scope.clone(),
                        name: AliasName(r.get(0)),
                        target: decode_key_id(r.get(1))?,
                        created_at: Timestamp(r.get(2)),
                        updated_at: Timestamp(r.get(3)),
                    })
                })
                .collect()
        })
    }
}

/// Whether a scope can hold anything: PostgreSQL's `text` cannot hold a NUL character, so a
/// scope with one (only ever named by a caller's ARN, never a key's) holds no key or alias, and
/// the database is not asked (it would refuse the statement, an error where SQLite finds nothing).
fn holds_anything(scope: &Scope) -> bool {
    !scope.account.0.contains('\0') && !scope.region.0.contains('\0')
}

impl Store for PgStore {
    fn get_key(&self, scope: &Scope, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        if !holds_anything(scope) {
            return Ok(None);
        }
        let pool = self.pool.clone();
        let scope = scope.clone();
        let id = *id;
        self.bridge.run(async move {
            let conn = pool.get().await.map_err(pool_error)?;
            // One statement, one snapshot of the row and its material.
            let st = conn
                .prepare_cached(
                    "SELECT k.version, k.meta, m.version, m.sealed
                     FROM keys k LEFT JOIN key_material m
                         ON m.key_id = k.id AND m.account = k.account AND m.region = k.region
                     WHERE k.id = $1 AND k.account = $2 AND k.region = $3
                     ORDER BY m.version",
                )
                .await
                .map_err(db_error)?;
            let rows = conn
                .query(
                    &st,
                    &[&&id.storage_bytes()[..], &scope.account.0, &scope.region.0],
                )
                .await
                .map_err(db_error)?;
            let Some(first) = rows.first() else {
                return Ok(None);
            };
            let version: i64 = first.get(0);
            let meta: &str = first.get(1);
            let materials = rows
                .iter()
                .filter_map(|r| {
                    let v: Option<i32> = r.get(2);
                    v.map(|v| (v, r.get::<_, Vec<u8>>(3)))
                })
                .collect();
            decode_key(id, scope, version, meta, materials).map(Some)
        })
    }

    fn list_keys(
        &self,
        scope: &Scope,
        after: Option<&KeyId>,
        limit: usize,
    ) -> Result<Vec<KeyId>, StoreError> {
        let pool = self.pool.clone();
        let scope = scope.clone();
        let after = after.map(|a| a.storage_bytes()).unwrap_or_default();
        let limit = sql_limit(limit);
        self.bridge.run(async move {
            let conn = pool.get().await.map_err(pool_error)?;
            // The empty bytea sorts before every id.
            let st = conn
                .prepare_cached(
                    "SELECT id FROM keys WHERE account = $1 AND region = $2 AND id > $3
                     ORDER BY id LIMIT $4",
                )
                .await
                .map_err(db_error)?;
            let rows = conn
                .query(&st, &[&scope.account.0, &scope.region.0, &after, &limit])
                .await
                .map_err(db_error)?;
            rows.iter().map(|r| decode_key_id(r.get(0))).collect()
        })
    }

    fn get_alias(
        &self,
        scope: &Scope,
        name: &AliasName,
    ) -> Result<Option<AliasRecord>, StoreError> {
        if !holds_anything(scope) {
            return Ok(None);
        }
        let pool = self.pool.clone();
        let scope = scope.clone();
        let name = name.clone();
        self.bridge.run(async move {
            let conn = pool.get().await.map_err(pool_error)?;
            let st = conn
                .prepare_cached(
                    "SELECT target_key_id, created_at, updated_at FROM aliases
                     WHERE account = $1 AND region = $2 AND name = $3",
                )
                .await
                .map_err(db_error)?;
            let row = conn
                .query_opt(&st, &[&scope.account.0, &scope.region.0, &name.0])
                .await
                .map_err(db_error)?;
            row.map(|r| {
                Ok(AliasRecord {
                    target: decode_key_id(r.get(0))?,
                    created_at: Timestamp(r.get(1)),
                    updated_at: Timestamp(r.get(2)),
                    scope,
                    name,
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
        self.aliases_where(scope, target, after, limit)
    }

    fn keys_due(&self, now: Timestamp, limit: usize) -> Result<Vec<(Scope, KeyId)>, StoreError> {
        let pool = self.pool.clone();
        let limit = sql_limit(limit);
        self.bridge.run(async move {
            let conn = pool.get().await.map_err(pool_error)?;
            let st = conn
                .prepare_cached(
                    "SELECT account, region, id FROM keys WHERE due_at <= $1
                     ORDER BY due_at, id LIMIT $2",
                )
                .await
                .map_err(db_error)?;
            let rows = conn.query(&st, &[&now.0, &limit]).await.map_err(db_error)?;
            rows.iter()
                .map(|r| {
                    Ok((
                        Scope {
                            account: AccountId(r.get(0)),
                            region: Region(r.get(1)),
                        },
                        decode_key_id(r.get(2))?,
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
        let pool = self.pool.clone();
        self.bridge.run(async move {
            let conn = pool.get().await.map_err(pool_error)?;
            let row = conn
                .query_opt("SELECT value FROM settings WHERE name = 'root_check'", &[])
                .await
                .map_err(db_error)?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    fn init_root_check(&self, sealed: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        let pool = self.pool.clone();
        self.bridge.run(async move {
            let conn = pool.get().await.map_err(pool_error)?;
            // The first writer wins; everyone reads the winner's value.
            conn.execute(
                "INSERT INTO settings (name, value) VALUES ('root_check', $1)
                 ON CONFLICT (name) DO NOTHING",
                &[&sealed],
            )
            .await
            .map_err(db_error)?;
            let row = conn
                .query_one("SELECT value FROM settings WHERE name = 'root_check'", &[])
                .await
                .map_err(db_error)?;
            Ok(row.get(0))
        })
    }

    fn sample_key(&self) -> Result<Option<KeyRecord>, StoreError> {
        let pool = self.pool.clone();
        let found = self.bridge.run(async move {
            let conn = pool.get().await.map_err(pool_error)?;
            let row = conn
                .query_opt(
                    "SELECT k.account, k.region, k.id FROM keys k
                     ORDER BY NOT EXISTS (SELECT 1 FROM key_material m
                         WHERE m.key_id = k.id AND m.account = k.account AND m.region = k.region)
                     LIMIT 1",
                    &[],
                )
                .await
                .map_err(db_error)?;
            Ok(row.map(|r| {
                (
                    r.get::<_, String>(0),
                    r.get::<_, String>(1),
                    r.get::<_, Vec<u8>>(2),
                )
            }))
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
        let pool = self.pool.clone();
        self.bridge.run(async move {
            let conn = pool.get().await.map_err(pool_error)?;
            conn.simple_query("SELECT 1").await.map_err(db_error)?;
            Ok(())
        })
    }

    /// One row per nonce, committed (durably) before the request runs; a row whose request
    /// has expired is taken over. Every [`NONCE_PRUNE_EVERY`]th claim of a node also deletes,
    /// in the background, the rows expired for [`NONCE_PRUNE_MARGIN`] seconds, so that a node
    /// whose clock runs behind this one's still finds the nonces its time check accepts.
    fn claim_nonce(&self, digest: &[u8; 16], until: i64, now: i64) -> Result<bool, StoreError> {
        let pool = self.pool.clone();
        let digest = digest.to_vec();
        if self
            .nonce_claims
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .is_multiple_of(NONCE_PRUNE_EVERY)
        {
            let pool = pool.clone();
            let timeout = self.options.request_timeout;
            self.bridge.spawn(async move {
                let pruned = bridge::within(timeout, async move {
                    let conn = pool.get().await.map_err(pool_error)?;
                    conn.execute(
                        "DELETE FROM signature_nonces WHERE until <= $1",
                        &[&now.saturating_sub(NONCE_PRUNE_MARGIN)],
                    )
                    .await
                    .map_err(db_error)
                })
                .await;
                if let Err(e) = pruned {
                    tracing::warn!(error = %e, "postgres: deleting expired signature nonces failed");
                }
            });
        }
        self.bridge.run(async move {
            let conn = pool.get().await.map_err(pool_error)?;
            let st = conn
                .prepare_cached(
                    "INSERT INTO signature_nonces (digest, until) VALUES ($1, $2)
                     ON CONFLICT (digest) DO UPDATE SET until = excluded.until
                     WHERE signature_nonces.until <= $3",
                )
                .await
                .map_err(db_error)?;
            let claimed = conn
                .execute(&st, &[&digest, &until, &now])
                .await
                .map_err(db_error)?;
            Ok(claimed == 1)
        })
    }

    fn audit_lookup(&self, query: &AuditQuery) -> Result<Vec<StoredAuditEvent>, StoreError> {
        let pool = self.pool.clone();
        let query = query.clone();
        self.bridge.run(async move {
            let conn = pool.get().await.map_err(pool_error)?;
            audit::lookup(&conn, &query).await
        })
    }

    fn audit_nth(&self, query: &AuditQuery) -> Result<Option<(Timestamp, u64)>, StoreError> {
        let pool = self.pool.clone();
        let query = query.clone();
        self.bridge.run(async move {
            let conn = pool.get().await.map_err(pool_error)?;
            audit::nth(&conn, &query).await
        })
    }

    fn audit_heads(&self) -> Result<Vec<(String, ChainHead)>, StoreError> {
        let pool = self.pool.clone();
        self.bridge.run(async move {
            let conn = pool.get().await.map_err(pool_error)?;
            audit::heads(&conn).await
        })
    }

    fn audit_chain(
        &self,
        account: &str,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<StoredAuditEvent>, StoreError> {
        let pool = self.pool.clone();
        let account = account.to_owned();
        self.bridge.run(async move {
            let conn = pool.get().await.map_err(pool_error)?;
            audit::chain(&conn, &account, after_seq, limit).await
        })
    }

    fn audit_prune(&self, before: Timestamp) -> Result<u64, StoreError> {
        let pool = self.pool.clone();
        self.bridge.run(async move {
            let mut conn = pool.get().await.map_err(pool_error)?;
            audit::prune(&mut conn, before).await
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_keep_the_urls_options_and_give_up_on_a_silent_server() {
        let options = PgOptions {
            request_timeout: Duration::from_millis(2_500),
            ..PgOptions::new("")
        };
        let session = |url: &str| {
            let mut config: tokio_postgres::Config = url.parse().unwrap();
            configure(&mut config, &options);
            config
        };
        let ours = "-c synchronous_commit=on -c statement_timeout=2500 -c lock_timeout=2500 \
                    -c default_transaction_isolation=read\\ committed";
        let plain = session("postgres://h/db");
        assert_eq!(plain.get_options(), Some(ours));
        let theirs = session("postgres://h/db?options=-c%20search_path%3Dkms");
        assert_eq!(
            theirs.get_options(),
            Some(format!("-c search_path=kms {ours}").as_str())
        );
        assert_eq!(plain.get_tcp_user_timeout(), Some(&Duration::from_secs(30)));
        assert!(plain.get_keepalives());
        assert_eq!(plain.get_keepalives_idle(), Duration::from_secs(15));
    }

    #[test]
    fn redact_masks_every_form_of_password_the_driver_accepts() {
        for (url, shown) in [
            (
                "postgres://trent:s3cret@db:5432/kms",
                "postgres://trent:***@db:5432/kms",
            ),
            (
                "postgres://trent@db/kms?password=s3cret",
                "postgres://trent@db/kms?password=***",
            ),
            (
                "postgresql://db/kms?user=trent&password=s3cret&sslmode=require",
                "postgresql://db/kms?user=trent&password=***&sslmode=require",
            ),
            (
                "postgres://trent:s3c?ret@db/kms?sslmode=prefer&password=s3c@ret",
                "postgres://trent:***@db/kms?sslmode=prefer&password=***",
            ),
            (
                "postgres://db/kms?pass%77ord=s3cret&user=trent",
                "postgres://db/kms?pass%77ord=***&user=trent",
            ),
            ("postgres://db/kms", "postgres://db/kms"),
        ] {
            assert_eq!(redact(url), shown);
            assert!(!format!("{:?}", PgOptions::new(url)).contains("s3c"));
        }
    }
}
