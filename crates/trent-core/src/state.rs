//! THE key-state table: for every operation that names a key, and every key state, whether the
//! operation may proceed or why it is refused. It is data, written once from the source
//! documents (Alibaba's "Impact of CMK status on API operations", AWS's key-state reference and
//! API pages) and read by both dialects; each dialect renders a refusal in its own words:
//!
//! | cell | AWS | Alibaba |
//! |---|---|---|
//! | `Unusable` | `DisabledException` when Disabled, else `KMSInvalidStateException` "… is pending deletion/import." | `Rejected.<State>` |
//! | `NoStateChange` | `KMSInvalidStateException` "… is pending deletion/import." | `Rejected.StateModifiedFailed` |
//! | `NotPendingDeletion` | `KMSInvalidStateException` "… is not pending deletion." | `Rejected.StateModifiedFailed` |
//!
//! Where the two vendors give different *transitions* (Alibaba's CancelKeyDeletion returns a key
//! to Enabled, AWS's to Disabled), that lives in [`cancel_deletion_target`], also here.

use crate::model::{KeyState, Origin};

/// The operations, as the admission gate knows them. Those that name a key have a row in the
/// state table; those that never touch a key (CreateKey, ListKeys, GenerateRandom) only say
/// which action they need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyOp {
    DescribeKey,
    EnableKey,
    DisableKey,
    ScheduleKeyDeletion,
    CancelKeyDeletion,
    UpdateKeyDescription,
    Encrypt,
    Decrypt,
    /// ReEncrypt, on the key that made the ciphertext.
    ReEncryptFrom,
    /// ReEncrypt, on the destination key.
    ReEncryptTo,
    GenerateDataKey,
    GenerateDataKeyWithoutPlaintext,
    CreateAlias,
    /// UpdateAlias is checked against the *destination* key only (both sources say so).
    UpdateAlias,
    /// UpdateAlias on the alias's current target: permission only (all cells allowed).
    UpdateAliasCurrent,
    DeleteAlias,
    ListAliases,
    TagResource,
    UntagResource,
    ListResourceTags,
    GetKeyPolicy,
    PutKeyPolicy,
    ListKeyPolicies,
    GetPublicKey,
    Sign,
    Verify,
    GenerateDataKeyPair,
    GenerateDataKeyPairWithoutPlaintext,
    DeriveSharedSecret,
    Encapsulate,
    Decapsulate,
    GenerateMac,
    VerifyMac,
    GetParametersForImport,
    ImportKeyMaterial,
    /// Alibaba: DeleteKeyMaterial.
    DeleteImportedKeyMaterial,
    /// Alibaba: UpdateRotationPolicy (enabling).
    EnableKeyRotation,
    /// Alibaba: UpdateRotationPolicy (disabling).
    DisableKeyRotation,
    GetKeyRotationStatus,
    RotateKeyOnDemand,
    ListKeyRotations,
    /// Alibaba only: SetDeletionProtection (turning it on or off).
    SetDeletionProtection,
    GetKeyLastUsage,
    /// ReplicateKey, on the primary key.
    ReplicateKey,
    /// UpdatePrimaryRegion, decided on the current primary and on the replica that becomes
    /// primary.
    UpdatePrimaryRegion,
    CreateKey,
    ListKeys,
    GenerateRandom,
    CreateGrant,
    ListGrants,
    RevokeGrant,
    /// Decided by the grant itself (its retiring principal, grantee or issuing account).
    RetireGrant,
    ListRetirableGrants,
}

/// One cell of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    Allowed,
    /// The key cannot be used in this state.
    Unusable,
    /// The key's state (or its aliases) cannot be changed in this state.
    NoStateChange,
    /// The operation needs a key that is pending deletion.
    NotPendingDeletion,
}

/// A refusal from the table: which cell, for a key in which state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StateRejection {
    pub cell: Cell,
    pub state: KeyState,
}

use Cell::{Allowed as A, NoStateChange as M, NotPendingDeletion as P, Unusable as U};

