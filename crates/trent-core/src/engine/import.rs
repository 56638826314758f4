//! Bring-your-own-key: import parameters, importing material into an EXTERNAL key, deleting it,
//! and the expiry of material imported with a `ValidTo`.
//!
//! An asymmetric or HMAC key holds one material for life. A symmetric key may hold several, as
//! AWS's keys do: the first, then one per on-demand rotation; new material is imported first
//! (`NEW_KEY_MATERIAL`, it waits in PENDING_ROTATION) and becomes current when the key rotates.
//! The key is usable only while every material permanently associated with it is imported.
//!
//! The import token is the wrapping private key and its terms, sealed under the root key with
//! the key id as associated data: it needs no storage, cannot be read or forged by the client,
//! and opens only for the key it was issued for.

use std::sync::Arc;

use trent_crypto::asymmetric::{self, PrivateKey};
use trent_crypto::SecretBytes;

use super::{prepare_material, Caller, Facts, Kms, LoadedKey};
use crate::error::{KmsError, NotFound};
use crate::ids::{KeyId, KeyRef};
use crate::model::*;
use crate::state::KeyOp;

/// How long import parameters are valid (AWS: 24 hours).
pub const IMPORT_TOKEN_LIFETIME_MS: i64 = Timestamp::DAY_MS;
/// How far ahead ValidTo may be (AWS: 365 days).
pub const MAX_VALID_TO_DAYS: u32 = 365;

/// What GetParametersForImport returns.
#[derive(Debug)]
pub struct ImportParameters {
    pub import_token: Vec<u8>,
    /// DER SubjectPublicKeyInfo of the RSA wrapping key.
    pub public_key: Vec<u8>,
    pub valid_to: Timestamp,
    pub key: Arc<LoadedKey>,
}

/// What ImportKeyMaterial takes besides the key.
#[derive(Debug, Default)]
pub struct ImportRequest<'a> {
    pub import_token: &'a [u8],
    pub encrypted_key_material: &'a [u8],
    /// `None`: KEY_MATERIAL_DOES_NOT_EXPIRE.
    pub valid_to: Option<Timestamp>,
    /// `None`: new material for a key that never had any, the existing material after that.
    pub import_type: Option<ImportType>,
    /// Which existing material this is meant to be (checked against the material).
    pub key_material_id: Option<&'a str>,
    /// `None` keeps the description given when the material was imported before.
    pub description: Option<&'a str>,
}

/// A token is bound to the key's ARN: a multi-Region key's copies share one id, and a token
/// of one copy must not import into another (whose policy may ask for other wrapping terms).
fn token_aad(key_arn: &str) -> Vec<u8> {
    let mut aad = b"trent/import-token/v2/".to_vec();
    aad.extend_from_slice(key_arn.as_bytes());
    aad
}

/// Versions of imported material whose ValidTo has passed.
fn expired(record: &KeyRecord, now: Timestamp) -> impl Iterator<Item = u32> + '_ {
    record
        .meta
        .imports
        .iter()
        .filter(move |i| i.valid_to.is_some_and(|t| t <= now) && record.is_imported(i.version))
        .map(|i| i.version)
}

/// Whether some imported material of the key has passed its ValidTo.
pub(super) fn material_expired(record: &KeyRecord, now: Timestamp) -> bool {
    expired(record, now).next().is_some()
}

/// Deletes every imported material whose ValidTo has passed, as AWS does on that date.
pub(super) fn expire_materials(record: &mut KeyRecord, now: Timestamp) {
    let versions: Vec<u32> = expired(record, now).collect();
    for version in versions {
        remove_material(record, version);
    }
}

/// Deletes the imported material of `version`. Material pending rotation was never part of
/// the key and is forgotten; permanently associated material stays listed without its bytes,
/// and the key becomes PendingImport, unless it is pending deletion, which it stays (both
/// source documents say so).
pub(super) fn remove_material(record: &mut KeyRecord, version: u32) {
    record.materials.retain(|m| m.version != version);
    let Some(index) = record
        .meta
        .imports
        .iter()
        .position(|i| i.version == version)
    else {
        return;
    };
    if record.meta.imports[index].pending_rotation {
        record.meta.imports.remove(index);
        return;
    }
    let import = &mut record.meta.imports[index];
    import.expiration_model = None;
    import.valid_to = None;
    if record.meta.state != KeyState::PendingDeletion {
        record.meta.state = KeyState::PendingImport;
    }
}

