//! Alibaba Cloud request signatures, verified against the same credential store as SigV4:
//!
//! * **ACS3-HMAC-SHA256** (`Authorization` header): what `alibabacloud-kms20160120` sends by
//!   default. Canonical request over the method, path, query, the headers the client lists in
//!   `SignedHeaders`, and the body's SHA-256; HMAC-SHA256 under the AccessKey secret.
//! * **ACS4-HMAC-SHA256**: the same canonical request with a date/region/product-scoped key
//!   (the SDK's opt-in `signature_version='v4'`).
//! * **RPC HMAC-SHA1, SignatureVersion 1.0** (`Signature` parameter): what the legacy
//!   `aliyun-python-sdk-kms` (and the current SDK with `signature_algorithm='v2'`) sends.
//!
//! Fails closed: a request with no signature, an unknown scheme, an unknown access key, a
//! signature that does not match, a time more than [`SKEW`] away from ours, or a nonce already
//! seen is refused. Checks run in that order, so an unauthenticated caller learns nothing about
//! our clock or the nonces others used; a nonce is remembered only once its signature verified.
//!
//! Must not log anything (parameters carry plaintexts) or reveal a secret.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use parking_lot::Mutex;
use trent_crypto::{constant_time_eq, hmac_sha1, hmac_sha256, sha256};
use trent_dialect::{Credential, CredentialStore, SignedRequest};
use zeroize::Zeroizing;

use crate::error::AliyunError;
use crate::params::{encode, Params};
use crate::time;

/// How far a request's time may be from ours, either way (Alibaba's gateway uses 15 minutes).
pub const SKEW: Duration = Duration::from_secs(15 * 60);
/// Nonces remembered at most (about 80 bytes each, ~80 MB when full; a nonce is kept about
/// 15 minutes, so this allows some 1,000 signed requests per second sustained). When full of
/// unexpired nonces, requests are refused rather than nonces forgotten early: forgetting would
/// reopen a replay window.
const MAX_NONCES: usize = 1_000_000;
/// Nonces one access key may hold of [`MAX_NONCES`] once the cache is half full: a credential
/// that signs requests as fast as it can (or dates them 15 minutes ahead, so each nonce is kept
/// 30) is throttled first, and the other credentials keep at least half the cache. Below half,
/// one busy credential may use it all.
const MAX_NONCES_PER_KEY: usize = MAX_NONCES / 4;
/// Longest nonce accepted (the SDKs send 32 hex characters); bounds the cache's memory.
const MAX_NONCE_LEN: usize = 128;
/// Headers an ACS3/ACS4 signature must cover: the target host (no replay against another
/// endpoint), the time and nonce (no replay at all), the body hash, and the operation.
const REQUIRED_SIGNED_HEADERS: &[&str] = &[
    "host",
    "x-acs-action",
    "x-acs-content-sha256",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-version",
];

/// What a verified request proved, and the operation it signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    pub access_key_id: String,
    pub account_id: String,
    /// The region the signature is scoped to (ACS4 only).
    pub region: Option<String>,
    /// The action and API version, taken from where the scheme signs them.
    pub action: String,
    pub version: String,
    /// The nonce this node admitted, for the nodes that share its store to claim too.
    pub nonce: NonceClaim,
}

/// A request's nonce as every node sharing a store must claim it before the request is
/// answered: 128 bits of SHA-256 over the access key and the nonce, the last second (Unix
/// time, exclusive) its request passes the time check, after which it may be forgotten, and the
/// second the check was made at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct NonceClaim {
    pub digest: [u8; 16],
    pub until: i64,
    pub checked_at: i64,
}

/// A signature checked against its credential, before the time and nonce checks.
struct Claim {
    verified: Verified,
    timestamp: String,
    nonce: String,
}

fn incomplete(message: &str) -> AliyunError {
    AliyunError::bad_request("IncompleteSignature", message)
}

