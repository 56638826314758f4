//! The server chassis: one request path for every operation of every dialect.
//!
//! `/` → bounded body → dialect detection (AWS: `X-Amz-Target`; Alibaba: an ACS authorization,
//! `x-acs-action` or an `Action` parameter) → authentication (fails closed) → operation →
//! decode/validate/execute (in `trent-aws` or `trent-aliyun`, behind the [`Api`] trait) →
//! render. Errors are always in the dialect's own shape; a 5xx body never carries the cause,
//! which goes to the log instead. Request and response bodies are never logged (they carry
//! plaintext).

pub mod admin;
pub mod audit;
pub mod backend;
pub mod cloudtrail;
pub mod config;
pub mod console;
pub mod datadir;
#[doc(hidden)]
pub mod fuzzing;
pub mod listener;
pub mod logging;
pub mod metrics;
pub mod migrate;
pub mod rootkey;
pub mod seed;
pub mod tls;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tracing::Instrument;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use trent_aliyun::{AliyunError, Params};
use trent_aws::sigv4::{self, AuthError, Credential, CredentialStore, SignedRequest};
use trent_aws::{AwsError, Operation};
use trent_core::clock::OffsetClock;
use trent_core::engine::{Caller, Connection, Kms};
use trent_core::state::Dialect;
use trent_core::{AccountId, Identity, Scope};
use trent_crypto::SecretBytes;

/// The largest request body accepted. AWS's largest members (a 131072-character policy, a
/// 6144-byte ciphertext in base64) fit well inside it.
pub const MAX_BODY_BYTES: usize = 512 * 1024;

/// The configured access keys, and who each acts as.
#[derive(Debug, Default)]
pub struct Credentials {
    keys: HashMap<String, Credential>,
    identities: HashMap<String, Arc<Identity>>,
}

impl Credentials {
    /// The credentials of the configuration; the error names a credential whose principal or
    /// policy is not valid.
    pub fn new(list: &[config::CredentialConfig]) -> Result<Self, String> {
        let mut credentials = Self::default();
        for c in list {
            credentials
                .identities
                .insert(c.access_key_id.clone(), Arc::new(c.identity()?));
            credentials.keys.insert(
                c.access_key_id.clone(),
                Credential {
                    access_key_id: c.access_key_id.clone(),
                    secret_access_key: SecretBytes::new(c.secret_access_key.as_bytes().to_vec()),
                    account_id: c.account_id.clone(),
                    session_token: c
                        .session_token
                        .as_ref()
                        .map(|t| SecretBytes::new(t.as_bytes().to_vec())),
                },
            );
        }
        Ok(credentials)
    }

    /// Who a verified access key acts as.
    pub fn identity(&self, access_key_id: &str) -> Result<Arc<Identity>, String> {
        self.identities
            .get(access_key_id)
            .cloned()
            .ok_or_else(|| format!("verified access key {access_key_id} has no identity"))
    }
}

impl CredentialStore for Credentials {
    fn lookup(&self, access_key_id: &str) -> Option<&Credential> {
        self.keys.get(access_key_id)
    }
}

impl Credentials {
    /// The credentials AWS requests may use: those of 12-digit accounts. A credential of a
    /// 16-digit Alibaba uid does not exist for AWS's signature check (UnrecognizedClient), so no
    /// AWS ARN ever carries an Alibaba uid.
    pub fn aws(&self) -> AwsCredentials<'_> {
        AwsCredentials(self)
    }
}

/// See [`Credentials::aws`].
#[derive(Debug)]
pub struct AwsCredentials<'a>(&'a Credentials);

impl CredentialStore for AwsCredentials<'_> {
    fn lookup(&self, access_key_id: &str) -> Option<&Credential> {
        self.0
            .lookup(access_key_id)
            .filter(|c| AccountId::is_aws(&c.account_id))
    }
}

/// Everything a request needs.
#[derive(Debug)]
pub struct AppState {
    pub kms: Arc<Kms>,
    pub credentials: Credentials,
    pub verifier: sigv4::Verifier,
    /// Alibaba signatures: remembers nonces for the replay check.
    pub aliyun_verifier: trent_aliyun::Verifier,
    /// The region of Alibaba requests that name none (the current SDK's signature has none).
    pub aliyun_region: String,
    /// Present only when the test clock is enabled.
    pub test_clock: Option<Arc<OffsetClock>>,
    /// The audit trail; `None` when it is turned off.
    pub audit: Option<audit::AuditTrail>,
    /// Records a LookupEvents by a tag attribute examines per call.
    pub audit_lookup_scan: usize,
    pub metrics: Arc<metrics::Metrics>,
}

