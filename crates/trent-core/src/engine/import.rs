//! Bring-your-own-key: import parameters, importing material into an EXTERNAL key, deleting it,
//! and the expiry of material imported with a `ValidTo`.
//!
//! The import token is the wrapping private key and its terms, sealed under the root key with
//! the key id as associated data: it needs no storage, cannot be read or forged by the client,
//! and opens only for the key it was issued for.

use std::sync::Arc;

use trent_crypto::asymmetric::{self, PrivateKey};
use trent_crypto::SecretBytes;

use super::{check_state, prepare_material, Caller, Kms, LoadedKey};
use crate::error::KmsError;
use crate::ids::{KeyId, KeyRef};
use crate::model::*;
use crate::state::KeyOp;

/// How long import parameters are valid (AWS: 24 hours).
pub const IMPORT_TOKEN_LIFETIME_MS: i64 = Timestamp::DAY_MS;
/// How far ahead ValidTo may be (AWS: 365 days).
pub const MAX_VALID_TO_DAYS: u32 = 365;
/// Imported material has one version; reimporting the same material restores it, so
/// ciphertexts made before its deletion decrypt again.
const IMPORTED_VERSION: u32 = 1;

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
#[derive(Debug)]
pub struct ImportedMaterial<'a> {
    pub import_token: &'a [u8],
    pub encrypted_key_material: &'a [u8],
    /// `None`: KEY_MATERIAL_DOES_NOT_EXPIRE.
    pub valid_to: Option<Timestamp>,
}

fn token_aad(id: &KeyId) -> Vec<u8> {
    let mut aad = b"trent/import-token/v1/".to_vec();
    aad.extend_from_slice(id.as_bytes());
    aad
}

/// Whether the key's imported material has passed its ValidTo.
pub(super) fn material_expired(record: &KeyRecord, now: Timestamp) -> bool {
    record.meta.current_material.is_some()
        && record
            .meta
            .import
            .as_ref()
            .and_then(|i| i.valid_to)
            .is_some_and(|t| t <= now)
}

/// Removes a key's imported material: the key becomes PendingImport, unless it is pending
/// deletion, which it stays (both source documents say so).
pub(super) fn drop_material(record: &mut KeyRecord) {
    record.materials.clear();
    record.meta.current_material = None;
    if let Some(import) = &mut record.meta.import {
        import.expiration_model = None;
        import.valid_to = None;
    }
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

fn check_aad(id: &KeyId) -> Vec<u8> {
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

impl Kms {
    /// Loads a key for an import operation: keys that are not EXTERNAL are refused whatever
    /// their state ([9] of AWS's key-state reference), then the state table applies.
    fn external_key(
        &self,
        caller: &Caller,
        key: &KeyRef,
        op: KeyOp,
    ) -> Result<Arc<LoadedKey>, KmsError> {
        let id = self.resolve(caller, key)?;
        let loaded = self.load(&caller.scope, &id)?;
        let origin = loaded.record.meta.origin;
        if origin != Origin::External {
            return Err(KmsError::UnsupportedOperation(format!(
                "{} origin is {origin} which is not valid for this operation.",
                loaded.arn()
            )));
        }
        check_state(caller.dialect, &loaded.record, op)?;
        Ok(loaded)
    }

    pub fn get_parameters_for_import(
        &self,
        caller: &Caller,
        key: &KeyRef,
        algorithm: WrappingAlgorithm,
        wrapping_key_spec: WrappingKeySpec,
    ) -> Result<ImportParameters, KmsError> {
        let loaded = self.external_key(caller, key, KeyOp::GetParametersForImport)?;
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
        let import_token = self.root.seal(&token_aad(&loaded.record.id), &terms);
        trent_crypto::wipe(&mut terms);
        Ok(ImportParameters {
            import_token: import_token?,
            public_key,
            valid_to,
            key: loaded,
        })
    }

    /// Opens an import token for `id`: the wrapping algorithm and the wrapping private key.
    fn open_import_token(
        &self,
        id: &KeyId,
        token: &[u8],
        now: Timestamp,
    ) -> Result<(WrappingAlgorithm, SecretBytes), KmsError> {
        let terms = self
            .root
            .open(&token_aad(id), token)
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

    pub fn import_key_material(
        &self,
        caller: &Caller,
        key: &KeyRef,
        import: ImportedMaterial<'_>,
    ) -> Result<KeyRecord, KmsError> {
        let loaded = self.external_key(caller, key, KeyOp::ImportKeyMaterial)?;
        let id = loaded.record.id;
        let spec = loaded.record.meta.key_spec;
        let now = self.now();
        let (algorithm, wrapping_key) = self.open_import_token(&id, import.import_token, now)?;
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
        let sealed = self.seal_material(&id, IMPORTED_VERSION, &material)?;
        let ((), record) = self.modify(caller, key, KeyOp::ImportKeyMaterial, |r, _| {
            let material_check = match &r.meta.import {
                // Only the material imported before may be imported again.
                Some(previous) => {
                    self.require_same_material(&id, &previous.material_check, &digest)?;
                    previous.material_check.clone()
                }
                None => hex::encode(self.root.seal(&check_aad(&id), &digest)?),
            };
            r.materials = vec![sealed.clone()];
            r.meta.current_material = Some(IMPORTED_VERSION);
            r.meta.import = Some(ImportRecord {
                material_check,
                expiration_model: Some(match import.valid_to {
                    Some(_) => ExpirationModel::KeyMaterialExpires,
                    None => ExpirationModel::KeyMaterialDoesNotExpire,
                }),
                valid_to: import.valid_to,
            });
            if r.meta.state == KeyState::PendingImport {
                r.meta.state = KeyState::Enabled;
            }
            Ok(())
        })?;
        Ok(record)
    }

    fn require_same_material(
        &self,
        id: &KeyId,
        material_check: &str,
        digest: &[u8; 32],
    ) -> Result<(), KmsError> {
        let sealed = hex::decode(material_check)
            .map_err(|_| KmsError::internal("stored material check is not hex"))?;
        let expected = self.root.open(&check_aad(id), &sealed)?;
        if trent_crypto::constant_time_eq(expected.expose(), digest) {
            Ok(())
        } else {
            Err(KmsError::IncorrectKeyMaterial)
        }
    }

    pub fn delete_imported_key_material(
        &self,
        caller: &Caller,
        key: &KeyRef,
    ) -> Result<KeyRecord, KmsError> {
        self.external_key(caller, key, KeyOp::DeleteImportedKeyMaterial)?;
        let ((), record) = self.modify(caller, key, KeyOp::DeleteImportedKeyMaterial, |r, _| {
            if r.meta.current_material.is_some() {
                drop_material(r);
            }
            Ok(())
        })?;
        Ok(record)
    }
}

fn enum_index<T: PartialEq>(all: &[T], value: T) -> u8 {
    all.iter().position(|v| *v == value).unwrap_or(0) as u8
}