/// Who may allow an operation, AWS's "Authorized by" and "Cross-account use" per operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Authority {
    /// The key policy (which may delegate to IAM); principals of other accounts too, when the
    /// key policy and their identity policy both allow.
    Key,
    /// The key policy, for principals of the key's own account only.
    OwnKey,
    /// The caller's identity (IAM) policy alone; no key policy is consulted.
    Identity,
    /// The identity policy on the alias ARN, and the key policy on the key (own account only).
    AliasAndKey,
    /// The grant being retired: its retiring principal, its grantee (when it allows
    /// RetireGrant) or its issuing account; an identity-policy `Deny` still applies.
    Grant,
}

impl Authority {
    /// Whether a principal of another account than the key's may be allowed at all (AWS's
    /// "Cross-account use: Yes").
    pub fn allows_other_accounts(self) -> bool {
        matches!(self, Authority::Key | Authority::Grant)
    }
}

/// What the admission gate needs to decide an operation: the KMS action it needs and who may
/// allow it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub action: &'static str,
    pub authority: Authority,
}

const fn key(action: &'static str) -> Access {
    Access {
        action,
        authority: Authority::Key,
    }
}

const fn own(action: &'static str) -> Access {
    Access {
        action,
        authority: Authority::OwnKey,
    }
}

const fn alias(action: &'static str) -> Access {
    Access {
        action,
        authority: Authority::AliasAndKey,
    }
}

const fn grant(action: &'static str) -> Access {
    Access {
        action,
        authority: Authority::Grant,
    }
}

const fn identity(action: &'static str) -> Access {
    Access {
        action,
        authority: Authority::Identity,
    }
}

/// One row: the operation, what the gate checks, its cells in the AWS dialect, and its cells in
/// the Alibaba dialect where Alibaba's documentation differs (`None`: the same).
type Row = (KeyOp, Access, [Cell; 4], Option<[Cell; 4]>);

/// Operations that name no key: decided by the identity policy alone, no state cells.
const KEYLESS: &[(KeyOp, Access)] = &[
    (KeyOp::CreateKey, identity("kms:CreateKey")),
    (KeyOp::ListKeys, identity("kms:ListKeys")),
    (KeyOp::GenerateRandom, identity("kms:GenerateRandom")),
    (
        KeyOp::ListRetirableGrants,
        identity("kms:ListRetirableGrants"),
    ),
];

