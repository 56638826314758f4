//! Alibaba's names for the engine's values, its identifiers, and reading its flat parameters.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::Serialize;
use trent_core::blob::{self, EncryptionContext};
use trent_core::engine::Page;
use trent_core::model::Timestamp;
use trent_core::{
    AliasName, KeyId, KeyRef, KeyRefForms, KeySpec, KeyUsage, KmsError, Origin, Scope,
};
use zeroize::Zeroizing;

use super::Res;
use crate::error::AliyunError;
use crate::params::Params;
use crate::time;

// ----- Alibaba's names ------------------------------------------------------------------------

/// Alibaba's names for the engine's key specs, usages and origins. A value without an Alibaba
/// name (a spec only AWS has, on a key made through the AWS API) is shown by its AWS name.
pub(super) const KEY_SPECS: &[(KeySpec, &str)] = &[
    (KeySpec::SymmetricDefault, "Aliyun_AES_256"),
    (KeySpec::Rsa2048, "RSA_2048"),
    (KeySpec::Rsa3072, "RSA_3072"),
    (KeySpec::Rsa4096, "RSA_4096"),
    (KeySpec::EccNistP256, "EC_P256"),
    (KeySpec::EccSecgP256k1, "EC_P256K"),
    (KeySpec::Sm2, "EC_SM2"),
];
/// Alibaba key specs with no engine behind them (HSM-only and legacy symmetric specs).
pub(super) const UNSERVED_KEY_SPECS: &[&str] = &[
    "Aliyun_AES_128",
    "Aliyun_AES_192",
    "Aliyun_SM4",
    "Aliyun_DES3_192",
];
pub(super) const KEY_USAGES: &[(KeyUsage, &str)] = &[
    (KeyUsage::EncryptDecrypt, "ENCRYPT/DECRYPT"),
    (KeyUsage::SignVerify, "SIGN/VERIFY"),
];
pub(super) const ORIGINS: &[(Origin, &str)] = &[
    (Origin::AwsKms, "Aliyun_KMS"),
    (Origin::External, "EXTERNAL"),
];

pub(super) fn wire_name<T: Copy + PartialEq>(
    table: &[(T, &'static str)],
    value: T,
    aws: &'static str,
) -> &'static str {
    table
        .iter()
        .find(|(v, _)| *v == value)
        .map_or(aws, |(_, name)| name)
}

pub(super) fn from_wire<T: Copy>(table: &[(T, &str)], name: &str, param: &str) -> Res<T> {
    table
        .iter()
        .find(|(_, n)| *n == name)
        .map(|(v, _)| *v)
        .ok_or_else(|| AliyunError::invalid(param))
}

pub(super) fn key_arn(scope: &Scope, id: &KeyId) -> String {
    format!("acs:kms:{}:{}:key/{id}", scope.region.0, scope.account.0)
}

pub(super) fn alias_arn(scope: &Scope, name: &AliasName) -> String {
    format!("acs:kms:{}:{}:{name}", scope.region.0, scope.account.0)
}

pub(super) fn date(t: Timestamp) -> String {
    time::format(t.0.div_euclid(1000))
}

/// A key version's id: a UUID derived from the key id and the material version, so it is
/// stable, needs no storage, and names exactly the material a ciphertext was made with.
pub fn key_version_id(key: &KeyId, material_version: u32) -> String {
    let mut input = b"trent/aliyun/key-version/v1/".to_vec();
    input.extend_from_slice(key.as_bytes());
    input.extend_from_slice(&material_version.to_be_bytes());
    let digest = trent_crypto::sha256(&input);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    // RFC 9562 version 8 (custom) with the RFC 4122 variant.
    bytes[6] = (bytes[6] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(bytes).hyphenated().to_string()
}

/// The key version a ciphertext blob names.
pub(super) fn blob_version(ciphertext: &[u8]) -> Res<String> {
    blob::decode(ciphertext)
        .map(|b| key_version_id(&b.key_id, b.material_version))
        .ok_or_else(|| AliyunError::invalid("CiphertextBlob"))
}

// ----- parameters ---------------------------------------------------------------------------

/// A required parameter; absent and empty are both "not provided".
pub(super) fn required<'a>(p: &'a Params, name: &str) -> Res<&'a str> {
    p.get(name)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| AliyunError::missing(name))
}

/// An optional parameter; the SDKs send absent optional values as nothing or as empty.
pub(super) fn optional<'a>(p: &'a Params, name: &str) -> Option<&'a str> {
    p.get(name).filter(|v| !v.is_empty())
}

pub(super) fn int(p: &Params, name: &str, min: i64, max: i64) -> Res<Option<i64>> {
    optional(p, name)
        .map(|v| {
            v.parse::<i64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| AliyunError::invalid(name))
        })
        .transpose()
}