/// The operation names of both dialects, for the metrics created at startup.
pub fn dialect_operations() -> [metrics::DialectOps; 2] {
    fn names<T: Copy>(all: &[T], name: fn(T) -> &'static str) -> &'static [&'static str] {
        all.iter().map(|op| name(*op)).collect::<Vec<_>>().leak()
    }
    [
        metrics::DialectOps {
            dialect: AwsApi::DIALECT,
            operations: names(Operation::ALL, Operation::name),
        },
        metrics::DialectOps {
            dialect: AliyunApi::DIALECT,
            operations: names(trent_aliyun::Action::ALL, trent_aliyun::Action::name),
        },
    ]
}

pub fn app(state: Arc<AppState>) -> Router {
    let mut router = Router::new()
        .route("/", post(handle_kms).get(handle_kms))
        .merge(console::routes());
    if state.test_clock.is_some() {
        router = router.route("/_trent/test/advance-clock", post(advance_clock));
    }
    router
        .method_not_allowed_fallback(|| async {
            aws_error_response(
                &AwsError::client(
                    "UnknownOperationException",
                    "Trent serves KMS requests as POST /.",
                ),
                StatusCode::METHOD_NOT_ALLOWED,
            )
        })
        .fallback(|| async {
            aws_error_response(
                &AwsError::client(
                    "UnknownOperationException",
                    "Trent serves KMS requests as POST /.",
                ),
                StatusCode::NOT_FOUND,
            )
        })
        .with_state(state)
}

/// What the listener serves: the application with `extra` routes (health, metrics) merged in.
/// KMS requests (`POST /`, nearly every request) go straight to [`handle_kms`]; everything else
/// (the console, health, metrics, the test clock, other methods on `/`) goes through the
/// router, which would route `POST /` to the same handler. Going around it saves its path and
/// method matching, its boxed handler and its extractors on every KMS request
/// (docs/BENCHMARK-ANALYSIS.md).
pub fn service(state: Arc<AppState>, extra: Router) -> AppService {
    AppService {
        router: app(state.clone()).merge(extra),
        state,
    }
}

/// See [`service`].
#[derive(Clone, Debug)]
pub struct AppService {
    state: Arc<AppState>,
    router: Router,
}

impl tower::Service<Request<hyper::body::Incoming>> for AppService {
    type Response = Response;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Response, Self::Error>> + Send + 'static>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<hyper::body::Incoming>) -> Self::Future {
        let request = request.map(Body::new);
        if request.method() == Method::POST && request.uri().path() == "/" {
            let state = self.state.clone();
            Box::pin(async move { Ok(handle_kms(State(state), request).await) })
        } else {
            Box::pin(tower::ServiceExt::oneshot(self.router.clone(), request))
        }
    }
}

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn aws_response(status: StatusCode, body: Vec<u8>, request_id: &str) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(trent_aws::CONTENT_TYPE),
    );
    if let Ok(v) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", v);
    }
    response
}

fn aws_error_response(e: &AwsError, status: StatusCode) -> Response {
    aws_response(status, e.body(), &request_id())
}

fn auth_error(e: &AuthError) -> AwsError {
    AwsError::client(e.aws_code(), e.to_string())
}

/// How long a client may take to send its body before the request is dropped.
pub const BODY_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a request was refused before any dialect looked at it; each dialect words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HttpError {
    /// The body (declared or sent) is over [`MAX_BODY_BYTES`].
    TooLarge,
    /// The body was not received within [`BODY_TIMEOUT`].
    Timeout,
    /// The body could not be read: its chunked framing is malformed, or the client closed the
    /// connection before sending all of it.
    Unreadable,
    /// HTTP/1.1 (RFC 9112 §3.2) requires a 400 for a request with more than one `Host`.
    RepeatedHost,
    /// The bodies being read hold all of [`BODY_BUDGET`]; retrying later may succeed.
    Busy,
}

/// What a client whose body found [`BODY_BUDGET`] spent is told (both dialects).
const BUSY: &str = "Too many large request bodies are being received at once. Retry the request.";

/// Bytes of each request's body that draw on no shared budget: more than a KMS request of
/// either dialect usually holds (a plaintext, a signature and a public key are a few KiB each;
/// a large key policy draws on the budget).
const FREE_BODY_BYTES: usize = 16 * 1024;

/// What all bodies being read may hold at once beyond their [`FREE_BODY_BYTES`]. Without it,
/// clients that send most of a [`MAX_BODY_BYTES`] body and stall, one per connection, would
/// make the server hold half a MiB per connection (2 GiB at the default connection limit),
/// before any of them is authenticated. With it, reading holds at most the free part per
/// connection plus this; a body that would need more is refused as throttled, which the SDKs
/// retry.
const BODY_BUDGET: usize = 64 * 1024 * 1024;

/// Bytes of [`BODY_BUDGET`] held by the bodies being read.
static BODY_BUDGET_HELD: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// What the bodies from one client address may hold of [`BODY_BUDGET`]: an eighth (16 stalled
/// bodies of the largest size), so that one client cannot spend the budget every other client's
/// large bodies need. An IPv6 client is its /64, which one host usually holds whole.
const PEER_BODY_BUDGET: usize = BODY_BUDGET / 8;

/// Bytes of [`BODY_BUDGET`] held per client address (only addresses holding some).
static PEER_BUDGET_HELD: std::sync::LazyLock<
    std::sync::Mutex<std::collections::HashMap<std::net::IpAddr, usize>>,
> = std::sync::LazyLock::new(Default::default);

/// The address a client's share of the budget is counted under.
fn budget_peer(ip: std::net::IpAddr) -> std::net::IpAddr {
    use std::net::{IpAddr, Ipv6Addr};
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        },
        v4 => v4,
    }
}

/// One body's share of [`BODY_BUDGET`] (and of its client's [`PEER_BODY_BUDGET`]), given back
/// when the body has been read (or not).
struct BudgetShare {
    held: usize,
    peer: Option<std::net::IpAddr>,
}

impl BudgetShare {
    fn new(peer: Option<std::net::IpAddr>) -> Self {
        BudgetShare {
            held: 0,
            peer: peer.map(budget_peer),
        }
    }

