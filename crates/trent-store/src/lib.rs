//! Trent's storage backends behind [`trent_core::store::Store`].
//!
//! - [`sqlite::SqliteStore`]: the embedded default, one database file, durable commits (WAL,
//!   `synchronous=FULL`) with group commit so concurrent writers share an fsync.

pub mod sqlite;

pub use sqlite::SqliteStore;
