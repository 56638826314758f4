//! Trent's domain: keys, aliases, the key-state table, the use-cases and the storage boundary.
//!
//! Owns every rule about keys. Must not know HTTP, JSON wire shapes or SQL: dialects sit above
//! (`trent-aws`), backends below (`trent-store`), and cryptography comes from `trent-crypto`.

pub mod audit;
pub mod blob;
pub mod clock;
pub mod engine;
pub mod error;
pub mod ids;
pub mod model;
pub mod operations;
pub mod principal;
pub mod root_check;
pub mod state;
pub mod store;
pub mod striped;

pub use error::{Denied, DenyReason, KmsError, NotFound};
pub use ids::{AccountId, AliasName, KeyId, KeyRef, KeyRefForms, Region, Scope};
pub use model::*;
pub use principal::{Identity, Principal, PrincipalType};