    /// Grows the share to what a body of `len` bytes needs; false when the budget, or the
    /// client's part of it, cannot give it.
    fn cover(&mut self, len: usize) -> bool {
        use std::sync::atomic::Ordering;
        let more = len
            .saturating_sub(FREE_BODY_BYTES)
            .saturating_sub(self.held);
        if more == 0 {
            return true;
        }
        // Bodies past the free part are rare: the lock is off the common path.
        let mut peers = PEER_BUDGET_HELD.lock().unwrap_or_else(|e| e.into_inner());
        let peer_held = self.peer.map_or(0, |p| peers.get(&p).copied().unwrap_or(0));
        if peer_held + more > PEER_BODY_BUDGET {
            return false;
        }
        let granted = BODY_BUDGET_HELD
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held + more <= BODY_BUDGET).then_some(held + more)
            })
            .is_ok();
        if granted {
            self.held += more;
            if let Some(p) = self.peer {
                *peers.entry(p).or_default() += more;
            }
        }
        granted
    }
}

impl Drop for BudgetShare {
    fn drop(&mut self) {
        if self.held == 0 {
            return;
        }
        BODY_BUDGET_HELD.fetch_sub(self.held, std::sync::atomic::Ordering::AcqRel);
        if let Some(p) = self.peer {
            let mut peers = PEER_BUDGET_HELD.lock().unwrap_or_else(|e| e.into_inner());
            if let Some(held) = peers.get_mut(&p) {
                *held = held.saturating_sub(self.held);
                if *held == 0 {
                    peers.remove(&p);
                }
            }
        }
    }
}

/// The whole body, at most [`MAX_BODY_BYTES`], within the shared [`BODY_BUDGET`]. A body that
/// arrives in one piece (a KMS request's usually does) is returned as it came, without a copy.
/// One that arrives in pieces is joined in a buffer the budget pays for as allocated: its
/// declared length, taken at once (HTTP framing ends the body there), or, for a chunked body,
/// twice what arrived (a growing buffer at most doubles).
async fn collect_body(
    mut body: Body,
    declared: Option<usize>,
    peer: Option<std::net::IpAddr>,
) -> Result<Bytes, HttpError> {
    use http_body_util::BodyExt;
    let mut share = BudgetShare::new(peer);
    let mut first: Option<Bytes> = None;
    let mut joined = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let Ok(data) = frame.map_err(|_| HttpError::Unreadable)?.into_data() else {
            continue; // trailers
        };
        let len = first.as_ref().map_or(joined.len(), Bytes::len) + data.len();
        if len > MAX_BODY_BYTES {
            return Err(HttpError::TooLarge);
        }
        if !share.cover(declared.map_or(2 * len, |d| d.max(len))) {
            return Err(HttpError::Busy);
        }
        match first.take() {
            None if joined.is_empty() => first = Some(data),
            None => joined.extend_from_slice(&data),
            Some(earlier) => {
                joined.reserve(declared.unwrap_or(len).max(len));
                joined.extend_from_slice(&earlier);
                joined.extend_from_slice(&data);
            }
        }
    }
    Ok(first.unwrap_or_else(|| joined.freeze()))
}

/// Reads the body up to the limit. A declared length over the limit is refused at once, without
/// reading anything; a larger body is refused without reading it all, and a client that stalls
/// is cut off rather than holding a connection forever.
async fn read_body(parts: &Parts, body: Body) -> Result<Bytes, HttpError> {
    if parts.headers.get_all(header::HOST).iter().count() > 1 {
        return Err(HttpError::RepeatedHost);
    }
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(HttpError::TooLarge);
    }
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip());
    let collect = collect_body(body, declared.map(|n| n as usize), peer);
    tokio::pin!(collect);
    // A small body usually came in with the headers: then it is taken at once, without arming
    // a timer.
    let first = std::future::poll_fn(|cx| {
        std::task::Poll::Ready(std::future::Future::poll(collect.as_mut(), cx))
    })
    .await;
    let collected = match first {
        std::task::Poll::Ready(collected) => collected,
        std::task::Poll::Pending => match tokio::time::timeout(BODY_TIMEOUT, collect).await {
            Ok(collected) => collected,
            Err(_) => return Err(HttpError::Timeout),
        },
    };
    collected
}

/// Every header whose value is text, for the signature checks. A header Trent reads
/// ([`read_by_trent`]) must be text, or the request is refused. Any other header may hold other
/// bytes (RFC 9110 §5.5 allows them: a user agent naming an app in its own language, a header a
/// proxy adds); such a value is left out: nothing reads it, and a request that signed it fails
/// its signature, which covers the header as the client sent it.
fn header_pairs(headers: &HeaderMap) -> Result<Vec<(&str, &str)>, String> {
    let mut pairs = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        match value.to_str() {
            Ok(v) => pairs.push((name.as_str(), v)),
            Err(_) if read_by_trent(name.as_str()) => {
                return Err(format!("Header {name} is not valid text."))
            }
            Err(_) => {}
        }
    }
    Ok(pairs)
}

/// The headers whose values Trent interprets (HTTP's own, and those of the signature schemes and
/// operations of both dialects): names arrive in lower case.
fn read_by_trent(name: &str) -> bool {
    matches!(
        name,
        "authorization" | "host" | "date" | "content-type" | "content-length" | "content-md5"
    ) || name.starts_with("x-amz-")
        || name.starts_with("x-acs-")
}

