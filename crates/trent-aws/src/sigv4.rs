//! AWS Signature Version 4 (`AWS4-HMAC-SHA256`) request verification, plus a matching signer.
//!
//! Owns: parsing the `Authorization` header (or presigned `X-Amz-*` query parameters), building
//! the canonical request and string to sign exactly as AWS does, deriving and caching signing
//! keys, comparing signatures in constant time, enforcing the clock-skew window, and mapping every
//! failure to the AWS error code and message a KMS client expects.
//!
//! Must not: log or print anything (requests carry plaintexts and replayable signatures), panic on
//! any input (every parse is fallible, no unchecked indexing), reveal secrets in `Debug` or error
//! messages, accept unsigned payloads, or do I/O: credentials come through [`CredentialStore`] and
//! the current time is passed in by the caller.

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use percent_encoding::{percent_decode_str, percent_encode, AsciiSet, NON_ALPHANUMERIC};
use trent_crypto::mac::{MacHash, MacKey};
use trent_crypto::{constant_time_eq, hmac_sha256, sha256, SecretBytes};
pub use trent_dialect::{Credential, CredentialStore, SignedRequest};

/// The only signing algorithm this module speaks.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// Last element of every SigV4 credential scope.
const TERMINATOR: &str = "aws4_request";
/// Default tolerated difference between the request's time and ours (AWS uses 5 minutes).
const DEFAULT_SKEW: Duration = Duration::from_secs(5 * 60);
/// Signing keys kept before the cache is simply emptied. Keys are per day, so a handful of
/// credentials and regions stay far below this; the bound only matters under abuse.
const CACHE_LIMIT: usize = 1024;
/// Longest lifetime AWS allows for a presigned request (7 days).
const MAX_PRESIGN_EXPIRES: i64 = 7 * 24 * 60 * 60;
/// Payload marker that S3 clients use to skip body hashing. Never honoured here (see
/// [`payload_hash`]).
const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// SigV4's `UriEncode`: everything except the RFC 3986 unreserved set `A-Z a-z 0-9 - _ . ~` is
/// percent-encoded with upper-case hex. Note that `/` *is* encoded; path encoding handles
/// slashes itself by encoding segment by segment.
const AWS_URI_ENCODE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// What the caller proved: who signed and for which scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub access_key_id: String,
    pub account_id: String,
    pub region: String,
    pub service: String,
}

/// Why a request was not authenticated. `Display` is the message AWS would send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header and no presigned query.
    #[error("Missing Authentication Token")]
    MissingAuthenticationToken,
    /// Authorization present but malformed or missing parts (no date, bad credential scope,
    /// unsupported algorithm, `host` not signed, ...). The string is a human message like AWS's.
    #[error("{0}")]
    IncompleteSignature(String),
    /// Unknown access key id.
    #[error("The security token included in the request is invalid.")]
    UnrecognizedClient,
    /// The signature does not match the request.
    #[error("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")]
    SignatureDoesNotMatch,
    /// The request's time is older than now minus the allowed skew (or a presigned request's
    /// lifetime has passed).
    #[error("{0}")]
    SignatureExpired(String),
    /// The request's time is later than now plus the allowed skew.
    #[error("{0}")]
    SignatureNotYetCurrent(String),
}

impl AuthError {
    /// The AWS `__type` for this error.
    pub fn aws_code(&self) -> &'static str {
        match self {
            AuthError::MissingAuthenticationToken => "MissingAuthenticationTokenException",
            AuthError::IncompleteSignature(_) => "IncompleteSignatureException",
            AuthError::UnrecognizedClient => "UnrecognizedClientException",
            AuthError::SignatureDoesNotMatch
            | AuthError::SignatureExpired(_)
            | AuthError::SignatureNotYetCurrent(_) => "InvalidSignatureException",
        }
    }
}

fn incomplete(message: &str) -> AuthError {
    AuthError::IncompleteSignature(message.to_owned())
}

/// A derived signing key and the secret it came from, so a secret rotated in the store under
/// the same access key id is never served a stale key.
struct CachedKey {
    secret: SecretBytes,
    /// Prepared (HMAC's padded key states), so a request costs only its own HMAC.
    signing_key: MacKey,
}

thread_local! {
    /// Each thread's derived signing keys, per verifier, keyed by the request's whole
    /// `Credential` (`{access key id}/{date}/{region}/{service}/aws4_request`, validated to have
    /// exactly five parts before it is used). Per thread, so that no lock and no shared counter
    /// sits on the request path: a worker thread derives a credential's key once a day.
    static SIGNING_KEYS: RefCell<HashMap<u64, HashMap<String, CachedKey>>> =
        RefCell::new(HashMap::new());
}

/// Tells verifiers apart in [`SIGNING_KEYS`].
static NEXT_VERIFIER: AtomicU64 = AtomicU64::new(0);

/// Verifies requests; caches derived signing keys per (access key, date, region, service) so the
/// 4-HMAC derivation is not repeated per request.
pub struct Verifier {
    skew: Duration,
    /// Headers every signature must cover and every request must carry exactly once (always
    /// `host`; a protocol adds the header that names its operation, see [`Verifier::requiring`]).
    required: &'static [&'static str],
    /// This verifier's signing keys in each thread's [`SIGNING_KEYS`].
    id: u64,
}

impl Drop for Verifier {
    fn drop(&mut self) {
        // Other threads' copies go with their threads; they are never looked up again.
        let _ = SIGNING_KEYS.try_with(|keys| keys.borrow_mut().remove(&self.id));
    }
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("skew", &self.skew)
            .field("required", &self.required)
            .field("cached_keys", &self.cache_len())
            .finish()
    }
}

impl Default for Verifier {
    fn default() -> Self {
        Self::new()
    }
}

/// The authentication parameters of a request, from either the header or the query.
/// Borrowed from the request (its header or its query), nothing copied.
struct AuthParams<'a> {
    /// The whole `Credential`: `{access key id}/{scope}`.
    credential: &'a str,
    access_key_id: &'a str,
    /// `{date}/{region}/{service}/aws4_request`, as signed.
    scope: &'a str,
    scope_date: &'a str,
    region: &'a str,
    service: &'a str,
    terminator: &'a str,
    /// Lower-cased, in the order the client listed them.
    signed_headers: Vec<Cow<'a, str>>,
    signature: &'a str,
    /// `Some` for presigned (query) authentication: the date from `X-Amz-Date` and the
    /// lifetime from `X-Amz-Expires`.
    presigned: Option<Presigned<'a>>,
}

struct Presigned<'a> {
    amz_date: &'a str,
    expires: i64,
}

impl Verifier {
    /// A verifier with AWS's 5-minute clock skew.
    pub fn new() -> Self {
        Self::with_skew(DEFAULT_SKEW)
    }

    pub fn with_skew(skew: Duration) -> Self {
        Self {
            skew,
            required: &["host"],
            id: NEXT_VERIFIER.fetch_add(1, Ordering::Relaxed),
        }
    }