/// The legacy SDK reads the text after the first `:` of this message as the server's string to
/// sign (Alibaba echoes it there) and crashes if there is none. Trent does not echo request
/// parameters back (they can hold plaintexts), but keeps the `:`.
fn mismatch() -> AliyunError {
    AliyunError::bad_request(
        "SignatureDoesNotMatch",
        "Specified signature is not matched with our calculation: check the AccessKey secret and the signing method.",
    )
}

const ACCESS_KEYS_ONLY: &str =
    "Only AccessKey signatures are supported by this server (no STS or bearer tokens).";

/// The credential of `id`. One configured with a session token is a temporary AWS credential,
/// usable only with its token, which this dialect does not take.
fn lookup<'a>(creds: &'a dyn CredentialStore, id: &str) -> Result<&'a Credential, AliyunError> {
    let cred = creds.lookup(id).ok_or_else(|| {
        AliyunError::new(
            404,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
        )
    })?;
    if cred.session_token.is_some() {
        return Err(incomplete(ACCESS_KEYS_ONLY));
    }
    Ok(cred)
}

fn header<'a>(req: &SignedRequest<'a>, name: &str) -> Option<&'a str> {
    req.headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| *v)
}

/// A nonce as remembered: 128 bits of SHA-256 over the access key and the nonce (a fixed,
/// small size whatever the client sent), and the access key's own 64 bits (whose nonces these
/// are, for [`MAX_NONCES_PER_KEY`]).
fn nonce_key(access_key_id: &str, nonce: &str) -> (u128, u64) {
    let mut input = Vec::with_capacity(access_key_id.len() + 1 + nonce.len());
    input.extend_from_slice(access_key_id.as_bytes());
    input.push(0);
    let owner = sha256(&input);
    input.extend_from_slice(nonce.as_bytes());
    let digest = sha256(&input);
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    let mut key = [0u8; 8];
    key.copy_from_slice(&owner[..8]);
    (u128::from_be_bytes(first), u64::from_be_bytes(key))
}

/// Remembers nonces for as long as their request could still pass the time check.
#[derive(Debug)]
struct NonceCache {
    seen: HashSet<u128>,
    /// (forget after, nonce, its access key), soonest first: each is forgotten at its own time,
    /// so a request dated ahead keeps only its own nonce longer.
    order: BinaryHeap<Reverse<(i64, u128, u64)>>,
    /// Nonces held per access key.
    held: HashMap<u64, usize>,
    max: usize,
    max_per_key: usize,
}

impl Default for NonceCache {
    fn default() -> Self {
        NonceCache::with_limits(MAX_NONCES, MAX_NONCES_PER_KEY)
    }
}

impl NonceCache {
    fn with_limits(max: usize, max_per_key: usize) -> Self {
        NonceCache {
            seen: HashSet::new(),
            order: BinaryHeap::new(),
            held: HashMap::new(),
            max,
            max_per_key,
        }
    }

    fn admit(
        &mut self,
        (nonce, owner): (u128, u64),
        now: i64,
        until: i64,
    ) -> Result<(), AliyunError> {
        while self
            .order
            .peek()
            .is_some_and(|Reverse((until, _, _))| *until <= now)
        {
            if let Some(Reverse((_, old, of))) = self.order.pop() {
                self.seen.remove(&old);
                if let Some(n) = self.held.get_mut(&of) {
                    *n -= 1;
                    if *n == 0 {
                        self.held.remove(&of);
                    }
                }
            }
        }
        if self.seen.contains(&nonce) {
            return Err(nonce_used());
        }
        let held = self.held.get(&owner).copied().unwrap_or(0);
        let pressed = self.seen.len() >= self.max / 2;
        if self.seen.len() >= self.max || (pressed && held >= self.max_per_key) {
            return Err(AliyunError::bad_request(
                "Throttling",
                "Request was denied due to request throttling.",
            ));
        }
        self.seen.insert(nonce);
        *self.held.entry(owner).or_insert(0) += 1;
        self.order.push(Reverse((until, nonce, owner)));
        Ok(())
    }
}

/// The answer to a request whose nonce was used already.
pub fn nonce_used() -> AliyunError {
    AliyunError::bad_request(
        "SignatureNonceUsed",
        "Specified signature nonce was used already.",
    )
}