/// Authenticates an AWS request: the SigV4 signature must verify.
fn authenticate(state: &AppState, parts: &Parts, body: &[u8]) -> Result<Caller, AwsError> {
    authenticate_for(state, parts, body, trent_aws::SIGNING_SERVICE)
}

/// Authenticates an AWS request signed for `service`.
fn authenticate_for(
    state: &AppState,
    parts: &Parts,
    body: &[u8],
    service: &str,
) -> Result<Caller, AwsError> {
    let (method, uri, headers) = (&parts.method, &parts.uri, &parts.headers);
    let pairs =
        header_pairs(headers).map_err(|m| AwsError::client("IncompleteSignatureException", m))?;
    let request = SignedRequest {
        method: method.as_str(),
        path: uri.path(),
        query: uri.query().unwrap_or(""),
        headers: &pairs,
        body,
    };
    let verified = state
        .verifier
        .verify(
            &request,
            &state.credentials.aws(),
            service,
            now_for_auth(state),
        )
        .map_err(|e| auth_error(&e))?;
    let identity = state
        .credentials
        .identity(&verified.access_key_id)
        .map_err(AwsError::internal_with)?;
    Ok(Caller {
        scope: Scope::new(verified.account_id, verified.region),
        access_key_id: verified.access_key_id,
        identity,
        dialect: Dialect::Aws,
        connection: connection(parts),
        audit: None,
    })
}

/// The connection a request came on: the peer's address when the listener recorded it, and
/// whether it came over TLS (`aws:SecureTransport`).
fn connection(parts: &Parts) -> Connection {
    Connection {
        source_ip: parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|info| info.0.ip()),
        secure: parts.extensions.get::<listener::OverTls>().is_some(),
    }
}

/// Signatures are checked against the real time, even when tests move the key clock: the
/// test clock governs key lifecycles, not request freshness.
fn now_for_auth(_state: &AppState) -> SystemTime {
    SystemTime::now()
}

/// What a wire dialect brings to the one request path: how it admits a request (authenticate,
/// name the operation), runs an operation, and renders results and errors in its own shape.
trait Api: 'static {
    /// The `dialect` of metrics and logs.
    const DIALECT: &'static str;
    type Op: Copy + Send + 'static;
    /// The decoded request the operation reads (AWS: the JSON body; Alibaba: parameters).
    type Input: Send + 'static;
    type Error: Send + 'static;

    fn http_error(e: HttpError) -> Self::Error;
    /// Authenticates (failing closed) and names the operation.
    fn admit(
        state: &AppState,
        parts: &Parts,
        body: Bytes,
    ) -> Result<(Caller, Self::Op, Self::Input), Self::Error>;
    /// Whether the operation may write (and so wait for an fsync).
    fn writes(op: Self::Op) -> bool;
    fn run(
        kms: &Kms,
        caller: &Caller,
        op: Self::Op,
        input: &Self::Input,
        request_id: &str,
    ) -> Result<Vec<u8>, Self::Error>;
    /// Starts `op` so that its commit is awaited without holding a thread (see
    /// [`trent_aws::ops::start`]); gives `done` back where the operation must run on a thread
    /// that may block.
    fn start(
        _kms: &Kms,
        _caller: &Caller,
        _op: Self::Op,
        _input: &Self::Input,
        done: Done<Self::Error>,
    ) -> Result<(), Done<Self::Error>> {
        Err(done)
    }
    fn op_name(op: Self::Op) -> &'static str;
    /// The error code the client receives.
    fn code(e: &Self::Error) -> &'static str;
    fn internal(cause: String) -> Self::Error;
    /// The cause of an internal error, for the log; `None` for client errors and for internal
    /// errors logged where they arose (a full store is logged once by the store, not per
    /// request).
    fn internal_cause(e: &Self::Error) -> Option<&str>;
    fn respond(result: Result<Vec<u8>, Self::Error>, request_id: &str, parts: &Parts) -> Response;

    /// The audit trail's `eventSource`.
    const EVENT_SOURCE: &'static str;
    /// The request as the audit trail records it (secrets dropped), and the key references
    /// it names.
    fn audit_request(input: &Self::Input) -> (serde_json::Value, Vec<String>);
    /// (errorCode, errorMessage) of a failure.
    fn audit_error(e: &Self::Error) -> (String, String);
    /// The operation name, access key and region a request claims, read without trusting it
    /// (for the record of a request that was not admitted).
    fn claimed(state: &AppState, parts: &Parts, body: Option<&[u8]>) -> audit::Claim;
}

/// Where an operation started with [`Api::start`] sends its answer.
type Done<E> = Box<dyn FnOnce(Result<Vec<u8>, E>) + Send>;

/// AWS KMS: JSON 1.1, SigV4, the operation in `X-Amz-Target`.
struct AwsApi;

impl Api for AwsApi {
    const DIALECT: &'static str = "aws";
    type Op = Operation;
    type Input = Bytes;
    type Error = AwsError;

    const EVENT_SOURCE: &'static str = audit::AWS_EVENT_SOURCE;

    fn audit_request(body: &Bytes) -> (serde_json::Value, Vec<String>) {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_default();
        let keys = audit::json_keys(&v)
            .into_iter()
            .map(str::to_owned)
            .collect();
        (audit::sanitize(&v), keys)
    }

    fn audit_error(e: &AwsError) -> (String, String) {
        (e.code.to_owned(), e.message.clone())
    }