    /// A verifier that also requires `headers` (lower-case names) to be signed and sent once.
    /// AWS's JSON protocols name the operation in `x-amz-target`: unsigned, a captured request
    /// could be replayed as another operation with the same body; sent twice, the signature
    /// would cover both values while the server acted on one.
    pub fn requiring(headers: &'static [&'static str]) -> Self {
        let mut verifier = Self::new();
        verifier.required = headers;
        verifier
    }

    /// Checks that `req` carries a valid SigV4 signature by a credential in `creds`, scoped to
    /// `expected_service`, made within the skew window around `now`.
    ///
    /// Order of checks follows AWS: shape of the authorization (IncompleteSignature), then the
    /// access key (UnrecognizedClient), then the signature (InvalidSignature), and only then the
    /// time, so an unauthenticated caller learns nothing about our clock.
    pub fn verify(
        &self,
        req: &SignedRequest<'_>,
        creds: &dyn CredentialStore,
        expected_service: &str,
        now: SystemTime,
    ) -> Result<Verified, AuthError> {
        let query = parse_query(req.query);
        let auth = extract_auth(req, &query)?;
        let (amz_date, signed_at) = request_time(req, &auth)?;
        check_scope(&auth, &amz_date, expected_service)?;
        self.check_required(req, &auth)?;

        let token = session_token(req, &query)?;
        let cred = creds
            .lookup(auth.access_key_id)
            .filter(|cred| cred.admits_token(token))
            .ok_or(AuthError::UnrecognizedClient)?;

        let payload = payload_hash(req)?;
        let canonical_query = canonical_query(&query, auth.presigned.is_some());
        // A header that is listed as signed but absent cannot have been signed as sent.
        let creq = canonical_request(
            req.method,
            req.path,
            &canonical_query,
            req.headers,
            &auth.signed_headers,
            payload.as_str(),
        )
        .ok_or(AuthError::SignatureDoesNotMatch)?;
        let sts = string_to_sign(&amz_date, auth.scope, &creq);

        // Compare decoded bytes so upper-case hex is tolerated; a wrong length or non-hex
        // signature is simply a mismatch.
        let mut provided = [0u8; 32];
        hex::decode_to_slice(auth.signature, &mut provided)
            .map_err(|_| AuthError::SignatureDoesNotMatch)?;
        let secret = cred.secret_access_key.expose();
        let valid = match self.verify_with_cached_key(auth.credential, secret, &sts, &provided) {
            Some(valid) => valid,
            None => {
                let key = derive_signing_key(secret, auth.scope_date, auth.region, auth.service);
                let valid = constant_time_eq(&hmac_sha256(key.expose(), sts.as_bytes()), &provided);
                // Only keys that produced a valid signature are cached, so a caller who merely
                // knows an access key id cannot churn the cache with made-up regions.
                if valid {
                    self.remember(auth.credential, secret, &key);
                }
                valid
            }
        };
        if !valid {
            return Err(AuthError::SignatureDoesNotMatch);
        }

        self.check_time(signed_at, &amz_date, now, auth.presigned.as_ref())?;

        Ok(Verified {
            access_key_id: auth.access_key_id.to_owned(),
            account_id: cred.account_id.clone(),
            region: auth.region.to_owned(),
            service: auth.service.to_owned(),
        })
    }

    /// AWS refuses signatures that do not cover the host: otherwise a signed request could be
    /// replayed against any other endpoint that shares the credential. The same holds for the
    /// other required headers; and each must be sent once, or the value signed (all of them,
    /// joined) is not the value acted on.
    fn check_required(
        &self,
        req: &SignedRequest<'_>,
        auth: &AuthParams<'_>,
    ) -> Result<(), AuthError> {
        for name in std::iter::once(&"host").chain(self.required) {
            // Only the host must be signed whether sent or not; a request without the other
            // headers is refused later for what it lacks (e.g. no operation named).
            let sent = *name == "host" || single_header(req.headers, name)?.is_some();
            if sent && !auth.signed_headers.iter().any(|h| h == name) {
                return Err(incomplete(&if *name == "host" {
                    "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."
                        .to_owned()
                } else {
                    format!(
                        "'{}' must be a 'SignedHeader' in the AWS Authorization.",
                        display_name(name)
                    )
                }));
            }
            single_header(req.headers, name)?;
        }
        Ok(())
    }

    /// Whether `signature` signs `string_to_sign` (checked in constant time), under this
    /// thread's cached signing key for `credential`; `None` if there is none derived from this
    /// very `secret`.
    fn verify_with_cached_key(
        &self,
        credential: &str,
        secret: &[u8],
        string_to_sign: &str,
        signature: &[u8],
    ) -> Option<bool> {
        SIGNING_KEYS.with(|keys| {
            let keys = keys.borrow();
            let entry = keys.get(&self.id)?.get(credential)?;
            constant_time_eq(entry.secret.expose(), secret).then(|| {
                entry
                    .signing_key
                    .verify(string_to_sign.as_bytes(), signature)
            })
        })
    }

    fn remember(&self, credential: &str, secret: &[u8], signing_key: &SecretBytes) {
        SIGNING_KEYS.with(|keys| {
            let mut keys = keys.borrow_mut();
            let cache = keys.entry(self.id).or_default();
            // Crude but bounded: dropping everything costs a few HMACs per credential to rebuild.
            if cache.len() >= CACHE_LIMIT && !cache.contains_key(credential) {
                cache.clear();
            }
            cache.insert(
                credential.to_owned(),
                CachedKey {
                    secret: SecretBytes::new(secret.to_vec()),
                    signing_key: MacKey::new(MacHash::Sha256, signing_key),
                },
            );
        });
    }

    /// How many signing keys this thread holds for this verifier.
    fn cache_len(&self) -> usize {
        SIGNING_KEYS
            .try_with(|keys| keys.borrow().get(&self.id).map_or(0, HashMap::len))
            .unwrap_or(0)
    }

    /// Two-sided skew check with AWS's exact messages. Presigned requests are instead valid from
    /// (their date - skew) until (their date + X-Amz-Expires).
    fn check_time(
        &self,
        signed_at: i64,
        amz_date: &str,
        now: SystemTime,
        presigned: Option<&Presigned<'_>>,
    ) -> Result<(), AuthError> {
        let now = unix_seconds(now);
        let skew = i64::try_from(self.skew.as_secs()).unwrap_or(i64::MAX);
        let latest = now.saturating_add(skew);
        if signed_at > latest {
            return Err(AuthError::SignatureNotYetCurrent(format!(
                "Signature not yet current: {amz_date} is still later than {} ({} + {})",
                format_amz_date(latest),
                format_amz_date(now),
                describe_duration(skew),
            )));
        }
        match presigned {
            None => {
                let earliest = now.saturating_sub(skew);
                if signed_at < earliest {
                    return Err(AuthError::SignatureExpired(format!(
                        "Signature expired: {amz_date} is now earlier than {} ({} - {})",
                        format_amz_date(earliest),
                        format_amz_date(now),
                        describe_duration(skew),
                    )));
                }
            }
            Some(p) => {
                let earliest = now.saturating_sub(p.expires);
                if signed_at < earliest {
                    return Err(AuthError::SignatureExpired(format!(
                        "Signature expired: {amz_date} is now earlier than {} ({} - {})",
                        format_amz_date(earliest),
                        format_amz_date(now),
                        describe_duration(p.expires),
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Signs `req` and returns the `Authorization` header value. `req` must already carry the
/// `host` header and (unless a `Date` header is meant to be used) `x-amz-date` equal to
/// `amz_date`; every header given is signed (names lower-cased, sorted, de-duplicated), except
/// a stale `Authorization` header, which cannot sign itself.
pub fn sign(
    req: &SignedRequest<'_>,
    cred: &Credential,
    region: &str,
    service: &str,
    amz_date: &str,
) -> String {
    let mut names: Vec<String> = req
        .headers
        .iter()
        .map(|(name, _)| name.to_ascii_lowercase())
        .filter(|name| name != "authorization")
        .collect();
    names.sort();
    names.dedup();
    let payload = hex::encode(sha256(req.body));
    let query = canonical_query(&parse_query(req.query), false);
    // Every name comes from the headers themselves, so none can be missing.
    let creq = canonical_request(req.method, req.path, &query, req.headers, &names, &payload)
        .unwrap_or_default();
    let date = amz_date.get(..8).unwrap_or(amz_date);
    let scope = format!("{date}/{region}/{service}/{TERMINATOR}");
    let sts = string_to_sign(amz_date, &scope, &creq);
    let key = derive_signing_key(cred.secret_access_key.expose(), date, region, service);
    let signature = hex::encode(hmac_sha256(key.expose(), sts.as_bytes()));
    format!(
        "{ALGORITHM} Credential={}/{scope}, SignedHeaders={}, Signature={signature}",
        cred.access_key_id,
        names.join(";"),
    )
}

/// A header name as AWS writes it in messages: `x-amz-target` → `X-Amz-Target`.
fn display_name(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

// ---------------------------------------------------------------------------------------------
// Extracting the authorization parameters
// ---------------------------------------------------------------------------------------------

/// The single value of header `name`, or an error if the header is repeated (two dates or two
/// signatures would be ambiguous, so they are refused rather than guessed at).
fn single_header<'a>(
    headers: &[(&'a str, &'a str)],
    name: &str,
) -> Result<Option<&'a str>, AuthError> {
    let mut found = None;
    for (n, v) in headers {
        if n.eq_ignore_ascii_case(name) {
            if found.is_some() {
                return Err(incomplete(&format!("Only one '{name}' header is allowed.")));
            }
            found = Some(*v);
        }
    }
    Ok(found)
}

/// The single value of query parameter `name` (names are case-sensitive, as in AWS).
fn single_param<'q>(
    query: &'q [(Vec<u8>, Vec<u8>)],
    name: &str,
) -> Result<Option<&'q [u8]>, AuthError> {
    let mut found = None;
    for (n, v) in query {
        if n.as_slice() == name.as_bytes() {
            if found.is_some() {
                return Err(incomplete(&format!(
                    "Only one '{name}' query parameter is allowed."
                )));
            }
            found = Some(v.as_slice());
        }
    }
    Ok(found)
}

/// The session token a request carries: its `X-Amz-Security-Token` header, or for a presigned
/// request the query parameter of that name. `Err` when it is sent twice or is not text.
fn session_token<'a>(
    req: &SignedRequest<'a>,
    query: &'a [(Vec<u8>, Vec<u8>)],
) -> Result<Option<&'a str>, AuthError> {
    let header = single_header(req.headers, "x-amz-security-token")?;
    let param = single_param(query, "X-Amz-Security-Token")?;
    match (header, param) {
        (Some(_), Some(_)) => Err(incomplete(
            "Only one of the 'X-Amz-Security-Token' header and query parameter is allowed.",
        )),
        (Some(token), None) => Ok(Some(token)),
        (None, param) => param
            .map(|raw| std::str::from_utf8(raw).map_err(|_| AuthError::UnrecognizedClient))
            .transpose(),
    }
}

const PRESIGN_PARAMS: [&str; 6] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Signature",
    "X-Amz-Date",
    "X-Amz-SignedHeaders",
    "X-Amz-Expires",
];

fn extract_auth<'a>(
    req: &SignedRequest<'a>,
    query: &'a [(Vec<u8>, Vec<u8>)],
) -> Result<AuthParams<'a>, AuthError> {
    let header = single_header(req.headers, "authorization")?
        .map(str::trim)
        .filter(|h| !h.is_empty());
    let presigned = query.iter().any(|(n, _)| {
        n.as_slice() == b"X-Amz-Algorithm"
            || n.as_slice() == b"X-Amz-Credential"
            || n.as_slice() == b"X-Amz-Signature"
    });
    match (header, presigned) {
        (None, false) => Err(AuthError::MissingAuthenticationToken),
        // Two competing signatures: refuse rather than pick one.
        (Some(_), true) => Err(incomplete(
            "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter or the Authorization header should be specified.",
        )),
        (Some(h), false) => parse_authorization_header(h),
        (None, true) => parse_presigned_query(query),
    }
}

/// Parses `AWS4-HMAC-SHA256 Credential=.../aws4_request, SignedHeaders=a;b, Signature=hex`.
/// Components may be separated by `,` with any surrounding whitespace.
fn parse_authorization_header(header: &str) -> Result<AuthParams<'_>, AuthError> {
    let (algorithm, rest) = match header.find(|c: char| c.is_ascii_whitespace()) {
        Some(i) => (header.get(..i).unwrap_or(""), header.get(i..).unwrap_or("")),
        None => (header, ""),
    };
    if algorithm != ALGORITHM {
        return Err(incomplete(
            "Unsupported AWS 'algorithm': only 'AWS4-HMAC-SHA256' is supported.",
        ));
    }
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, value)) = part.split_once('=') else {
            return Err(incomplete(
                "Authorization header components must be key=value pairs.",
            ));
        };
        let slot = match key.trim() {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => {
                return Err(incomplete(
                    "Authorization header may only contain 'Credential', 'SignedHeaders' and 'Signature'.",
                ))
            }
        };
        if slot.replace(value.trim()).is_some() {
            return Err(incomplete(
                "Authorization header components may not be repeated.",
            ));
        }
    }
    let credential = credential
        .ok_or_else(|| incomplete("Authorization header requires 'Credential' parameter."))?;
    let signed_headers = signed_headers
        .ok_or_else(|| incomplete("Authorization header requires 'SignedHeaders' parameter."))?;
    let signature = signature
        .filter(|s| !s.is_empty())
        .ok_or_else(|| incomplete("Authorization header requires 'Signature' parameter."))?;
    build_params(credential, signed_headers, signature, None)
}