/// Verifies requests and remembers their nonces.
#[derive(Debug)]
pub struct Verifier {
    skew: Duration,
    nonces: Mutex<NonceCache>,
}

impl Default for Verifier {
    fn default() -> Self {
        Self::with_skew(SKEW)
    }
}

impl Verifier {
    pub fn with_skew(skew: Duration) -> Self {
        Self {
            skew,
            nonces: Mutex::new(NonceCache::default()),
        }
    }

    /// Checks that `req` (whose decoded parameters are `params`) carries a valid Alibaba
    /// signature by a credential in `creds`, made within the skew window around `now`, with a
    /// nonce not seen before.
    pub fn verify(
        &self,
        req: &SignedRequest<'_>,
        params: &Params,
        creds: &dyn CredentialStore,
        now: SystemTime,
    ) -> Result<Verified, AliyunError> {
        let claim = match header(req, "authorization") {
            Some(auth) if auth.starts_with("ACS3-HMAC-SHA256 ") => {
                acs(req, params, auth, Acs::V3, creds)?
            }
            Some(auth) if auth.starts_with("ACS4-HMAC-SHA256 ") => {
                acs(req, params, auth, Acs::V4, creds)?
            }
            _ if params.get("Signature").is_some() => rpc(req, params, creds)?,
            _ => {
                return Err(incomplete(
                    "The request signature does not conform to Aliyun standards.",
                ))
            }
        };
        let signed_at = time::parse(&claim.timestamp).ok_or_else(|| {
            AliyunError::bad_request(
                "InvalidTimeStamp.Format",
                "Specified time stamp or date value is not well formatted.",
            )
        })?;
        let now = now
            .duration_since(UNIX_EPOCH)
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        let skew = i64::try_from(self.skew.as_secs()).unwrap_or(i64::MAX);
        if (signed_at - now).abs() > skew {
            return Err(AliyunError::bad_request(
                "InvalidTimeStamp.Expired",
                "Specified time stamp or date value is expired.",
            ));
        }
        if claim.nonce.is_empty() || claim.nonce.len() > MAX_NONCE_LEN {
            return Err(AliyunError::invalid("SignatureNonce"));
        }
        // A request signed at `signed_at` passes the time check up to `signed_at + skew`
        // inclusive: its nonce is kept until the second after (the cache forgets a nonce once
        // `now` reaches its bound).
        let key = nonce_key(&claim.verified.access_key_id, &claim.nonce);
        let until = signed_at.saturating_add(skew).saturating_add(1);
        self.nonces.lock().admit(key, now, until)?;
        Ok(Verified {
            nonce: NonceClaim {
                digest: key.0.to_be_bytes(),
                until,
                checked_at: now,
            },
            ..claim.verified
        })
    }
}

// ----- RPC, HMAC-SHA1 -------------------------------------------------------------------------

/// `METHOD&%2F&enc(sorted k=v pairs of every parameter but Signature)`.
pub fn rpc_string_to_sign(method: &str, params: &Params) -> String {
    let canonical = params
        .iter()
        .filter(|(k, _)| *k != "Signature")
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&");
    format!("{method}&{}&{}", encode("/"), encode(&canonical))
}

/// Base64 HMAC-SHA1 under `secret + "&"`.
pub fn rpc_signature(secret: &[u8], string_to_sign: &str) -> String {
    let mut key = Zeroizing::new(Vec::with_capacity(secret.len() + 1));
    key.extend_from_slice(secret);
    key.push(b'&');
    STANDARD.encode(hmac_sha1(&key, string_to_sign.as_bytes()))
}