    fn claimed(_: &AppState, parts: &Parts, _: Option<&[u8]>) -> audit::Claim {
        let authorization = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let (access_key_id, region) = audit::claimed_credential(authorization, None);
        let event_name = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| t.strip_prefix(trent_aws::TARGET_PREFIX))
            .map(str::to_owned);
        audit::Claim {
            event_name,
            access_key_id,
            region,
        }
    }

    fn http_error(e: HttpError) -> AwsError {
        match e {
            // AWS's common error for an oversized request (HTTP 413).
            HttpError::TooLarge => AwsError {
                status: 413,
                ..AwsError::client(
                    "RequestEntityTooLargeException",
                    format!(
                        "The request entity is too large: the limit is {MAX_BODY_BYTES} bytes."
                    ),
                )
            },
            HttpError::Timeout => AwsError::client(
                "RequestTimeoutException",
                "The request body was not received in time.",
            ),
            HttpError::RepeatedHost => AwsError::client(
                "MalformedHttpRequestException",
                "The request has more than one Host header.",
            ),
            HttpError::Unreadable => AwsError::client(
                "MalformedHttpRequestException",
                "The request body could not be read: malformed chunked encoding, or the body ended early.",
            ),
            HttpError::Busy => AwsError::client("ThrottlingException", BUSY),
        }
    }

    fn admit(
        state: &AppState,
        parts: &Parts,
        body: Bytes,
    ) -> Result<(Caller, Operation, Bytes), AwsError> {
        if parts.method != Method::POST {
            return Err(AwsError::client(
                "UnknownOperationException",
                "Trent serves KMS requests as POST /.",
            ));
        }
        let caller = authenticate(state, parts, &body)?;
        let target = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok());
        Ok((caller, trent_aws::operation(target)?, body))
    }

    fn writes(op: Operation) -> bool {
        op.writes()
    }

    fn run(
        kms: &Kms,
        caller: &Caller,
        op: Operation,
        body: &Bytes,
        _: &str,
    ) -> Result<Vec<u8>, AwsError> {
        trent_aws::dispatch(op, &trent_aws::Ctx { kms, caller }, body)
    }

    fn start(
        kms: &Kms,
        caller: &Caller,
        op: Operation,
        body: &Bytes,
        done: Done<AwsError>,
    ) -> Result<(), Done<AwsError>> {
        trent_aws::ops::start(op, &trent_aws::Ctx { kms, caller }, body, done)
    }

    fn op_name(op: Operation) -> &'static str {
        op.name()
    }

    fn code(e: &AwsError) -> &'static str {
        e.code
    }

    fn internal(cause: String) -> AwsError {
        AwsError::internal_with(cause)
    }

    fn internal_cause(e: &AwsError) -> Option<&str> {
        e.is_internal().then_some(e.cause.as_deref()).flatten()
    }

    fn respond(result: Result<Vec<u8>, AwsError>, request_id: &str, parts: &Parts) -> Response {
        match result {
            Ok(body) => aws_response(StatusCode::OK, body, request_id),
            // Not POST: AWS's shape, with the status that says so.
            Err(e) if parts.method != Method::POST => {
                aws_response(StatusCode::METHOD_NOT_ALLOWED, e.body(), request_id)
            }
            Err(e) => {
                let status =
                    StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                aws_response(status, e.body(), request_id)
            }
        }
    }
}

/// Alibaba Cloud KMS 2016-01-20: RPC parameters, ACS3/ACS4/HMAC-SHA1 signatures.
struct AliyunApi;

/// Form bodies carry parameters; any other body is only hashed by the signature.
fn form_body<'a>(parts: &Parts, body: &'a [u8]) -> Option<&'a [u8]> {
    parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.starts_with("application/x-www-form-urlencoded"))
        .map(|_| body)
}

impl Api for AliyunApi {
    const DIALECT: &'static str = "aliyun";
    type Op = trent_aliyun::Action;
    type Input = Params;
    type Error = AliyunError;

    const EVENT_SOURCE: &'static str = audit::ALIYUN_EVENT_SOURCE;

    fn audit_request(params: &Params) -> (serde_json::Value, Vec<String>) {
        let keys = params
            .iter()
            .filter(|(k, _)| *k == "KeyId")
            .map(|(_, v)| v.to_owned())
            .collect();
        (audit::sanitize_params(params.iter()), keys)
    }

    fn audit_error(e: &AliyunError) -> (String, String) {
        (e.code.to_owned(), e.message.clone())
    }

    fn claimed(state: &AppState, parts: &Parts, body: Option<&[u8]>) -> audit::Claim {
        let params = Params::parse(
            parts.uri.query().unwrap_or(""),
            body.and_then(|b| form_body(parts, b)),
        )
        .ok();
        let param = |name: &str| params.as_ref().and_then(|p| p.get(name)).map(str::to_owned);
        let authorization = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        let (access_key_id, _) =
            audit::claimed_credential(authorization, param("AccessKeyId").as_deref());
        let event_name = parts
            .headers
            .get("x-acs-action")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .or_else(|| param("Action"));
        audit::Claim {
            event_name,
            access_key_id,
            region: param("RegionId").or_else(|| Some(state.aliyun_region.clone())),
        }
    }

