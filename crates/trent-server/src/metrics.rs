//! Prometheus metrics (`GET /metrics`) and the health check (`GET /health`).
//!
//! Owns: the metric registry and every series Trent exports, the store decorator that times
//! commits, the health probe, and the two routes. The text is written by `prometheus-client`
//! (OpenMetrics text, which Prometheus scrapes natively).
//!
//! Must not: take a lock on the request path, or put anything unbounded in a label. Labels are
//! closed sets: dialect, operation name, error code (all `&'static str` from the dialects'
//! tables), key state. Key ids, principals and regions never become labels.
//!
//! Hot path: a successful request increments a counter and a histogram bucket that were created
//! at startup for every (dialect, operation), found in a map that is never written after
//! startup — relaxed atomic adds and nothing else. An error outcome goes through the counter
//! family (a shared read lock, an exclusive one only the first time a code appears). Gauges that
//! need the store (keys by state) are computed at scrape time, not kept up to date per request.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{
    DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder, NoLabelSet,
};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;
use trent_core::engine::Kms;
use trent_core::ids::{AliasName, KeyId, Scope};
use trent_core::model::{AliasRecord, KeyRecord, KeyState, Timestamp};
use trent_core::store::{Reply, Store, StoreError, Write};
use trent_core::striped::{self, Striped};
use trent_store::sqlite::{CommitStats, SqliteStore};

/// The OpenMetrics text content type `prometheus-client` writes.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The operation label of a request refused before its operation was known (bad signature,
/// unknown target).
pub const UNKNOWN_OPERATION: &str = "unknown";

/// Upper bounds (seconds) of the latency buckets: 50 µs (a cached Encrypt) to 10 s.
const LATENCY_BUCKETS: [f64; 17] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0,
];

/// A counter striped per thread (see [`trent_core::striped`]): a request adds to its thread's
/// stripe, not to one atomic that every core increments. Clones share the count.
#[derive(Debug, Clone, Default)]
pub struct Counter(Arc<striped::Counter>);

impl Counter {
    pub fn inc(&self) {
        self.0.inc();
    }

    pub fn inc_by(&self, n: u64) {
        self.0.add(n);
    }

    pub fn get(&self) -> u64 {
        self.0.get()
    }
}

impl TypedMetric for Counter {
    const TYPE: MetricType = MetricType::Counter;
}

