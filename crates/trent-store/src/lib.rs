//! Trent's storage backends behind [`trent_core::store::Store`].
//!
//! - [`sqlite::SqliteStore`]: the embedded default, one database file, durable commits (WAL,
//!   `synchronous=FULL`) with group commit so concurrent writers share an fsync.
//! - [`postgres::PgStore`]: one PostgreSQL database shared by several nodes, with the same
//!   semantics, a change feed for the nodes' caches, and a lease for background work.

mod group;
pub mod postgres;
pub mod sqlite;

pub use postgres::{PgOptions, PgStore};
pub use sqlite::SqliteStore;

use trent_core::ids::{KeyId, Scope};

/// The (account, region, id bytes) a listing of every key resumes after (empty: the start).
fn key_cursor(after: Option<&(Scope, KeyId)>) -> (String, String, Vec<u8>) {
    match after {
        Some((scope, id)) => (
            scope.account.0.clone(),
            scope.region.0.clone(),
            id.storage_bytes(),
        ),
        None => Default::default(),
    }
}
