//! The operations: one handler and one response type each, and the operation list written once
//! (in [`operations!`]). Handlers read Alibaba's flat parameters, validate them against Alibaba's
//! documented constraints, call the engine and shape the response in Alibaba's names; nothing
//! here touches HTTP or storage.

use serde::Serialize;
use trent_core::engine::{Caller, Kms};

use crate::error::AliyunError;
use crate::params::Params;

mod aliases;
mod byok;
mod crypto;
mod keys;
mod tags;
mod versions;
mod wire;

use aliases::*;
use byok::*;
use crypto::*;
use keys::*;
use tags::*;
use versions::*;
pub use wire::{key_version_id, parse_key_ref};

/// What a handler needs.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub kms: &'a Kms,
    pub caller: &'a Caller,
}

type Res<T> = Result<T, AliyunError>;

trent_core::operations! {
    /// The actions Trent serves, by their Alibaba name.
    Action;
    fn dispatch(ctx: &Ctx<'_>, params: &Params, request_id: &str) -> Res<Vec<u8>> => run;
    CreateKey => create_key, true;
    DescribeKey => describe_key, false;
    ListKeys => list_keys, false;
    EnableKey => enable_key, true;
    DisableKey => disable_key, true;
    ScheduleKeyDeletion => schedule_key_deletion, true;
    CancelKeyDeletion => cancel_key_deletion, true;
    UpdateKeyDescription => update_key_description, true;
    Encrypt => encrypt, false;
    Decrypt => decrypt, false;
    ReEncrypt => re_encrypt, false;
    GenerateDataKey => generate_data_key, false;
    GenerateDataKeyWithoutPlaintext => generate_data_key_without_plaintext, false;
    CreateAlias => create_alias, true;
    UpdateAlias => update_alias, true;
    DeleteAlias => delete_alias, true;
    ListAliases => list_aliases, false;
    ListAliasesByKeyId => list_aliases_by_key_id, false;
    TagResource => tag_resource, true;
    UntagResource => untag_resource, true;
    ListResourceTags => list_resource_tags, false;
    TagResources => tag_resources, true;
    UntagResources => untag_resources, true;
    ListTagResources => list_tag_resources, false;
    SetDeletionProtection => set_deletion_protection, true;
    DescribeKeyVersion => describe_key_version, false;
    ListKeyVersions => list_key_versions, false;
    CreateKeyVersion => create_key_version, true;
    UpdateRotationPolicy => update_rotation_policy, true;
    GetParametersForImport => get_parameters_for_import, true;
    ImportKeyMaterial => import_key_material, true;
    DeleteKeyMaterial => delete_key_material, true;
    GetPublicKey => get_public_key, false;
    AsymmetricSign => asymmetric_sign, false;
    AsymmetricVerify => asymmetric_verify, false;
    AsymmetricEncrypt => asymmetric_encrypt, false;
    AsymmetricDecrypt => asymmetric_decrypt, false;
    GenerateAndExportDataKey => generate_and_export_data_key, false;
    ExportDataKey => export_data_key, false;
    GetKeyPolicy => get_key_policy, false;
    SetKeyPolicy => set_key_policy, true;
}

/// Alibaba KMS actions that exist but that Trent does not serve yet: answered with
/// `Rejected.UnsupportedOperation` rather than `InvalidApi.NotFound`, so a client can tell
/// "not here yet" from "no such thing".
pub const NOT_YET_SERVED: &[&str] = &[
    "GetRandomPassword",
    "DescribeRegions",
    "DescribeAccountKmsStatus",
    "OpenKmsService",
];

#[derive(Serialize)]
struct WithRequestId<'a, T> {
    #[serde(flatten)]
    body: T,
    #[serde(rename = "RequestId")]
    request_id: &'a str,
}

fn run<Resp: Serialize>(
    handler: fn(&Ctx<'_>, &Params) -> Res<Resp>,
    (ctx, params, request_id): (&Ctx<'_>, &Params, &str),
) -> Res<Vec<u8>> {
    let body = handler(ctx, params)?;
    serde_json::to_vec(&WithRequestId { body, request_id })
        .map_err(|e| AliyunError::internal_with(format!("cannot encode a response: {e}")))
}

#[cfg(test)]
mod tests {
    use trent_core::{AliasName, KeyId, KeyRef, KeySpec, KmsError, Origin, Scope};

    use super::versions::rotation_days;
    use super::wire::*;
    use super::*;

    #[test]
    fn key_version_ids_are_stable_uuids_per_key_and_version() {
        let k = KeyId::parse("1234abcd-12ab-34cd-56ef-1234567890ab").unwrap();
        let v1 = key_version_id(&k, 1);
        assert_eq!(v1, key_version_id(&k, 1));
        assert_ne!(v1, key_version_id(&k, 2));
        let parsed = uuid::Uuid::parse_str(&v1).unwrap();
        assert_eq!(parsed.get_version_num(), 8);
    }

    #[test]
    fn alibaba_arns_name_keys_and_aliases() {
        let id = "1234abcd-12ab-34cd-56ef-1234567890ab";
        let scope = Scope::new("1234567890123456", "cn-hangzhou");
        assert_eq!(
            parse_key_ref(&format!("acs:kms:cn-hangzhou:1234567890123456:key/{id}")).unwrap(),
            KeyRef::KeyArn {
                scope: scope.clone(),
                id: KeyId::parse(id).unwrap()
            }
        );
        assert_eq!(
            parse_key_ref("acs:kms:cn-hangzhou:1234567890123456:alias/app").unwrap(),
            KeyRef::AliasArn {
                scope,
                name: AliasName::parse("alias/app").unwrap()
            }
        );
        for bad in [
            "acs:kms:cn-hangzhou",
            "acs:kms::1:key/x",
            "acs:kms:r:1:key/nope",
            "key-doesnotexist",
        ] {
            assert!(
                matches!(
                    parse_key_ref(bad),
                    Err(KmsError::NotFound(_) | KmsError::InvalidArn(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn names_round_trip_through_the_tables() {
        for (spec, name) in KEY_SPECS {
            assert_eq!(from_wire(KEY_SPECS, name, "KeySpec").unwrap(), *spec);
            assert_eq!(wire_name(KEY_SPECS, *spec, spec.as_str()), *name);
        }
        assert_eq!(
            wire_name(KEY_SPECS, KeySpec::Hmac256, KeySpec::Hmac256.as_str()),
            "HMAC_256"
        );
        assert_eq!(wire_name(ORIGINS, Origin::AwsKms, "x"), "Aliyun_KMS");
    }

    #[test]
    fn rotation_intervals_in_alibabas_format() {
        assert_eq!(rotation_days("7d").unwrap(), 7);
        assert_eq!(rotation_days("604800s").unwrap(), 7);
        assert_eq!(rotation_days("8760h").unwrap(), 365);
        for bad in ["", "d", "6d", "731d", "90000s", "7x", "-7d", "7 d"] {
            assert!(rotation_days(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_action_has_a_unique_name() {
        for a in Action::ALL {
            assert_eq!(Action::from_name(a.name()), Some(*a));
            assert!(!NOT_YET_SERVED.contains(&a.name()));
        }
    }
}