/// Columns: Enabled, Disabled, PendingDeletion, PendingImport (the source document's order).
const TABLE: &[Row] = &[
    // Cryptographic operations need an Enabled key.
    (KeyOp::Encrypt, key("kms:Encrypt"), [A, U, U, U], None),
    (KeyOp::Decrypt, key("kms:Decrypt"), [A, U, U, U], None),
    (
        KeyOp::ReEncryptFrom,
        key("kms:ReEncryptFrom"),
        [A, U, U, U],
        None,
    ),
    (
        KeyOp::ReEncryptTo,
        key("kms:ReEncryptTo"),
        [A, U, U, U],
        None,
    ),
    (
        KeyOp::GenerateDataKey,
        key("kms:GenerateDataKey"),
        [A, U, U, U],
        None,
    ),
    (
        KeyOp::GenerateDataKeyWithoutPlaintext,
        key("kms:GenerateDataKeyWithoutPlaintext"),
        [A, U, U, U],
        None,
    ),
    (
        KeyOp::GenerateDataKeyPair,
        key("kms:GenerateDataKeyPair"),
        [A, U, U, U],
        None,
    ),
    (
        KeyOp::GenerateDataKeyPairWithoutPlaintext,
        key("kms:GenerateDataKeyPairWithoutPlaintext"),
        [A, U, U, U],
        None,
    ),
    (
        KeyOp::GetPublicKey,
        key("kms:GetPublicKey"),
        [A, U, U, U],
        None,
    ),
    (KeyOp::Sign, key("kms:Sign"), [A, U, U, U], None),
    (KeyOp::Verify, key("kms:Verify"), [A, U, U, U], None),
    (
        KeyOp::DeriveSharedSecret,
        key("kms:DeriveSharedSecret"),
        [A, U, U, U],
        None,
    ),
    // Added with ML-KEM; their error lists name DisabledException and KMSInvalidStateException,
    // like DeriveSharedSecret's (inferred: the key-state reference has no row for them yet).
    (
        KeyOp::Encapsulate,
        key("kms:Encapsulate"),
        [A, U, U, U],
        None,
    ),
    (
        KeyOp::Decapsulate,
        key("kms:Decapsulate"),
        [A, U, U, U],
        None,
    ),
    (
        KeyOp::GenerateMac,
        key("kms:GenerateMac"),
        [A, U, U, U],
        None,
    ),
    (KeyOp::VerifyMac, key("kms:VerifyMac"), [A, U, U, U], None),
    // Import (EXTERNAL keys only; other keys are refused before the table is read). AWS's
    // key-state reference refuses GetParametersForImport for a key pending deletion
    // (KMSInvalidStateException); Alibaba's BYOK table allows it in every state. Deleting the
    // material works in every state (in PendingDeletion without a state change).
    (
        KeyOp::GetParametersForImport,
        own("kms:GetParametersForImport"),
        [A, A, M, A],
        Some([A, A, A, A]),
    ),
    (
        KeyOp::ImportKeyMaterial,
        own("kms:ImportKeyMaterial"),
        [A, A, M, A],
        None,
    ),
    (
        KeyOp::DeleteImportedKeyMaterial,
        own("kms:DeleteImportedKeyMaterial"),
        [A, A, A, A],
        None,
    ),
    // Rotation (symmetric keys with generated material; other keys are refused before the
    // table is read, except by RotateKeyOnDemand, whose state AWS checks first). Changing the
    // policy or rotating needs an Enabled key; the status and history can always be read.
    (
        KeyOp::EnableKeyRotation,
        own("kms:EnableKeyRotation"),
        [A, U, U, U],
        None,
    ),
    (
        KeyOp::DisableKeyRotation,
        own("kms:DisableKeyRotation"),
        [A, U, U, U],
        None,
    ),
    (
        KeyOp::RotateKeyOnDemand,
        own("kms:RotateKeyOnDemand"),
        [A, U, U, U],
        None,
    ),
    (
        KeyOp::GetKeyRotationStatus,
        key("kms:GetKeyRotationStatus"),
        [A, A, A, U],
        None,
    ),
    (
        KeyOp::ListKeyRotations,
        own("kms:ListKeyRotations"),
        [A, A, A, A],
        None,
    ),
    // Metadata changes are refused only while the key is pending deletion.
    (
        KeyOp::UpdateKeyDescription,
        own("kms:UpdateKeyDescription"),
        [A, A, U, A],
        None,
    ),
    (
        KeyOp::TagResource,
        own("kms:TagResource"),
        [A, A, U, A],
        None,
    ),
    (
        KeyOp::UntagResource,
        own("kms:UntagResource"),
        [A, A, U, A],
        None,
    ),
    // Alibaba's SetDeletionProtection page: "ensure that the CMK is not in the PendingDeletion
    // state". Refused there like the other metadata changes (Rejected.PendingDeletion); AWS has
    // no such operation, so its cells are the same and only the engine's rule is shared.
    (
        KeyOp::SetDeletionProtection,
        own("kms:SetDeletionProtection"),
        [A, A, U, A],
        None,
    ),
    // State changes.
    (KeyOp::EnableKey, own("kms:EnableKey"), [A, A, M, M], None),
    (KeyOp::DisableKey, own("kms:DisableKey"), [A, A, M, M], None),
    (
        KeyOp::ScheduleKeyDeletion,
        own("kms:ScheduleKeyDeletion"),
        [A, A, M, A],
        None,
    ),
    (
        KeyOp::CancelKeyDeletion,
        own("kms:CancelKeyDeletion"),
        [P, P, A, P],
        None,
    ),
    // Aliases: a new alias may not point at a key pending deletion; UpdateAlias looks only at
    // the destination key.
    (
        KeyOp::CreateAlias,
        alias("kms:CreateAlias"),
        [A, A, M, A],
        None,
    ),
    (
        KeyOp::UpdateAlias,
        alias("kms:UpdateAlias"),
        [A, A, U, A],
        None,
    ),
    (
        KeyOp::UpdateAliasCurrent,
        own("kms:UpdateAlias"),
        [A, A, A, A],
        None,
    ),
    (
        KeyOp::DeleteAlias,
        alias("kms:DeleteAlias"),
        [A, A, A, A],
        None,
    ),
    // Grants: a new grant needs a usable key; grants can be listed, retired and revoked in
    // every state (AWS's grants page: "grants are kept").
    (
        KeyOp::CreateGrant,
        key("kms:CreateGrant"),
        [A, U, U, U],
        None,
    ),
    (KeyOp::ListGrants, key("kms:ListGrants"), [A, A, A, A], None),
    (
        KeyOp::RevokeGrant,
        key("kms:RevokeGrant"),
        [A, A, A, A],
        None,
    ),
    (
        KeyOp::RetireGrant,
        grant("kms:RetireGrant"),
        [A, A, A, A],
        None,
    ),
    // Reads and policies work in every state.
    (
        KeyOp::DescribeKey,
        key("kms:DescribeKey"),
        [A, A, A, A],
        None,
    ),
    (
        KeyOp::ListAliases,
        identity("kms:ListAliases"),
        [A, A, A, A],
        None,
    ),
    (
        KeyOp::ListResourceTags,
        own("kms:ListResourceTags"),
        [A, A, A, A],
        None,
    ),
    (
        KeyOp::GetKeyPolicy,
        own("kms:GetKeyPolicy"),
        [A, A, A, A],
        None,
    ),
    (
        KeyOp::PutKeyPolicy,
        own("kms:PutKeyPolicy"),
        [A, A, A, A],
        None,
    ),
    (
        KeyOp::ListKeyPolicies,
        own("kms:ListKeyPolicies"),
        [A, A, A, A],
        None,
    ),
    // Its error list has no state error: it answers in every state.
    (
        KeyOp::GetKeyLastUsage,
        own("kms:GetKeyLastUsage"),
        [A, A, A, A],
        None,
    ),
    // Multi-Region keys. ReplicateKey's row in AWS's table: Disabled [1], PendingDeletion [3];
    // PendingImport is conditional ("?"): an EXTERNAL primary may be replicated before its
    // material is imported (the replica is then PendingImport too). UpdatePrimaryRegion needs
    // both keys Enabled ("Both the primary key and the replica key must be in the Enabled key
    // state when the operation starts", AWS's multi-Region guide).
    (
        KeyOp::ReplicateKey,
        own("kms:ReplicateKey"),
        [A, U, U, A],
        None,
    ),
    (
        KeyOp::UpdatePrimaryRegion,
        own("kms:UpdatePrimaryRegion"),
        [A, U, U, U],
        None,
    ),
];