/// A digest of the material's identity: the public key for asymmetric keys (a PKCS#8 document
/// can encode one key in several ways), the bytes otherwise.
fn material_digest(id: &KeyId, identity: &[u8]) -> [u8; 32] {
    let mut input = b"trent/key-material-digest/v1/".to_vec();
    input.extend_from_slice(id.as_bytes());
    input.extend_from_slice(identity);
    let digest = trent_crypto::sha256(&input);
    trent_crypto::wipe(&mut input);
    digest
}

pub(super) fn check_aad(id: &KeyId) -> Vec<u8> {
    let mut aad = b"trent/key-material-check/v1/".to_vec();
    aad.extend_from_slice(id.as_bytes());
    aad
}

fn incorrect_material() -> KmsError {
    KmsError::IncorrectKeyMaterial
}

/// Checks imported material against the key spec; returns its identity for [`material_id`].
fn check_material(spec: KeySpec, material: &SecretBytes) -> Result<Vec<u8>, KmsError> {
    let valid = match spec.kind() {
        KeyKind::Symmetric => material.len() == trent_crypto::AES_256_KEY_LEN,
        KeyKind::Hmac(_) => spec
            .hmac_import_len()
            .is_some_and(|r| r.contains(&material.len())),
        KeyKind::Asymmetric(pair) => {
            return PrivateKey::from_pkcs8(pair, material.expose())
                .map(|k| k.public_key_der().to_vec())
                .map_err(|_| incorrect_material());
        }
        KeyKind::Unsupported => false,
    };
    if !valid {
        return Err(incorrect_material());
    }
    prepare_material(spec, material).map_err(|_| incorrect_material())?;
    Ok(material.expose().to_vec())
}

/// Import operations need an EXTERNAL key, whatever its state.
fn require_external(record: &KeyRecord) -> Result<(), KmsError> {
    let origin = record.meta.origin;
    if origin != Origin::External {
        return Err(KmsError::UnsupportedOperation(format!(
            "{} origin is {origin} which is not valid for this operation.",
            record.arn()
        )));
    }
    Ok(())
}

impl Kms {
    /// Loads a key for an import operation: keys that are not EXTERNAL are refused whatever
    /// their state ([9] of AWS's key-state reference), then the state table applies.
    fn external_key(
        &self,
        caller: &Caller,
        key: &KeyRef,
        op: KeyOp,
        facts: &Facts<'_>,
    ) -> Result<Arc<LoadedKey>, KmsError> {
        self.admit_key(
            caller,
            key,
            op,
            &Facts {
                precondition: Some(&require_external),
                ..*facts
            },
        )
    }

    pub fn get_parameters_for_import(
        &self,
        caller: &Caller,
        key: &KeyRef,
        algorithm: WrappingAlgorithm,
        wrapping_key_spec: WrappingKeySpec,
    ) -> Result<ImportParameters, KmsError> {
        let facts = Facts {
            wrapping: Some((algorithm, wrapping_key_spec)),
            ..Facts::default()
        };
        let loaded = self.external_key(caller, key, KeyOp::GetParametersForImport, &facts)?;
        if algorithm.scheme().is_none() {
            return Err(KmsError::UnsupportedOperation(format!(
                "WrappingAlgorithm {algorithm} is not supported."
            )));
        }
        let pair = wrapping_key_spec.key_pair_spec().ok_or_else(|| {
            KmsError::UnsupportedOperation(format!(
                "WrappingKeySpec {wrapping_key_spec} is not supported."
            ))
        })?;
        let (private, public_key) = asymmetric::generate_wrapping_key(pair)?;
        let valid_to = Timestamp(self.now().0 + IMPORT_TOKEN_LIFETIME_MS);
        let mut terms = Vec::with_capacity(9 + private.len());
        terms.extend_from_slice(&valid_to.0.to_be_bytes());
        terms.push(enum_index(WrappingAlgorithm::ALL, algorithm));
        terms.extend_from_slice(private.expose());
        let import_token = self.root.seal(&token_aad(&loaded.arn), &terms);
        trent_crypto::wipe(&mut terms);
        Ok(ImportParameters {
            import_token: import_token?,
            public_key,
            valid_to,
            key: loaded,
        })
    }