/// Presigned (query-string) authentication: the same parameters, carried as `X-Amz-*`.
fn parse_presigned_query(query: &[(Vec<u8>, Vec<u8>)]) -> Result<AuthParams<'_>, AuthError> {
    const MISSING: &str = "AWS query-string parameters must include 'X-Amz-Algorithm', 'X-Amz-Credential', 'X-Amz-Signature', 'X-Amz-Date', 'X-Amz-SignedHeaders', and 'X-Amz-Expires'. Re-examine the query-string parameters.";
    let mut values: Vec<&str> = Vec::with_capacity(PRESIGN_PARAMS.len());
    for name in PRESIGN_PARAMS {
        let raw = single_param(query, name)?.ok_or_else(|| incomplete(MISSING))?;
        let text = std::str::from_utf8(raw).map_err(|_| incomplete(MISSING))?;
        values.push(text);
    }
    let [algorithm, credential, signature, amz_date, signed_headers, expires] = values[..] else {
        return Err(incomplete(MISSING));
    };
    if algorithm != ALGORITHM {
        return Err(incomplete(
            "Unsupported AWS 'algorithm': only 'AWS4-HMAC-SHA256' is supported.",
        ));
    }
    if signature.is_empty() {
        return Err(incomplete(MISSING));
    }
    let expires = parse_digits(expires.as_bytes())
        .filter(|e| (1..=MAX_PRESIGN_EXPIRES).contains(e))
        .ok_or_else(|| {
            incomplete("X-Amz-Expires must be an integer number of seconds from 1 to 604800.")
        })?;
    let presigned = Presigned { amz_date, expires };
    build_params(credential, signed_headers, signature, Some(presigned))
}

fn build_params<'a>(
    credential: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
    presigned: Option<Presigned<'a>>,
) -> Result<AuthParams<'a>, AuthError> {
    let Some([access_key_id, scope_date, region, service, terminator]) =
        trent_dialect::split_exact(credential, '/')
    else {
        return Err(incomplete(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term.",
        ));
    };
    let mut headers = Vec::new();
    for name in signed_headers.split(';') {
        let name = name.trim();
        if name.is_empty() {
            return Err(incomplete(
                "SignedHeaders must be a non-empty, ';'-separated list of header names.",
            ));
        }
        headers.push(lower_case(name));
    }
    Ok(AuthParams {
        credential,
        access_key_id,
        scope: credential.get(access_key_id.len() + 1..).unwrap_or(""),
        scope_date,
        region,
        service,
        terminator,
        signed_headers: headers,
        signature,
        presigned,
    })
}

/// `s` in lower case, copied only if it is not already (header names from hyper are).
fn lower_case(s: &str) -> Cow<'_, str> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(s.to_ascii_lowercase())
    } else {
        Cow::Borrowed(s)
    }
}

/// The request time as (basic-format string used in the string to sign, unix seconds).
///
/// `X-Amz-Date` wins; a request without it may use an RFC 1123 `Date` header instead, whose
/// time is then re-rendered in basic format, because that is what the signer put in the string
/// to sign.
fn request_time<'a>(
    req: &SignedRequest<'a>,
    auth: &AuthParams<'a>,
) -> Result<(Cow<'a, str>, i64), AuthError> {
    const BAD_AMZ_DATE: &str =
        "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\".";
    // A date that parses is already in basic format (every field is checked for range), so it
    // is used as sent.
    let amz_date = match &auth.presigned {
        Some(p) => Some(p.amz_date),
        None => single_header(req.headers, "x-amz-date")?.map(str::trim),
    };
    if let Some(value) = amz_date {
        let secs = parse_amz_date(value).ok_or_else(|| incomplete(BAD_AMZ_DATE))?;
        return Ok((Cow::Borrowed(value), secs));
    }
    single_header(req.headers, "date")?
        .and_then(|v| parse_rfc1123(v.trim()))
        .map(|secs| (Cow::Owned(format_amz_date(secs)), secs))
        .ok_or_else(|| {
            incomplete(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.",
            )
        })
}

/// Validates the credential scope. Only values we have checked (digits, our own service name)
/// are echoed into messages, so no client input is reflected verbatim.
fn check_scope(
    auth: &AuthParams<'_>,
    amz_date: &str,
    expected_service: &str,
) -> Result<(), AuthError> {
    let scope_date = auth.scope_date;
    if scope_date.len() != 8 || !scope_date.bytes().all(|b| b.is_ascii_digit()) {
        return Err(incomplete(
            "Credential should be scoped to a valid date in the form YYYYMMDD.",
        ));
    }
    let request_day = amz_date.get(..8).unwrap_or("");
    if scope_date != request_day {
        return Err(AuthError::IncompleteSignature(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{scope_date}' != '{request_day}', from '{amz_date}'."
        )));
    }
    let region_ok = !auth.region.is_empty()
        && auth.region.len() <= 64
        && auth
            .region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if !region_ok {
        return Err(incomplete("Credential should be scoped to a valid region."));
    }
    if auth.service != expected_service {
        return Err(AuthError::IncompleteSignature(format!(
            "Credential should be scoped to correct service: '{expected_service}'."
        )));
    }
    if auth.terminator != TERMINATOR {
        return Err(incomplete(
            "Credential should be scoped with a valid terminator: 'aws4_request'.",
        ));
    }
    Ok(())
}

/// The payload hash that goes into the canonical request: always the hash of the body we
/// actually received. KMS bodies carry plaintexts and key ids, so `UNSIGNED-PAYLOAD` (an S3
/// convenience) is never honoured: a client that signed it simply fails to match. A declared
/// `x-amz-content-sha256` that disagrees with the body means the body was altered.
fn payload_hash(req: &SignedRequest<'_>) -> Result<HexDigest, AuthError> {
    let computed = HexDigest::of(&sha256(req.body));
    for (name, value) in req.headers {
        if name.eq_ignore_ascii_case("x-amz-content-sha256") {
            let value = value.trim();
            if value != UNSIGNED_PAYLOAD && !value.eq_ignore_ascii_case(computed.as_str()) {
                return Err(AuthError::SignatureDoesNotMatch);
            }
        }
    }
    Ok(computed)
}

/// A SHA-256 in lower-case hex, on the stack.
struct HexDigest([u8; 64]);

impl HexDigest {
    fn of(digest: &[u8; 32]) -> Self {
        let mut out = [0u8; 64];
        // 32 bytes always fit 64 hex digits.
        let _ = hex::encode_to_slice(digest, &mut out);
        HexDigest(out)
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or_default()
    }
}

// ---------------------------------------------------------------------------------------------
// Canonical request
// ---------------------------------------------------------------------------------------------

fn uri_encode(bytes: &[u8], out: &mut String) {
    out.extend(percent_encode(bytes, AWS_URI_ENCODE));
}

/// Canonical URI for non-S3 services: dot segments resolved and empty segments dropped (as the
/// SDKs normalize before signing), then each segment URI-encoded once *as sent*. The path is
/// deliberately not decoded first: SDKs sign the already-encoded wire path encoded again
/// ("double encoding"), which is exactly what encoding the raw path once reproduces.
#[cfg(test)]
fn canonical_uri(path: &str) -> String {
    let mut out = String::new();
    push_canonical_uri(path, &mut out);
    out
}

/// Appends the canonical URI of `path` (see [`canonical_uri`]).
fn push_canonical_uri(path: &str, out: &mut String) {
    if path == "/" {
        out.push('/');
        return;
    }
    let mut segments: Vec<&str> = Vec::new();
    // A path ending in "/", "/." or "/.." names a directory: keep the trailing slash.
    let mut trailing_slash = false;
    for segment in path.split('/') {
        match segment {
            "" => {}
            "." => trailing_slash = true,
            ".." => {
                segments.pop();
                trailing_slash = true;
            }
            s => {
                segments.push(s);
                trailing_slash = false;
            }
        }
    }
    trailing_slash |= path.ends_with('/');
    for segment in &segments {
        out.push('/');
        uri_encode(segment.as_bytes(), out);
    }
    if segments.is_empty() || trailing_slash {
        out.push('/');
    }
}

/// Splits a raw query into percent-decoded (name, value) byte pairs. `+` is left as a literal
/// `+`: SigV4 signers encode spaces as `%20`, and RFC 3986 gives `+` no special meaning.
fn parse_query(raw: &str) -> Vec<(Vec<u8>, Vec<u8>)> {
    raw.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (name, value) = p.split_once('=').unwrap_or((p, ""));
            let name: Cow<'_, [u8]> = percent_decode_str(name).into();
            let value: Cow<'_, [u8]> = percent_decode_str(value).into();
            (name.into_owned(), value.into_owned())
        })
        .collect()
}

/// Canonical query string: every parameter re-encoded with the AWS set, sorted by encoded name
/// then encoded value. For presigned requests the signature itself is excluded, since it cannot
/// sign itself.
fn canonical_query(params: &[(Vec<u8>, Vec<u8>)], skip_signature: bool) -> String {
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .filter(|(name, _)| !(skip_signature && name.as_slice() == b"X-Amz-Signature"))
        .map(|(name, value)| {
            let mut n = String::new();
            let mut v = String::new();
            uri_encode(name, &mut n);
            uri_encode(value, &mut v);
            (n, v)
        })
        .collect();
    encoded.sort();
    let mut out = String::new();
    for (i, (name, value)) in encoded.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(name);
        out.push('=');
        out.push_str(value);
    }
    out
}

/// Appends a header value trimmed and with runs of spaces collapsed to one, as SigV4 requires.
fn push_trimmed_value(value: &str, out: &mut String) {
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    if !value.contains("  ") {
        out.push_str(value);
        return;
    }
    let mut previous_space = false;
    for c in value.chars() {
        if c == ' ' {
            if !previous_space {
                out.push(' ');
            }
            previous_space = true;
        } else {
            out.push(c);
            previous_space = false;
        }
    }
}

/// Appends the canonical headers block (each `name:value\n`) for `signed`, in the listed order.
/// Repeated headers are joined with `,` in the order received. `None` if a signed header is
/// absent.
fn push_canonical_headers<S: AsRef<str>>(
    headers: &[(&str, &str)],
    signed: &[S],
    out: &mut String,
) -> Option<()> {
    // Sorted once (stably, so repeated headers keep the order received), so a long
    // SignedHeaders list costs O((headers + signed) log headers), not their product.
    let mut by_name: Vec<(Cow<'_, str>, &str)> = headers
        .iter()
        .map(|(name, value)| (lower_case(name), *value))
        .collect();
    by_name.sort_by(|a, b| a.0.cmp(&b.0));
    for name in signed {
        let name = name.as_ref();
        let first = by_name.partition_point(|(n, _)| n.as_ref() < name);
        let values = by_name.get(first..).unwrap_or_default();
        let mut values = values.iter().take_while(|(n, _)| n == name).peekable();
        values.peek()?;
        out.push_str(name);
        out.push(':');
        for (i, (_, value)) in values.enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_trimmed_value(value, out);
        }
        out.push('\n');
    }
    Some(())
}