/// Every operation the state table covers (those that name a key), in table order.
pub fn operations() -> impl Iterator<Item = KeyOp> {
    TABLE.iter().map(|(op, _, _, _)| *op)
}

/// What the gate checks for `op`.
pub fn access(op: KeyOp) -> Access {
    TABLE
        .iter()
        .map(|(o, access, _, _)| (*o, *access))
        .chain(KEYLESS.iter().copied())
        .find(|(o, _)| *o == op)
        .map(|(_, access)| access)
        // Every KeyOp has a row (unit-tested); an unknown one needs the impossible.
        .unwrap_or(Access {
            action: "kms:Unknown",
            authority: Authority::Identity,
        })
}

/// The cell for `op` on a key in `state`, in `dialect`.
pub fn cell(dialect: Dialect, op: KeyOp, state: KeyState) -> Cell {
    let column = match state {
        KeyState::Enabled => 0,
        KeyState::Disabled => 1,
        // A multi-Region primary waiting for its replicas' deletion is refused and allowed
        // exactly like a key pending deletion (AWS's table gives it no column of its own; its
        // API pages say it "cannot be replicated or used in cryptographic operations", and
        // CancelKeyDeletion cancels it).
        KeyState::PendingDeletion | KeyState::PendingReplicaDeletion => 2,
        KeyState::PendingImport => 3,
    };
    TABLE
        .iter()
        .find(|(o, _, _, _)| *o == op)
        .map(|(_, _, aws, aliyun)| match (dialect, aliyun) {
            (Dialect::Aliyun, Some(cells)) => cells[column],
            _ => aws[column],
        })
        // Operations that name no key have no cells and never reach the table; every other
        // KeyOp has a row (the unit test below proves it).
        .unwrap_or(Cell::Allowed)
}

