//! The one domain error. Each dialect maps every variant to its own wire code with an exhaustive
//! match; nothing chooses a status by reading message text.

use crate::state::StateRejection;

/// What could not be found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotFound {
    /// A well-formed key id or ARN that names no key in the caller's scope.
    Key { arn: String },
    /// A key id that is not well-formed (AWS answers these with NotFound too).
    InvalidKeyId { raw: String },
    /// An alias that does not exist.
    Alias { arn: String },
    /// A key policy name other than `default`.
    Policy { name: String },
    /// A `KeyMaterialId` that names no material of the key.
    KeyMaterial { arn: String, id: String },
    /// A key ARN of a region other than the caller's: keys never cross regions.
    OtherRegion { region: String },
    /// An alias name where the operation takes only a key id or key ARN.
    AliasNotAccepted { name: String },
}

/// Why the gate refused a request, in the words AWS's message uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DenyReason {
    /// No key-policy statement allows the caller (directly or through its account).
    NoResourcePolicy,
    /// The key policy delegates to the account, but no identity policy allows the action.
    NoIdentityPolicy,
    ExplicitResourceDeny,
    ExplicitIdentityDeny,
}

/// A refusal: who, what, on which resource, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denied {
    pub principal: String,
    pub action: &'static str,
    pub resource: String,
    pub reason: DenyReason,
}

impl Denied {
    /// AWS's sentence: `User: <arn> is not authorized to perform: <action> on resource: <arn>
    /// because no resource-based policy allows the <action> action` (or `with an explicit deny
    /// in a resource-based policy`, and the same for identity-based policies).
    pub fn message(&self) -> String {
        let why = match self.reason {
            DenyReason::NoResourcePolicy => {
                format!(
                    "because no resource-based policy allows the {} action",
                    self.action
                )
            }
            DenyReason::NoIdentityPolicy => {
                format!(
                    "because no identity-based policy allows the {} action",
                    self.action
                )
            }
            DenyReason::ExplicitResourceDeny => {
                "with an explicit deny in a resource-based policy".to_owned()
            }
            DenyReason::ExplicitIdentityDeny => {
                "with an explicit deny in an identity-based policy".to_owned()
            }
        };
        format!(
            "User: {} is not authorized to perform: {} on resource: {} {why}",
            self.principal, self.action, self.resource
        )
    }
}

