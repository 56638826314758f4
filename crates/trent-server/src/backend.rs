//! Opening the configured store, and what differs between one node on SQLite and several on
//! PostgreSQL: the change feed that keeps every node's cache coherent, and the lease that lets
//! one node at a time run background work.

use std::sync::{Arc, OnceLock, Weak};
use std::time::Duration;

use trent_core::clock::Clock;
use trent_core::engine::{Coherence, Kms};
use trent_core::store::{Store, StoreError};
use trent_crypto::AeadKey;
use trent_store::{PgStore, SqliteStore};

use crate::config::Database;

/// The opened store.
#[derive(Debug, Clone)]
pub enum Backend {
    Sqlite(Arc<SqliteStore>),
    Postgres {
        store: Arc<PgStore>,
        coherence: Duration,
    },
}

impl Backend {
    pub fn open(database: &Database) -> Result<Backend, String> {
        match database {
            Database::Sqlite(path) => SqliteStore::open(path)
                .map(|s| Backend::Sqlite(Arc::new(s)))
                .map_err(|e| format!("cannot open store {}: {e}", path.display())),
            Database::Postgres { options, coherence } => PgStore::open(options.clone())
                .map(|s| Backend::Postgres {
                    store: Arc::new(s),
                    coherence: *coherence,
                })
                .map_err(|e| {
                    format!(
                        "cannot open database {}: {e}",
                        trent_store::postgres::redact(&options.url)
                    )
                }),
        }
    }

    pub fn store(&self) -> Arc<dyn Store> {
        match self {
            Backend::Sqlite(s) => s.clone(),
            Backend::Postgres { store, .. } => store.clone(),
        }
    }

    /// The engine on `store` (this backend's store, or a wrapper of it such as the metrics
    /// decorator). On PostgreSQL its caches follow the change feed.
    pub fn engine(
        &self,
        store: Arc<dyn Store>,
        root: AeadKey,
        clock: Arc<dyn Clock>,
        principals: impl IntoIterator<Item = String>,
    ) -> Arc<Kms> {
        let kms = Kms::new(store, root, clock).with_principals(principals);
        match self {
            Backend::Sqlite(_) => Arc::new(kms),
            Backend::Postgres { store, coherence } => {
                let target: Arc<OnceLock<Weak<Kms>>> = Arc::new(OnceLock::new());
                let hook = target.clone();
                let feed = store.listen(Arc::new(move |change| {
                    if let Some(kms) = hook.get().and_then(Weak::upgrade) {
                        kms.apply_change(&change);
                    }
                }));
                let kms = Arc::new(kms.with_coherence(Coherence {
                    bound: *coherence,
                    feed: Some(feed),
                }));
                let _ = target.set(Arc::downgrade(&kms));
                kms
            }
        }
    }

    /// What `/health` and `/metrics` ask of the store.
    pub fn probe(&self) -> Arc<dyn crate::metrics::StoreProbe> {
        match self {
            Backend::Sqlite(s) => s.clone(),
            Backend::Postgres { store, .. } => store.clone(),
        }
    }

    /// Runs `work` unless another node is running background work now (`None` then).
    pub fn lead_background<T>(&self, work: impl FnOnce() -> T) -> Result<Option<T>, StoreError> {
        match self {
            // One process owns an SQLite file.
            Backend::Sqlite(_) => Ok(Some(work())),
            Backend::Postgres { store, .. } => store.try_lead_background(work),
        }
    }
}
