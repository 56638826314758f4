//! The AWS KMS dialect: JSON 1.1 over `POST /`, operations named by
//! `X-Amz-Target: TrentService.<Operation>`, SigV4 authentication and AWS's error codes.
//!
//! Owns the wire shapes and their validation; calls `trent-core` for every decision about keys.
//! Must not know about HTTP servers or storage.

pub mod enums;
pub mod error;
pub mod ops;
pub mod sigv4;
pub mod sts;
pub mod wire;

pub use error::AwsError;
pub use ops::{dispatch, Ctx, Operation};

/// The `X-Amz-Target` prefix of the KMS service.
pub const TARGET_PREFIX: &str = "TrentService.";
/// The SigV4 signing name.
pub const SIGNING_SERVICE: &str = "kms";
/// Headers a KMS request's signature must cover and the request must carry once: the endpoint,
/// and the operation (AWS JSON 1.1 names it in a header, outside the signed body).
pub const REQUIRED_SIGNED_HEADERS: &[&str] = &["host", "x-amz-target"];
/// The content type AWS JSON 1.1 uses for requests and responses.
pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The SigV4 verifier for KMS requests (see [`REQUIRED_SIGNED_HEADERS`]).
pub fn verifier() -> sigv4::Verifier {
    sigv4::Verifier::requiring(REQUIRED_SIGNED_HEADERS)
}

/// Finds the operation an `X-Amz-Target` header names.
pub fn operation(target: Option<&str>) -> Result<Operation, AwsError> {
    let name = target
        .and_then(|t| t.strip_prefix(TARGET_PREFIX))
        .ok_or_else(|| {
            AwsError::client(
                "UnknownOperationException",
                "Missing or malformed X-Amz-Target header.",
            )
        })?;
    if let Some(op) = Operation::from_name(name) {
        return Ok(op);
    }
    if ops::NOT_YET_SERVED.contains(&name) {
        return Err(AwsError::client(
            "UnsupportedOperationException",
            format!("{name} is not supported by this server yet."),
        ));
    }
    Err(AwsError::client(
        "UnknownOperationException",
        format!("Unknown operation {name}."),
    ))
}