    fn http_error(e: HttpError) -> AliyunError {
        match e {
            HttpError::TooLarge => AliyunError::new(
                413,
                "InvalidParameter",
                format!("The request body is larger than the limit of {MAX_BODY_BYTES} bytes."),
            ),
            HttpError::Timeout => AliyunError::bad_request(
                "RequestTimeout",
                "The request body was not received in time.",
            ),
            HttpError::RepeatedHost => AliyunError::bad_request(
                "InvalidParameter",
                "The request has more than one Host header.",
            ),
            HttpError::Unreadable => AliyunError::bad_request(
                "InvalidParameter",
                "The request body could not be read: malformed chunked encoding, or the body ended early.",
            ),
            HttpError::Busy => AliyunError::bad_request("Throttling", BUSY),
        }
    }

    fn admit(
        state: &AppState,
        parts: &Parts,
        body: Bytes,
    ) -> Result<(Caller, trent_aliyun::Action, Params), AliyunError> {
        let query = parts.uri.query().unwrap_or("");
        let params = Params::parse(query, form_body(parts, &body))?;
        let pairs = header_pairs(&parts.headers)
            .map_err(|m| AliyunError::bad_request("IncompleteSignature", m))?;
        let request = SignedRequest {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query,
            headers: &pairs,
            body: &body,
        };
        let verified = state.aliyun_verifier.verify(
            &request,
            &params,
            &state.credentials,
            now_for_auth(state),
        )?;
        // This node's memory refused a replay to it; nodes that share a store also claim the
        // nonce there (at the second it was checked), so that no other node answers the same
        // request again.
        let trent_aliyun::NonceClaim {
            digest,
            until,
            checked_at,
        } = verified.nonce;
        if !state
            .kms
            .claim_nonce(&digest, until, checked_at)
            .map_err(|e| AliyunError::internal_with(e.to_string()))?
        {
            return Err(trent_aliyun::auth::nonce_used());
        }
        let action = trent_aliyun::action(&verified)?;
        let identity = state
            .credentials
            .identity(&verified.access_key_id)
            .map_err(AliyunError::internal_with)?;
        let caller = Caller {
            scope: trent_aliyun::scope(&verified, &params, &state.aliyun_region)?,
            access_key_id: verified.access_key_id,
            identity,
            dialect: Dialect::Aliyun,
            connection: connection(parts),
            audit: None,
        };
        Ok((caller, action, params))
    }

    fn writes(op: trent_aliyun::Action) -> bool {
        op.writes()
    }

    fn run(
        kms: &Kms,
        caller: &Caller,
        op: trent_aliyun::Action,
        params: &Params,
        request_id: &str,
    ) -> Result<Vec<u8>, AliyunError> {
        trent_aliyun::dispatch(op, &trent_aliyun::Ctx { kms, caller }, params, request_id)
    }

    fn op_name(op: trent_aliyun::Action) -> &'static str {
        op.name()
    }

    fn code(e: &AliyunError) -> &'static str {
        e.code
    }

    fn internal(cause: String) -> AliyunError {
        AliyunError::internal_with(cause)
    }

    fn internal_cause(e: &AliyunError) -> Option<&str> {
        e.is_internal().then_some(e.cause.as_deref()).flatten()
    }

    fn respond(result: Result<Vec<u8>, AliyunError>, request_id: &str, parts: &Parts) -> Response {
        let (status, body) = match result {
            Ok(body) => (StatusCode::OK, body),
            Err(e) => {
                // HostId: the endpoint the client addressed, as Alibaba names its own.
                let host = parts
                    .headers
                    .get(header::HOST)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("trent");
                let status =
                    StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                (status, e.body(request_id, host))
            }
        };
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(trent_aliyun::CONTENT_TYPE),
        );
        if let Ok(v) = HeaderValue::from_str(request_id) {
            headers.insert("x-acs-request-id", v);
        }
        response
    }
}

/// Which dialect a request speaks. AWS names its operation in `X-Amz-Target`; Alibaba's
/// requests carry an ACS authorization, `x-acs-action` or an `Action` parameter (in the query,
/// or in a form body when `body` is given).
fn is_aliyun(parts: &Parts, body: Option<&[u8]>) -> bool {
    if parts.headers.contains_key("x-amz-target") {
        return false;
    }
    let pairs = header_pairs(&parts.headers).unwrap_or_default();
    let query = parts.uri.query().unwrap_or("");
    // Parameters that do not even decode are the Alibaba path's to refuse, in its shape.
    Params::parse(query, body.and_then(|b| form_body(parts, b)))
        .map(|p| trent_aliyun::is_aliyun_request(&pairs, &p))
        .unwrap_or(true)
}

async fn handle_kms(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let started = Instant::now();
    let id = request_id();
    let (parts, body) = request.into_parts();
    let body = read_body(&parts, body).await;
    let authorization = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if trent_aws::sts::is_sts_request(authorization) {
        return serve_sts(&state, &parts, body, &id);
    }
    let cloudtrail = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with(cloudtrail::TARGET_PREFIX));
    if cloudtrail {
        return serve_cloudtrail(state, parts, body, id).await;
    }
    let aliyun = match &body {
        Ok(bytes) => is_aliyun(&parts, Some(bytes)),
        Err(_) => is_aliyun(&parts, None),
    };
    if aliyun {
        serve::<AliyunApi>(state, parts, body, id.to_uppercase(), started).await
    } else {
        serve::<AwsApi>(state, parts, body, id, started).await
    }
}