/// Every way a domain operation can fail.
///
/// Deliberately not `#[non_exhaustive]`: every consumer is in this workspace, and an exhaustive
/// match in each dialect is what guarantees a new variant gets a wire rendering.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KmsError {
    /// The key or alias does not exist in the caller's account and region.
    #[error("not found: {0:?}")]
    NotFound(NotFound),
    /// The caller may not perform the action on the resource.
    #[error("access denied: {0:?}")]
    AccessDenied(Denied),
    /// A grant token this server did not issue.
    #[error("invalid grant token")]
    InvalidGrantToken,
    /// A grant id that names no grant of the key.
    #[error("invalid grant id")]
    InvalidGrantId,
    /// The key-state table refuses this operation for the key's current state.
    #[error("key {arn} refused by the state table: {rejection:?}")]
    KeyState {
        arn: String,
        rejection: StateRejection,
    },
    /// ScheduleKeyDeletion on a key with deletion protection on (Alibaba's SetDeletionProtection).
    #[error("key {arn} has deletion protection enabled")]
    DeletionProtected { arn: String },
    /// New key material imported while another waits for its rotation: only one may wait.
    #[error("key {arn}: material {pending_material_id} is already pending rotation")]
    MaterialPendingRotation {
        arn: String,
        /// The id the refused material would have had.
        new_material_id: String,
        pending_material_id: String,
    },
    /// On-demand rotation of a key with imported material and none imported for the rotation.
    #[error("key {arn} has no material pending rotation")]
    NoMaterialPendingRotation { arn: String },
    /// A request member breaks a documented constraint; the text says which, in AWS's words.
    #[error("validation: {0}")]
    Validation(String),
    /// The resource (an alias) already exists.
    #[error("already exists: {0}")]
    AlreadyExists(String),
    #[error("invalid alias name: {0}")]
    InvalidAliasName(String),
    /// An alias under the prefix reserved for the vendor's own managed keys (`alias/aws/`):
    /// not the caller's to create, retarget or delete.
    #[error("alias {name} is reserved")]
    ReservedAlias { name: String },
    #[error("invalid ARN: {0}")]
    InvalidArn(String),
    /// A pagination marker this server did not issue.
    #[error("invalid marker")]
    InvalidMarker,
    /// Any failure to decrypt: deliberately without detail.
    #[error("invalid ciphertext")]
    InvalidCiphertext,
    /// The KeyId given to Decrypt is not the key the ciphertext was made with.
    #[error("incorrect key")]
    IncorrectKey,
    /// The ciphertext names a key that does not exist in the caller's scope.
    #[error("ciphertext refers to an inaccessible key")]
    CiphertextKeyInaccessible,
    /// DeriveSharedSecret: the peer public key is not a DER SubjectPublicKeyInfo of a key on
    /// the key's curve.
    #[error("invalid peer public key")]
    InvalidPeerPublicKey,
    /// Verify: the signature does not match. Deliberately without detail.
    #[error("invalid signature")]
    InvalidSignature,
    /// VerifyMac: the MAC does not match. Deliberately without detail.
    #[error("invalid MAC")]
    InvalidMac,
    /// ImportKeyMaterial: the material is not valid for the key, or is not the material that
    /// was imported into it before.
    #[error("incorrect key material")]
    IncorrectKeyMaterial,
    /// ImportKeyMaterial: the import token is not one this server issued for this key.
    #[error("invalid import token")]
    InvalidImportToken,
    /// ImportKeyMaterial: the import token's 24 hours have passed.
    #[error("expired import token")]
    ExpiredImportToken,
    /// The key's spec or usage does not allow the operation or algorithm.
    #[error("invalid key usage: {0}")]
    InvalidKeyUsage(String),
    #[error("unsupported operation: {0}")]
    UnsupportedOperation(String),
    /// A multi-Region key rule refused the request (see [`MultiRegionRule`]).
    #[error("multi-Region key rule: {rule:?} ({arn})")]
    MultiRegion { arn: String, rule: MultiRegionRule },
    /// A tag breaks a tagging rule (reserved prefix, duplicates, too many).
    #[error("tag: {0}")]
    Tag(String),
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    #[error("malformed policy document: {0}")]
    MalformedPolicyDocument(String),
    /// Other writers (on other nodes) kept changing the resource through every attempt: a
    /// retryable refusal, never an internal error.
    #[error("too many concurrent writes to one resource")]
    Contention,
    /// The store cannot take the change (its disk is full). Reads still work.
    #[error("the store is full")]
    StorageFull,
    /// A storage or cryptographic failure on our side. The text is logged, never sent.
    #[error("internal: {0}")]
    Internal(String),
}

/// The multi-Region key rules a request can break.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MultiRegionRule {
    /// ReplicateKey or UpdatePrimaryRegion on a key that is not a multi-Region primary key
    /// (a replica, or a single-Region key).
    NotPrimary,
    /// ReplicateKey to a Region that already holds a copy (`replica_arn` names it).
    CopyExists { replica_arn: String },
    /// UpdatePrimaryRegion to a Region that holds no replica of the key.
    NoReplica { region: String },
    /// A shared property (rotation) changed through a replica: only the primary may.
    Replica,
}

impl KmsError {
    pub fn invalid_key_id(raw: &str) -> Self {
        KmsError::NotFound(NotFound::InvalidKeyId {
            raw: raw.to_owned(),
        })
    }

    pub fn invalid_arn(raw: &str) -> Self {
        KmsError::InvalidArn(format!("{raw} is not a valid ARN."))
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        KmsError::Internal(cause.to_string())
    }
}

impl From<crate::store::StoreError> for KmsError {
    fn from(e: crate::store::StoreError) -> Self {
        match e {
            crate::store::StoreError::Full => KmsError::StorageFull,
            e => KmsError::internal(e),
        }
    }
}

impl From<trent_crypto::CryptoError> for KmsError {
    fn from(e: trent_crypto::CryptoError) -> Self {
        KmsError::internal(e)
    }
}
