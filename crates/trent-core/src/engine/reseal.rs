//! Root-key rotation: re-sealing what a key record holds under the root key.
//!
//! Owns the list of sealed values in a [`KeyRecord`] and their associated data: every material
//! version (`material_aad`) and every imported material's check (`check_aad`). The check's
//! public `KeyMaterialId` is derived from the first sealed value, so it is pinned before the
//! value changes. The store-wide sealed values (the root-key check) are re-sealed by their own
//! module (`root_check::reseal`); the backend applies all of it in one transaction.

use trent_crypto::AeadKey;

use super::import::check_aad;
use super::material_aad;
use crate::ids::KeyId;
use crate::model::KeyRecord;

/// A sealed value that did not open under the old root key.
#[derive(Debug, thiserror::Error)]
#[error("key {key}: {what} does not open under the old root key")]
pub struct ResealError {
    pub key: KeyId,
    pub what: &'static str,
}

/// Opens every value `record` holds sealed under `old` and seals it again under `new`.
pub fn reseal_key(old: &AeadKey, new: &AeadKey, record: &mut KeyRecord) -> Result<(), ResealError> {
    let id = record.id;
    let fail = |what| ResealError { key: id, what };
    for m in &mut record.materials {
        let aad = material_aad(&id, m.version);
        let plain = old.open(&aad, &m.sealed).map_err(|_| fail("material"))?;
        m.sealed = new
            .seal(&aad, plain.expose())
            .map_err(|_| fail("material"))?;
    }
    let aad = check_aad(&id);
    for import in &mut record.meta.imports {
        let sealed = hex::decode(&import.material_check).map_err(|_| fail("a material check"))?;
        let digest = old
            .open(&aad, &sealed)
            .map_err(|_| fail("a material check"))?;
        import.material_id = Some(import.key_material_id());
        import.material_check = hex::encode(
            new.seal(&aad, digest.expose())
                .map_err(|_| fail("a material check"))?,
        );
    }
    Ok(())
}