/// The one request path, whatever the dialect. Each request has a span (request id, dialect,
/// operation, principal; the engine adds the key ARN) and ends in one `trent::request` log
/// event with the outcome and latency, and in the request metrics. Nothing from the body or
/// the response is logged.
async fn serve<A: Api>(
    state: Arc<AppState>,
    parts: Parts,
    body: Result<Bytes, HttpError>,
    id: String,
    started: Instant,
) -> Response {
    let span = tracing::info_span!(
        "request",
        request_id = %id,
        dialect = A::DIALECT,
        operation = tracing::field::Empty,
        principal = tracing::field::Empty,
        account = tracing::field::Empty,
        key_arn = tracing::field::Empty,
    );
    let mut operation = None;
    // What the trail records of the request; nothing to gather when the trail is off.
    let facts = state
        .audit
        .is_some()
        .then(|| audit::Facts::of(&state, &parts, &id));
    let mut hook: Option<Arc<audit::RequestAudit>> = None;
    let mut scope: Option<Scope> = None;
    let claim_body = body.as_ref().ok().cloned();
    let result = async {
        let body = body.map_err(A::http_error)?;
        let (mut caller, op, input) = A::admit(&state, &parts, body)?;
        let name = A::op_name(op);
        operation = Some(name);
        let current = tracing::Span::current();
        current.record("operation", name);
        current.record("principal", caller.access_key_id.as_str());
        current.record("account", caller.scope.account.0.as_str());
        if let Some(facts) = &facts {
            let (request_parameters, keys) = A::audit_request(&input);
            let draft = facts.draft(
                audit::Who::of(&caller),
                A::EVENT_SOURCE,
                caller.scope.region.0.clone(),
                Some(name.to_owned()),
                request_parameters,
                audit::key_arns(keys.iter().map(String::as_str), Some(&caller.scope)),
            );
            let h = Arc::new(audit::RequestAudit::new(draft));
            caller.audit = Some(h.clone());
            hook = Some(h);
            scope = Some(caller.scope.clone());
        }
        execute::<A>(state.clone(), op, caller, input, id.clone()).await
    }
    .instrument(span.clone())
    .await;
    let result = match (&state.audit, &facts) {
        (Some(trail), Some(facts)) => {
            let event = match &hook {
                Some(h) => h.take_committed().map(Ok).unwrap_or_else(|| {
                    let outcome = match &result {
                        Ok(body) => {
                            let v: serde_json::Value =
                                serde_json::from_slice(body).unwrap_or_default();
                            audit::Outcome {
                                error: None,
                                response_elements: serde_json::Value::Null,
                                keys: audit::key_arns(
                                    audit::json_keys(&v).into_iter(),
                                    scope.as_ref(),
                                ),
                            }
                        }
                        Err(e) => audit::Outcome {
                            error: Some(A::audit_error(e)),
                            ..Default::default()
                        },
                    };
                    Err(h.finish(outcome))
                }),
                None => {
                    let claim = A::claimed(&state, &parts, claim_body.as_deref());
                    let error = result.as_ref().err().map(A::audit_error);
                    Err(facts.unadmitted(&state, claim, A::EVENT_SOURCE).finish(
                        audit::Outcome {
                            error,
                            ..Default::default()
                        },
                        &[],
                    ))
                }
            };
            // The body is not held while the record is written (which may wait for the store):
            // a refused request's body was never authenticated.
            drop(claim_body);
            match event {
                Ok(committed) => {
                    state.metrics.record_audit(true);
                    committed.iter().for_each(|e| trail.emit(e));
                    result
                }
                Err(events) => match record(&state, events.clone()).await {
                    Ok(()) => {
                        state.metrics.record_audit(true);
                        events.iter().for_each(|e| trail.emit(e));
                        result
                    }
                    Err(cause) => {
                        state.metrics.record_audit(false);
                        Err(A::internal(cause))
                    }
                },
            }
        }
        _ => result,
    };
    let elapsed = started.elapsed();
    let error = result.as_ref().err().map(A::code);
    state
        .metrics
        .record_request(A::DIALECT, operation, error, elapsed);
    span.in_scope(|| {
        if let Some(cause) = result.as_ref().err().and_then(A::internal_cause) {
            tracing::error!(cause, "internal error");
        }
        tracing::info!(
            target: "trent::request",
            outcome = error.unwrap_or("ok"),
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request"
        );
    });
    A::respond(result, &id, &parts)
}

/// Commits a record on its own, through the group commit, awaiting the store's writer without
/// holding a thread. An error means the request must fail: the trail fails closed.
async fn record(
    state: &Arc<AppState>,
    events: Vec<trent_core::audit::AuditEvent>,
) -> Result<(), String> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    state.kms.record_audit_then(events, move |result| {
        let _ = tx.send(result);
    });
    match rx.await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(format!("audit record not stored: {e}")),
        Err(_) => Err("audit record abandoned by the store writer (outcome unknown)".into()),
    }
}

/// Runs an operation. Reads (and all cryptographic operations, which hit the key cache) run
/// inline. Operations that write may wait on an fsync: those the dialect can start without
/// waiting ([`Api::start`]) await a one-shot reply from the store's writer; the others run on
/// the blocking pool (in the request's span).
async fn execute<A: Api>(
    state: Arc<AppState>,
    op: A::Op,
    caller: Caller,
    input: A::Input,
    id: String,
) -> Result<Vec<u8>, A::Error> {
    if A::writes(op) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let done: Done<A::Error> = Box::new(move |result| {
            let _ = tx.send(result);
        });
        if A::start(&state.kms, &caller, op, &input, done).is_ok() {
            return rx.await.unwrap_or_else(|_| {
                Err(A::internal(
                    "commit abandoned by the store writer (outcome unknown)".into(),
                ))
            });
        }
    }
    let run = move || A::run(&state.kms, &caller, op, &input, &id);
    if A::writes(op) {
        let span = tracing::Span::current();
        tokio::task::spawn_blocking(move || span.in_scope(run))
            .await
            .map_err(|e| A::internal(format!("task failed: {e}")))?
    } else {
        run()
    }
}

