//! The operations: one request type, one response type and one handler each, and the operation
//! list written once (in [`operations!`]). Handlers validate members against AWS's documented
//! constraints, call the engine, and shape the response; nothing here touches HTTP or storage.

use serde::{Deserialize, Serialize};
use trent_core::engine::{Caller, Kms, NewKey, NewReplica};
use trent_core::state::KeyOp;
use trent_core::{
    AliasName, DataKeySpec, EncapsulationAlgorithm, EncryptionAlgorithm, ExpirationModel,
    KeyAgreementAlgorithm, KeyRecord, KeyRef, KeyRefForms, KeySpec, KeyState, KeyUsage, KmsError,
    MacAlgorithm, MultiRegionKeyType, Origin, SigningAlgorithm,
};

use crate::enums::CUSTOMER_MASTER_KEY_SPECS;
use crate::error::AwsError;
use crate::wire::*;

/// What a handler needs.
#[derive(Debug)]
pub struct Ctx<'a> {
    pub kms: &'a Kms,
    pub caller: &'a Caller,
}

type Res<T> = Result<T, AwsError>;

trent_core::operations! {
    /// The operations Trent serves, by their `X-Amz-Target` name.
    Operation;
    fn dispatch(ctx: &Ctx<'_>, body: &[u8]) -> Res<Vec<u8>> => run;
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
    GenerateRandom => generate_random, false;
    CreateAlias => create_alias, true;
    UpdateAlias => update_alias, true;
    DeleteAlias => delete_alias, true;
    ListAliases => list_aliases, false;
    TagResource => tag_resource, true;
    UntagResource => untag_resource, true;
    ListResourceTags => list_resource_tags, false;
    GetKeyPolicy => get_key_policy, false;
    PutKeyPolicy => put_key_policy, true;
    ListKeyPolicies => list_key_policies, false;
    GetPublicKey => asymmetric::get_public_key, false;
    Sign => asymmetric::sign, false;
    Verify => asymmetric::verify, false;
    GenerateDataKeyPair => asymmetric::generate_data_key_pair, true;
    GenerateDataKeyPairWithoutPlaintext => asymmetric::generate_data_key_pair_without_plaintext, true;
    DeriveSharedSecret => asymmetric::derive_shared_secret, false;
    Encapsulate => asymmetric::encapsulate, false;
    Decapsulate => asymmetric::decapsulate, false;
    GenerateMac => asymmetric::generate_mac, false;
    VerifyMac => asymmetric::verify_mac, false;
    GetParametersForImport => import::get_parameters_for_import, true;
    ImportKeyMaterial => import::import_key_material, true;
    DeleteImportedKeyMaterial => import::delete_imported_key_material, true;
    EnableKeyRotation => rotation::enable_key_rotation, true;
    DisableKeyRotation => rotation::disable_key_rotation, true;
    GetKeyRotationStatus => rotation::get_key_rotation_status, false;
    RotateKeyOnDemand => rotation::rotate_key_on_demand, true;
    ListKeyRotations => rotation::list_key_rotations, false;
    GetKeyLastUsage => get_key_last_usage, false;
    ReplicateKey => replicate_key, true;
    UpdatePrimaryRegion => update_primary_region, true;
    CreateGrant => grants::create_grant, true;
    ListGrants => grants::list_grants, false;
    ListRetirableGrants => grants::list_retirable_grants, false;
    RetireGrant => grants::retire_grant, true;
    RevokeGrant => grants::revoke_grant, true;
}

mod asymmetric;
mod grants;
mod import;
mod rotation;

/// AWS KMS operations that exist but that Trent does not serve yet: answered with
/// `UnsupportedOperationException` rather than `UnknownOperationException`, so a client can tell
/// "not here yet" from "no such thing".
pub const NOT_YET_SERVED: &[&str] = &[
    "ReplicateKey",
    "UpdatePrimaryRegion",
    "CreateCustomKeyStore",
    "ConnectCustomKeyStore",
    "DisconnectCustomKeyStore",
    "DeleteCustomKeyStore",
    "DescribeCustomKeyStores",
    "UpdateCustomKeyStore",
];

fn run<Req, Resp>(
    handler: fn(&Ctx<'_>, Req) -> Res<Resp>,
    (ctx, body): (&Ctx<'_>, &[u8]),
) -> Res<Vec<u8>>
where
    Req: for<'de> Deserialize<'de>,
    Resp: Serialize,
{
    encode(&handler(ctx, decode(body)?)?)
}

fn decode<Req: for<'de> Deserialize<'de>>(body: &[u8]) -> Res<Req> {
    // Some clients send an empty body for operations without members.
    let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| {
        AwsError::serialization(match e.classify() {
            serde_json::error::Category::Data => format!("Invalid member value: {e}"),
            _ => "The request body is not valid JSON.".to_owned(),
        })
    })
}

/// Room for most responses (a DescribeKey is about 700 bytes), so that encoding one does not
/// grow the buffer two or three times from `serde_json::to_vec`'s 128 bytes.
const RESPONSE_CAPACITY: usize = 1024;

fn encode(resp: &impl Serialize) -> Res<Vec<u8>> {
    let mut out = Vec::with_capacity(RESPONSE_CAPACITY);
    serde_json::to_writer(&mut out, resp)
        .map_err(|e| AwsError::internal_with(format!("cannot encode the response: {e}")))?;
    Ok(out)
}

/// Where an operation's answer goes when it is not awaited on the calling thread.
pub type Done = Box<dyn FnOnce(Res<Vec<u8>>) + Send>;

/// Starts an operation whose only wait is its final commit, without holding the calling
/// thread: `done` gets the answer once the commit is durable (or the error at once). So far
/// that is CreateKey of any spec that is quick to generate. For every other operation `done`
/// is given back, and the operation runs with [`dispatch`] on a thread that may block.
pub fn start(op: Operation, ctx: &Ctx<'_>, body: &[u8], done: Done) -> Result<(), Done> {
    if op != Operation::CreateKey {
        return Err(done);
    }
    let new = match decode(body).and_then(new_key) {
        Ok(new) if new.key_spec.slow_to_generate() => return Err(done),
        Ok(new) => new,
        Err(e) => {
            done(Err(e));
            return Ok(());
        }
    };
    ctx.kms.create_key_then(ctx.caller, new, move |result| {
        done(result.map_err(AwsError::from).and_then(|record| {
            encode(&KeyMetadataResponse {
                key_metadata: metadata(&record),
            })
        }))
    });
    Ok(())
}

// ----- shared members ----------------------------------------------------------------------

fn key_ref(value: &Option<String>, member: &str, forms: KeyRefForms) -> Result<KeyRef, KmsError> {
    let raw = required(value, member)?;
    check_len(raw.len(), 1, 2048, member, Some(raw))?;
    KeyRef::parse(raw, forms)
}

fn optional_key_ref(
    value: &Option<String>,
    member: &str,
    forms: KeyRefForms,
) -> Result<Option<KeyRef>, KmsError> {
    match value {
        None => Ok(None),
        Some(_) => key_ref(value, member, forms).map(Some),
    }
}

/// `AliasName`: the model's length and pattern `^[a-zA-Z0-9:/_-]+$` (a front-end validation
/// error), then the `alias/` prefix, then AWS's service rule that refuses `:` although the
/// pattern allows it.
fn alias_name(value: &Option<String>) -> Result<AliasName, KmsError> {
    let raw = required(value, "aliasName")?;
    check_len(raw.len(), 1, 256, "aliasName", Some(raw))?;
    check_pattern(raw, "aliasName", "^[a-zA-Z0-9:/_-]+$", |c| {
        c.is_ascii_alphanumeric() || ":/_-".contains(c)
    })?;
    let name = AliasName::parse(raw)?;
    if name.0.contains(':') {
        return Err(KmsError::Validation(format!(
            "{raw} contains invalid characters for an alias"
        )));
    }
    Ok(name)
}

/// `TargetKeyId` of CreateAlias and UpdateAlias: a key id or key ARN. AWS answers an alias
/// there with its own sentence rather than the key-only operations' "Invalid keyId".
fn alias_target(value: &Option<String>) -> Result<KeyRef, KmsError> {
    match key_ref(value, "targetKeyId", KeyRefForms::Any)? {
        KeyRef::Alias(_) | KeyRef::AliasArn { .. } => Err(KmsError::Validation(
            "Aliases must refer to keys. Not aliases".into(),
        )),
        key => Ok(key),
    }
}

/// `GrantTokens`: each 1 to 8192 characters (AWS's model; a token is not echoed), and a token
/// this server issued. Grants take effect at once, so a valid token needs no further handling.
fn grant_tokens(tokens: &Option<Vec<String>>) -> Result<(), AwsError> {
    let tokens = tokens.as_deref().unwrap_or_default();
    for token in tokens {
        check_len(token.chars().count(), 1, 8192, "grantTokens", None)?;
    }
    Ok(trent_core::engine::check_grant_tokens(tokens)?)
}

fn algorithm(value: &Option<String>, member: &str) -> Result<EncryptionAlgorithm, KmsError> {
    Ok(optional_enum::<EncryptionAlgorithm>(value, member)?
        .unwrap_or(EncryptionAlgorithm::SymmetricDefault))
}

fn dry_run<T>(flag: Option<bool>, result: T) -> Res<T> {
    if flag == Some(true) {
        return Err(AwsError::client(
            "DryRunOperationException",
            "The request would have succeeded, but the DryRun option is set.",
        ));
    }
    Ok(result)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Tag {
    tag_key: Option<String>,
    tag_value: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagOut {
    tag_key: String,
    tag_value: String,
}

fn tags(tags: &Option<Vec<Tag>>) -> Result<Vec<(String, String)>, KmsError> {
    let mut out = Vec::new();
    for (i, t) in tags.iter().flatten().enumerate() {
        let k = required(&t.tag_key, &format!("tags.{}.member.tagKey", i + 1))?;
        let v = required(&t.tag_value, &format!("tags.{}.member.tagValue", i + 1))?;
        check_len(
            k.chars().count(),
            1,
            128,
            &format!("tags.{}.member.tagKey", i + 1),
            Some(k),
        )?;
        check_len(
            v.chars().count(),
            0,
            256,
            &format!("tags.{}.member.tagValue", i + 1),
            Some(v),
        )?;
        out.push((k.clone(), v.clone()));
    }
    Ok(out)
}

/// Plaintext members: 1–4096 bytes, never echoed in errors.
fn plaintext(value: &Option<SecretBlob>) -> Result<&[u8], KmsError> {
    let p = required(value, "plaintext")?;
    check_len(p.0.len(), 1, 4096, "plaintext", None)?;
    Ok(p.0.expose())
}

fn ciphertext<'a>(value: &'a Option<Blob>, member: &str) -> Result<&'a [u8], KmsError> {
    let c = required(value, member)?;
    check_len(c.0.len(), 1, 6144, member, None)?;
    Ok(&c.0)
}

// ----- key metadata --------------------------------------------------------------------------

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMetadata {
    #[serde(rename = "AWSAccountId")]
    aws_account_id: String,
    key_id: String,
    arn: String,
    creation_date: Epoch,
    enabled: bool,
    description: String,
    key_usage: KeyUsage,
    key_state: KeyState,
    #[serde(skip_serializing_if = "Option::is_none")]
    deletion_date: Option<Epoch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pending_deletion_window_in_days: Option<u32>,
    origin: Origin,
    key_manager: &'static str,
    customer_master_key_spec: KeySpec,
    key_spec: KeySpec,
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    encryption_algorithms: &'static [EncryptionAlgorithm],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    signing_algorithms: &'static [SigningAlgorithm],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    mac_algorithms: &'static [MacAlgorithm],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    key_agreement_algorithms: &'static [KeyAgreementAlgorithm],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    encapsulation_algorithms: &'static [EncapsulationAlgorithm],
    multi_region: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    multi_region_configuration: Option<MultiRegionConfiguration>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expiration_model: Option<ExpirationModel>,
    #[serde(skip_serializing_if = "Option::is_none")]
    valid_to: Option<Epoch>,
    #[serde(skip_serializing_if = "Option::is_none")]
    current_key_material_id: Option<String>,
}

/// AWS's `MultiRegionConfiguration`: which copy this is, and every copy's ARN and Region.
#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MultiRegionConfiguration {
    multi_region_key_type: MultiRegionKeyType,
    primary_key: MultiRegionKey,
    replica_keys: Vec<MultiRegionKey>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct MultiRegionKey {
    arn: String,
    region: String,
}

fn multi_region_configuration(r: &KeyRecord) -> Option<MultiRegionConfiguration> {
    let set = r.meta.multi_region_set.as_ref()?;
    let copy = |region: &str| MultiRegionKey {
        arn: trent_core::Scope::new(r.scope.account.0.clone(), region).key_arn(&r.id),
        region: region.to_owned(),
    };
    Some(MultiRegionConfiguration {
        multi_region_key_type: r.multi_region_type()?,
        primary_key: copy(&set.primary),
        replica_keys: set.replicas.iter().map(|region| copy(region)).collect(),
    })
}

/// A key's metadata as AWS returns it (DescribeKey, CreateKey; also the audit trail's CreateKey
/// response elements).
pub fn metadata(r: &KeyRecord) -> KeyMetadata {
    let m = &r.meta;
    let (expiration_model, valid_to) = r.import_expiration();
    KeyMetadata {
        aws_account_id: r.scope.account.0.clone(),
        key_id: r.id.to_string(),
        arn: r.arn(),
        creation_date: Epoch(m.created_at),
        enabled: m.state == KeyState::Enabled,
        description: m.description.clone(),
        key_usage: m.key_usage,
        key_state: m.state,
        deletion_date: m.deletion_date.map(Epoch),
        pending_deletion_window_in_days: m.pending_window_days,
        origin: m.origin,
        key_manager: "CUSTOMER",
        customer_master_key_spec: m.key_spec,
        key_spec: m.key_spec,
        encryption_algorithms: r.encryption_algorithms(),
        signing_algorithms: r.signing_algorithms(),
        mac_algorithms: r.mac_algorithms(),
        key_agreement_algorithms: r.key_agreement_algorithms(),
        encapsulation_algorithms: r.encapsulation_algorithms(),
        multi_region: m.multi_region,
        multi_region_configuration: multi_region_configuration(r),
        expiration_model,
        valid_to: valid_to.map(Epoch),
        // AWS gives it for the keys that can hold several materials: symmetric ones.
        current_key_material_id: m
            .current_material
            .filter(|_| m.key_spec == KeySpec::SymmetricDefault)
            .map(|v| r.key_material_id(v)),
    }
}

// ----- key lifecycle -----------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateKeyRequest {
    policy: Option<String>,
    description: Option<String>,
    key_usage: Option<String>,
    customer_master_key_spec: Option<String>,
    key_spec: Option<String>,
    origin: Option<String>,
    custom_key_store_id: Option<String>,
    #[allow(dead_code)]
    bypass_policy_lockout_safety_check: Option<bool>,
    tags: Option<Vec<Tag>>,
    multi_region: Option<bool>,
    xks_key_id: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyMetadataResponse {
    key_metadata: KeyMetadata,
}

fn create_key(ctx: &Ctx<'_>, req: CreateKeyRequest) -> Res<KeyMetadataResponse> {
    let record = ctx.kms.create_key(ctx.caller, new_key(req)?)?;
    Ok(KeyMetadataResponse {
        key_metadata: metadata(&record),
    })
}

/// The key a CreateKey request asks for, its members checked.
fn new_key(req: CreateKeyRequest) -> Res<NewKey> {
    let description = req.description.unwrap_or_default();
    check_len(description.chars().count(), 0, 8192, "description", None)?;
    if let Some(p) = &req.policy {
        check_len(p.chars().count(), 1, 131072, "policy", None)?;
    }
    let key_spec = match (&req.key_spec, &req.customer_master_key_spec) {
        (Some(_), Some(_)) => {
            return Err(KmsError::Validation(
                "You cannot specify KeySpec and CustomerMasterKeySpec in the same request. CustomerMasterKeySpec is deprecated.".into(),
            )
            .into())
        }
        (Some(s), None) => parse_enum::<KeySpec>(s, "keySpec")?,
        (None, Some(s)) => parse_enum_of(s, "customerMasterKeySpec", CUSTOMER_MASTER_KEY_SPECS)?,
        (None, None) => KeySpec::SymmetricDefault,
    };
    let key_usage = match &req.key_usage {
        Some(u) => parse_enum::<KeyUsage>(u, "keyUsage")?,
        None if key_spec == KeySpec::SymmetricDefault => KeyUsage::EncryptDecrypt,
        None => {
            return Err(KmsError::Validation(
                "You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.".into(),
            )
            .into())
        }
    };
    let origin = optional_enum::<Origin>(&req.origin, "origin")?.unwrap_or(Origin::AwsKms);
    if req.custom_key_store_id.is_some() || req.xks_key_id.is_some() {
        return Err(KmsError::UnsupportedOperation(
            "Custom key stores are not supported by this server.".into(),
        )
        .into());
    }
    Ok(NewKey {
        description,
        key_spec,
        key_usage,
        origin,
        policy: req.policy,
        tags: tags(&req.tags)?,
        multi_region: req.multi_region.unwrap_or(false),
        bypass_policy_lockout_safety_check: req.bypass_policy_lockout_safety_check.unwrap_or(false),
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyIdRequest {
    key_id: Option<String>,
    grant_tokens: Option<Vec<String>>,
}

fn describe_key(ctx: &Ctx<'_>, req: KeyIdRequest) -> Res<KeyMetadataResponse> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::Any)?;
    grant_tokens(&req.grant_tokens)?;
    let loaded = ctx.kms.describe_key(ctx.caller, &key)?;
    Ok(KeyMetadataResponse {
        key_metadata: metadata(&loaded.record),
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PageRequest {
    limit: Option<i64>,
    marker: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyListEntry {
    key_id: String,
    key_arn: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeysResponse {
    keys: Vec<KeyListEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    truncated: bool,
}

fn list_keys(ctx: &Ctx<'_>, req: PageRequest) -> Res<ListKeysResponse> {
    let limit = limit(req.limit, 1000, 100)?;
    let page = ctx.kms.list_keys(ctx.caller, limit, marker(&req.marker)?)?;
    Ok(ListKeysResponse {
        keys: page
            .items
            .into_iter()
            .map(|k| KeyListEntry {
                key_id: k.id.to_string(),
                key_arn: k.arn,
            })
            .collect(),
        truncated: page.next_marker.is_some(),
        next_marker: page.next_marker,
    })
}

#[derive(Debug, Serialize)]
pub struct Empty {}

fn enable_key(ctx: &Ctx<'_>, req: KeyIdRequest) -> Res<Empty> {
    ctx.kms.enable_key(
        ctx.caller,
        &key_ref(&req.key_id, "keyId", KeyRefForms::KeyOnly)?,
    )?;
    Ok(Empty {})
}

fn disable_key(ctx: &Ctx<'_>, req: KeyIdRequest) -> Res<Empty> {
    ctx.kms.disable_key(
        ctx.caller,
        &key_ref(&req.key_id, "keyId", KeyRefForms::KeyOnly)?,
    )?;
    Ok(Empty {})
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScheduleKeyDeletionRequest {
    key_id: Option<String>,
    pending_window_in_days: Option<i64>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScheduleKeyDeletionResponse {
    key_id: String,
    deletion_date: Option<Epoch>,
    key_state: KeyState,
    pending_window_in_days: Option<u32>,
}

/// AWS's deletion window: 7–30 days, default 30.
const PENDING_WINDOW_DAYS: (i64, i64, u32) = (7, 30, 30);

fn schedule_key_deletion(
    ctx: &Ctx<'_>,
    req: ScheduleKeyDeletionRequest,
) -> Res<ScheduleKeyDeletionResponse> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::KeyOnly)?;
    let (min, max, default) = PENDING_WINDOW_DAYS;
    let days = match req.pending_window_in_days {
        Some(d) => {
            check_range(d, min, max, "pendingWindowInDays")?;
            d as u32
        }
        None => default,
    };
    let r = ctx.kms.schedule_key_deletion(ctx.caller, &key, days)?;
    Ok(ScheduleKeyDeletionResponse {
        key_id: r.arn(),
        deletion_date: r.meta.deletion_date.map(Epoch),
        key_state: r.meta.state,
        pending_window_in_days: r.meta.pending_window_days,
    })
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyArnResponse {
    key_id: String,
}

fn cancel_key_deletion(ctx: &Ctx<'_>, req: KeyIdRequest) -> Res<KeyArnResponse> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::KeyOnly)?;
    let r = ctx.kms.cancel_key_deletion(ctx.caller, &key)?;
    Ok(KeyArnResponse { key_id: r.arn() })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdateKeyDescriptionRequest {
    key_id: Option<String>,
    description: Option<String>,
}

fn update_key_description(ctx: &Ctx<'_>, req: UpdateKeyDescriptionRequest) -> Res<Empty> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::KeyOnly)?;
    let description = required(&req.description, "description")?;
    check_len(description.chars().count(), 0, 8192, "description", None)?;
    ctx.kms
        .update_key_description(ctx.caller, &key, description.clone())?;
    Ok(Empty {})
}

// ----- cryptography ------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptRequest {
    key_id: Option<String>,
    plaintext: Option<SecretBlob>,
    encryption_context: Option<Context>,
    grant_tokens: Option<Vec<String>>,
    encryption_algorithm: Option<String>,
    dry_run: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct EncryptResponse {
    ciphertext_blob: Blob,
    key_id: String,
    encryption_algorithm: EncryptionAlgorithm,
}

fn encrypt(ctx: &Ctx<'_>, req: EncryptRequest) -> Res<EncryptResponse> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::Any)?;
    let plaintext = plaintext(&req.plaintext)?;
    grant_tokens(&req.grant_tokens)?;
    let algorithm = algorithm(&req.encryption_algorithm, "encryptionAlgorithm")?;
    let context = req.encryption_context.unwrap_or_default();
    let (blob, key) = ctx
        .kms
        .encrypt(ctx.caller, &key, plaintext, &context, algorithm)?;
    dry_run(
        req.dry_run,
        EncryptResponse {
            ciphertext_blob: Blob(blob),
            key_id: key.arn(),
            encryption_algorithm: algorithm,
        },
    )
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DecryptRequest {
    ciphertext_blob: Option<Blob>,
    encryption_context: Option<Context>,
    grant_tokens: Option<Vec<String>>,
    key_id: Option<String>,
    encryption_algorithm: Option<String>,
    recipient: Option<serde_json::Value>,
    dry_run: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct DecryptResponse {
    key_id: String,
    plaintext: SecretBlob,
    encryption_algorithm: EncryptionAlgorithm,
}

fn no_recipient(recipient: &Option<serde_json::Value>) -> Res<()> {
    match recipient {
        None => Ok(()),
        Some(_) => Err(KmsError::UnsupportedOperation(
            "Nitro Enclaves attestation (Recipient) is not supported by this server.".into(),
        )
        .into()),
    }
}

fn decrypt(ctx: &Ctx<'_>, req: DecryptRequest) -> Res<DecryptResponse> {
    let blob = ciphertext(&req.ciphertext_blob, "ciphertextBlob")?;
    let key = optional_key_ref(&req.key_id, "keyId", KeyRefForms::Any)?;
    grant_tokens(&req.grant_tokens)?;
    no_recipient(&req.recipient)?;
    let algorithm = algorithm(&req.encryption_algorithm, "encryptionAlgorithm")?;
    let context = req.encryption_context.unwrap_or_default();
    let out = ctx
        .kms
        .decrypt(ctx.caller, blob, key.as_ref(), &context, algorithm)?;
    dry_run(
        req.dry_run,
        DecryptResponse {
            key_id: out.key.arn(),
            plaintext: SecretBlob(out.plaintext),
            encryption_algorithm: algorithm,
        },
    )
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReEncryptRequest {
    ciphertext_blob: Option<Blob>,
    source_encryption_context: Option<Context>,
    source_key_id: Option<String>,
    destination_key_id: Option<String>,
    destination_encryption_context: Option<Context>,
    source_encryption_algorithm: Option<String>,
    destination_encryption_algorithm: Option<String>,
    grant_tokens: Option<Vec<String>>,
    dry_run: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReEncryptResponse {
    ciphertext_blob: Blob,
    source_key_id: String,
    key_id: String,
    source_encryption_algorithm: EncryptionAlgorithm,
    destination_encryption_algorithm: EncryptionAlgorithm,
}

fn re_encrypt(ctx: &Ctx<'_>, req: ReEncryptRequest) -> Res<ReEncryptResponse> {
    let blob = ciphertext(&req.ciphertext_blob, "ciphertextBlob")?;
    let destination = key_ref(
        &req.destination_key_id,
        "destinationKeyId",
        KeyRefForms::Any,
    )?;
    let source = optional_key_ref(&req.source_key_id, "sourceKeyId", KeyRefForms::Any)?;
    grant_tokens(&req.grant_tokens)?;
    let source_algorithm = algorithm(
        &req.source_encryption_algorithm,
        "sourceEncryptionAlgorithm",
    )?;
    let destination_algorithm = algorithm(
        &req.destination_encryption_algorithm,
        "destinationEncryptionAlgorithm",
    )?;
    let out = ctx.kms.re_encrypt(
        ctx.caller,
        blob,
        source.as_ref(),
        &req.source_encryption_context.unwrap_or_default(),
        source_algorithm,
        &destination,
        &req.destination_encryption_context.unwrap_or_default(),
        destination_algorithm,
    )?;
    dry_run(
        req.dry_run,
        ReEncryptResponse {
            ciphertext_blob: Blob(out.ciphertext),
            source_key_id: out.source.arn(),
            key_id: out.destination.arn(),
            source_encryption_algorithm: source_algorithm,
            destination_encryption_algorithm: destination_algorithm,
        },
    )
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyRequest {
    key_id: Option<String>,
    encryption_context: Option<Context>,
    number_of_bytes: Option<i64>,
    key_spec: Option<String>,
    grant_tokens: Option<Vec<String>>,
    recipient: Option<serde_json::Value>,
    dry_run: Option<bool>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateDataKeyResponse {
    ciphertext_blob: Blob,
    #[serde(skip_serializing_if = "Option::is_none")]
    plaintext: Option<SecretBlob>,
    key_id: String,
}

/// The data-key length: exactly one of `KeySpec` and `NumberOfBytes` (1–1024).
fn data_key_len(
    key_spec: &Option<String>,
    number_of_bytes: Option<i64>,
) -> Result<usize, KmsError> {
    match (key_spec, number_of_bytes) {
        (Some(_), Some(_)) | (None, None) => Err(KmsError::Validation(
            "Please specify either number of bytes or key spec.".into(),
        )),
        (Some(s), None) => Ok(parse_enum::<DataKeySpec>(s, "keySpec")?.byte_len()),
        (None, Some(n)) => {
            check_range(n, 1, 1024, "numberOfBytes")?;
            Ok(n as usize)
        }
    }
}

fn data_key(ctx: &Ctx<'_>, req: GenerateDataKeyRequest, op: KeyOp) -> Res<GenerateDataKeyResponse> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::Any)?;
    let len = data_key_len(&req.key_spec, req.number_of_bytes)?;
    grant_tokens(&req.grant_tokens)?;
    no_recipient(&req.recipient)?;
    let out = ctx.kms.generate_data_key(
        ctx.caller,
        &key,
        len,
        &req.encryption_context.unwrap_or_default(),
        op,
    )?;
    let plaintext = match op {
        KeyOp::GenerateDataKeyWithoutPlaintext => None,
        _ => Some(SecretBlob(out.plaintext)),
    };
    dry_run(
        req.dry_run,
        GenerateDataKeyResponse {
            ciphertext_blob: Blob(out.ciphertext),
            plaintext,
            key_id: out.key.arn(),
        },
    )
}

fn generate_data_key(ctx: &Ctx<'_>, req: GenerateDataKeyRequest) -> Res<GenerateDataKeyResponse> {
    data_key(ctx, req, KeyOp::GenerateDataKey)
}

fn generate_data_key_without_plaintext(
    ctx: &Ctx<'_>,
    req: GenerateDataKeyRequest,
) -> Res<GenerateDataKeyResponse> {
    data_key(ctx, req, KeyOp::GenerateDataKeyWithoutPlaintext)
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateRandomRequest {
    number_of_bytes: Option<i64>,
    custom_key_store_id: Option<String>,
    recipient: Option<serde_json::Value>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GenerateRandomResponse {
    plaintext: SecretBlob,
}

fn generate_random(ctx: &Ctx<'_>, req: GenerateRandomRequest) -> Res<GenerateRandomResponse> {
    let n = req
        .number_of_bytes
        .ok_or_else(|| KmsError::Validation("NumberOfBytes is required.".into()))?;
    check_range(n, 1, 1024, "numberOfBytes")?;
    no_recipient(&req.recipient)?;
    if req.custom_key_store_id.is_some() {
        return Err(KmsError::UnsupportedOperation(
            "Custom key stores are not supported by this server.".into(),
        )
        .into());
    }
    Ok(GenerateRandomResponse {
        plaintext: SecretBlob(ctx.kms.generate_random(ctx.caller, n as usize)?),
    })
}

// ----- aliases -----------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasRequest {
    alias_name: Option<String>,
    target_key_id: Option<String>,
}

fn create_alias(ctx: &Ctx<'_>, req: AliasRequest) -> Res<Empty> {
    let name = alias_name(&req.alias_name)?;
    let target = alias_target(&req.target_key_id)?;
    ctx.kms.create_alias(ctx.caller, name, &target)?;
    Ok(Empty {})
}

fn update_alias(ctx: &Ctx<'_>, req: AliasRequest) -> Res<Empty> {
    let name = alias_name(&req.alias_name)?;
    let target = alias_target(&req.target_key_id)?;
    ctx.kms.update_alias(ctx.caller, name, &target)?;
    Ok(Empty {})
}

fn delete_alias(ctx: &Ctx<'_>, req: AliasRequest) -> Res<Empty> {
    ctx.kms
        .delete_alias(ctx.caller, alias_name(&req.alias_name)?)?;
    Ok(Empty {})
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyPageRequest {
    key_id: Option<String>,
    limit: Option<i64>,
    marker: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct AliasListEntry {
    alias_name: String,
    alias_arn: String,
    target_key_id: String,
    creation_date: Epoch,
    last_updated_date: Epoch,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListAliasesResponse {
    aliases: Vec<AliasListEntry>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    truncated: bool,
}

fn list_aliases(ctx: &Ctx<'_>, req: KeyPageRequest) -> Res<ListAliasesResponse> {
    let key = optional_key_ref(&req.key_id, "keyId", KeyRefForms::KeyOnly)?;
    let limit = limit(req.limit, 100, 50)?;
    let page = ctx
        .kms
        .list_aliases(ctx.caller, key.as_ref(), limit, marker(&req.marker)?)?;
    Ok(ListAliasesResponse {
        aliases: page
            .items
            .into_iter()
            .map(|a| AliasListEntry {
                alias_arn: a.scope.alias_arn(&a.name),
                alias_name: a.name.0,
                target_key_id: a.target.to_string(),
                creation_date: Epoch(a.created_at),
                last_updated_date: Epoch(a.updated_at),
            })
            .collect(),
        truncated: page.next_marker.is_some(),
        next_marker: page.next_marker,
    })
}

// ----- tags --------------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagResourceRequest {
    key_id: Option<String>,
    tags: Option<Vec<Tag>>,
}

fn tag_resource(ctx: &Ctx<'_>, req: TagResourceRequest) -> Res<Empty> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::KeyOnly)?;
    required(&req.tags, "tags")?;
    ctx.kms.tag_resource(ctx.caller, &key, &tags(&req.tags)?)?;
    Ok(Empty {})
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UntagResourceRequest {
    key_id: Option<String>,
    tag_keys: Option<Vec<String>>,
}

fn untag_resource(ctx: &Ctx<'_>, req: UntagResourceRequest) -> Res<Empty> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::KeyOnly)?;
    let keys = required(&req.tag_keys, "tagKeys")?;
    for (i, k) in keys.iter().enumerate() {
        check_len(
            k.chars().count(),
            1,
            128,
            &format!("tagKeys.{}.member", i + 1),
            Some(k),
        )?;
    }
    ctx.kms.untag_resource(ctx.caller, &key, keys)?;
    Ok(Empty {})
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListResourceTagsResponse {
    tags: Vec<TagOut>,
    #[serde(skip_serializing_if = "Option::is_none")]
    next_marker: Option<String>,
    truncated: bool,
}

fn list_resource_tags(ctx: &Ctx<'_>, req: KeyPageRequest) -> Res<ListResourceTagsResponse> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::KeyOnly)?;
    let limit = limit(req.limit, 50, 50)?;
    let page = ctx
        .kms
        .list_resource_tags(ctx.caller, &key, limit, marker(&req.marker)?)?;
    Ok(ListResourceTagsResponse {
        tags: page
            .items
            .into_iter()
            .map(|(tag_key, tag_value)| TagOut { tag_key, tag_value })
            .collect(),
        truncated: page.next_marker.is_some(),
        next_marker: page.next_marker,
    })
}

// ----- key policies ------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyPolicyRequest {
    key_id: Option<String>,
    policy_name: Option<String>,
    policy: Option<String>,
    #[allow(dead_code)]
    bypass_policy_lockout_safety_check: Option<bool>,
}

fn policy_name(value: &Option<String>) -> Result<&str, KmsError> {
    match value {
        None => Ok(trent_core::engine::POLICY_NAME),
        Some(n) => {
            check_len(n.chars().count(), 1, 128, "policyName", Some(n))?;
            if !n.chars().all(|c| c.is_alphanumeric() || c == '_') {
                return Err(validation(format_args!(
                    "Value '{n}' at 'policyName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w]+"
                )));
            }
            Ok(n)
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetKeyPolicyResponse {
    policy: String,
    policy_name: String,
}

fn get_key_policy(ctx: &Ctx<'_>, req: KeyPolicyRequest) -> Res<GetKeyPolicyResponse> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::KeyOnly)?;
    let name = policy_name(&req.policy_name)?;
    let policy = ctx.kms.get_key_policy(ctx.caller, &key, name)?;
    Ok(GetKeyPolicyResponse {
        policy,
        policy_name: name.to_owned(),
    })
}

fn put_key_policy(ctx: &Ctx<'_>, req: KeyPolicyRequest) -> Res<Empty> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::KeyOnly)?;
    let name = policy_name(&req.policy_name)?;
    let policy = required(&req.policy, "policy")?;
    check_len(policy.chars().count(), 1, 131072, "policy", None)?;
    ctx.kms.put_key_policy(
        ctx.caller,
        &key,
        name,
        policy.clone(),
        req.bypass_policy_lockout_safety_check.unwrap_or(false),
    )?;
    Ok(Empty {})
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListKeyPoliciesResponse {
    policy_names: Vec<String>,
    truncated: bool,
}

fn list_key_policies(ctx: &Ctx<'_>, req: KeyPageRequest) -> Res<ListKeyPoliciesResponse> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::KeyOnly)?;
    limit(req.limit, 1000, 100)?;
    marker(&req.marker)?;
    let policy_names = ctx.kms.list_key_policies(ctx.caller, &key)?;
    Ok(ListKeyPoliciesResponse {
        policy_names,
        truncated: false,
    })
}

// ----- key usage ---------------------------------------------------------------------------------

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetKeyLastUsageRequest {
    key_id: Option<String>,
}

/// The last use. Empty (`{}`) while the key has not been used since tracking began, as AWS
/// sends it. Trent has no CloudTrail and keeps no request ids for it, so `CloudTrailEventId`
/// and `KmsRequestId` are never given.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct KeyLastUsageData {
    #[serde(skip_serializing_if = "Option::is_none")]
    operation: Option<trent_core::TrackedOperation>,
    #[serde(skip_serializing_if = "Option::is_none")]
    timestamp: Option<Epoch>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct GetKeyLastUsageResponse {
    key_id: String,
    key_last_usage: KeyLastUsageData,
    tracking_start_date: Epoch,
    key_creation_date: Epoch,
}

fn get_key_last_usage(ctx: &Ctx<'_>, req: GetKeyLastUsageRequest) -> Res<GetKeyLastUsageResponse> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::KeyOnly)?;
    let usage = ctx.kms.get_key_last_usage(ctx.caller, &key)?;
    Ok(GetKeyLastUsageResponse {
        key_id: usage.key.record.id.to_string(),
        key_last_usage: KeyLastUsageData {
            operation: usage.last.map(|u| u.operation),
            timestamp: usage.last.map(|u| Epoch(u.at)),
        },
        tracking_start_date: Epoch(usage.tracking_since),
        key_creation_date: Epoch(usage.key.record.meta.created_at),
    })
}

// ----- multi-Region keys ---------------------------------------------------------------------------

/// The service model's `RegionType`: `^([a-z]+-){2,3}\d+$`, 1–32 characters.
fn region(value: &Option<String>, member: &str) -> Result<String, KmsError> {
    const PATTERN: &str = "^([a-z]+-){2,3}\\d+$";
    let raw = required(value, member)?;
    check_len(raw.chars().count(), 1, 32, member, Some(raw))?;
    let parts: Vec<&str> = raw.split('-').collect();
    let (words, number) = parts.split_at(parts.len() - 1);
    let valid = (2..=3).contains(&words.len())
        && words
            .iter()
            .all(|w| !w.is_empty() && w.bytes().all(|b| b.is_ascii_lowercase()))
        && !number[0].is_empty()
        && number[0].bytes().all(|b| b.is_ascii_digit());
    if !valid {
        check_pattern(raw, member, PATTERN, |_| false)?;
    }
    Ok(raw.clone())
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReplicateKeyRequest {
    key_id: Option<String>,
    replica_region: Option<String>,
    policy: Option<String>,
    bypass_policy_lockout_safety_check: Option<bool>,
    description: Option<String>,
    tags: Option<Vec<Tag>>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct ReplicateKeyResponse {
    replica_key_metadata: KeyMetadata,
    replica_policy: String,
    replica_tags: Vec<TagOut>,
}

fn replicate_key(ctx: &Ctx<'_>, req: ReplicateKeyRequest) -> Res<ReplicateKeyResponse> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::KeyOnly)?;
    let region = region(&req.replica_region, "replicaRegion")?;
    if let Some(d) = &req.description {
        check_len(d.chars().count(), 0, 8192, "description", None)?;
    }
    if let Some(p) = &req.policy {
        check_len(p.chars().count(), 1, 131072, "policy", None)?;
    }
    let replica = ctx.kms.replicate_key(
        ctx.caller,
        &key,
        NewReplica {
            region,
            policy: req.policy,
            description: req.description,
            tags: tags(&req.tags)?,
            bypass_policy_lockout_safety_check: req
                .bypass_policy_lockout_safety_check
                .unwrap_or(false),
        },
    )?;
    Ok(ReplicateKeyResponse {
        replica_policy: replica.meta.policy.clone(),
        replica_tags: replica
            .meta
            .tags
            .iter()
            .map(|(k, v)| TagOut {
                tag_key: k.clone(),
                tag_value: v.clone(),
            })
            .collect(),
        replica_key_metadata: metadata(&replica),
    })
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct UpdatePrimaryRegionRequest {
    key_id: Option<String>,
    primary_region: Option<String>,
}

fn update_primary_region(ctx: &Ctx<'_>, req: UpdatePrimaryRegionRequest) -> Res<Empty> {
    let key = key_ref(&req.key_id, "keyId", KeyRefForms::KeyOnly)?;
    let region = region(&req.primary_region, "primaryRegion")?;
    ctx.kms.update_primary_region(ctx.caller, &key, &region)?;
    Ok(Empty {})
}
