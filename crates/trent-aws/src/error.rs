//! AWS error codes and how every domain error becomes one. The mapping is one exhaustive match:
//! adding a `KmsError` variant does not compile until it has an AWS rendering.

use serde::Serialize;
use trent_core::error::MultiRegionRule;
use trent_core::state::{Cell, StateRejection};
use trent_core::{KeyState, KmsError, NotFound};

/// An error as the AWS JSON protocol sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    /// The `__type` value.
    pub code: &'static str,
    pub message: String,
    /// HTTP status: 400 for every client error (as AWS's wire shows, whatever its model says),
    /// 500 for internal errors.
    pub status: u16,
    /// For internal errors: the cause, for the log. Never sent.
    pub cause: Option<String>,
}

/// AWS omits `message` when it has nothing to say (botocore then shows an empty
/// `Error.Message`), so an empty message is no member at all rather than `"message":""`.
#[derive(Serialize)]
struct Body<'a> {
    #[serde(rename = "__type")]
    code: &'a str,
    #[serde(skip_serializing_if = "str::is_empty")]
    message: &'a str,
}

/// The message of a write refused because the store is full.
pub const STORAGE_FULL: &str =
    "The service cannot store the change: its storage is full. Reads still work; retry the change later.";

impl AwsError {
    pub fn client(code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            status: 400,
            cause: None,
        }
    }

    pub fn body(&self) -> Vec<u8> {
        serde_json::to_vec(&Body {
            code: self.code,
            message: &self.message,
        })
        .unwrap_or_default()
    }

    pub fn serialization(message: impl Into<String>) -> Self {
        Self::client("SerializationException", message)
    }

    /// The generic internal error; its cause goes to the log, never to the client.
    pub fn internal() -> Self {
        Self {
            code: "KMSInternalException",
            message: "An internal error occurred. Retry the request.".into(),
            status: 500,
            cause: None,
        }
    }

    /// The generic internal error, remembering its cause for the log.
    pub fn internal_with(cause: impl Into<String>) -> Self {
        Self {
            cause: Some(cause.into()),
            ..Self::internal()
        }
    }

    pub fn is_internal(&self) -> bool {
        self.status >= 500
    }
}

fn state_message(arn: &str, r: StateRejection) -> String {
    match (r.cell, r.state) {
        (Cell::NotPendingDeletion, _) => format!("{arn} is not pending deletion."),
        (_, KeyState::Enabled) => format!("{arn} is enabled."),
        (_, KeyState::Disabled) => format!("{arn} is disabled."),
        // AWS's key-state table has no message of its own for a primary waiting for its
        // replicas' deletion; it is refused as a key pending deletion.
        (_, KeyState::PendingDeletion | KeyState::PendingReplicaDeletion) => {
            format!("{arn} is pending deletion.")
        }
        (_, KeyState::PendingImport) => format!("{arn} is pending import."),
    }
}