fn rpc(
    req: &SignedRequest<'_>,
    params: &Params,
    creds: &dyn CredentialStore,
) -> Result<Claim, AliyunError> {
    let get = |name: &str| params.get(name).ok_or_else(|| AliyunError::missing(name));
    let signature = get("Signature")?;
    if get("SignatureMethod")? != "HMAC-SHA1" {
        return Err(AliyunError::bad_request(
            "InvalidSignatureMethod",
            "Specified signature method is not valid.",
        ));
    }
    if get("SignatureVersion")? != "1.0" {
        return Err(AliyunError::invalid("SignatureVersion"));
    }
    // Bearer tokens and STS tokens are other credentials than an AccessKey pair: not accepted.
    if params.get("SignatureType").is_some_and(|t| !t.is_empty())
        || params.get("SecurityToken").is_some()
    {
        return Err(incomplete(ACCESS_KEYS_ONLY));
    }
    let access_key_id = get("AccessKeyId")?;
    let timestamp = get("Timestamp")?;
    let nonce = get("SignatureNonce")?;
    let action = get("Action")?;
    let version = get("Version")?;
    let cred = lookup(creds, access_key_id)?;
    let expected = rpc_signature(
        cred.secret_access_key.expose(),
        &rpc_string_to_sign(req.method, params),
    );
    if !constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
        return Err(mismatch());
    }
    Ok(Claim {
        verified: Verified {
            access_key_id: cred.access_key_id.clone(),
            account_id: cred.account_id.clone(),
            region: None,
            action: action.to_owned(),
            version: version.to_owned(),
            nonce: NonceClaim::default(),
        },
        timestamp: timestamp.to_owned(),
        nonce: nonce.to_owned(),
    })
}

// ----- ACS3 / ACS4, HMAC-SHA256 ---------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Acs {
    V3,
    V4,
}

impl Acs {
    fn algorithm(self) -> &'static str {
        match self {
            Acs::V3 => "ACS3-HMAC-SHA256",
            Acs::V4 => "ACS4-HMAC-SHA256",
        }
    }
}

/// The fields of `Authorization: ACS3-HMAC-SHA256 Credential=..,SignedHeaders=..,Signature=..`.
struct AcsAuthorization<'a> {
    credential: &'a str,
    signed_headers: &'a str,
    signature: &'a str,
}

fn parse_authorization(value: &str) -> Option<AcsAuthorization<'_>> {
    let (_, fields) = value.split_once(' ')?;
    let (mut credential, mut signed_headers, mut signature) = (None, None, None);
    for field in fields.split(',') {
        let (name, v) = field.trim().split_once('=')?;
        let slot = match name {
            "Credential" => &mut credential,
            "SignedHeaders" => &mut signed_headers,
            "Signature" => &mut signature,
            _ => return None,
        };
        if slot.replace(v).is_some() {
            return None;
        }
    }
    Some(AcsAuthorization {
        credential: credential?,
        signed_headers: signed_headers?,
        signature: signature?,
    })
}

/// `name:value\n` for each signed header in the order listed; several values of one header
/// are trimmed, sorted and joined with `,` (as the SDK does).
fn canonical_headers(req: &SignedRequest<'_>, signed: &[&str]) -> Result<String, AliyunError> {
    let mut out = String::new();
    for name in signed {
        let mut values: Vec<&str> = req
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
            .collect();
        if values.is_empty() {
            return Err(incomplete("A header listed in SignedHeaders is missing."));
        }
        values.sort_unstable();
        out.push_str(name);
        out.push(':');
        out.push_str(&values.join(","));
        out.push('\n');
    }
    Ok(out)
}

/// The canonical request both ACS schemes sign. Form-body parameters are covered by the body
/// hash, not listed in the query.
pub fn acs_canonical_request(
    req: &SignedRequest<'_>,
    params: &Params,
    signed_headers: &str,
    payload_hash: &str,
) -> Result<String, AliyunError> {
    let names: Vec<&str> = signed_headers.split(';').collect();
    let mut query: Vec<(String, String)> = params
        .query()
        .iter()
        .map(|(k, v)| (encode(k), encode(v)))
        .collect();
    query.sort();
    let query = query
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    Ok(format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        req.method,
        req.path,
        query,
        canonical_headers(req, &names)?,
        signed_headers,
        payload_hash
    ))
}

