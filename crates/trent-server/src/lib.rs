//! The server chassis: one request path for every operation.
//!
//! `POST /` → bounded body → dialect detection → authentication (fails closed) → operation →
//! decode/validate/execute (in `trent-aws`) → render. Errors are always in the dialect's own
//! shape; a 5xx body never carries the cause, which goes to the log instead. Request and
//! response bodies are never logged (they carry plaintext).

pub mod config;
pub mod rootkey;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use trent_aws::sigv4::{self, AuthError, Credential, CredentialStore, SignedRequest};
use trent_aws::{AwsError, Operation};
use trent_core::clock::OffsetClock;
use trent_core::engine::{Caller, Kms};
use trent_core::state::Dialect;
use trent_core::Scope;
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

/// Everything a request needs.
#[derive(Debug)]
pub struct AppState {
    pub kms: Arc<Kms>,
    pub credentials: Credentials,
    pub verifier: sigv4::Verifier,
    /// Present only when the test clock is enabled.
    pub test_clock: Option<Arc<OffsetClock>>,
}

pub fn app(state: Arc<AppState>) -> Router {
    let mut router = Router::new().route("/", post(handle_kms)).route(
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

/// Reads the body up to the limit; a larger body is refused without reading it all, and a
/// client that stalls is cut off rather than holding a connection forever.
async fn read_body(body: Body) -> Result<Bytes, AwsError> {
    match tokio::time::timeout(BODY_TIMEOUT, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(_)) => Err(AwsError::client(
            "ValidationException",
            format!("The request body is larger than the limit of {MAX_BODY_BYTES} bytes, or was cut short."),
        )),
        Err(_) => Err(AwsError::client(
            "RequestTimeoutException",
            "The request body was not received in time.",
        )),
    }
}

/// Authenticates a request: every header must be text, the signature must verify.
fn authenticate(
    state: &AppState,
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Caller, AwsError> {
    let mut pairs = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        let value = value.to_str().map_err(|_| {
            AwsError::client(
                "IncompleteSignatureException",
                format!("Header {name} is not valid text."),
            )
        })?;
        pairs.push((name.as_str(), value));
    }
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
            &state.credentials,
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

async fn handle_kms(State(state): State<Arc<AppState>>, request: Request) -> Response {
    let id = request_id();
    let (parts, body) = request.into_parts();
    let result = async {
        let body = read_body(body).await?;
        let caller = authenticate(&state, &parts.method, &parts.uri, &parts.headers, &body)?;
        let target = parts
            .headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok());
        let op = trent_aws::operation(target)?;
        execute(state.clone(), op, caller, body).await
    }
    .await;
    match result {
        Ok(body) => aws_response(StatusCode::OK, body, &id),
        Err(e) => {
            if e.is_internal() {
                tracing::error!(request_id = %id, cause = e.cause.as_deref().unwrap_or("unknown"), "internal error");
            }
            let status =
                StatusCode::from_u16(e.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            aws_response(status, e.body(), &id)
        }
    }
}

/// Runs an operation. Reads (and all cryptographic operations, which hit the key cache) run
/// inline; operations that write may wait on an fsync, so they run on the blocking pool.
async fn execute(
    state: Arc<AppState>,
    op: Operation,
    caller: Caller,
    body: Bytes,
) -> Result<Vec<u8>, AwsError> {
    let run = move || {
        let ctx = trent_aws::Ctx {
            kms: &state.kms,
            caller: &caller,
        };
        trent_aws::dispatch(op, &ctx, &body)
    };
    if op.writes() {
        tokio::task::spawn_blocking(run)
            .await
            .map_err(|e| AwsError::internal_with(format!("task failed: {e}")))?
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