impl EncodeMetric for Counter {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), fmt::Error> {
        encoder.encode_counter::<NoLabelSet, _, u64>(&self.get(), None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

/// A latency histogram of relaxed atomics, striped per thread like [`Counter`] (the crate's own
/// histogram takes a mutex per observation). Bucket counts are per bucket; the encoder sums the
/// stripes and accumulates the buckets. Clones share the counts.
#[derive(Debug, Clone, Default)]
pub struct LatencyHistogram(Arc<Striped<HistogramCounts>>);

#[derive(Debug, Default)]
struct HistogramCounts {
    /// One per bound in [`LATENCY_BUCKETS`], then +Inf.
    buckets: [AtomicU64; LATENCY_BUCKETS.len() + 1],
    sum_nanos: AtomicU64,
}

impl LatencyHistogram {
    pub fn observe(&self, elapsed: Duration) {
        let seconds = elapsed.as_secs_f64();
        let i = LATENCY_BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(LATENCY_BUCKETS.len());
        let counts = self.0.local();
        if let Some(bucket) = counts.buckets.get(i) {
            bucket.fetch_add(1, Ordering::Relaxed);
        }
        let nanos = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        counts.sum_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

impl TypedMetric for LatencyHistogram {
    const TYPE: MetricType = MetricType::Histogram;
}

impl EncodeMetric for LatencyHistogram {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), fmt::Error> {
        let buckets: Vec<(f64, u64)> = LATENCY_BUCKETS
            .iter()
            .copied()
            .chain([f64::INFINITY])
            .enumerate()
            .map(|(i, bound)| {
                let n = self
                    .0
                    .stripes()
                    .map(|s| s.buckets.get(i).map_or(0, |b| b.load(Ordering::Relaxed)));
                (bound, n.sum())
            })
            .collect();
        let count = buckets.iter().map(|(_, n)| n).sum();
        let nanos: u64 = self
            .0
            .stripes()
            .map(|s| s.sum_nanos.load(Ordering::Relaxed))
            .sum();
        let sum = nanos as f64 / 1e9;
        encoder.encode_histogram::<NoLabelSet>(sum, count, &buckets, None)
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    dialect: &'static str,
    operation: &'static str,
    /// `ok`, or the error code the client received.
    outcome: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OperationLabels {
    operation: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabels {
    state: &'static str,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
}

/// A dialect's name (the `dialect` label) and its operation names.
#[derive(Debug, Clone, Copy)]
pub struct DialectOps {
    pub dialect: &'static str,
    pub operations: &'static [&'static str],
}

/// What the store-level metrics count. Handed to [`MeteredStore`] before the engine exists, and
/// registered with [`Metrics`] after.
#[derive(Debug, Clone, Default)]
pub struct StoreMetrics {
    commit_seconds: LatencyHistogram,
    commit_failures: Counter,
    keys_destroyed: Counter,
}

/// What the metrics and the health check ask of a backend beyond [`Store`].
pub trait StoreProbe: Send + Sync + fmt::Debug + 'static {
    /// `Ok` when the store can serve requests; otherwise why not (for the log).
    fn check(&self) -> Result<(), StoreError>;
    /// Keys per state, across all scopes.
    fn key_counts(&self) -> Result<Vec<(KeyState, u64)>, StoreError>;
    /// Group-commit counters, for backends that group commits.
    fn commit_stats(&self) -> Option<CommitStats>;
}

impl StoreProbe for trent_store::PgStore {
    fn check(&self) -> Result<(), StoreError> {
        trent_core::store::Store::ping(self)
    }

    fn key_counts(&self) -> Result<Vec<(KeyState, u64)>, StoreError> {
        trent_store::PgStore::key_counts(self)
    }

    fn commit_stats(&self) -> Option<CommitStats> {
        Some(trent_store::PgStore::commit_stats(self))
    }
}

impl StoreProbe for SqliteStore {
    fn check(&self) -> Result<(), StoreError> {
        SqliteStore::check(self)
    }

    fn key_counts(&self) -> Result<Vec<(KeyState, u64)>, StoreError> {
        SqliteStore::key_counts(self)
    }

    fn commit_stats(&self) -> Option<CommitStats> {
        Some(SqliteStore::commit_stats(self))
    }
}

/// Every series Trent exports. Built once at startup; shared as `Arc<Metrics>`.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    /// `(dialect, operation)` → its `outcome="ok"` counter, created at startup.
    ok: HashMap<(&'static str, &'static str), Counter>,
    /// operation → its latency histogram, created at startup.
    durations: HashMap<&'static str, LatencyHistogram>,
    sweeps: Counter,
    sweep_failures: Counter,
    audit_records: Counter,
    audit_failures: Counter,
    probe: Arc<dyn StoreProbe>,
}

impl Metrics {
    pub fn new(
        dialects: &[DialectOps],
        kms: Arc<Kms>,
        probe: Arc<dyn StoreProbe>,
        store: StoreMetrics,
    ) -> Self {
        let mut registry = Registry::with_prefix("trent");
        let requests = Family::<RequestLabels, Counter>::default();
        let by_operation = Family::<OperationLabels, LatencyHistogram>::default();
        let mut ok = HashMap::new();
        let mut durations = HashMap::new();
        for d in dialects {
            for &operation in d.operations.iter().chain([&UNKNOWN_OPERATION]) {
                let labels = RequestLabels {
                    dialect: d.dialect,
                    operation,
                    outcome: "ok",
                };
                if operation != UNKNOWN_OPERATION {
                    ok.insert(
                        (d.dialect, operation),
                        requests.get_or_create_owned(&labels),
                    );
                }
                durations.entry(operation).or_insert_with(|| {
                    by_operation.get_or_create_owned(&OperationLabels { operation })
                });
            }
        }
        registry.register(
            "requests",
            "KMS requests by dialect, operation and outcome (ok, or the error code returned)",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time from receiving a KMS request to its response, by operation",
            by_operation,
        );
        registry.register(
            "store_commit_duration_seconds",
            "Time a store commit took, including the wait for its group's fsync",
            store.commit_seconds,
        );
        registry.register(
            "store_commit_failures",
            "Store commits that failed (conflicts included)",
            store.commit_failures,
        );
        registry.register(
            "sweeper_keys_destroyed",
            "Keys destroyed after their deletion date",
            store.keys_destroyed,
        );
        let sweeps = Counter::default();
        let sweep_failures = Counter::default();
        registry.register(
            "sweeper_runs",
            "Runs of the background sweeper",
            sweeps.clone(),
        );
        registry.register(
            "sweeper_failures",
            "Runs of the background sweeper that failed",
            sweep_failures.clone(),
        );
        let audit_records = Counter::default();
        let audit_failures = Counter::default();
        registry.register(
            "audit_records",
            "Audit records committed to the trail",
            audit_records.clone(),
        );
        registry.register(
            "audit_failures",
            "Audit records that could not be stored (their requests failed)",
            audit_failures.clone(),
        );
        registry.register(
            "build",
            "Build information",
            Info::new(BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
            }),
        );
        registry.register_collector(Box::new(ScrapeTime {
            kms,
            probe: probe.clone(),
        }));
        Metrics {
            registry,
            requests,
            ok,
            durations,
            sweeps,
            sweep_failures,
            audit_records,
            audit_failures,
            probe,
        }
    }

    /// Counts one KMS request. `operation` is `None` when the request was refused before its
    /// operation was known; `error` is the code the client received, if any.
    pub fn record_request(
        &self,
        dialect: &'static str,
        operation: Option<&'static str>,
        error: Option<&'static str>,
        elapsed: Duration,
    ) {
        let operation = operation.unwrap_or(UNKNOWN_OPERATION);
        match (error, self.ok.get(&(dialect, operation))) {
            (None, Some(counter)) => {
                counter.inc();
            }
            (outcome, _) => {
                self.requests
                    .get_or_create(&RequestLabels {
                        dialect,
                        operation,
                        outcome: outcome.unwrap_or("ok"),
                    })
                    .inc();
            }
        }
        if let Some(h) = self.durations.get(operation) {
            h.observe(elapsed);
        }
    }

    /// Counts one run of the sweeper.
    pub fn record_sweep(&self, succeeded: bool) {
        self.sweeps.inc();
        if !succeeded {
            self.sweep_failures.inc();
        }
    }

    /// Counts one audit record: committed, or not stored (the request then failed).
    pub fn record_audit(&self, stored: bool) {
        if stored {
            self.audit_records.inc();
        } else {
            self.audit_failures.inc();
        }
    }

    /// The OpenMetrics text of every series.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &self.registry) {
            tracing::error!(cause = %e, "cannot encode metrics");
        }
        out
    }
}

