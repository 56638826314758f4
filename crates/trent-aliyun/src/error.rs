//! Alibaba's error codes and how every domain error becomes one. The mapping is one exhaustive
//! match: a new `KmsError` variant does not compile until it has an Alibaba rendering.
//!
//! Codes and statuses are Alibaba's (KMS's error table, the seed document's 409 `Rejected.*`
//! results, and the POP gateway's authentication codes). The body is the POP shape
//! `{"RequestId","HostId","Code","Message","Recommend"}`, which both Python SDKs parse.

use serde::Serialize;
use trent_core::state::{Cell, StateRejection};
use trent_core::{KeyState, KmsError, NotFound};

/// An error as Alibaba's RPC protocol sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliyunError {
    pub code: &'static str,
    pub message: String,
    pub status: u16,
    /// For internal errors: the cause, for the log. Never sent.
    pub cause: Option<String>,
}

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct Body<'a> {
    request_id: &'a str,
    host_id: &'a str,
    code: &'a str,
    message: &'a str,
    recommend: String,
}

impl AliyunError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            status,
            cause: None,
        }
    }

    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(400, code, message)
    }

    /// A required parameter is absent (KMS's own wording).
    pub fn missing(name: &str) -> Self {
        Self::bad_request(
            "MissingParameter",
            format!("The parameter \"{name}\" is needed but not provided."),
        )
    }

    /// A parameter's value breaks its documented constraint.
    pub fn invalid(name: &str) -> Self {
        Self::bad_request(
            "InvalidParameter",
            format!("The specified parameter \"{name}\" is not valid."),
        )
    }

    /// An operation or feature Alibaba has but this server does not serve yet.
    pub fn unsupported(what: impl std::fmt::Display) -> Self {
        Self::bad_request(
            "Rejected.UnsupportedOperation",
            format!("Unsupported operation: {what} is not supported by this server yet."),
        )
    }

    /// The generic internal error; its cause goes to the log, never to the client.
    pub fn internal_with(cause: impl Into<String>) -> Self {
        Self {
            cause: Some(cause.into()),
            ..Self::new(
                500,
                "InternalFailure",
                "The request processing has failed due to some unknown error.",
            )
        }
    }

    pub fn is_internal(&self) -> bool {
        self.status >= 500
    }

    /// The JSON body. `host_id` is the host the client addressed.
    pub fn body(&self, request_id: &str, host_id: &str) -> Vec<u8> {
        serde_json::to_vec(&Body {
            request_id,
            host_id,
            code: self.code,
            message: &self.message,
            recommend: format!(
                "https://api.aliyun.com/troubleshoot?q={}&product=Kms&requestId={request_id}",
                self.code
            ),
        })
        .unwrap_or_default()
    }
}

fn rejected(r: StateRejection) -> AliyunError {
    let state_code = |s: KeyState| match s {
        KeyState::Enabled => "Rejected.Enabled",
        KeyState::Disabled => "Rejected.Disabled",
        // Alibaba has no multi-Region keys; a primary waiting for its replicas is pending
        // deletion there.
        KeyState::PendingDeletion | KeyState::PendingReplicaDeletion => "Rejected.PendingDeletion",
        KeyState::PendingImport => "Rejected.PendingImport",
    };
    match r.cell {
        Cell::Unusable => AliyunError::new(
            409,
            state_code(r.state),
            format!(
                "The request was rejected because the key state is {}.",
                r.state
            ),
        ),
        // The table's "Allowed" never becomes an error; it is listed so this match stays
        // exhaustive over cells.
        Cell::NoStateChange | Cell::NotPendingDeletion | Cell::Allowed => AliyunError::new(
            409,
            "Rejected.StateModifiedFailed",
            "Keystate modified failed.",
        ),
    }
}

