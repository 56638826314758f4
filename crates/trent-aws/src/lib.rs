//! The AWS KMS dialect.
pub mod sigv4;