/// Series read at scrape time: keys by state (a store query), group-commit and key-cache
/// counters (kept by the store and the engine).
#[derive(Debug)]
struct ScrapeTime {
    kms: Arc<Kms>,
    probe: Arc<dyn StoreProbe>,
}

fn const_counter(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: u64,
) -> Result<(), fmt::Error> {
    let counter = ConstCounter::new(value);
    counter.encode(encoder.encode_descriptor(name, help, None, counter.metric_type())?)
}

impl Collector for ScrapeTime {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        match self.probe.key_counts() {
            Ok(counts) => {
                let mut family = encoder.encode_descriptor(
                    "keys",
                    "Keys in the store by state",
                    None,
                    MetricType::Gauge,
                )?;
                for state in KeyState::ALL {
                    let n = counts
                        .iter()
                        .find(|(s, _)| s == state)
                        .map_or(0, |(_, n)| *n);
                    let labels = StateLabels {
                        state: state.as_str(),
                    };
                    ConstGauge::new(i64::try_from(n).unwrap_or(i64::MAX))
                        .encode(family.encode_family(&labels)?)?;
                }
            }
            // The series is left out of this scrape (Prometheus marks it stale) rather than
            // reported as zero keys.
            Err(e) => tracing::warn!(cause = %e, "cannot count keys for metrics"),
        }
        if let Some(stats) = self.probe.commit_stats() {
            const_counter(
                &mut encoder,
                "store_commit_groups",
                "Group commits (transactions, one fsync each); batches/groups is the mean group size",
                stats.groups,
            )?;
            const_counter(
                &mut encoder,
                "store_commit_batches",
                "Commit calls carried by the group commits",
                stats.batches,
            )?;
            const_counter(
                &mut encoder,
                "store_commit_bursts",
                "PostgreSQL: group commits sent in one burst against the chain heads this node expected (the rest locked the heads first; always 0 on SQLite)",
                stats.bursts,
            )?;
        }
        let cache = self.kms.cache_stats();
        const_counter(
            &mut encoder,
            "key_cache_hits",
            "Key loads served from the opened-key cache",
            cache.hits,
        )?;
        const_counter(
            &mut encoder,
            "key_cache_misses",
            "Key loads that read and unsealed the key from the store",
            cache.misses,
        )?;
        Ok(())
    }
}