impl From<KmsError> for AliyunError {
    fn from(e: KmsError) -> Self {
        use AliyunError as E;
        let key_not_found = || {
            E::new(
                404,
                "Forbidden.KeyNotFound",
                "The specified Key is not found.",
            )
        };
        match e {
            // Alibaba's code for a caller RAM does not allow; the message is AWS's sentence,
            // which names the principal, action, resource and reason.
            KmsError::AccessDenied(denied) => E::new(403, "Forbidden.NoPermission", denied.message()),
            // Alibaba serves no grants; these come from AWS requests only.
            KmsError::InvalidGrantToken => E::invalid("GrantToken"),
            KmsError::InvalidGrantId => E::invalid("GrantId"),
            KmsError::NotFound(
                NotFound::Key { .. }
                | NotFound::InvalidKeyId { .. }
                | NotFound::OtherRegion { .. }
                | NotFound::AliasNotAccepted { .. },
            ) => {
                key_not_found()
            }
            KmsError::NotFound(NotFound::Alias { .. }) => E::new(
                404,
                "Forbidden.AliasNotFound",
                "The specified Alias is not found.",
            ),
            KmsError::NotFound(NotFound::Policy { .. }) => E::invalid("PolicyName"),
            // Alibaba names no key material and cannot stage material for a rotation; these
            // come from AWS requests only, rendered here so every variant has an answer.
            KmsError::NotFound(NotFound::KeyMaterial { .. }) => E::invalid("KeyMaterialId"),
            KmsError::MaterialPendingRotation { .. } | KmsError::NoMaterialPendingRotation { .. } => {
                E::bad_request(
                    "Rejected.UnsupportedOperation",
                    "Key material pending rotation is not available through this API.",
                )
            }
            KmsError::KeyState { rejection, .. } => rejected(rejection),
            // Alibaba has no multi-Region keys, and none of its operations replicate; a change
            // of a shared property through a replica is refused as an unsupported operation.
            KmsError::MultiRegion { .. } => E::bad_request(
                "Rejected.UnsupportedOperation",
                "This operation is not supported for a multi-Region replica key.",
            ),
            // Alibaba documents that a protected key cannot be deleted but not the error code.
            // ScheduleKeyDeletion's documented refusal of a state change is
            // Rejected.StateModifiedFailed (409), and that is what happened: the key could not be
            // moved to PendingDeletion. The message says why.
            KmsError::DeletionProtected { .. } => E::new(
                409,
                "Rejected.StateModifiedFailed",
                "Keystate modified failed: the key has deletion protection enabled; disable it with SetDeletionProtection first.",
            ),
            KmsError::Validation(m) | KmsError::Tag(m) | KmsError::MalformedPolicyDocument(m) => {
                E::bad_request("InvalidParameter", m)
            }
            KmsError::AlreadyExists(_) => {
                E::bad_request("AliasAlreadyExists", "AliasName Already Exists.")
            }
            KmsError::InvalidAliasName(_) | KmsError::ReservedAlias { .. } => {
                E::invalid("AliasName")
            }
            KmsError::InvalidArn(_) => E::invalid("KeyId"),
            KmsError::InvalidMarker => E::invalid("PageNumber"),
            // One answer for every decryption failure, without detail (no oracle).
            KmsError::InvalidCiphertext | KmsError::IncorrectKey => E::invalid("CiphertextBlob"),
            // The key a ciphertext names is gone (or in another account): Alibaba says the key
            // is not found.
            KmsError::CiphertextKeyInaccessible => key_not_found(),
            // Alibaba's AsymmetricVerify answers a bad signature with `Value: false`; as an error
            // (and for MACs, which Alibaba has not) it is a parameter that does not verify.
            KmsError::InvalidPeerPublicKey => E::invalid("PublicKey"),
            KmsError::InvalidSignature => E::invalid("Value"),
            KmsError::InvalidMac => E::invalid("Mac"),
            KmsError::IncorrectKeyMaterial => {
                E::bad_request("InvalidKeyMaterial", "key material is invalid.")
            }
            KmsError::InvalidImportToken => {
                E::bad_request("InvalidImportToken", "import token is invalid.")
            }
            KmsError::ExpiredImportToken => {
                E::bad_request("ExpiredImportToken", "import token is expired.")
            }
            KmsError::InvalidKeyUsage(m) => E::bad_request("Rejected.UnsupportedOperation", m),
            KmsError::UnsupportedOperation(m) => E::bad_request("Rejected.UnsupportedOperation", m),
            KmsError::LimitExceeded(_) => E::bad_request(
                "Rejected.LimitExceeded",
                "The request was rejected because user create resource limit was exceeded.",
            ),
            KmsError::Contention => E::bad_request(
                "Throttling",
                "Too many concurrent changes to this resource. Retry the request.",
            ),
            KmsError::StorageFull => E::new(
                500,
                "InternalFailure",
                "The service cannot store the change: its storage is full. Reads still work; retry the change later.",
            ),
            KmsError::Internal(cause) => E::internal_with(cause),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trent_core::state::{check, Dialect, KeyOp};

    fn render(op: KeyOp, state: KeyState) -> (u16, &'static str) {
        let rejection = check(Dialect::Aliyun, op, state).unwrap_err();
        let e = AliyunError::from(KmsError::KeyState {
            arn: "arn".into(),
            rejection,
        });
        (e.status, e.code)
    }

    #[test]
    fn state_rejections_render_as_the_seed_document_says() {
        assert_eq!(
            render(KeyOp::Encrypt, KeyState::Disabled),
            (409, "Rejected.Disabled")
        );
        assert_eq!(
            render(KeyOp::Decrypt, KeyState::PendingDeletion),
            (409, "Rejected.PendingDeletion")
        );
        assert_eq!(
            render(KeyOp::GenerateDataKey, KeyState::PendingImport),
            (409, "Rejected.PendingImport")
        );
        assert_eq!(
            render(KeyOp::EnableKey, KeyState::PendingImport),
            (409, "Rejected.StateModifiedFailed")
        );
        assert_eq!(
            render(KeyOp::CancelKeyDeletion, KeyState::Enabled),
            (409, "Rejected.StateModifiedFailed")
        );
        assert_eq!(
            render(KeyOp::UpdateAlias, KeyState::PendingDeletion),
            (409, "Rejected.PendingDeletion")
        );
        assert_eq!(
            render(KeyOp::CreateAlias, KeyState::PendingDeletion),
            (409, "Rejected.StateModifiedFailed")
        );
    }

    #[test]
    fn a_protected_key_refuses_deletion_as_a_failed_state_change() {
        let e = AliyunError::from(KmsError::DeletionProtected { arn: "arn".into() });
        assert_eq!((e.status, e.code), (409, "Rejected.StateModifiedFailed"));
        assert!(e.message.contains("deletion protection"));
    }

    #[test]
    fn body_has_alibabas_shape_and_internal_causes_stay_home() {
        let e = AliyunError::from(KmsError::Internal("disk on fire at /secret".into()));
        let body: serde_json::Value = serde_json::from_slice(&e.body("RID", "host")).unwrap();
        assert_eq!(body["Code"], "InternalFailure");
        assert_eq!(body["RequestId"], "RID");
        assert_eq!(body["HostId"], "host");
        assert!(body["Recommend"]
            .as_str()
            .unwrap()
            .contains("InternalFailure"));
        assert!(!body.to_string().contains("disk"));
        assert_eq!(e.status, 500);
    }
}