    /// Opens an import token for the key `key_arn`: the wrapping algorithm and the wrapping
    /// private key.
    fn open_import_token(
        &self,
        key_arn: &str,
        token: &[u8],
        now: Timestamp,
    ) -> Result<(WrappingAlgorithm, SecretBytes), KmsError> {
        let terms = self
            .root
            .open(&token_aad(key_arn), token)
            .map_err(|_| KmsError::InvalidImportToken)?;
        let terms = terms.expose();
        if terms.len() < 9 {
            return Err(KmsError::InvalidImportToken);
        }
        let (expiry, rest) = terms.split_at(8);
        let expiry = i64::from_be_bytes(
            expiry
                .try_into()
                .map_err(|_| KmsError::InvalidImportToken)?,
        );
        let algorithm = *WrappingAlgorithm::ALL
            .get(usize::from(rest[0]))
            .ok_or(KmsError::InvalidImportToken)?;
        if Timestamp(expiry) <= now {
            return Err(KmsError::ExpiredImportToken);
        }
        Ok((algorithm, SecretBytes::new(rest[1..].to_vec())))
    }

    /// Imports material into an EXTERNAL key; returns the key and the material's
    /// `KeyMaterialId`.
    pub fn import_key_material(
        &self,
        caller: &Caller,
        key: &KeyRef,
        import: ImportRequest<'_>,
    ) -> Result<(KeyRecord, String), KmsError> {
        let facts = Facts {
            import_valid_to: Some(import.valid_to),
            ..Facts::default()
        };
        let loaded = self.external_key(caller, key, KeyOp::ImportKeyMaterial, &facts)?;
        let id = loaded.record.id;
        let spec = loaded.record.meta.key_spec;
        let several_materials = import.import_type.is_some()
            || import.key_material_id.is_some()
            || import.description.is_some();
        if several_materials && spec != KeySpec::SymmetricDefault {
            // AWS: asymmetric and HMAC keys hold one material for life, and ImportKeyMaterial
            // refuses these parameters for them.
            return Err(KmsError::UnsupportedOperation(format!(
                "ImportType, KeyMaterialId and KeyMaterialDescription are valid only for symmetric encryption keys; {} has key spec {spec}.",
                loaded.arn()
            )));
        }
        let now = self.now();
        let (algorithm, wrapping_key) =
            self.open_import_token(&loaded.arn, import.import_token, now)?;
        let scheme = algorithm.scheme().ok_or(KmsError::InvalidImportToken)?;
        let material = asymmetric::unwrap_imported(
            wrapping_key.expose(),
            scheme,
            import.encrypted_key_material,
        )
        .map_err(|_| KmsError::InvalidCiphertext)?;
        if let Some(valid_to) = import.valid_to {
            if valid_to <= now || valid_to > now.plus_days(MAX_VALID_TO_DAYS) {
                return Err(KmsError::Validation(format!(
                    "ValidTo must be in the future and at most {MAX_VALID_TO_DAYS} days from now."
                )));
            }
        }
        let mut identity = check_material(spec, &material)?;
        let digest = material_digest(&id, &identity);
        trent_crypto::wipe(&mut identity);
        let (material_id, record) = self.modify(caller, key, KeyOp::ImportKeyMaterial, &facts, |r, _| {
            let known = self.find_material(r, &digest)?;
            let import_type = import.import_type.unwrap_or(if r.meta.imports.is_empty() {
                ImportType::NewKeyMaterial
            } else {
                ImportType::ExistingKeyMaterial
            });
            if import_type == ImportType::NewKeyMaterial && import.key_material_id.is_some() {
                return Err(KmsError::Validation(
                    "You cannot specify a KeyMaterialId with ImportType NEW_KEY_MATERIAL.".into(),
                ));
            }
            let index = match (import_type, known) {
                (ImportType::ExistingKeyMaterial, Some(index)) => {
                    let found = r.meta.imports[index].key_material_id();
                    if import.key_material_id.is_some_and(|given| given != found) {
                        return Err(KmsError::IncorrectKeyMaterial);
                    }
                    index
                }
                (ImportType::ExistingKeyMaterial, None) => {
                    return Err(KmsError::IncorrectKeyMaterial)
                }
                (ImportType::NewKeyMaterial, Some(_)) => {
                    return Err(KmsError::Validation(
                        "This key material is already associated with the KMS key; import it with ImportType EXISTING_KEY_MATERIAL.".into(),
                    ))
                }
                (ImportType::NewKeyMaterial, None) => self.associate(r, &digest)?,
            };
            let version = r.meta.imports[index].version;
            // Keys stored before several materials existed had no current material while
            // theirs was deleted; their one material is current again.
            if r.meta.current_material.is_none() && !r.meta.imports[index].pending_rotation {
                r.meta.current_material = Some(version);
            }
            let sealed = self.seal_material(&r.id, version, &material)?;
            r.materials.retain(|m| m.version != version);
            r.materials.push(sealed);
            r.materials.sort_by_key(|m| m.version);
            let entry = &mut r.meta.imports[index];
            entry.expiration_model = Some(match import.valid_to {
                Some(_) => ExpirationModel::KeyMaterialExpires,
                None => ExpirationModel::KeyMaterialDoesNotExpire,
            });
            entry.valid_to = import.valid_to;
            if let Some(description) = import.description {
                entry.description = Some(description.to_owned());
            }
            let material_id = entry.key_material_id();
            if r.meta.state == KeyState::PendingImport && r.has_material() {
                r.meta.state = KeyState::Enabled;
            }
            Ok(material_id)
        })?;
        Ok((record, material_id))
    }

