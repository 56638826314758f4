//! What both wire dialects (`trent-aws`, `trent-aliyun`) share above the engine: the configured
//! credentials and their lookup, the parts of an HTTP request a signature covers, base64
//! binary members, and splitting a credential scope.
//!
//! Must not know either dialect's wire protocol, HTTP servers or storage.

pub mod blob;
mod credential;

pub use blob::{Blob, SecretBlob};
pub use credential::{Credential, CredentialStore, SignedRequest};

/// `text` split at every `separator` into exactly `N` parts (empty ones included), or `None`
/// if it has more or fewer: a signature's credential scope (`key/date/region/service/term`).
/// No allocation.
pub fn split_exact<const N: usize>(text: &str, separator: char) -> Option<[&str; N]> {
    let mut parts = text.split(separator);
    let mut out = [""; N];
    for slot in &mut out {
        *slot = parts.next()?;
    }
    parts.next().is_none().then_some(out)
}

#[cfg(test)]
mod tests {
    use super::split_exact;

    #[test]
    fn split_exact_takes_exactly_n_parts() {
        assert_eq!(split_exact::<3>("a/b/c", '/'), Some(["a", "b", "c"]));
        assert_eq!(split_exact::<3>("a//", '/'), Some(["a", "", ""]));
        assert_eq!(split_exact::<3>("a/b", '/'), None);
        assert_eq!(split_exact::<3>("a/b/c/d", '/'), None);
        assert_eq!(split_exact::<1>("", '/'), Some([""]));
    }
}
