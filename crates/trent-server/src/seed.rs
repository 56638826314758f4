//! The seed file (`--seed FILE`, `TRENT_SEED`, config `seed`): its TOML shape, reading it into
//! the engine's [`SeedKey`]s, and writing a scope's keys back out (`trent seed export`).
//!
//! Owns: the file format (names, defaults, material encodings) and the messages that name the
//! file and the entry. What an entry means for the store is the engine's (`Kms::seed`).
//!
//! Material is `hex:…`, `base64:…` or, for asymmetric keys, a PEM `PRIVATE KEY` (PKCS#8). The
//! text of material is wiped from memory once decoded.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine;
use serde::{Deserialize, Serialize};
use trent_core::engine::{Kms, SeedApplied, SeedError, SeedExport, SeedKey};
use trent_core::ids::{AccountId, AliasName, KeyId, Region, Scope};
use trent_core::model::{KeyKind, KeySpec, KeyState, KeyUsage};
use trent_crypto::SecretBytes;
use zeroize::{Zeroize, Zeroizing};

const PEM_BEGIN: &str = "-----BEGIN PRIVATE KEY-----";
const PEM_END: &str = "-----END PRIVATE KEY-----";

#[derive(Debug, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct SeedFile {
    #[serde(default)]
    keys: Vec<SeedEntry>,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct SeedEntry {
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    account_id: Option<String>,
    region: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_spec: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_usage: Option<String>,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    material: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    state: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    aliases: Vec<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    tags: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    rotation_period_days: Option<u32>,
}

/// Reads and checks a seed file. `default_account` is the account of entries that name none
/// (the only configured account, `000000000000` with the development credential); `None` when
/// several are configured,
/// and then every entry must name its account.
pub fn read(path: &Path, default_account: Option<&str>) -> Result<Vec<SeedKey>, String> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read seed file {}: {e}", path.display()))?,
    );
    let mut file: SeedFile =
        toml::from_str(&text).map_err(|e| format!("invalid seed file {}: {e}", path.display()))?;
    let keys = file
        .keys
        .iter()
        .enumerate()
        .map(|(i, entry)| {
            parse_entry(entry, default_account).map_err(|reason| {
                format!(
                    "seed file {}: entry {} (id {:?}): {reason}",
                    path.display(),
                    i + 1,
                    entry.id
                )
            })
        })
        .collect();
    for entry in &mut file.keys {
        entry.material.zeroize();
    }
    keys
}

/// Reads the seed file and applies it; the message of a refusal names the file and the entry.
pub fn apply(kms: &Kms, path: &Path, default_account: Option<&str>) -> Result<SeedApplied, String> {
    let keys = read(path, default_account)?;
    kms.seed(&keys).map_err(|e| match e {
        SeedError::Entry { index, id, reason } => format!(
            "seed file {}: entry {} (id {id:?}): {reason}; nothing was applied",
            path.display(),
            index + 1
        ),
        other => format!("seed file {}: {other}", path.display()),
    })
}

fn parse_entry(entry: &SeedEntry, default_account: Option<&str>) -> Result<SeedKey, String> {
    let id = KeyId::parse(&entry.id).ok_or("id is not a key id (a UUID)")?;
    let account = match (&entry.account_id, default_account) {
        (Some(a), _) => a.as_str(),
        (None, Some(a)) => a,
        (None, None) => {
            return Err("account_id is required when several accounts are configured".into())
        }
    };
    let account = AccountId::parse(account).ok_or("account_id must be 12 or 16 digits")?;
    let region = &entry.region;
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(format!("invalid region {region:?}"));
    }
    let key_spec = match &entry.key_spec {
        None => KeySpec::SymmetricDefault,
        Some(s) => KeySpec::parse(s).ok_or_else(|| format!("unknown key_spec {s:?}"))?,
    };
    let key_usage = match &entry.key_usage {
        Some(u) => KeyUsage::parse(u).ok_or_else(|| format!("unknown key_usage {u:?}"))?,
        None => match key_spec.usages() {
            [only] => *only,
            _ => return Err(format!("key_usage is required for {key_spec}")),
        },
    };
    let state = match entry.state.as_deref() {
        None | Some("Enabled") => KeyState::Enabled,
        Some("Disabled") => KeyState::Disabled,
        Some(s) => return Err(format!("state must be Enabled or Disabled, not {s:?}")),
    };
    let aliases = entry
        .aliases
        .iter()
        .map(|a| AliasName::parse(a).map_err(|_| format!("invalid alias name {a:?}")))
        .collect::<Result<Vec<_>, _>>()?;
    let material = entry
        .material
        .as_deref()
        .map(|m| decode_material(m, key_spec))
        .transpose()?;
    Ok(SeedKey {
        id,
        scope: Scope {
            account,
            region: Region(region.clone()),
        },
        key_spec,
        key_usage,
        description: entry.description.clone(),
        material,
        state,
        aliases,
        tags: entry
            .tags
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        policy: entry.policy.clone(),
        rotation_period_days: entry.rotation_period_days,
    })
}

