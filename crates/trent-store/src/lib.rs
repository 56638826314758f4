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
