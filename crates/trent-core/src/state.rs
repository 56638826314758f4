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

/// Operations whose outcome depends on the state of the key they name. Operations that never
/// touch a key (CreateKey, ListKeys, GenerateRandom) are not here.
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
    ReEncrypt,
    GenerateDataKey,
    GenerateDataKeyWithoutPlaintext,
    CreateAlias,
    /// UpdateAlias is checked against the *destination* key only (both sources say so).
    UpdateAlias,
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

/// One row: the operation, its cells in the AWS dialect, and its cells in the Alibaba dialect
/// where Alibaba's documentation differs (`None`: the same).
type Row = (KeyOp, [Cell; 4], Option<[Cell; 4]>);

/// Columns: Enabled, Disabled, PendingDeletion, PendingImport (the source document's order).
const TABLE: &[Row] = &[
    // Cryptographic operations need an Enabled key.
    (KeyOp::Encrypt, [A, U, U, U], None),
    (KeyOp::Decrypt, [A, U, U, U], None),
    (KeyOp::ReEncrypt, [A, U, U, U], None),
    (KeyOp::GenerateDataKey, [A, U, U, U], None),
    (KeyOp::GenerateDataKeyWithoutPlaintext, [A, U, U, U], None),
    (KeyOp::GenerateDataKeyPair, [A, U, U, U], None),
    (
        KeyOp::GenerateDataKeyPairWithoutPlaintext,
        [A, U, U, U],
        None,
    ),
    (KeyOp::GetPublicKey, [A, U, U, U], None),
    (KeyOp::Sign, [A, U, U, U], None),
    (KeyOp::Verify, [A, U, U, U], None),
    (KeyOp::DeriveSharedSecret, [A, U, U, U], None),
    // Added with ML-KEM; their error lists name DisabledException and KMSInvalidStateException,
    // like DeriveSharedSecret's (inferred: the key-state reference has no row for them yet).
    (KeyOp::Encapsulate, [A, U, U, U], None),
    (KeyOp::Decapsulate, [A, U, U, U], None),
    (KeyOp::GenerateMac, [A, U, U, U], None),
    (KeyOp::VerifyMac, [A, U, U, U], None),
    // Import (EXTERNAL keys only; other keys are refused before the table is read). AWS's
    // key-state reference refuses GetParametersForImport for a key pending deletion
    // (KMSInvalidStateException); Alibaba's BYOK table allows it in every state. Deleting the
    // material works in every state (in PendingDeletion without a state change).
    (
        KeyOp::GetParametersForImport,
        [A, A, M, A],
        Some([A, A, A, A]),
    ),
    (KeyOp::ImportKeyMaterial, [A, A, M, A], None),
    (KeyOp::DeleteImportedKeyMaterial, [A, A, A, A], None),
    // Rotation (symmetric keys with generated material; other keys are refused before the
    // table is read, except by RotateKeyOnDemand, whose state AWS checks first). Changing the
    // policy or rotating needs an Enabled key; the status and history can always be read.
    (KeyOp::EnableKeyRotation, [A, U, U, U], None),
    (KeyOp::DisableKeyRotation, [A, U, U, U], None),
    (KeyOp::RotateKeyOnDemand, [A, U, U, U], None),
    (KeyOp::GetKeyRotationStatus, [A, A, A, U], None),
    (KeyOp::ListKeyRotations, [A, A, A, A], None),
    // Metadata changes are refused only while the key is pending deletion.
    (KeyOp::UpdateKeyDescription, [A, A, U, A], None),
    (KeyOp::TagResource, [A, A, U, A], None),
    (KeyOp::UntagResource, [A, A, U, A], None),
    // Alibaba's SetDeletionProtection page: "ensure that the CMK is not in the PendingDeletion
    // state". Refused there like the other metadata changes (Rejected.PendingDeletion); AWS has
    // no such operation, so its cells are the same and only the engine's rule is shared.
    (KeyOp::SetDeletionProtection, [A, A, U, A], None),
    // State changes.
    (KeyOp::EnableKey, [A, A, M, M], None),
    (KeyOp::DisableKey, [A, A, M, M], None),
    (KeyOp::ScheduleKeyDeletion, [A, A, M, A], None),
    (KeyOp::CancelKeyDeletion, [P, P, A, P], None),
    // Aliases: a new alias may not point at a key pending deletion; UpdateAlias looks only at
    // the destination key.
    (KeyOp::CreateAlias, [A, A, M, A], None),
    (KeyOp::UpdateAlias, [A, A, U, A], None),
    (KeyOp::DeleteAlias, [A, A, A, A], None),
    // Reads and policies work in every state.
    (KeyOp::DescribeKey, [A, A, A, A], None),
    (KeyOp::ListAliases, [A, A, A, A], None),
    (KeyOp::ListResourceTags, [A, A, A, A], None),
    (KeyOp::GetKeyPolicy, [A, A, A, A], None),
    (KeyOp::PutKeyPolicy, [A, A, A, A], None),
    (KeyOp::ListKeyPolicies, [A, A, A, A], None),
    // Its error list has no state error: it answers in every state.
    (KeyOp::GetKeyLastUsage, [A, A, A, A], None),
];

/// Every operation the table covers, in table order.
pub fn operations() -> impl Iterator<Item = KeyOp> {
    TABLE.iter().map(|(op, _, _)| *op)
}

/// The cell for `op` on a key in `state`, in `dialect`.
pub fn cell(dialect: Dialect, op: KeyOp, state: KeyState) -> Cell {
    let column = match state {
        KeyState::Enabled => 0,
        KeyState::Disabled => 1,
        KeyState::PendingDeletion => 2,
        KeyState::PendingImport => 3,
    };
    TABLE
        .iter()
        .find(|(o, _, _)| *o == op)
        .map(|(_, aws, aliyun)| match (dialect, aliyun) {
            (Dialect::Aliyun, Some(cells)) => cells[column],
            _ => aws[column],
        })
        // Every KeyOp has a row; the unit test below proves it, so this never refuses in practice.
        .unwrap_or(Cell::NoStateChange)
}

/// Checks `op` against the table.
pub fn check(dialect: Dialect, op: KeyOp, state: KeyState) -> Result<(), StateRejection> {
    match cell(dialect, op, state) {
        Cell::Allowed => Ok(()),
        cell => Err(StateRejection { cell, state }),
    }
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
            ReEncrypt,
            GenerateDataKey,
            GenerateDataKeyWithoutPlaintext,
            CreateAlias,
            UpdateAlias,
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
                | ReEncrypt
                | GenerateDataKey
                | GenerateDataKeyWithoutPlaintext
                | CreateAlias
                | UpdateAlias
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
            }
        }
        ops
    }

    #[test]
    fn every_operation_has_exactly_one_row() {
        for op in all_ops() {
            assert_eq!(
                TABLE.iter().filter(|(o, _, _)| *o == op).count(),
                1,
                "{op:?}"
            );
        }
        assert_eq!(TABLE.len(), all_ops().len());
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
