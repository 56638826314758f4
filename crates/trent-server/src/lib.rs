//! The server chassis: one request path for every operation of every dialect.
//!
//! `/` → bounded body → dialect detection (AWS: `X-Amz-Target`; Alibaba: an ACS authorization,
//! `x-acs-action` or an `Action` parameter) → authentication (fails closed) → operation →
//! decode/validate/execute (in `trent-aws` or `trent-aliyun`, behind the [`Api`] trait) →
//! render. Errors are always in the dialect's own shape; a 5xx body never carries the cause,
//! which goes to the log instead. Request and response bodies are never logged (they carry
//! plaintext).

pub mod config;
pub mod rootkey;
pub mod tls;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use trent_aliyun::{AliyunError, Params};
use trent_aws::sigv4::{self, AuthError, Credential, CredentialStore, SignedRequest};
use trent_aws::{AwsError, Operation};
use trent_core::clock::OffsetClock;
use trent_core::engine::{Caller, Kms};
use trent_core::state::Dialect;
use trent_core::{AccountId, Scope};
use trent_crypto::SecretBytes;

/// The largest request body accepted. AWS's largest members (a 131072-character policy, a
/// 6144-byte ciphertext in base64) fit well inside it.
pub const MAX_BODY_BYTES: usize = 512 * 1024;

/// The configured access keys.
#[derive(Debug, Default)]
pub struct Credentials(HashMap<String, Credential>);

impl Credentials {
    pub fn new(list: &[config::CredentialConfig]) -> Self {
        Self(
            list.iter()
                .map(|c| {
                    (
                        c.access_key_id.clone(),
                        Credential {
                            access_key_id: c.access_key_id.clone(),
                            secret_access_key: SecretBytes::new(
                                c.secret_access_key.as_bytes().to_vec(),
                            ),
                            account_id: c.account_id.clone(),
                        },
                    )
                })
                .collect(),
        )
    }
}

impl CredentialStore for Credentials {
    fn lookup(&self, access_key_id: &str) -> Option<&Credential> {
        self.0.get(access_key_id)
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
}

pub fn app(state: Arc<AppState>) -> Router {
    let mut router = Router::new()
        .route("/", post(handle_kms).get(handle_kms))
        .route(
            "/health",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "application/json")],
                    "{\"status\":\"ok\"}",
                )
            }),
        );
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

/// Why a body could not be read; each dialect words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyError {
    TooLarge,
    Timeout,
}

/// Reads the body up to the limit; a larger body is refused without reading it all, and a
/// client that stalls is cut off rather than holding a connection forever.
async fn read_body(body: Body) -> Result<Bytes, BodyError> {
    match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(BodyError::TooLarge),
        Err(_) => Err(BodyError::Timeout),
    }
}

/// Every header as text; a header that is not text cannot be part of a valid signature.
fn header_pairs(headers: &HeaderMap) -> Result<Vec<(&str, &str)>, String> {
    headers
        .iter()
        .map(|(name, value)| {
            value
                .to_str()
                .map(|v| (name.as_str(), v))
                .map_err(|_| format!("Header {name} is not valid text."))
        })
        .collect()
}

/// Authenticates an AWS request: the SigV4 signature must verify.
fn authenticate(
    state: &AppState,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Caller, AwsError> {
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
            trent_aws::SIGNING_SERVICE,
            now_for_auth(state),
        )
        .map_err(|e| auth_error(&e))?;
    Ok(Caller {
        scope: Scope::new(verified.account_id, verified.region),
        access_key_id: verified.access_key_id,
        dialect: Dialect::Aws,
    })
}

/// Signatures are checked against the real time, even when tests move the key clock: the
/// test clock governs key lifecycles, not request freshness.
fn now_for_auth(_state: &AppState) -> SystemTime {
    SystemTime::now()
}