/// Checks `op` against the table.
pub fn check(dialect: Dialect, op: KeyOp, state: KeyState) -> Result<(), StateRejection> {
    match cell(dialect, op, state) {
        Cell::Allowed => Ok(()),
        cell => Err(StateRejection { cell, state }),
    }
}

/// Whether the state table is read before the operation's own precondition (the key's kind).
/// Alibaba's UpdateRotationPolicy answers with the key's state first (a BYOK key awaiting
/// import is `Rejected.PendingImport`); everything else checks the kind of key first.
pub fn state_before_precondition(dialect: Dialect, op: KeyOp) -> bool {
    dialect == Dialect::Aliyun && matches!(op, KeyOp::EnableKeyRotation | KeyOp::DisableKeyRotation)
}

/// Which vendor's rules a transition follows where the vendors differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    Aws,
    Aliyun,
}

/// The state CancelKeyDeletion leaves a key in. AWS: Disabled (its API reference and the source
/// document say so); a key with imported origin and no material goes back to PendingImport, since
/// it cannot be enabled. Alibaba: Enabled.
pub fn cancel_deletion_target(dialect: Dialect, origin: Origin, has_material: bool) -> KeyState {
    if origin == Origin::External && !has_material {
        return KeyState::PendingImport;
    }
    match dialect {
        Dialect::Aws => KeyState::Disabled,
        Dialect::Aliyun => KeyState::Enabled,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every variant of KeyOp must have exactly one row. The match forces this list to be
    /// updated when a variant is added.
    fn all_ops() -> Vec<KeyOp> {
        use KeyOp::*;
        let ops = vec![
            DescribeKey,
            EnableKey,
            DisableKey,
            ScheduleKeyDeletion,
            CancelKeyDeletion,
            UpdateKeyDescription,
            Encrypt,
            Decrypt,
            ReEncryptFrom,
            ReEncryptTo,
            GenerateDataKey,
            GenerateDataKeyWithoutPlaintext,
            CreateAlias,
            UpdateAlias,
            UpdateAliasCurrent,
            DeleteAlias,
            ListAliases,
            TagResource,
            UntagResource,
            ListResourceTags,
            GetKeyPolicy,
            PutKeyPolicy,
            ListKeyPolicies,
            GetPublicKey,
            Sign,
            Verify,
            GenerateDataKeyPair,
            GenerateDataKeyPairWithoutPlaintext,
            DeriveSharedSecret,
            Encapsulate,
            Decapsulate,
            GenerateMac,
            VerifyMac,
            GetParametersForImport,
            ImportKeyMaterial,
            DeleteImportedKeyMaterial,
            EnableKeyRotation,
            DisableKeyRotation,
            GetKeyRotationStatus,
            RotateKeyOnDemand,
            ListKeyRotations,
            SetDeletionProtection,
            GetKeyLastUsage,
            ReplicateKey,
            UpdatePrimaryRegion,
            CreateKey,
            ListKeys,
            GenerateRandom,
            CreateGrant,
            ListGrants,
            RevokeGrant,
            RetireGrant,
            ListRetirableGrants,
        ];
        for op in &ops {
            match op {
                DescribeKey
                | EnableKey
                | DisableKey
                | ScheduleKeyDeletion
                | CancelKeyDeletion
                | UpdateKeyDescription
                | Encrypt
                | Decrypt
                | ReEncryptFrom
                | ReEncryptTo
                | GenerateDataKey
                | GenerateDataKeyWithoutPlaintext
                | CreateAlias
                | UpdateAlias
                | UpdateAliasCurrent
                | DeleteAlias
                | ListAliases
                | TagResource
                | UntagResource
                | ListResourceTags
                | GetKeyPolicy
                | PutKeyPolicy
                | ListKeyPolicies
                | GetPublicKey
                | Sign
                | Verify
                | GenerateDataKeyPair
                | GenerateDataKeyPairWithoutPlaintext
                | DeriveSharedSecret
                | Encapsulate
                | Decapsulate
                | GenerateMac
                | VerifyMac
                | GetParametersForImport
                | ImportKeyMaterial
                | DeleteImportedKeyMaterial
                | EnableKeyRotation
                | DisableKeyRotation
                | GetKeyRotationStatus
                | RotateKeyOnDemand
                | ListKeyRotations
                | SetDeletionProtection
                | GetKeyLastUsage => {}
                ReplicateKey | UpdatePrimaryRegion => {}
                CreateKey | ListKeys | GenerateRandom => {}
                CreateGrant | ListGrants | RevokeGrant | RetireGrant | ListRetirableGrants => {}
            }
        }
        ops
    }

    #[test]
    fn every_operation_has_exactly_one_row() {
        for op in all_ops() {
            assert_eq!(
                TABLE.iter().filter(|(o, _, _, _)| *o == op).count()
                    + KEYLESS.iter().filter(|(o, _)| *o == op).count(),
                1,
                "{op:?}"
            );
        }
        assert_eq!(TABLE.len() + KEYLESS.len(), all_ops().len());
    }

    /// The Alibaba source document's table, transcribed independently of TABLE, in its own
    /// vocabulary. Each of its result codes must follow from our cell.
    #[test]
    fn matches_the_source_document() {
        use KeyState::*;
        let doc: &[(KeyOp, [&str; 4])] = &[
            (
                KeyOp::GenerateDataKey,
                [
                    "Success",
                    "Rejected.Disabled",
                    "Rejected.PendingDeletion",
                    "Rejected.PendingImport",
                ],
            ),
            (
                KeyOp::GenerateDataKeyWithoutPlaintext,
                [
                    "Success",
                    "Rejected.Disabled",
                    "Rejected.PendingDeletion",
                    "Rejected.PendingImport",
                ],
            ),
            (
                KeyOp::Encrypt,
                [
                    "Success",
                    "Rejected.Disabled",
                    "Rejected.PendingDeletion",
                    "Rejected.PendingImport",
                ],
            ),
            (
                KeyOp::Decrypt,
                [
                    "Success",
                    "Rejected.Disabled",
                    "Rejected.PendingDeletion",
                    "Rejected.PendingImport",
                ],
            ),
            (
                KeyOp::UpdateKeyDescription,
                ["Success", "Success", "Rejected.PendingDeletion", "Success"],
            ),
            (
                KeyOp::TagResource,
                ["Success", "Success", "Rejected.PendingDeletion", "Success"],
            ),
            (
                KeyOp::UntagResource,
                ["Success", "Success", "Rejected.PendingDeletion", "Success"],
            ),
            // Not in the seed table: its API page refuses a key pending deletion.
            (
                KeyOp::SetDeletionProtection,
                ["Success", "Success", "Rejected.PendingDeletion", "Success"],
            ),
            (
                KeyOp::EnableKey,
                [
                    "Success",
                    "Success",
                    "Rejected.StateModifiedFailed",
                    "Rejected.StateModifiedFailed",
                ],
            ),
            (
                KeyOp::DisableKey,
                [
                    "Success",
                    "Success",
                    "Rejected.StateModifiedFailed",
                    "Rejected.StateModifiedFailed",
                ],
            ),
            (
                KeyOp::ScheduleKeyDeletion,
                [
                    "Success",
                    "Success",
                    "Rejected.StateModifiedFailed",
                    "Success",
                ],
            ),
            (
                KeyOp::CancelKeyDeletion,
                [
                    "Rejected.StateModifiedFailed",
                    "Rejected.StateModifiedFailed",
                    "Success",
                    "Rejected.StateModifiedFailed",
                ],
            ),
            (
                KeyOp::CreateAlias,
                [
                    "Success",
                    "Success",
                    "Rejected.StateModifiedFailed",
                    "Success",
                ],
            ),
            (
                KeyOp::DeleteAlias,
                ["Success", "Success", "Success", "Success"],
            ),
            (
                KeyOp::ListAliases,
                ["Success", "Success", "Success", "Success"],
            ),
            (
                KeyOp::DescribeKey,
                ["Success", "Success", "Success", "Success"],
            ),
            (
                KeyOp::ListResourceTags,
                ["Success", "Success", "Success", "Success"],
            ),
            // The BYOK table.
            (
                KeyOp::GetParametersForImport,
                ["Success", "Success", "Success", "Success"],
            ),
            (
                KeyOp::ImportKeyMaterial,
                [
                    "Success",
                    "Success",
                    "Rejected.StateModifiedFailed",
                    "Success",
                ],
            ),
            (
                KeyOp::DeleteImportedKeyMaterial,
                ["Success", "Success", "Success", "Success"],
            ),
            // UpdateRotationPolicy, which both rotation switches are.
            (
                KeyOp::EnableKeyRotation,
                [
                    "Success",
                    "Rejected.Disabled",
                    "Rejected.PendingDeletion",
                    "Rejected.PendingImport",
                ],
            ),
            (
                KeyOp::DisableKeyRotation,
                [
                    "Success",
                    "Rejected.Disabled",
                    "Rejected.PendingDeletion",
                    "Rejected.PendingImport",
                ],
            ),
            // Special case: UpdateAlias depends only on the destination key.
            (
                KeyOp::UpdateAlias,
                ["Success", "Success", "Rejected.PendingDeletion", "Success"],
            ),
        ];
        let states = [Enabled, Disabled, PendingDeletion, PendingImport];
        for (op, row) in doc {
            for (state, expected) in states.iter().zip(row) {
                let got = match check(Dialect::Aliyun, *op, *state) {
                    Ok(()) => "Success".to_owned(),
                    Err(StateRejection {
                        cell: Cell::Unusable,
                        state,
                    }) => format!("Rejected.{state}"),
                    Err(_) => "Rejected.StateModifiedFailed".to_owned(),
                };
                assert_eq!(&got, expected, "{op:?} in {state:?}");
            }
        }
    }

    /// AWS's key-state reference, independently: which exception each refused cell becomes.
    #[test]
    fn matches_aws_key_state_reference() {
        use KeyState::*;
        // (op, state, expected: None = succeeds, Some(text of the AWS error))
        let cases: &[(KeyOp, KeyState, Option<&str>)] = &[
            (KeyOp::Encrypt, Disabled, Some("DisabledException")),
            (
                KeyOp::Encrypt,
                PendingDeletion,
                Some("KMSInvalidStateException"),
            ),
            (
                KeyOp::Encrypt,
                PendingImport,
                Some("KMSInvalidStateException"),
            ),
            (
                KeyOp::EnableKey,
                PendingImport,
                Some("KMSInvalidStateException"),
            ),
            (
                KeyOp::CancelKeyDeletion,
                Enabled,
                Some("KMSInvalidStateException"),
            ),
            (
                KeyOp::CreateAlias,
                PendingDeletion,
                Some("KMSInvalidStateException"),
            ),
            (KeyOp::ScheduleKeyDeletion, PendingImport, None),
            (KeyOp::PutKeyPolicy, PendingDeletion, None),
            // Sign, Verify, GetPublicKey: [1] Disabled, [3] pending deletion.
            (KeyOp::Sign, Disabled, Some("DisabledException")),
            (
                KeyOp::Verify,
                PendingDeletion,
                Some("KMSInvalidStateException"),
            ),
            (KeyOp::GetPublicKey, Disabled, Some("DisabledException")),
            // The same cells as Encrypt (the reference lists them in one row).
            (
                KeyOp::GenerateDataKeyPair,
                Disabled,
                Some("DisabledException"),
            ),
            (
                KeyOp::GenerateDataKeyPairWithoutPlaintext,
                PendingImport,
                Some("KMSInvalidStateException"),
            ),
            // Added after the archived table; their error lists name both exceptions.
            (KeyOp::GenerateMac, Disabled, Some("DisabledException")),
            (
                KeyOp::VerifyMac,
                PendingImport,
                Some("KMSInvalidStateException"),
            ),
            (
                KeyOp::DeriveSharedSecret,
                Disabled,
                Some("DisabledException"),
            ),
            // Encapsulate and Decapsulate: the same cells as DeriveSharedSecret.
            (KeyOp::Encapsulate, Enabled, None),
            (KeyOp::Encapsulate, Disabled, Some("DisabledException")),
            (
                KeyOp::Encapsulate,
                PendingDeletion,
                Some("KMSInvalidStateException"),
            ),
            (
                KeyOp::Encapsulate,
                PendingImport,
                Some("KMSInvalidStateException"),
            ),
            (KeyOp::Decapsulate, Enabled, None),
            (KeyOp::Decapsulate, Disabled, Some("DisabledException")),
            (
                KeyOp::Decapsulate,
                PendingDeletion,
                Some("KMSInvalidStateException"),
            ),
            (
                KeyOp::Decapsulate,
                PendingImport,
                Some("KMSInvalidStateException"),
            ),
            // Import: X[8] when pending deletion; fine in the other states.
            (
                KeyOp::GetParametersForImport,
                PendingDeletion,
                Some("KMSInvalidStateException"),
            ),
            (
                KeyOp::ImportKeyMaterial,
                PendingDeletion,
                Some("KMSInvalidStateException"),
            ),
            (KeyOp::ImportKeyMaterial, Disabled, None),
            (KeyOp::GetParametersForImport, PendingImport, None),
            // Deleting material succeeds in every state (the API page overrides X[9]).
            (KeyOp::DeleteImportedKeyMaterial, PendingDeletion, None),
            (KeyOp::DeleteImportedKeyMaterial, PendingImport, None),
            // Rotation: [1] or [3] to change the policy; the status reads in any state of a
            // rotatable key; RotateKeyOnDemand as recorded against AWS.
            (
                KeyOp::EnableKeyRotation,
                Disabled,
                Some("DisabledException"),
            ),
            (
                KeyOp::DisableKeyRotation,
                PendingDeletion,
                Some("KMSInvalidStateException"),
            ),
            (KeyOp::GetKeyRotationStatus, Disabled, None),
            (KeyOp::GetKeyRotationStatus, PendingDeletion, None),
            (
                KeyOp::RotateKeyOnDemand,
                Disabled,
                Some("DisabledException"),
            ),
            (
                KeyOp::RotateKeyOnDemand,
                PendingImport,
                Some("KMSInvalidStateException"),
            ),
            (KeyOp::ListKeyRotations, PendingDeletion, None),
            // Multi-Region keys: ReplicateKey [1]/[3]; UpdatePrimaryRegion needs Enabled keys.
            (KeyOp::ReplicateKey, Disabled, Some("DisabledException")),
            (
                KeyOp::ReplicateKey,
                PendingDeletion,
                Some("KMSInvalidStateException"),
            ),
            (KeyOp::ReplicateKey, PendingImport, None),
            (
                KeyOp::UpdatePrimaryRegion,
                Disabled,
                Some("DisabledException"),
            ),
            (
                KeyOp::UpdatePrimaryRegion,
                PendingImport,
                Some("KMSInvalidStateException"),
            ),
            // A primary waiting for its replicas' deletion answers as a key pending deletion.
            (
                KeyOp::Encrypt,
                PendingReplicaDeletion,
                Some("KMSInvalidStateException"),
            ),
            (
                KeyOp::ReplicateKey,
                PendingReplicaDeletion,
                Some("KMSInvalidStateException"),
            ),
            (KeyOp::CancelKeyDeletion, PendingReplicaDeletion, None),
            (KeyOp::DescribeKey, PendingReplicaDeletion, None),
        ];
        for (op, state, expected) in cases {
            let got = check(Dialect::Aws, *op, *state)
                .err()
                .map(|r| match (r.cell, r.state) {
                    (Cell::Unusable, Disabled) => "DisabledException",
                    _ => "KMSInvalidStateException",
                });
            assert_eq!(got, *expected, "{op:?} in {state:?}");
        }
    }

    #[test]
    fn cancel_deletion_targets() {
        assert_eq!(
            cancel_deletion_target(Dialect::Aws, Origin::AwsKms, true),
            KeyState::Disabled
        );
        assert_eq!(
            cancel_deletion_target(Dialect::Aliyun, Origin::AwsKms, true),
            KeyState::Enabled
        );
        assert_eq!(
            cancel_deletion_target(Dialect::Aws, Origin::External, false),
            KeyState::PendingImport
        );
    }
}