fn acs(
    req: &SignedRequest<'_>,
    params: &Params,
    authorization: &str,
    scheme: Acs,
    creds: &dyn CredentialStore,
) -> Result<Claim, AliyunError> {
    let auth = parse_authorization(authorization)
        .ok_or_else(|| incomplete("The Authorization header is malformed."))?;
    let signed: Vec<&str> = auth.signed_headers.split(';').collect();
    if signed
        .iter()
        .any(|h| h.is_empty() || h.bytes().any(|b| b.is_ascii_uppercase()))
        || REQUIRED_SIGNED_HEADERS.iter().any(|h| !signed.contains(h))
    {
        return Err(incomplete(
            "SignedHeaders must be lower case and cover host and the x-acs-action, x-acs-version, x-acs-date, x-acs-signature-nonce and x-acs-content-sha256 headers.",
        ));
    }
    if header(req, "x-acs-security-token").is_some() || header(req, "x-acs-bearer-token").is_some()
    {
        return Err(incomplete(ACCESS_KEYS_ONLY));
    }
    // Exactly one of each: the value acted on must be the value signed, not one of several.
    let required = |name: &str| {
        let mut values = req
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| *v);
        match (values.next(), values.next()) {
            (Some(v), None) => Ok(v),
            _ => Err(incomplete(
                "Each x-acs header must be present exactly once.",
            )),
        }
    };
    let timestamp = required("x-acs-date")?;
    // ACS4: Credential=<AccessKeyId>/<yyyymmdd>/<region>/<product>/aliyun_v4_request.
    let (access_key_id, scope) = match scheme {
        Acs::V3 => (auth.credential, None),
        Acs::V4 => {
            let Some([id, date, region, product, "aliyun_v4_request"]) =
                trent_dialect::split_exact(auth.credential, '/')
            else {
                return Err(incomplete("The ACS4 credential scope is malformed."));
            };
            let day: String = timestamp
                .chars()
                .filter(char::is_ascii_digit)
                .take(8)
                .collect();
            if date != day || !product.eq_ignore_ascii_case("kms") || region.is_empty() {
                return Err(incomplete(
                    "The ACS4 credential scope does not match the request date or the Kms product.",
                ));
            }
            (id, Some((date, region, product)))
        }
    };
    let payload_hash = hex::encode(sha256(req.body));
    let cred = lookup(creds, access_key_id)?;
    let canonical = acs_canonical_request(req, params, auth.signed_headers, &payload_hash)?;
    let string_to_sign = format!(
        "{}\n{}",
        scheme.algorithm(),
        hex::encode(sha256(canonical.as_bytes()))
    );
    let secret = cred.secret_access_key.expose();
    let key = match scope {
        None => Zeroizing::new(secret.to_vec()),
        Some((date, region, product)) => {
            let mut first = Zeroizing::new(b"aliyun_v4".to_vec());
            first.extend_from_slice(secret);
            let k = Zeroizing::new(hmac_sha256(&first, date.as_bytes()));
            let k = Zeroizing::new(hmac_sha256(&*k, region.as_bytes()));
            let k = Zeroizing::new(hmac_sha256(&*k, product.as_bytes()));
            Zeroizing::new(hmac_sha256(&*k, b"aliyun_v4_request").to_vec())
        }
    };
    let expected = hex::encode(hmac_sha256(&key, string_to_sign.as_bytes()));
    if !constant_time_eq(expected.as_bytes(), auth.signature.as_bytes()) {
        return Err(mismatch());
    }
    // The signed body hash must be the body's: otherwise the body is not covered at all.
    if !constant_time_eq(
        required("x-acs-content-sha256")?.as_bytes(),
        payload_hash.as_bytes(),
    ) {
        return Err(mismatch());
    }
    Ok(Claim {
        verified: Verified {
            access_key_id: cred.access_key_id.clone(),
            account_id: cred.account_id.clone(),
            region: scope.map(|(_, region, _)| region.to_owned()),
            action: required("x-acs-action")?.to_owned(),
            version: required("x-acs-version")?.to_owned(),
            nonce: NonceClaim::default(),
        },
        timestamp: timestamp.to_owned(),
        nonce: required("x-acs-signature-nonce")?.to_owned(),
    })
}

#[cfg(test)]
mod tests;