/// A [`Store`] that times commits and counts destroyed keys, for any backend.
#[derive(Debug)]
pub struct MeteredStore {
    inner: Arc<dyn Store>,
    metrics: StoreMetrics,
}

impl MeteredStore {
    pub fn new(inner: Arc<dyn Store>, metrics: StoreMetrics) -> Self {
        Self { inner, metrics }
    }
}

impl Store for MeteredStore {
    fn get_key(&self, scope: &Scope, id: &KeyId) -> Result<Option<KeyRecord>, StoreError> {
        self.inner.get_key(scope, id)
    }

    fn list_keys(
        &self,
        scope: &Scope,
        after: Option<&KeyId>,
        limit: usize,
    ) -> Result<Vec<KeyId>, StoreError> {
        self.inner.list_keys(scope, after, limit)
    }

    fn get_alias(
        &self,
        scope: &Scope,
        name: &AliasName,
    ) -> Result<Option<AliasRecord>, StoreError> {
        self.inner.get_alias(scope, name)
    }

    fn list_aliases(
        &self,
        scope: &Scope,
        target: Option<&KeyId>,
        after: Option<&AliasName>,
        limit: usize,
    ) -> Result<Vec<AliasRecord>, StoreError> {
        self.inner.list_aliases(scope, target, after, limit)
    }

    fn keys_due(&self, now: Timestamp, limit: usize) -> Result<Vec<(Scope, KeyId)>, StoreError> {
        self.inner.keys_due(now, limit)
    }

    fn root_check(&self) -> Result<Option<Vec<u8>>, StoreError> {
        self.inner.root_check()
    }

    fn init_root_check(&self, sealed: Vec<u8>) -> Result<Vec<u8>, StoreError> {
        self.inner.init_root_check(sealed)
    }

    fn sample_key(&self) -> Result<Option<KeyRecord>, StoreError> {
        self.inner.sample_key()
    }

    fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping()
    }

    fn claim_nonce(&self, digest: &[u8; 16], until: i64, now: i64) -> Result<bool, StoreError> {
        self.inner.claim_nonce(digest, until, now)
    }

    fn audit_lookup(
        &self,
        query: &trent_core::audit::AuditQuery,
    ) -> Result<Vec<trent_core::audit::StoredAuditEvent>, StoreError> {
        self.inner.audit_lookup(query)
    }

    fn audit_nth(
        &self,
        query: &trent_core::audit::AuditQuery,
    ) -> Result<Option<(trent_core::Timestamp, u64)>, StoreError> {
        self.inner.audit_nth(query)
    }

    fn audit_heads(&self) -> Result<Vec<(String, trent_core::audit::ChainHead)>, StoreError> {
        self.inner.audit_heads()
    }

    fn audit_chain(
        &self,
        account: &str,
        after_seq: u64,
        limit: usize,
    ) -> Result<Vec<trent_core::audit::StoredAuditEvent>, StoreError> {
        self.inner.audit_chain(account, after_seq, limit)
    }

    fn audit_prune(&self, before: trent_core::Timestamp) -> Result<u64, StoreError> {
        self.inner.audit_prune(before)
    }

    fn commit(&self, writes: Vec<Write>) -> Result<(), StoreError> {
        let observe = self.observer(&writes);
        let result = self.inner.commit(writes);
        observe(&result);
        result
    }

    fn commit_then(&self, writes: Vec<Write>, done: Reply) {
        let observe = self.observer(&writes);
        self.inner.commit_then(
            writes,
            Box::new(move |result| {
                observe(&result);
                done(result)
            }),
        )
    }
}

impl MeteredStore {
    /// What a commit of `writes` records once its result is known.
    fn observer(&self, writes: &[Write]) -> impl FnOnce(&Result<(), StoreError>) + Send {
        let destroyed = writes
            .iter()
            .filter(|w| matches!(w, Write::DeleteKey { .. }))
            .count() as u64;
        let start = Instant::now();
        let metrics = self.metrics.clone();
        move |result| {
            metrics.commit_seconds.observe(start.elapsed());
            match result {
                Ok(()) => metrics.keys_destroyed.inc_by(destroyed),
                Err(_) => metrics.commit_failures.inc(),
            };
        }
    }
}

/// `GET /metrics` and `GET /health`, unauthenticated: served on the KMS port, or on their own
/// with `--metrics-listen` (so that the KMS port need not expose them).
pub fn router(metrics: Arc<Metrics>) -> Router {
    Router::new()
        .route("/metrics", get(scrape))
        .route("/health", get(health))
        .with_state(metrics)
}

async fn scrape(State(metrics): State<Arc<Metrics>>) -> Response {
    // The key count is a store query: off the async workers.
    match tokio::task::spawn_blocking(move || metrics.encode()).await {
        Ok(text) => ([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// 200 when the store answers, 503 when it does not. The reason goes to the log, not to the
/// (unauthenticated) client.
async fn health(State(metrics): State<Arc<Metrics>>) -> Response {
    let probe = metrics.probe.clone();
    let check = tokio::time::timeout(
        HEALTH_TIMEOUT,
        tokio::task::spawn_blocking(move || probe.check()),
    )
    .await;
    let healthy = match check {
        Ok(Ok(Ok(()))) => true,
        Ok(Ok(Err(e))) => {
            tracing::warn!(cause = %e, "health check: store unavailable");
            false
        }
        Ok(Err(e)) => {
            tracing::warn!(cause = %e, "health check failed");
            false
        }
        Err(_) => {
            tracing::warn!("health check: the store did not answer in time");
            false
        }
    };
    if healthy {
        (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            "{\"status\":\"ok\",\"database\":\"up\"}",
        )
            .into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::RETRY_AFTER, "1"),
            ],
            "{\"status\":\"unavailable\",\"database\":\"down\"}",
        )
            .into_response()
    }
}

/// How long `/health` waits for the store.
const HEALTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_and_sum() {
        let h = LatencyHistogram::default();
        h.observe(Duration::from_micros(10));
        h.observe(Duration::from_millis(3));
        h.observe(Duration::from_secs(60));
        let mut registry = Registry::default();
        registry.register("t", "t", h);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(text.contains("t_count 3\n"), "{text}");
        assert!(text.contains("t_bucket{le=\"0.00005\"} 1\n"), "{text}");
        assert!(text.contains("t_bucket{le=\"0.005\"} 2\n"), "{text}");
        assert!(text.contains("t_bucket{le=\"+Inf\"} 3\n"), "{text}");
        assert!(text.contains("t_sum 60.00301\n"), "{text}");
    }
}