impl From<KmsError> for AwsError {
    fn from(e: KmsError) -> Self {
        use AwsError as E;
        match e {
            KmsError::AccessDenied(denied) => E::client("AccessDeniedException", denied.message()),
            KmsError::InvalidGrantToken => {
                E::client("InvalidGrantTokenException", "The grant token is not valid.")
            }
            KmsError::InvalidGrantId => {
                E::client("InvalidGrantIdException", "The grant ID is not valid for this key.")
            }
            KmsError::NotFound(NotFound::Key { arn }) => {
                E::client("NotFoundException", format!("Key '{arn}' does not exist"))
            }
            KmsError::NotFound(NotFound::InvalidKeyId { raw }) => {
                E::client("NotFoundException", format!("Invalid keyId '{raw}'"))
            }
            KmsError::NotFound(NotFound::Alias { arn }) => {
                E::client("NotFoundException", format!("Alias {arn} is not found."))
            }
            KmsError::NotFound(NotFound::Policy { name }) => {
                E::client("NotFoundException", format!("No such policy exists: {name}"))
            }
            KmsError::NotFound(NotFound::KeyMaterial { arn, id }) => E::client(
                "NotFoundException",
                format!("Key material {id} is not associated with {arn}."),
            ),
            KmsError::NotFound(NotFound::OtherRegion { region }) => {
                E::client("NotFoundException", format!("Invalid arn {region}"))
            }
            // Unquoted, unlike a malformed id.
            KmsError::NotFound(NotFound::AliasNotAccepted { name }) => {
                E::client("NotFoundException", format!("Invalid keyId {name}"))
            }
            KmsError::MaterialPendingRotation {
                arn,
                new_material_id,
                pending_material_id,
            } => E::client(
                "KMSInvalidStateException",
                format!("New key material (id: {new_material_id}) cannot be imported into KMS key {arn}, because another key material (id: {pending_material_id}) is pending rotation."),
            ),
            KmsError::NoMaterialPendingRotation { arn } => E::client(
                "KMSInvalidStateException",
                format!("No available key material pending rotation for the key: {arn}."),
            ),
            KmsError::KeyState { arn, rejection } => {
                let code = match (rejection.cell, rejection.state) {
                    (Cell::Unusable, KeyState::Disabled) => "DisabledException",
                    _ => "KMSInvalidStateException",
                };
                E::client(code, state_message(&arn, rejection))
            }
            // AWS has no deletion protection, so no error of its own for it. ScheduleKeyDeletion's
            // documented errors hold one refusal of a key's current condition,
            // KMSInvalidStateException, which every AWS client already handles for it;
            // UnsupportedOperationException would say the operation itself is not offered.
            KmsError::DeletionProtected { arn } => E::client(
                "KMSInvalidStateException",
                format!("{arn} has deletion protection enabled (set through Alibaba's SetDeletionProtection); it cannot be scheduled for deletion."),
            ),
            // "<arn> is not a multi-region primary key." is AWS's recorded answer to
            // ReplicateKey on a replica; the same sentence is true of a single-Region key.
            KmsError::MultiRegion { arn, rule } => match rule {
                MultiRegionRule::NotPrimary => E::client(
                    "UnsupportedOperationException",
                    format!("{arn} is not a multi-region primary key."),
                ),
                MultiRegionRule::CopyExists { replica_arn } => E::client(
                    "AlreadyExistsException",
                    format!("Replica key {replica_arn} already exists."),
                ),
                MultiRegionRule::NoReplica { region } => E::client(
                    "NotFoundException",
                    format!("Replica key of {arn} in region {region} does not exist."),
                ),
                MultiRegionRule::Replica => E::client(
                    "UnsupportedOperationException",
                    format!("{arn} is a multi-region replica key; shared properties can only be changed on its primary key."),
                ),
            },
            KmsError::Validation(m) => E::client("ValidationException", m),
            KmsError::AlreadyExists(m) => E::client("AlreadyExistsException", m),
            KmsError::InvalidAliasName(m) => E::client("InvalidAliasNameException", m),
            // AWS answers a reserved alias as a permission refusal, without text.
            KmsError::ReservedAlias { .. } => E::client("NotAuthorizedException", ""),
            KmsError::InvalidArn(m) => E::client("InvalidArnException", m),
            KmsError::InvalidMarker => E::client("InvalidMarkerException", "The marker is not valid."),
            // AWS sends these without detail; so do we (no oracle).
            KmsError::InvalidCiphertext => E::client("InvalidCiphertextException", ""),
            KmsError::IncorrectKey => E::client(
                "IncorrectKeyException",
                "The key ID in the request does not identify a CMK that can perform this operation.",
            ),
            KmsError::CiphertextKeyInaccessible => E::client(
                "AccessDeniedException",
                "The ciphertext refers to a customer master key that does not exist, does not exist in this region, or you are not allowed to access.",
            ),
            KmsError::InvalidPeerPublicKey => E::client("ValidationException", ""),
            KmsError::InvalidSignature => E::client("KMSInvalidSignatureException", ""),
            KmsError::InvalidMac => E::client("KMSInvalidMacException", ""),
            KmsError::IncorrectKeyMaterial => E::client(
                "IncorrectKeyMaterialException",
                "The key material is not valid for this KMS key, or is not the key material previously imported into it.",
            ),
            KmsError::InvalidImportToken => E::client(
                "InvalidImportTokenException",
                "The import token is not valid for this KMS key.",
            ),
            KmsError::ExpiredImportToken => E::client(
                "ExpiredImportTokenException",
                "The import token has expired. Use GetParametersForImport to get a new one.",
            ),
            KmsError::InvalidKeyUsage(m) => E::client("InvalidKeyUsageException", m),
            KmsError::UnsupportedOperation(m) => E::client("UnsupportedOperationException", m),
            KmsError::Tag(m) => E::client("TagException", m),
            KmsError::LimitExceeded(m) => E::client("LimitExceededException", m),
            KmsError::MalformedPolicyDocument(m) => E::client("MalformedPolicyDocumentException", m),
            KmsError::Contention => E::client(
                "ThrottlingException",
                "Too many concurrent changes to this resource. Retry the request.",
            ),
            // AWS's class for it is internal (500), but the message says what happened; the
            // store logs the cause once, so there is no per-request cause here.
            KmsError::StorageFull => E {
                message: STORAGE_FULL.into(),
                ..E::internal()
            },
            KmsError::Internal(cause) => E::internal_with(cause),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trent_core::state::{check, Dialect, KeyOp};

    #[test]
    fn state_rejections_render_as_aws_does() {
        let arn = "arn:aws:kms:us-east-1:000000000000:key/k";
        let render = |op, state| {
            let rejection = check(Dialect::Aws, op, state).unwrap_err();
            AwsError::from(KmsError::KeyState {
                arn: arn.into(),
                rejection,
            })
        };
        let e = render(KeyOp::Encrypt, KeyState::Disabled);
        assert_eq!((e.code, e.status), ("DisabledException", 400));
        assert_eq!(e.message, format!("{arn} is disabled."));
        let e = render(KeyOp::Encrypt, KeyState::PendingImport);
        assert_eq!(e.code, "KMSInvalidStateException");
        assert_eq!(e.message, format!("{arn} is pending import."));
        let e = render(KeyOp::CancelKeyDeletion, KeyState::Enabled);
        assert_eq!(e.message, format!("{arn} is not pending deletion."));
    }

    #[test]
    fn a_protected_key_refuses_deletion_as_an_invalid_state() {
        let arn = "arn:aws:kms:us-east-1:000000000000:key/k";
        let e = AwsError::from(KmsError::DeletionProtected { arn: arn.into() });
        assert_eq!((e.code, e.status), ("KMSInvalidStateException", 400));
        assert!(e.message.starts_with(arn));
    }

    #[test]
    fn an_empty_message_is_no_member() {
        let body = AwsError::from(KmsError::InvalidCiphertext).body();
        assert_eq!(body, br#"{"__type":"InvalidCiphertextException"}"#);
        let body = AwsError::from(KmsError::InvalidMarker).body();
        assert_eq!(
            body,
            br#"{"__type":"InvalidMarkerException","message":"The marker is not valid."}"#
        );
    }

    #[test]
    fn internal_errors_carry_no_cause() {
        let e = AwsError::from(KmsError::Internal("disk on fire at /secret/path".into()));
        assert_eq!(e.status, 500);
        assert!(!e.message.contains("disk"));
    }

    #[test]
    fn a_full_store_is_a_500_that_says_so_and_contention_is_retryable() {
        let e = AwsError::from(KmsError::StorageFull);
        assert_eq!((e.code, e.status), ("KMSInternalException", 500));
        assert!(
            e.message.contains("cannot store the change"),
            "{}",
            e.message
        );
        assert_eq!(e.cause, None, "logged once by the store, not per request");
        let e = AwsError::from(KmsError::Contention);
        assert_eq!((e.code, e.status), ("ThrottlingException", 400));
    }
}