    /// Associates new material with `r`: the key's first material becomes current; later
    /// material waits for a rotation, and only one may wait at a time.
    fn associate(&self, r: &mut KeyRecord, digest: &[u8; 32]) -> Result<usize, KmsError> {
        let first = r.meta.imports.is_empty();
        let material = ImportedKeyMaterial {
            version: r.next_material_version(),
            material_check: hex::encode(self.root.seal(&check_aad(&r.id), digest)?),
            material_id: None,
            description: None,
            pending_rotation: !first,
            expiration_model: None,
            valid_to: None,
        };
        if let Some(pending) = r.meta.imports.iter().find(|i| i.pending_rotation) {
            return Err(KmsError::MaterialPendingRotation {
                arn: r.arn(),
                new_material_id: material.key_material_id(),
                pending_material_id: pending.key_material_id(),
            });
        }
        let version = material.version;
        r.meta.imports.push(material);
        if first {
            r.meta.current_material = Some(version);
        }
        Ok(r.meta.imports.len() - 1)
    }

    /// The index of the key's material whose sealed check matches `digest`, if any. Every
    /// check is opened and compared in constant time.
    fn find_material(&self, r: &KeyRecord, digest: &[u8; 32]) -> Result<Option<usize>, KmsError> {
        let mut found = None;
        for (index, import) in r.meta.imports.iter().enumerate() {
            let sealed = hex::decode(&import.material_check)
                .map_err(|_| KmsError::internal("stored material check is not hex"))?;
            let expected = self.root.open(&check_aad(&r.id), &sealed)?;
            if trent_crypto::constant_time_eq(expected.expose(), digest) {
                found = Some(index);
            }
        }
        Ok(found)
    }

    /// Deletes imported material: the one `key_material_id` names, else the current one.
    /// Returns the key and the id of the material deleted (`None` if it never had any).
    pub fn delete_imported_key_material(
        &self,
        caller: &Caller,
        key: &KeyRef,
        key_material_id: Option<&str>,
    ) -> Result<(KeyRecord, Option<String>), KmsError> {
        self.external_key(
            caller,
            key,
            KeyOp::DeleteImportedKeyMaterial,
            &Facts::default(),
        )?;
        let (deleted, record) = self.modify(
            caller,
            key,
            KeyOp::DeleteImportedKeyMaterial,
            &Facts::default(),
            |r, _| {
                let version = match key_material_id {
                    None => r.meta.current_material,
                    Some(wanted) => Some(
                        r.meta
                            .imports
                            .iter()
                            .find(|i| i.key_material_id() == wanted)
                            .map(|i| i.version)
                            .ok_or_else(|| {
                                KmsError::NotFound(NotFound::KeyMaterial {
                                    arn: r.arn(),
                                    id: wanted.to_owned(),
                                })
                            })?,
                    ),
                };
                let Some(version) = version else {
                    return Ok(None);
                };
                let id = r.key_material_id(version);
                remove_material(r, version);
                Ok(Some(id))
            },
        )?;
        Ok((record, deleted))
    }
}

fn enum_index<T: PartialEq>(all: &[T], value: T) -> u8 {
    all.iter().position(|v| *v == value).unwrap_or(0) as u8
}