/// What a wire dialect brings to the one request path: how it admits a request (authenticate,
/// name the operation), runs an operation, and renders results and errors in its own shape.
trait Api: 'static {
    type Op: Copy + Send + 'static;
    /// The decoded request the operation reads (AWS: the JSON body; Alibaba: parameters).
    type Input: Send + 'static;
    type Error: Send + 'static;

    fn body_error(e: BodyError) -> Self::Error;
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
    fn internal(cause: String) -> Self::Error;
    /// The cause of an internal error, for the log; `None` for client errors.
    fn internal_cause(e: &Self::Error) -> Option<&str>;
    fn respond(result: Result<Vec<u8>, Self::Error>, request_id: &str, parts: &Parts) -> Response;
}

/// AWS KMS: JSON 1.1, SigV4, the operation in `X-Amz-Target`.
struct AwsApi;

impl Api for AwsApi {
    type Op = Operation;
    type Input = Bytes;
    type Error = AwsError;

    fn body_error(e: BodyError) -> AwsError {
        match e {
            BodyError::TooLarge => AwsError::client(
                "ValidationException",
                format!("The request body is larger than the limit of {MAX_BODY_BYTES} bytes, or was cut short."),
            ),
            BodyError::Timeout => AwsError::client(
                "RequestTimeoutException",
                "The request body was not received in time.",
            ),
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
        let caller = authenticate(state, &parts.method, &parts.uri, &parts.headers, &body)?;
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

    fn internal(cause: String) -> AwsError {
        AwsError::internal_with(cause)
    }

    fn internal_cause(e: &AwsError) -> Option<&str> {
        e.is_internal()
            .then(|| e.cause.as_deref().unwrap_or("unknown"))
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
    type Op = trent_aliyun::Action;
    type Input = Params;
    type Error = AliyunError;

    fn body_error(e: BodyError) -> AliyunError {
        match e {
            BodyError::TooLarge => AliyunError::bad_request(
                "InvalidParameter",
                format!("The request body is larger than the limit of {MAX_BODY_BYTES} bytes, or was cut short."),
            ),
            BodyError::Timeout => AliyunError::bad_request(
                "RequestTimeout",
                "The request body was not received in time.",
            ),
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
        let action = trent_aliyun::action(&verified)?;
        let caller = trent_aliyun::caller(&verified, &params, &state.aliyun_region)?;
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

    fn internal(cause: String) -> AliyunError {
        AliyunError::internal_with(cause)
    }

    fn internal_cause(e: &AliyunError) -> Option<&str> {
        e.is_internal()
            .then(|| e.cause.as_deref().unwrap_or("unknown"))
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
    let id = request_id();
    let (parts, body) = request.into_parts();
    let body = read_body(body).await;
    let aliyun = match &body {
        Ok(bytes) => is_aliyun(&parts, Some(bytes)),
        Err(_) => is_aliyun(&parts, None),
    };
    if aliyun {
        serve::<AliyunApi>(state, parts, body, id.to_uppercase()).await
    } else {
        serve::<AwsApi>(state, parts, body, id).await
    }
}

/// The one request path, whatever the dialect.
async fn serve<A: Api>(
    state: Arc<AppState>,
    parts: Parts,
    body: Result<Bytes, BodyError>,
    id: String,
) -> Response {
    let result = async {
        let body = body.map_err(A::body_error)?;
        let (caller, op, input) = A::admit(&state, &parts, body)?;
        execute::<A>(state.clone(), op, caller, input, id.clone()).await
    }
    .await;
    if let Some(cause) = result.as_ref().err().and_then(A::internal_cause) {
        tracing::error!(request_id = %id, cause, "internal error");
    }
    A::respond(result, &id, &parts)
}

/// Runs an operation. Reads (and all cryptographic operations, which hit the key cache) run
/// inline; operations that write may wait on an fsync, so they run on the blocking pool.
async fn execute<A: Api>(
    state: Arc<AppState>,
    op: A::Op,
    caller: Caller,
    input: A::Input,
    id: String,
) -> Result<Vec<u8>, A::Error> {
    let run = move || A::run(&state.kms, &caller, op, &input, &id);
    if A::writes(op) {
        tokio::task::spawn_blocking(run)
            .await
            .map_err(|e| A::internal(format!("task failed: {e}")))?
    } else {
        run()
    }
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