fn decode_material(text: &str, spec: KeySpec) -> Result<SecretBytes, String> {
    let text = text.trim();
    let bytes = if let Some(hex) = text.strip_prefix("hex:") {
        hex::decode(hex.trim()).map_err(|_| "material is not valid hex")?
    } else if let Some(b64) = text.strip_prefix("base64:") {
        base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| "material is not valid base64")?
    } else if text.starts_with(PEM_BEGIN) {
        decode_pem(text)?
    } else {
        return Err(format!(
            "material must start with hex:, base64: or (for asymmetric keys) {PEM_BEGIN}"
        ));
    };
    let is_pem = text.starts_with(PEM_BEGIN);
    let asymmetric = is_asymmetric(spec);
    if is_pem != asymmetric {
        return Err(if asymmetric {
            format!("material of a {spec} key is a PEM PKCS#8 private key")
        } else {
            format!("material of a {spec} key is raw bytes (hex: or base64:)")
        });
    }
    Ok(SecretBytes::new(bytes))
}

fn is_asymmetric(spec: KeySpec) -> bool {
    matches!(spec.kind(), KeyKind::Asymmetric(_))
}

fn decode_pem(text: &str) -> Result<Vec<u8>, String> {
    let body = text
        .strip_prefix(PEM_BEGIN)
        .and_then(|rest| rest.trim_end().strip_suffix(PEM_END))
        .ok_or("material PEM must be one PRIVATE KEY block")?;
    let b64: Zeroizing<String> =
        Zeroizing::new(body.chars().filter(|c| !c.is_whitespace()).collect());
    base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .map_err(|_| "material PEM is not valid base64".into())
}

fn encode_pem(der: &[u8]) -> String {
    let b64 = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(der));
    let mut pem = String::from(PEM_BEGIN);
    pem.push('\n');
    for line in b64.as_bytes().chunks(64) {
        pem.push_str(&String::from_utf8_lossy(line));
        pem.push('\n');
    }
    pem.push_str(PEM_END);
    pem.push('\n');
    pem
}

/// The seed file of exported keys (TOML).
pub fn write(export: &SeedExport) -> Result<String, String> {
    let file = SeedFile {
        keys: export
            .keys
            .iter()
            .map(|k| SeedEntry {
                id: k.id.to_string(),
                account_id: Some(k.scope.account.0.clone()),
                region: k.scope.region.0.clone(),
                key_spec: Some(k.key_spec.as_str().to_owned()),
                key_usage: Some(k.key_usage.as_str().to_owned()),
                description: k.description.clone(),
                material: k.material.as_ref().map(|m| {
                    if is_asymmetric(k.key_spec) {
                        encode_pem(m.expose())
                    } else {
                        format!("hex:{}", hex::encode(m.expose()))
                    }
                }),
                state: Some(k.state.as_str().to_owned()),
                aliases: k.aliases.iter().map(|a| a.0.clone()).collect(),
                tags: k.tags.iter().cloned().collect(),
                policy: k.policy.clone(),
                rotation_period_days: k.rotation_period_days,
            })
            .collect(),
    };
    let text = toml::to_string(&file).map_err(|e| format!("cannot write the seed file: {e}"));
    let mut file = file;
    for entry in &mut file.keys {
        entry.material.zeroize();
    }
    text
}