/// Booleans arrive as `true`/`false`, or `True`/`False` from Python's `str(bool)`.
pub(super) fn boolean(p: &Params, name: &str) -> Res<Option<bool>> {
    optional(p, name)
        .map(|v| match v.to_ascii_lowercase().as_str() {
            "true" => Ok(true),
            "false" => Ok(false),
            _ => Err(AliyunError::invalid(name)),
        })
        .transpose()
}

/// Refuses parameters for features this server does not offer, rather than ignoring them.
pub(super) fn refuse(p: &Params, names: &[&str], feature: &str) -> Res<()> {
    match names.iter().find(|n| optional(p, n).is_some()) {
        Some(_) => Err(AliyunError::unsupported(feature)),
        None => Ok(()),
    }
}

/// Key ids, aliases, and Alibaba's ARNs `acs:kms:<region>:<uid>:key/<id>` and
/// `acs:kms:<region>:<uid>:alias/<name>`. Malformed values name no key, as in Alibaba.
pub fn parse_key_ref(raw: &str) -> Result<KeyRef, KmsError> {
    let Some(rest) = raw.strip_prefix("acs:kms:") else {
        return KeyRef::parse(raw, KeyRefForms::Any);
    };
    let mut parts = rest.splitn(3, ':');
    let (Some(region), Some(account), Some(resource)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(KmsError::invalid_key_id(raw));
    };
    if region.is_empty() || account.is_empty() {
        return Err(KmsError::invalid_key_id(raw));
    }
    let scope = Scope::new(account, region);
    if let Some(id) = resource.strip_prefix("key/") {
        let id = KeyId::parse(id).ok_or_else(|| KmsError::invalid_key_id(raw))?;
        Ok(KeyRef::KeyArn { scope, id })
    } else {
        let name = AliasName::parse(resource).map_err(|_| KmsError::invalid_key_id(raw))?;
        Ok(KeyRef::AliasArn { scope, name })
    }
}

pub(super) fn key_ref(p: &Params, name: &str) -> Res<KeyRef> {
    Ok(parse_key_ref(required(p, name)?)?)
}

/// Alibaba's alias rules: `alias/` prefix, 1–255 characters, `alias/acs` reserved for
/// Alibaba's service keys.
pub(super) fn alias_name(p: &Params) -> Res<AliasName> {
    let raw = required(p, "AliasName")?;
    if raw.chars().count() > 255 || raw.starts_with("alias/acs") {
        return Err(AliyunError::invalid("AliasName"));
    }
    AliasName::parse(raw).map_err(|_| AliyunError::invalid("AliasName"))
}

/// A JSON object given as a string. Compared as a map, so `{"a":"b"}` and `{"a": "b"}` are the
/// same context; non-string values are kept as their compact JSON text.
pub(super) fn context(p: &Params, name: &str) -> Res<EncryptionContext> {
    let Some(raw) = optional(p, name) else {
        return Ok(EncryptionContext::new());
    };
    let map: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(raw).map_err(|_| AliyunError::invalid(name))?;
    Ok(map
        .into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => (k, s),
            other => (k, other.to_string()),
        })
        .collect())
}

pub(super) fn base64_param(p: &Params, name: &str) -> Res<Zeroizing<Vec<u8>>> {
    STANDARD
        .decode(required(p, name)?)
        .map(Zeroizing::new)
        .map_err(|_| AliyunError::invalid(name))
}

/// `DryRun=true`: the request was checked (and would have succeeded); it always fails.
pub(super) fn dry_run<T>(p: &Params, result: T) -> Res<T> {
    if boolean(p, "DryRun")? == Some(true) {
        return Err(AliyunError::bad_request(
            "DryRunOperationError",
            "The request would have succeeded, but the DryRun option is set.",
        ));
    }
    Ok(result)
}

/// `PageNumber` (from 1) and `PageSize` (1–100, default 10).
pub(super) struct PageArgs {
    pub(super) number: usize,
    pub(super) size: usize,
}

pub(super) fn page_args(p: &Params) -> Res<PageArgs> {
    Ok(PageArgs {
        number: int(p, "PageNumber", 1, i64::from(u32::MAX))?.unwrap_or(1) as usize,
        size: int(p, "PageSize", 1, 100)?.unwrap_or(10) as usize,
    })
}

impl PageArgs {
    pub(super) fn slice<T>(&self, items: Vec<T>) -> Vec<T> {
        items
            .into_iter()
            .skip((self.number - 1).saturating_mul(self.size))
            .take(self.size)
            .collect()
    }
}

/// Every item of a marker-paginated engine listing: Alibaba pages by number and reports a
/// total, so the whole list is read (keys and aliases per account and region are few).
pub(super) fn drain<T>(
    mut fetch: impl FnMut(Option<&str>) -> Result<Page<T>, KmsError>,
) -> Res<Vec<T>> {
    let mut out = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = fetch(marker.as_deref())?;
        out.extend(page.items);
        match page.next_marker {
            Some(m) => marker = Some(m),
            None => return Ok(out),
        }
    }
}

pub(super) const LIST_BATCH: usize = 1000;

#[derive(Debug, Serialize)]
pub struct Empty {}