/// The canonical request, built in one buffer.
fn canonical_request<S: AsRef<str>>(
    method: &str,
    path: &str,
    canonical_query: &str,
    headers: &[(&str, &str)],
    signed: &[S],
    payload_hash: &str,
) -> Option<String> {
    let mut out = String::with_capacity(512);
    out.push_str(method);
    out.push('\n');
    push_canonical_uri(path, &mut out);
    out.push('\n');
    out.push_str(canonical_query);
    out.push('\n');
    push_canonical_headers(headers, signed, &mut out)?;
    out.push('\n');
    for (i, name) in signed.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        out.push_str(name.as_ref());
    }
    out.push('\n');
    out.push_str(payload_hash);
    Some(out)
}

fn string_to_sign(amz_date: &str, scope: &str, canonical_request: &str) -> String {
    let hash = HexDigest::of(&sha256(canonical_request.as_bytes()));
    let mut out = String::with_capacity(ALGORITHM.len() + amz_date.len() + scope.len() + 67);
    for (i, part) in [ALGORITHM, amz_date, scope, hash.as_str()]
        .iter()
        .enumerate()
    {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(part);
    }
    out
}

/// kSigning = HMAC(HMAC(HMAC(HMAC("AWS4" + secret, date), region), service), "aws4_request").
/// Intermediate keys are wiped; the result lives in a zeroizing container.
fn derive_signing_key(secret: &[u8], date: &str, region: &str, service: &str) -> SecretBytes {
    let mut seed = Vec::with_capacity(4 + secret.len());
    seed.extend_from_slice(b"AWS4");
    seed.extend_from_slice(secret);
    let seed = SecretBytes::new(seed);
    let mut k_date = hmac_sha256(seed.expose(), date.as_bytes());
    let mut k_region = hmac_sha256(&k_date, region.as_bytes());
    let mut k_service = hmac_sha256(&k_region, service.as_bytes());
    let mut k_signing = hmac_sha256(&k_service, TERMINATOR.as_bytes());
    let key = SecretBytes::new(k_signing.to_vec());
    for k in [&mut k_date, &mut k_region, &mut k_service, &mut k_signing] {
        trent_crypto::wipe(k);
    }
    key
}

// ---------------------------------------------------------------------------------------------
// Dates, by hand (no date crates): proleptic Gregorian calendar, UTC, unix seconds.
// ---------------------------------------------------------------------------------------------

/// Days since 1970-01-01 of a civil date (Howard Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400; // [0, 399]
    let mp = (month + 9) % 12; // March = 0
    let doy = (153 * mp + 2) / 5 + day - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era * 146_097 + doe - 719_468
}

/// Inverse of [`days_from_civil`]: (year, month, day).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days.saturating_add(719_468);
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

fn is_leap(year: i64) -> bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(year) => 29,
        2 => 28,
        _ => 0,
    }
}

/// Unix seconds for a validated civil date-time, or `None` if any field is out of range.
fn to_unix(year: i64, month: i64, day: i64, hour: i64, minute: i64, second: i64) -> Option<i64> {
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && (0..24).contains(&hour)
        && (0..60).contains(&minute)
        && (0..60).contains(&second);
    valid.then(|| days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

/// A run of ASCII digits as a number; `None` if empty, not all digits, or too long to be sane.
fn parse_digits(bytes: &[u8]) -> Option<i64> {
    if bytes.is_empty() || bytes.len() > 12 || !bytes.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(
        bytes
            .iter()
            .fold(0i64, |acc, b| acc * 10 + i64::from(b - b'0')),
    )
}

/// `YYYYMMDDTHHMMSSZ` (ISO 8601 basic format, UTC) to unix seconds.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() != 16 || b.get(8) != Some(&b'T') || b.get(15) != Some(&b'Z') {
        return None;
    }
    let field = |from: usize, to: usize| b.get(from..to).and_then(parse_digits);
    to_unix(
        field(0, 4)?,
        field(4, 6)?,
        field(6, 8)?,
        field(9, 11)?,
        field(11, 13)?,
        field(13, 15)?,
    )
}

/// Unix seconds to `YYYYMMDDTHHMMSSZ`.
pub fn format_amz_date(secs: i64) -> String {
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// RFC 1123 / IMF-fixdate, e.g. `Sun, 06 Nov 1994 08:49:37 GMT`, to unix seconds. The weekday
/// must agree with the date.
fn parse_rfc1123(s: &str) -> Option<i64> {
    let mut parts = s.split(' ');
    let weekday = parts.next()?.strip_suffix(',')?;
    let weekday = WEEKDAYS.iter().position(|w| *w == weekday)?;
    let day = parts.next().filter(|d| d.len() == 2)?;
    let month = parts.next()?;
    let month = MONTHS.iter().position(|m| *m == month)?;
    let year = parts.next().filter(|y| y.len() == 4)?;
    let time = parts.next().filter(|t| t.len() == 8)?;
    if parts.next()? != "GMT" || parts.next().is_some() {
        return None;
    }
    let mut hms = time.split(':');
    let hour = parse_digits(hms.next()?.as_bytes())?;
    let minute = parse_digits(hms.next()?.as_bytes())?;
    let second = parse_digits(hms.next()?.as_bytes())?;
    if hms.next().is_some() {
        return None;
    }
    let month = i64::try_from(month).ok()? + 1;
    let secs = to_unix(
        parse_digits(year.as_bytes())?,
        month,
        parse_digits(day.as_bytes())?,
        hour,
        minute,
        second,
    )?;
    // 1970-01-01 was a Thursday (index 4).
    let actual_weekday = (secs.div_euclid(86_400) + 4).rem_euclid(7);
    (i64::try_from(weekday).ok()? == actual_weekday).then_some(secs)
}

/// `SystemTime` to unix seconds, saturating; times before 1970 are negative.
fn unix_seconds(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_secs())
            .map(|s| -s)
            .unwrap_or(i64::MIN),
    }
}