/// CloudTrail LookupEvents (see [`cloudtrail`]), answered in AWS JSON 1.1 like KMS.
async fn serve_cloudtrail(
    state: Arc<AppState>,
    parts: Parts,
    body: Result<Bytes, HttpError>,
    id: String,
) -> Response {
    let result = async {
        let body = body.map_err(AwsApi::http_error)?;
        if parts.method != Method::POST {
            return Err(AwsError::client(
                "UnknownOperationException",
                "Trent serves CloudTrail requests as POST /.",
            ));
        }
        let caller = authenticate_for(&state, &parts, &body, cloudtrail::SIGNING_SERVICE)?;
        let target = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| t.strip_prefix(cloudtrail::TARGET_PREFIX));
        if target != Some("LookupEvents") {
            return Err(AwsError::client(
                "UnknownOperationException",
                "Trent serves CloudTrail's LookupEvents only.",
            ));
        }
        let state = state.clone();
        tokio::task::spawn_blocking(move || {
            cloudtrail::lookup_events(&state.kms, &caller, &body, state.audit_lookup_scan)
        })
        .await
        .map_err(|e| AwsError::internal_with(format!("task failed: {e}")))?
    }
    .await;
    if let Some(cause) = result.as_ref().err().and_then(AwsApi::internal_cause) {
        tracing::error!(request_id = %id, cause, "internal error");
    }
    AwsApi::respond(result, &id, &parts)
}

/// STS GetCallerIdentity: the SigV4 signature must verify for the `sts` service; the answer
/// is who the credential acts as.
fn serve_sts(
    state: &AppState,
    parts: &Parts,
    body: Result<Bytes, HttpError>,
    id: &str,
) -> Response {
    use trent_aws::sts::{self, StsError};
    let result = (|| -> Result<String, StsError> {
        let body = body.map_err(|e| match e {
            HttpError::Busy => StsError::new(400, "Throttling", BUSY),
            _ => StsError::new(400, "MalformedInput", "The request body could not be read."),
        })?;
        let pairs = header_pairs(&parts.headers)
            .map_err(|m| StsError::new(400, "IncompleteSignature", m))?;
        let request = SignedRequest {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query().unwrap_or(""),
            headers: &pairs,
            body: &body,
        };
        let verified = state
            .verifier
            .verify(
                &request,
                &state.credentials.aws(),
                sts::SIGNING_SERVICE,
                now_for_auth(state),
            )
            .map_err(|e| {
                let code = match e {
                    AuthError::UnrecognizedClient => "InvalidClientTokenId",
                    AuthError::SignatureDoesNotMatch => "SignatureDoesNotMatch",
                    AuthError::MissingAuthenticationToken => "MissingAuthenticationToken",
                    AuthError::IncompleteSignature(_) => "IncompleteSignature",
                    AuthError::SignatureExpired(_) | AuthError::SignatureNotYetCurrent(_) => {
                        "SignatureDoesNotMatch"
                    }
                };
                StsError::new(403, code, e.to_string())
            })?;
        sts::check_request(&body)?;
        let identity = state
            .credentials
            .identity(&verified.access_key_id)
            .map_err(|cause| {
                tracing::error!(request_id = %id, cause, "internal error");
                StsError::new(500, "InternalFailure", "An internal error occurred.")
            })?;
        Ok(sts::get_caller_identity(&identity.principal, id))
    })();
    let (status, body) = match result {
        Ok(xml) => (StatusCode::OK, xml),
        Err(e) => (
            StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
            e.body(id),
        ),
    };
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(trent_aws::sts::CONTENT_TYPE),
    );
    if let Ok(v) = HeaderValue::from_str(id) {
        headers.insert("x-amzn-requestid", v);
    }
    response
}

async fn advance_clock(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let seconds = request
        .uri()
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("seconds=")))
        .and_then(|s| s.parse::<i64>().ok());
    match (seconds, &state.test_clock) {
        (Some(s), Some(clock)) if s >= 0 => {
            clock.advance_ms(s * 1000);
            (
                StatusCode::OK,
                format!("{{\"offset_ms\":{}}}", clock.offset_ms()),
            )
                .into_response()
        }
        _ => (StatusCode::BAD_REQUEST, "seconds=N required").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::budget_peer;
    use std::net::IpAddr;

    /// An IPv4 client is its address; an IPv6 client its /64; an IPv4 client seen through an
    /// IPv6 listener (mapped) is its IPv4 address.
    #[test]
    fn a_clients_budget_is_counted_per_address_or_ipv6_prefix() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(budget_peer(ip("192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(
            budget_peer(ip("2001:db8:1:2:aaaa::1")),
            ip("2001:db8:1:2::")
        );
        assert_eq!(
            budget_peer(ip("2001:db8:1:2:ffff:ffff:ffff:ffff")),
            budget_peer(ip("2001:db8:1:2::9"))
        );
        assert_ne!(
            budget_peer(ip("2001:db8:1:3::1")),
            budget_peer(ip("2001:db8:1:2::1"))
        );
        assert_eq!(budget_peer(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
    }
}
