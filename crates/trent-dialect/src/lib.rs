//! What both wire dialects (`trent-aws`, `trent-aliyun`) share above the engine: the configured
//! credentials and their lookup, the parts of an HTTP request a signature covers, and base64
//! binary members.
//!
//! Must not know either dialect's wire protocol, HTTP servers or storage.

pub mod blob;
mod credential;

pub use blob::{Blob, SecretBlob};
pub use credential::{Credential, CredentialStore, SignedRequest};
