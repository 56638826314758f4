//! Credentials as configured, and the request parts a signature covers. Secrets are never
//! printed; requests print only their shape.

use std::fmt;

use trent_crypto::SecretBytes;

/// One credential from the config. The secret is never printed.
#[derive(Clone)]
pub struct Credential {
    pub access_key_id: String,
    pub secret_access_key: SecretBytes,
    pub account_id: String,
    /// A temporary credential's session token: every request signed with this key must carry
    /// it. A long-term key has none, and a request that carries one anyway is refused, as AWS
    /// refuses a token it did not issue.
    pub session_token: Option<SecretBytes>,
}

impl Credential {
    /// Whether a request that carried `sent` as its session token may use this credential:
    /// the token configured, compared in constant time, or no token at all for a key that has
    /// none.
    pub fn admits_token(&self, sent: Option<&str>) -> bool {
        match (&self.session_token, sent) {
            (None, None) => true,
            (Some(token), Some(sent)) => {
                trent_crypto::constant_time_eq(token.expose(), sent.as_bytes())
            }
            _ => false,
        }
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("account_id", &self.account_id)
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// The parts of an HTTP request the signature covers.
pub struct SignedRequest<'a> {
    pub method: &'a str,
    /// Raw path as sent on the wire, e.g. `/`.
    pub path: &'a str,
    /// Raw query string without the `?`; may be empty.
    pub query: &'a str,
    /// All request headers, names in any case, values raw.
    pub headers: &'a [(&'a str, &'a str)],
    pub body: &'a [u8],
}

/// Deliberately shows only shapes: the body of a KMS request can hold a plaintext, and the
/// `Authorization` header (or a presigned query) is replayable for minutes.
impl fmt::Debug for SignedRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(name, _)| *name).collect();
        f.debug_struct("SignedRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query_len", &self.query.len())
            .field("header_names", &names)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// Where credentials come from. Implementations must not block for long: this is called on
/// every request.
pub trait CredentialStore: Send + Sync {
    fn lookup(&self, access_key_id: &str) -> Option<&Credential>;
}