/// "5 min." for whole minutes (AWS's wording), otherwise "N sec.".
fn describe_duration(secs: i64) -> String {
    if secs % 60 == 0 {
        format!("{} min.", secs / 60)
    } else {
        format!("{secs} sec.")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AKID: &str = "AKIDEXAMPLE";
    const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
    const SUITE_DATE: &str = "20150830T123600Z";
    const SUITE_UNIX: u64 = 1_440_938_160;
    const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    struct Store(HashMap<String, Credential>);

    impl CredentialStore for Store {
        fn lookup(&self, access_key_id: &str) -> Option<&Credential> {
            self.0.get(access_key_id)
        }
    }

    fn cred(akid: &str, secret: &str) -> Credential {
        Credential {
            access_key_id: akid.to_owned(),
            secret_access_key: SecretBytes::new(secret.as_bytes().to_vec()),
            account_id: "111122223333".to_owned(),
            session_token: None,
        }
    }

    fn cred_with_token(token: Option<&str>) -> Credential {
        Credential {
            session_token: token.map(|t| SecretBytes::new(t.as_bytes().to_vec())),
            ..cred(AKID, SECRET)
        }
    }

    fn store_with(creds: &[Credential]) -> Store {
        Store(
            creds
                .iter()
                .map(|c| (c.access_key_id.clone(), c.clone()))
                .collect(),
        )
    }

    fn at(unix: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(unix)
    }

    fn suite_now() -> SystemTime {
        at(SUITE_UNIX)
    }

    fn with_auth<'a>(headers: &[(&'a str, &'a str)], auth: &'a str) -> Vec<(&'a str, &'a str)> {
        let mut h = headers.to_vec();
        h.push(("Authorization", auth));
        h
    }

    /// One vector of the public AWS SigV4 test suite (`aws-sig-v4-test-suite`, AKIDEXAMPLE,
    /// 20150830T123600Z, us-east-1, service "service").
    struct Vector {
        name: &'static str,
        method: &'static str,
        path: &'static str,
        query: &'static str,
        headers: &'static [(&'static str, &'static str)],
        body: &'static [u8],
        creq: &'static str,
        sts_hash: &'static str,
        authz: &'static str,
    }

    const SUITE: &[Vector] = &[
        Vector {
            name: "get-vanilla",
            method: "GET",
            path: "/",
            query: "",
            headers: &[("Host", "example.amazonaws.com"), ("X-Amz-Date", SUITE_DATE)],
            body: b"",
            creq: "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            sts_hash: "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
            authz: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        },
        Vector {
            name: "get-vanilla-query-order-key-case",
            method: "GET",
            path: "/",
            query: "Param2=value2&Param1=value1",
            headers: &[("Host", "example.amazonaws.com"), ("X-Amz-Date", SUITE_DATE)],
            body: b"",
            creq: "GET\n/\nParam1=value1&Param2=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            sts_hash: "816cd5b414d056048ba4f7c5386d6e0533120fb1fcfa93762cf0fc39e2cf19e0",
            authz: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        },
        Vector {
            name: "get-vanilla-query-order-key",
            method: "GET",
            path: "/",
            query: "Param1=value2&Param1=Value1",
            headers: &[("Host", "example.amazonaws.com"), ("X-Amz-Date", SUITE_DATE)],
            body: b"",
            creq: "GET\n/\nParam1=Value1&Param1=value2\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            sts_hash: "704b4cef673542d84cdff252633f065e8daeba5f168b77116f8b1bcaf3d38f89",
            authz: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1",
        },
        Vector {
            name: "get-vanilla-query-unreserved",
            method: "GET",
            path: "/",
            query: "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            headers: &[("Host", "example.amazonaws.com"), ("X-Amz-Date", SUITE_DATE)],
            body: b"",
            creq: "GET\n/\n-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz=-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            sts_hash: "c30d4703d9f799439be92736156d47ccfb2d879ddf56f5befa6d1d6aab979177",
            authz: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197",
        },
        Vector {
            name: "get-vanilla-utf8-query",
            method: "GET",
            path: "/",
            query: "\u{1234}=bar",
            headers: &[("Host", "example.amazonaws.com"), ("X-Amz-Date", SUITE_DATE)],
            body: b"",
            creq: "GET\n/\n%E1%88%B4=bar\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            sts_hash: "eb30c5bed55734080471a834cc727ae56beb50e5f39d1bff6d0d38cb192a7073",
            authz: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04",
        },
        Vector {
            name: "get-header-key-duplicate",
            method: "GET",
            path: "/",
            query: "",
            headers: &[
                ("Host", "example.amazonaws.com"),
                ("My-Header1", "value2"),
                ("My-Header1", "value2"),
                ("My-Header1", "value1"),
                ("X-Amz-Date", SUITE_DATE),
            ],
            body: b"",
            creq: "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value2,value2,value1\nx-amz-date:20150830T123600Z\n\nhost;my-header1;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            sts_hash: "dc7f04a3abfde8d472b0ab1a418b741b7c67174dad1551b4117b15527fbe966c",
            authz: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;my-header1;x-amz-date, Signature=c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea",
        },
        Vector {
            name: "get-header-value-trim",
            method: "GET",
            path: "/",
            query: "",
            headers: &[
                ("Host", "example.amazonaws.com"),
                ("My-Header1", " value1"),
                ("My-Header2", " \"a   b   c\""),
                ("X-Amz-Date", SUITE_DATE),
            ],
            body: b"",
            creq: "GET\n/\n\nhost:example.amazonaws.com\nmy-header1:value1\nmy-header2:\"a b c\"\nx-amz-date:20150830T123600Z\n\nhost;my-header1;my-header2;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            sts_hash: "a726db9b0df21c14f559d0a978e563112acb1b9e05476f0a6a1c7d68f28605c7",
            authz: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;my-header1;my-header2;x-amz-date, Signature=acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
        },
        Vector {
            name: "get-unreserved",
            method: "GET",
            path: "/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
            query: "",
            headers: &[("Host", "example.amazonaws.com"), ("X-Amz-Date", SUITE_DATE)],
            body: b"",
            creq: "GET\n/-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            sts_hash: "6a968768eefaa713e2a6b16b589a8ea192661f098f37349f4e2c0082757446f9",
            authz: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f",
        },
        Vector {
            name: "get-space",
            method: "GET",
            path: "/example space/",
            query: "",
            headers: &[("Host", "example.amazonaws.com"), ("X-Amz-Date", SUITE_DATE)],
            body: b"",
            creq: "GET\n/example%20space/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            sts_hash: "63ee75631ed7234ae61b5f736dfc7754cdccfedbff4b5128a915706ee9390d86",
            authz: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741",
        },
        Vector {
            name: "get-slashes",
            method: "GET",
            path: "//example//",
            query: "",
            headers: &[("Host", "example.amazonaws.com"), ("X-Amz-Date", SUITE_DATE)],
            body: b"",
            creq: "GET\n/example/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            sts_hash: "cb96b4ac96d501f7c5c15bc6d67b3035061cfced4af6585ad927f7e6c985c015",
            authz: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84",
        },
        Vector {
            name: "get-slash-pointless-dot",
            method: "GET",
            path: "/./example",
            query: "",
            headers: &[("Host", "example.amazonaws.com"), ("X-Amz-Date", SUITE_DATE)],
            body: b"",
            creq: "GET\n/example\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            sts_hash: "214d50c111a8edc4819da6a636336472c916b5240f51e9a51b5c3305180cf702",
            authz: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5",
        },
        Vector {
            name: "get-relative-relative",
            method: "GET",
            path: "/example1/example2/../..",
            query: "",
            headers: &[("Host", "example.amazonaws.com"), ("X-Amz-Date", SUITE_DATE)],
            body: b"",
            creq: "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            sts_hash: "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63",
            authz: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        },
        Vector {
            name: "post-vanilla",
            method: "POST",
            path: "/",
            query: "",
            headers: &[("Host", "example.amazonaws.com"), ("X-Amz-Date", SUITE_DATE)],
            body: b"",
            creq: "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            sts_hash: "553f88c9e4d10fc9e109e2aeb65f030801b70c2f6468faca261d401ae622fc87",
            authz: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b",
        },
        Vector {
            name: "post-vanilla-query",
            method: "POST",
            path: "/",
            query: "Param1=value1",
            headers: &[("Host", "example.amazonaws.com"), ("X-Amz-Date", SUITE_DATE)],
            body: b"",
            creq: "POST\n/\nParam1=value1\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\nhost;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            sts_hash: "9d659678c1756bb3113e2ce898845a0a79dbbc57b740555917687f1b3340fbbd",
            authz: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, Signature=28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
        },
        Vector {
            name: "post-sts-header-before",
            method: "POST",
            path: "/",
            query: "",
            headers: &[
                ("Host", "example.amazonaws.com"),
                ("X-Amz-Date", SUITE_DATE),
                ("X-Amz-Security-Token", "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA=="),
            ],
            body: b"",
            creq: "POST\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\nx-amz-security-token:AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==\n\nhost;x-amz-date;x-amz-security-token\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            sts_hash: "c237e1b440d4c63c32ca95b5b99481081cb7b13c7e40434868e71567c1a882f6",
            authz: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date;x-amz-security-token, Signature=85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
        },
        Vector {
            name: "post-x-www-form-urlencoded",
            method: "POST",
            path: "/",
            query: "",
            headers: &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Host", "example.amazonaws.com"),
                ("X-Amz-Date", SUITE_DATE),
            ],
            body: b"Param1=value1",
            creq: "POST\n/\n\ncontent-type:application/x-www-form-urlencoded\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
            sts_hash: "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281",
            authz: "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
        },
    ];

    fn vector_request<'a>(v: &'a Vector, headers: &'a [(&'a str, &'a str)]) -> SignedRequest<'a> {
        SignedRequest {
            method: v.method,
            path: v.path,
            query: v.query,
            headers,
            body: v.body,
        }
    }

    fn signed_header_list(authz: &str) -> Vec<String> {
        let list = authz
            .split("SignedHeaders=")
            .nth(1)
            .and_then(|s| s.split(',').next())
            .unwrap();
        list.split(';').map(str::to_owned).collect()
    }

    #[test]
    fn suite_canonical_requests_and_strings_to_sign() {
        for v in SUITE {
            let signed = signed_header_list(v.authz);
            let creq = canonical_request(
                v.method,
                v.path,
                &canonical_query(&parse_query(v.query), false),
                v.headers,
                &signed,
                &hex::encode(sha256(v.body)),
            )
            .unwrap();
            assert_eq!(creq, v.creq, "{}: canonical request", v.name);
            let sts = string_to_sign(SUITE_DATE, "20150830/us-east-1/service/aws4_request", &creq);
            assert_eq!(
                sts,
                format!(
                    "AWS4-HMAC-SHA256\n20150830T123600Z\n20150830/us-east-1/service/aws4_request\n{}",
                    v.sts_hash
                ),
                "{}: string to sign",
                v.name
            );
        }
    }

    #[test]
    fn suite_sign_produces_expected_authorization() {
        let c = cred(AKID, SECRET);
        for v in SUITE {
            let got = sign(
                &vector_request(v, v.headers),
                &c,
                "us-east-1",
                "service",
                SUITE_DATE,
            );
            assert_eq!(got, v.authz, "{}", v.name);
        }
    }

    #[test]
    fn suite_verifies_at_signing_time() {
        let verifier = Verifier::new();
        for v in SUITE {
            // The vector signed with a session token is a temporary credential's request.
            let token = v.headers.iter().find(|(n, _)| *n == "X-Amz-Security-Token");
            let store = store_with(&[cred_with_token(token.map(|(_, t)| *t))]);
            let headers = with_auth(v.headers, v.authz);
            let got = verifier.verify(&vector_request(v, &headers), &store, "service", suite_now());
            assert_eq!(
                got,
                Ok(Verified {
                    access_key_id: AKID.to_owned(),
                    account_id: "111122223333".to_owned(),
                    region: "us-east-1".to_owned(),
                    service: "service".to_owned(),
                }),
                "{}",
                v.name
            );
        }
    }

    // The worked example from the AWS IAM/General Reference SigV4 documentation.
    const IAM_HEADERS: &[(&str, &str)] = &[
        ("Host", "iam.amazonaws.com"),
        (
            "Content-Type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
        ("X-Amz-Date", "20150830T123600Z"),
    ];
    const IAM_AUTHZ: &str = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";

    fn iam_request<'a>(headers: &'a [(&'a str, &'a str)]) -> SignedRequest<'a> {
        SignedRequest {
            method: "GET",
            path: "/",
            query: "Action=ListUsers&Version=2010-05-08",
            headers,
            body: b"",
        }
    }

    #[test]
    fn iam_docs_example() {
        let key = derive_signing_key(SECRET.as_bytes(), "20150830", "us-east-1", "iam");
        assert_eq!(
            hex::encode(key.expose()),
            "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
        );
        let signed: Vec<String> = ["content-type", "host", "x-amz-date"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let creq = canonical_request(
            "GET",
            "/",
            &canonical_query(&parse_query("Action=ListUsers&Version=2010-05-08"), false),
            IAM_HEADERS,
            &signed,
            EMPTY_SHA256,
        )
        .unwrap();
        assert_eq!(
            hex::encode(sha256(creq.as_bytes())),
            "f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"
        );
        assert_eq!(
            sign(
                &iam_request(IAM_HEADERS),
                &cred(AKID, SECRET),
                "us-east-1",
                "iam",
                SUITE_DATE
            ),
            IAM_AUTHZ
        );
        let headers = with_auth(IAM_HEADERS, IAM_AUTHZ);
        let store = store_with(&[cred(AKID, SECRET)]);
        let got = Verifier::new()
            .verify(&iam_request(&headers), &store, "iam", suite_now())
            .unwrap();
        assert_eq!(got.service, "iam");
        assert_eq!(got.region, "us-east-1");
    }

    // ---- negative cases, on a KMS-shaped request ----------------------------------------------

    const KMS_BODY: &[u8] = br#"{"KeyId":"alias/test","Plaintext":"aGVsbG8="}"#;

    /// Signs a KMS-like POST at `amz_date` for `secret` and returns its headers incl. auth.
    fn kms_headers(amz_date: &str, secret: &str, service: &str) -> Vec<(String, String)> {
        kms_headers_for(amz_date, secret, service, "us-east-1", KMS_BODY)
    }

    fn kms_headers_for(
        amz_date: &str,
        secret: &str,
        service: &str,
        region: &str,
        body: &[u8],
    ) -> Vec<(String, String)> {
        let base: Vec<(&str, &str)> = vec![
            ("Host", "kms.us-east-1.amazonaws.com"),
            ("Content-Type", "application/x-amz-json-1.1"),
            ("X-Amz-Target", "TrentService.Encrypt"),
            ("X-Amz-Date", amz_date),
        ];
        let req = SignedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &base,
            body,
        };
        let auth = sign(&req, &cred(AKID, secret), region, service, amz_date);
        let mut out: Vec<(String, String)> = base
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect();
        out.push(("Authorization".to_owned(), auth));
        out
    }

    fn verify_owned(
        verifier: &Verifier,
        headers: &[(String, String)],
        body: &[u8],
        store: &Store,
        now: SystemTime,
    ) -> Result<Verified, AuthError> {
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        let req = SignedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body,
        };
        verifier.verify(&req, store, "kms", now)
    }

    fn set_header(headers: &mut [(String, String)], name: &str, value: String) {
        for (n, v) in headers.iter_mut() {
            if n.eq_ignore_ascii_case(name) {
                *v = value.clone();
            }
        }
    }

    fn kms_store() -> Store {
        store_with(&[cred(AKID, SECRET)])
    }

    #[test]
    fn kms_round_trip() {
        let headers = kms_headers(SUITE_DATE, SECRET, "kms");
        let got = verify_owned(
            &Verifier::new(),
            &headers,
            KMS_BODY,
            &kms_store(),
            suite_now(),
        );
        assert_eq!(got.unwrap().service, "kms");
    }

    /// Signs `headers` as they are (so every one is signed), then appends `unsigned` headers.
    fn signed_then_added(
        headers: &[(&str, &str)],
        unsigned: &[(&str, &str)],
    ) -> Vec<(String, String)> {
        let req = SignedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers,
            body: KMS_BODY,
        };
        let auth = sign(&req, &cred(AKID, SECRET), "us-east-1", "kms", SUITE_DATE);
        headers
            .iter()
            .chain(unsigned)
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .chain([("Authorization".to_owned(), auth)])
            .collect()
    }

    const KMS_REQUIRED: &[&str] = &["host", "x-amz-target"];

    #[test]
    fn unsigned_target_is_refused_when_required() {
        let base = [
            ("Host", "kms.us-east-1.amazonaws.com"),
            ("X-Amz-Date", SUITE_DATE),
        ];
        let headers = signed_then_added(&base, &[("X-Amz-Target", "TrentService.DisableKey")]);
        let store = kms_store();
        // The signature itself is good; only the rule on what it covers refuses it.
        assert!(verify_owned(&Verifier::new(), &headers, KMS_BODY, &store, suite_now()).is_ok());
        let err = verify_owned(
            &Verifier::requiring(KMS_REQUIRED),
            &headers,
            KMS_BODY,
            &store,
            suite_now(),
        )
        .unwrap_err();
        assert_eq!(err.aws_code(), "IncompleteSignatureException");
        assert_eq!(
            err.to_string(),
            "'X-Amz-Target' must be a 'SignedHeader' in the AWS Authorization."
        );
    }

    #[test]
    fn repeated_required_headers_are_refused_even_when_signed() {
        for (name, first, second) in [
            (
                "X-Amz-Target",
                "TrentService.DescribeKey",
                "TrentService.DisableKey",
            ),
            ("Host", "kms.us-east-1.amazonaws.com", "evil.example"),
        ] {
            let mut base = vec![("X-Amz-Date", SUITE_DATE), (name, first), (name, second)];
            if name != "Host" {
                base.push(("Host", "kms.us-east-1.amazonaws.com"));
            } else {
                base.push(("X-Amz-Target", "TrentService.DescribeKey"));
            }
            let headers = signed_then_added(&base, &[]);
            let store = kms_store();
            let err = verify_owned(
                &Verifier::requiring(KMS_REQUIRED),
                &headers,
                KMS_BODY,
                &store,
                suite_now(),
            )
            .unwrap_err();
            assert_eq!(err.aws_code(), "IncompleteSignatureException", "{name}");
        }
    }

    #[test]
    fn tampered_signature_is_rejected() {
        let mut headers = kms_headers(SUITE_DATE, SECRET, "kms");
        let auth = headers.last().unwrap().1.clone();
        let last = auth.chars().last().unwrap();
        let flipped = if last == '0' { '1' } else { '0' };
        let tampered = format!("{}{flipped}", &auth[..auth.len() - 1]);
        set_header(&mut headers, "authorization", tampered);
        let got = verify_owned(
            &Verifier::new(),
            &headers,
            KMS_BODY,
            &kms_store(),
            suite_now(),
        );
        assert_eq!(got, Err(AuthError::SignatureDoesNotMatch));
    }

    #[test]
    fn wrong_secret_is_rejected() {
        let headers = kms_headers(SUITE_DATE, "not-the-secret", "kms");
        let got = verify_owned(
            &Verifier::new(),
            &headers,
            KMS_BODY,
            &kms_store(),
            suite_now(),
        );
        assert_eq!(got, Err(AuthError::SignatureDoesNotMatch));
    }

    #[test]
    fn body_changed_after_signing_is_rejected() {
        let headers = kms_headers(SUITE_DATE, SECRET, "kms");
        let other = br#"{"KeyId":"alias/test","Plaintext":"ZXZpbA=="}"#;
        let got = verify_owned(&Verifier::new(), &headers, other, &kms_store(), suite_now());
        assert_eq!(got, Err(AuthError::SignatureDoesNotMatch));
    }

    #[test]
    fn signed_header_changed_after_signing_is_rejected() {
        let mut headers = kms_headers(SUITE_DATE, SECRET, "kms");
        set_header(
            &mut headers,
            "x-amz-target",
            "TrentService.Decrypt".to_owned(),
        );
        let got = verify_owned(
            &Verifier::new(),
            &headers,
            KMS_BODY,
            &kms_store(),
            suite_now(),
        );
        assert_eq!(got, Err(AuthError::SignatureDoesNotMatch));
    }

    #[test]
    fn content_sha256_header_must_match_body() {
        let verifier = Verifier::new();
        let store = kms_store();
        let body_hash = hex::encode(sha256(KMS_BODY));
        // Correct declared hash, added after signing (unsigned header): fine.
        let mut headers = kms_headers(SUITE_DATE, SECRET, "kms");
        headers.push(("X-Amz-Content-Sha256".to_owned(), body_hash));
        assert!(verify_owned(&verifier, &headers, KMS_BODY, &store, suite_now()).is_ok());
        // Wrong declared hash: rejected even though the signature itself covers the real body.
        set_header(
            &mut headers,
            "x-amz-content-sha256",
            EMPTY_SHA256.to_owned(),
        );
        assert_eq!(
            verify_owned(&verifier, &headers, KMS_BODY, &store, suite_now()),
            Err(AuthError::SignatureDoesNotMatch)
        );
    }

    #[test]
    fn unsigned_payload_is_never_honoured() {
        // A client that signs the literal UNSIGNED-PAYLOAD must not be accepted: the body would
        // then be unauthenticated.
        let base: Vec<(&str, &str)> = vec![
            ("Host", "kms.us-east-1.amazonaws.com"),
            ("X-Amz-Content-Sha256", UNSIGNED_PAYLOAD),
            ("X-Amz-Date", SUITE_DATE),
        ];
        let signed: Vec<String> = ["host", "x-amz-content-sha256", "x-amz-date"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let creq = canonical_request("POST", "/", "", &base, &signed, UNSIGNED_PAYLOAD).unwrap();
        let scope = "20150830/us-east-1/kms/aws4_request";
        let key = derive_signing_key(SECRET.as_bytes(), "20150830", "us-east-1", "kms");
        let sig = hex::encode(hmac_sha256(
            key.expose(),
            string_to_sign(SUITE_DATE, scope, &creq).as_bytes(),
        ));
        let auth = format!(
            "AWS4-HMAC-SHA256 Credential={AKID}/{scope}, SignedHeaders={}, Signature={sig}",
            signed.join(";")
        );
        let headers = with_auth(&base, &auth);
        let req = SignedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &headers,
            body: KMS_BODY,
        };
        assert_eq!(
            Verifier::new().verify(&req, &kms_store(), "kms", suite_now()),
            Err(AuthError::SignatureDoesNotMatch)
        );
    }

    #[test]
    fn unknown_access_key_is_unrecognized() {
        let headers = kms_headers(SUITE_DATE, SECRET, "kms");
        let empty = store_with(&[cred("AKIDOTHER", SECRET)]);
        let got = verify_owned(&Verifier::new(), &headers, KMS_BODY, &empty, suite_now());
        assert_eq!(got, Err(AuthError::UnrecognizedClient));
        assert_eq!(
            AuthError::UnrecognizedClient.aws_code(),
            "UnrecognizedClientException"
        );
        assert_eq!(
            AuthError::UnrecognizedClient.to_string(),
            "The security token included in the request is invalid."
        );
    }

    /// A session token is part of a temporary credential: a long-term key refuses any token
    /// (AWS refuses a token it did not issue), a temporary one needs its own, in the header or
    /// in a presigned query, and all are refused as an unknown key is.
    #[test]
    fn a_session_token_must_be_the_credentials_own() {
        let vector = |name: &str| SUITE.iter().find(|v| v.name == name).unwrap();
        let verify = |v: &Vector, token: Option<&str>| {
            let headers = with_auth(v.headers, v.authz);
            let store = store_with(&[cred_with_token(token)]);
            Verifier::new().verify(&vector_request(v, &headers), &store, "service", suite_now())
        };
        let with = vector("post-sts-header-before");
        let sent = with.headers[2].1;
        assert!(verify(with, Some(sent)).is_ok());
        let unrecognized = Err(AuthError::UnrecognizedClient);
        assert_eq!(verify(with, None), unrecognized);
        assert_eq!(verify(with, Some(&sent[1..])), unrecognized);
        assert_eq!(verify(with, Some(&format!("{sent}x"))), unrecognized);
        assert_eq!(verify(vector("post-vanilla"), Some(sent)), unrecognized);
        assert!(verify(vector("post-vanilla"), None).is_ok());
        // Sent twice: ambiguous, whichever the credential holds.
        let mut twice = with.headers.to_vec();
        twice.push(("x-amz-security-token", sent));
        twice.push(("Authorization", with.authz));
        let store = store_with(&[cred_with_token(Some(sent))]);
        let got = Verifier::new().verify(
            &vector_request(with, &twice),
            &store,
            "service",
            suite_now(),
        );
        assert!(
            matches!(got, Err(AuthError::IncompleteSignature(_))),
            "{got:?}"
        );

        // A presigned request carries its token in the query (signed, as the query is).
        let query = presign(SECRET, SUITE_DATE, 600, b"");
        let with_token = format!("{query}&X-Amz-Security-Token=abc%2Bdef");
        let verify = |query: &str, token: Option<&str>| {
            verify_presigned_in(
                &store_with(&[cred_with_token(token)]),
                query,
                &[],
                suite_now(),
            )
        };
        assert_eq!(verify(&with_token, None), unrecognized);
        assert_eq!(verify(&with_token, Some("abc+deg")), unrecognized);
        assert_eq!(verify(&query, Some("abc+def")), unrecognized);
        // The right token passes the credential check; appended after signing, it is not signed.
        assert_eq!(
            verify(&with_token, Some("abc+def")),
            Err(AuthError::SignatureDoesNotMatch)
        );
        assert!(verify(&query, None).is_ok());
        // In the header and the query both: ambiguous.
        let got = verify_presigned_in(
            &store_with(&[cred_with_token(Some("abc+def"))]),
            &with_token,
            &[("X-Amz-Security-Token", "abc+def")],
            suite_now(),
        );
        assert!(
            matches!(got, Err(AuthError::IncompleteSignature(_))),
            "{got:?}"
        );
    }

    #[test]
    fn missing_authorization_is_missing_token() {
        let mut headers = kms_headers(SUITE_DATE, SECRET, "kms");
        headers.pop();
        let got = verify_owned(
            &Verifier::new(),
            &headers,
            KMS_BODY,
            &kms_store(),
            suite_now(),
        );
        assert_eq!(got, Err(AuthError::MissingAuthenticationToken));
        assert_eq!(
            AuthError::MissingAuthenticationToken.aws_code(),
            "MissingAuthenticationTokenException"
        );
        assert_eq!(
            AuthError::MissingAuthenticationToken.to_string(),
            "Missing Authentication Token"
        );
    }

    #[test]
    fn garbage_authorization_is_incomplete() {
        let garbage = [
            "garbage",
            "AWS4-HMAC-SHA256",
            "AWS4-HMAC-SHA256 ",
            "AWS4-HMAC-SHA512 Credential=AKIDEXAMPLE/20150830/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/kms, SignedHeaders=host;x-amz-date, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/kms/aws4_request/x, SignedHeaders=host;x-amz-date, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/kms/aws4_request, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/kms/aws4_request, SignedHeaders=x-amz-date, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/kms/aws4_request, SignedHeaders=host;;x-amz-date, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/kms/aws4_other, SignedHeaders=host;x-amz-date, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150831/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/2015083/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830//kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=00, Foo=bar",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/kms/aws4_request, Credential=AKIDEXAMPLE/20150830/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=",
            "AWS4-HMAC-SHA256 Credential",
        ];
        let store = kms_store();
        let verifier = Verifier::new();
        for auth in garbage {
            let mut headers = kms_headers(SUITE_DATE, SECRET, "kms");
            set_header(&mut headers, "authorization", auth.to_owned());
            let got = verify_owned(&verifier, &headers, KMS_BODY, &store, suite_now());
            let Err(err) = got else {
                panic!("accepted {auth:?}")
            };
            assert_eq!(
                err.aws_code(),
                "IncompleteSignatureException",
                "{auth}: {err:?}"
            );
        }
    }

    #[test]
    fn wrong_service_in_scope_is_incomplete() {
        let headers = kms_headers(SUITE_DATE, SECRET, "s3");
        let got = verify_owned(
            &Verifier::new(),
            &headers,
            KMS_BODY,
            &kms_store(),
            suite_now(),
        );
        assert_eq!(
            got,
            Err(AuthError::IncompleteSignature(
                "Credential should be scoped to correct service: 'kms'.".to_owned()
            ))
        );
    }

    #[test]
    fn missing_date_is_incomplete_and_date_header_is_a_fallback() {
        let store = kms_store();
        let verifier = Verifier::new();
        // Signed with an RFC 1123 Date header and no X-Amz-Date.
        let base: Vec<(&str, &str)> = vec![
            ("Host", "kms.us-east-1.amazonaws.com"),
            ("Date", "Sun, 30 Aug 2015 12:36:00 GMT"),
        ];
        let req = SignedRequest {
            method: "POST",
            path: "/",
            query: "",
            headers: &base,
            body: KMS_BODY,
        };
        let auth = sign(&req, &cred(AKID, SECRET), "us-east-1", "kms", SUITE_DATE);
        let headers = with_auth(&base, &auth);
        let req = SignedRequest {
            headers: &headers,
            ..req
        };
        assert!(verifier.verify(&req, &store, "kms", suite_now()).is_ok());

        // Neither date header: incomplete.
        let mut headers = kms_headers(SUITE_DATE, SECRET, "kms");
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case("x-amz-date"));
        let err = verify_owned(&verifier, &headers, KMS_BODY, &store, suite_now()).unwrap_err();
        assert_eq!(err.aws_code(), "IncompleteSignatureException");

        // A Date header that is not RFC 1123 (or has the wrong weekday) does not count.
        for bad in ["2015-08-30T12:36:00Z", "Mon, 30 Aug 2015 12:36:00 GMT"] {
            let mut h = headers.clone();
            h.push(("Date".to_owned(), bad.to_owned()));
            let err = verify_owned(&verifier, &h, KMS_BODY, &store, suite_now()).unwrap_err();
            assert_eq!(err.aws_code(), "IncompleteSignatureException", "{bad}");
        }

        // A malformed X-Amz-Date: incomplete.
        let mut headers = kms_headers(SUITE_DATE, SECRET, "kms");
        set_header(&mut headers, "x-amz-date", "20150830 123600".to_owned());
        let err = verify_owned(&verifier, &headers, KMS_BODY, &store, suite_now()).unwrap_err();
        assert_eq!(err.aws_code(), "IncompleteSignatureException");
    }

    #[test]
    fn scope_date_must_match_request_date() {
        let mut headers = kms_headers(SUITE_DATE, SECRET, "kms");
        set_header(&mut headers, "x-amz-date", "20150831T000100Z".to_owned());
        let got = verify_owned(
            &Verifier::new(),
            &headers,
            KMS_BODY,
            &kms_store(),
            suite_now(),
        );
        assert_eq!(
            got,
            Err(AuthError::IncompleteSignature(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '20150830' != '20150831', from '20150831T000100Z'.".to_owned()
            ))
        );
    }

    // ---- clock skew ---------------------------------------------------------------------------

    const SKEW_DATE: &str = "20240820T230143Z";
    const SKEW_UNIX: u64 = 1_724_194_903;

    #[test]
    fn expired_signature_has_aws_message() {
        let headers = kms_headers(SKEW_DATE, SECRET, "kms");
        // now = 23:08:02, i.e. 6 min 19 s after signing.
        let now = at(SKEW_UNIX + 6 * 60 + 19);
        let err =
            verify_owned(&Verifier::new(), &headers, KMS_BODY, &kms_store(), now).unwrap_err();
        assert_eq!(
            err,
            AuthError::SignatureExpired(
                "Signature expired: 20240820T230143Z is now earlier than 20240820T230302Z (20240820T230802Z - 5 min.)".to_owned()
            )
        );
        assert_eq!(err.aws_code(), "InvalidSignatureException");
        assert_eq!(err.to_string(), "Signature expired: 20240820T230143Z is now earlier than 20240820T230302Z (20240820T230802Z - 5 min.)");
    }

    #[test]
    fn future_signature_has_aws_message() {
        let headers = kms_headers("20240820T231143Z", SECRET, "kms");
        // now = 23:05:02, i.e. 6 min 41 s before the request's time.
        let now = at(SKEW_UNIX + 3 * 60 + 19);
        let err =
            verify_owned(&Verifier::new(), &headers, KMS_BODY, &kms_store(), now).unwrap_err();
        assert_eq!(
            err,
            AuthError::SignatureNotYetCurrent(
                "Signature not yet current: 20240820T231143Z is still later than 20240820T231002Z (20240820T230502Z + 5 min.)".to_owned()
            )
        );
        assert_eq!(err.aws_code(), "InvalidSignatureException");
    }

    #[test]
    fn skew_window_is_two_sided() {
        let headers = kms_headers(SUITE_DATE, SECRET, "kms");
        let store = kms_store();
        let v = Verifier::new();
        let ok = |secs: u64| verify_owned(&v, &headers, KMS_BODY, &store, at(secs));
        assert!(ok(SUITE_UNIX + 4 * 60).is_ok());
        assert!(ok(SUITE_UNIX - 4 * 60).is_ok());
        assert!(ok(SUITE_UNIX + 5 * 60).is_ok());
        assert!(ok(SUITE_UNIX - 5 * 60).is_ok());
        assert!(matches!(
            ok(SUITE_UNIX + 6 * 60),
            Err(AuthError::SignatureExpired(_))
        ));
        assert!(matches!(
            ok(SUITE_UNIX - 6 * 60),
            Err(AuthError::SignatureNotYetCurrent(_))
        ));
        // A custom skew is honoured.
        let tight = Verifier::with_skew(Duration::from_secs(30));
        let err =
            verify_owned(&tight, &headers, KMS_BODY, &store, at(SUITE_UNIX + 31)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Signature expired: 20150830T123600Z is now earlier than 20150830T123601Z (20150830T123631Z - 30 sec.)"
        );
    }

    #[test]
    fn bad_signature_is_reported_before_time() {
        let headers = kms_headers(SUITE_DATE, "wrong", "kms");
        let got = verify_owned(
            &Verifier::new(),
            &headers,
            KMS_BODY,
            &kms_store(),
            at(SUITE_UNIX + 3600),
        );
        assert_eq!(got, Err(AuthError::SignatureDoesNotMatch));
    }

    // ---- signing-key cache --------------------------------------------------------------------

    #[test]
    fn cache_is_used_and_invalidated_by_secret_change() {
        let verifier = Verifier::new();
        let headers = kms_headers(SUITE_DATE, SECRET, "kms");
        let store = kms_store();
        assert!(verify_owned(&verifier, &headers, KMS_BODY, &store, suite_now()).is_ok());
        assert_eq!(verifier.cache_len(), 1);
        assert!(verify_owned(&verifier, &headers, KMS_BODY, &store, suite_now()).is_ok());
        assert_eq!(verifier.cache_len(), 1);

        // Rotate the secret under the same access key id: old signatures stop working at once,
        // new ones work.
        let rotated = store_with(&[cred(AKID, "rotated-secret")]);
        assert_eq!(
            verify_owned(&verifier, &headers, KMS_BODY, &rotated, suite_now()),
            Err(AuthError::SignatureDoesNotMatch)
        );
        let new_headers = kms_headers(SUITE_DATE, "rotated-secret", "kms");
        assert!(verify_owned(&verifier, &new_headers, KMS_BODY, &rotated, suite_now()).is_ok());
        assert_eq!(verifier.cache_len(), 1);
        // And back: the rotated-away secret's key is not resurrected from the cache.
        assert_eq!(
            verify_owned(&verifier, &new_headers, KMS_BODY, &store, suite_now()),
            Err(AuthError::SignatureDoesNotMatch)
        );
    }

    #[test]
    fn failed_verifications_do_not_fill_the_cache() {
        let verifier = Verifier::new();
        let headers = kms_headers(SUITE_DATE, "wrong", "kms");
        let _ = verify_owned(&verifier, &headers, KMS_BODY, &kms_store(), suite_now());
        assert_eq!(verifier.cache_len(), 0);
    }

    #[test]
    fn cache_is_bounded() {
        let verifier = Verifier::new();
        let store = kms_store();
        for i in 0..(CACHE_LIMIT + 10) {
            let region = format!("region-{i}");
            let headers = kms_headers_for(SUITE_DATE, SECRET, "kms", &region, KMS_BODY);
            let got = verify_owned(&verifier, &headers, KMS_BODY, &store, suite_now());
            assert_eq!(got.unwrap().region, region);
            assert!(verifier.cache_len() <= CACHE_LIMIT);
        }
    }

    // ---- presigned requests -------------------------------------------------------------------

    /// Builds a presigned query (signing only `host`) the way SDK presigners do.
    fn presign(secret: &str, amz_date: &str, expires: u32, body: &[u8]) -> String {
        let scope = format!("{}/us-east-1/kms/aws4_request", &amz_date[..8]);
        let query = format!(
            "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential={AKID}%2F{}&X-Amz-Date={amz_date}&X-Amz-Expires={expires}&X-Amz-SignedHeaders=host",
            scope.replace('/', "%2F")
        );
        let headers = [("Host", "kms.us-east-1.amazonaws.com")];
        let creq = canonical_request(
            "GET",
            "/",
            &canonical_query(&parse_query(&query), true),
            &headers,
            &["host".to_owned()],
            &hex::encode(sha256(body)),
        )
        .unwrap();
        let key = derive_signing_key(secret.as_bytes(), &amz_date[..8], "us-east-1", "kms");
        let sig = hex::encode(hmac_sha256(
            key.expose(),
            string_to_sign(amz_date, &scope, &creq).as_bytes(),
        ));
        format!("{query}&X-Amz-Signature={sig}")
    }

    fn verify_presigned(
        query: &str,
        extra: &[(&str, &str)],
        now: SystemTime,
    ) -> Result<Verified, AuthError> {
        verify_presigned_in(&kms_store(), query, extra, now)
    }

    /// [`verify_presigned`] against `store`.
    fn verify_presigned_in(
        store: &Store,
        query: &str,
        extra: &[(&str, &str)],
        now: SystemTime,
    ) -> Result<Verified, AuthError> {
        let mut headers = vec![("Host", "kms.us-east-1.amazonaws.com")];
        headers.extend_from_slice(extra);
        let req = SignedRequest {
            method: "GET",
            path: "/",
            query,
            headers: &headers,
            body: b"",
        };
        Verifier::new().verify(&req, store, "kms", now)
    }

    #[test]
    fn presigned_query_auth() {
        let query = presign(SECRET, SUITE_DATE, 600, b"");
        assert!(verify_presigned(&query, &[], suite_now()).is_ok());
        // Valid through its whole lifetime, then expired.
        assert!(verify_presigned(&query, &[], at(SUITE_UNIX + 600)).is_ok());
        assert!(matches!(
            verify_presigned(&query, &[], at(SUITE_UNIX + 601)),
            Err(AuthError::SignatureExpired(_))
        ));
        assert!(matches!(
            verify_presigned(&query, &[], at(SUITE_UNIX - 6 * 60)),
            Err(AuthError::SignatureNotYetCurrent(_))
        ));
        // Extending the lifetime breaks the signature.
        let longer = query.replace("X-Amz-Expires=600", "X-Amz-Expires=6000");
        assert_eq!(
            verify_presigned(&longer, &[], suite_now()),
            Err(AuthError::SignatureDoesNotMatch)
        );
        // Wrong secret.
        let forged = presign("wrong", SUITE_DATE, 600, b"");
        assert_eq!(
            verify_presigned(&forged, &[], suite_now()),
            Err(AuthError::SignatureDoesNotMatch)
        );
        // Header and query auth together are refused.
        let err =
            verify_presigned(&query, &[("Authorization", IAM_AUTHZ)], suite_now()).unwrap_err();
        assert_eq!(err.aws_code(), "IncompleteSignatureException");
        // Missing or out-of-range parameters.
        let no_expiry = query.replace("&X-Amz-Expires=600", "");
        let err = verify_presigned(&no_expiry, &[], suite_now()).unwrap_err();
        assert_eq!(err.aws_code(), "IncompleteSignatureException");
        let too_long = query.replace("X-Amz-Expires=600", "X-Amz-Expires=604801");
        let err = verify_presigned(&too_long, &[], suite_now()).unwrap_err();
        assert_eq!(err.aws_code(), "IncompleteSignatureException");
    }

    // ---- helpers and robustness ---------------------------------------------------------------

    #[test]
    fn dates_round_trip() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
        assert_eq!(days_from_civil(1969, 12, 31), -1);
        for days in (-800_000..800_000).step_by(97) {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(parse_amz_date(SUITE_DATE), Some(SUITE_UNIX as i64));
        assert_eq!(format_amz_date(SUITE_UNIX as i64), SUITE_DATE);
        assert_eq!(parse_amz_date("20240229T000000Z"), Some(1_709_164_800));
        assert_eq!(parse_amz_date("20230229T000000Z"), None);
        assert_eq!(parse_amz_date("20150830T123660Z"), None);
        assert_eq!(parse_amz_date("20150830T243600Z"), None);
        assert_eq!(parse_amz_date("2015083OT123600Z"), None);
        assert_eq!(parse_amz_date("+0150830T123600Z"), None);
        assert_eq!(parse_amz_date("20150830T123600"), None);
        assert_eq!(parse_amz_date("ሴሴሴሴሴT"), None);
        assert_eq!(
            parse_rfc1123("Sun, 30 Aug 2015 12:36:00 GMT"),
            Some(SUITE_UNIX as i64)
        );
        assert_eq!(
            parse_rfc1123("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_rfc1123("Sun, 06 Nov 1994 08:49:37 UTC"), None);
        assert_eq!(parse_rfc1123("Sun, 06 Nov 1994 08:49 GMT"), None);
        assert_eq!(parse_rfc1123("Sunday, 06-Nov-94 08:49:37 GMT"), None);
        assert_eq!(format_amz_date(-1), "19691231T235959Z");
        assert_eq!(unix_seconds(UNIX_EPOCH - Duration::from_secs(5)), -5);
    }

    #[test]
    fn canonical_uri_cases() {
        assert_eq!(canonical_uri("/"), "/");
        assert_eq!(canonical_uri(""), "/");
        assert_eq!(canonical_uri("//"), "/");
        assert_eq!(canonical_uri("/./"), "/");
        assert_eq!(canonical_uri("/example/.."), "/");
        assert_eq!(canonical_uri("/a/b/../c"), "/a/c");
        assert_eq!(canonical_uri("/a/b/.."), "/a/");
        assert_eq!(canonical_uri("/../.."), "/");
        // Encoded once, as sent: an encoded space becomes %2520 (what SDKs sign).
        assert_eq!(canonical_uri("/example%20space"), "/example%2520space");
        assert_eq!(canonical_uri("/ሴ"), "/%E1%88%B4");
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let c = cred(AKID, SECRET);
        let shown = format!("{c:?}");
        assert!(shown.contains(AKID));
        assert!(!shown.contains("wJalr"));
        let headers = [("Authorization", IAM_AUTHZ)];
        let req = SignedRequest {
            method: "POST",
            path: "/",
            query: "X-Amz-Signature=abc",
            headers: &headers,
            body: b"top secret plaintext",
        };
        let shown = format!("{req:?}");
        assert!(!shown.contains("5d672d79"));
        assert!(!shown.contains("top secret"));
        assert!(!shown.contains("abc"));
        let verifier = Verifier::default();
        assert!(format!("{verifier:?}").contains("cached_keys"));
    }

    /// Deterministic mutation of a valid request: every outcome must be an `Err` or `Ok`, never a
    /// panic, whatever bytes land where.
    #[test]
    fn mutated_inputs_never_panic() {
        let headers = kms_headers(SUITE_DATE, SECRET, "kms");
        let auth = headers.last().unwrap().1.clone();
        let store = kms_store();
        let verifier = Verifier::new();
        let presigned = presign(SECRET, SUITE_DATE, 600, b"");
        let replacements = [
            "", " ", ",", "=", "/", ";", "ሴ", "\u{0}", "%", "%zz", "..", "\t",
        ];
        let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..3000 {
            let chars: Vec<char> = auth.chars().collect();
            let at_char = (next() % chars.len() as u64) as usize;
            let rep = replacements[(next() % replacements.len() as u64) as usize];
            let mutated: String = chars[..at_char].iter().collect::<String>()
                + rep
                + &chars[at_char + 1..].iter().collect::<String>();
            let mut h = headers.clone();
            set_header(&mut h, "authorization", mutated.clone());
            if next() % 2 == 0 {
                set_header(
                    &mut h,
                    "x-amz-date",
                    mutated.chars().rev().take(16).collect(),
                );
            }
            let _ = verify_owned(&verifier, &h, KMS_BODY, &store, suite_now());
            let q: Vec<char> = presigned.chars().collect();
            let at_q = (next() % q.len() as u64) as usize;
            let mutated_q: String = q[..at_q].iter().collect::<String>()
                + rep
                + &q[at_q + 1..].iter().collect::<String>();
            let _ = verify_presigned(&mutated_q, &[], suite_now());
        }
        // Extremes: huge header, odd times, empty everything.
        let huge = "a".repeat(1 << 20);
        let h = vec![
            ("Host".to_owned(), huge.clone()),
            (
                "Authorization".to_owned(),
                format!("AWS4-HMAC-SHA256 {huge}"),
            ),
        ];
        assert!(verify_owned(&verifier, &h, KMS_BODY, &store, suite_now()).is_err());
        let far = UNIX_EPOCH + Duration::from_secs(u64::MAX / 4);
        assert!(verify_owned(&verifier, &headers, KMS_BODY, &store, far).is_err());
        let early = UNIX_EPOCH - Duration::from_secs(10_000_000_000);
        assert!(verify_owned(&verifier, &headers, KMS_BODY, &store, early).is_err());
        let req = SignedRequest {
            method: "",
            path: "",
            query: "&&=&%",
            headers: &[],
            body: b"",
        };
        assert_eq!(
            verifier.verify(&req, &store, "kms", suite_now()),
            Err(AuthError::MissingAuthenticationToken)
        );
    }
}
