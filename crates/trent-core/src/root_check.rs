//! The root-key check: proof, at startup, that the root key given is the one the store's
//! material is sealed under.
//!
//! When a store is initialised, a constant is sealed under the root key and stored
//! ([`Store::init_root_check`]). Every later start opens it before serving anything: a wrong
//! root key (another `TRENT_ROOT_KEY`, an altered `root.key`) is refused with the cause named,
//! instead of every key answering 500 and new keys being sealed under a second root key.
//! A store from before the check value is verified by opening one key's stored material, and
//! then gets its check value.
//!
//! Must not decide where the root key comes from (the server's provider does), nor reveal
//! anything about the key in its errors.

use trent_crypto::AeadKey;

use crate::engine::material_aad;
use crate::store::{Store, StoreError};
use crate::KeyId;

/// Associated data of the check value; no key material is ever sealed with it.
const AAD: &[u8] = b"trent/root-check/v1";
const PLAINTEXT: &[u8] = b"trent root key check";

/// What the check found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootCheck {
    /// The stored check value opened.
    Verified,
    /// A store without keys or check value: the check value was written now.
    Initialised,
    /// A store from before the check value: one key's material opened, and the check value
    /// was written now.
    VerifiedByMaterial,
    /// A store from before the check value whose keys hold no material to test (imported keys
    /// still waiting for it): the check value was written now, unverified.
    Unverifiable,
}

/// Why the root key was refused.
#[derive(Debug, thiserror::Error)]
pub enum RootCheckError {
    /// The stored check value does not open under this key.
    #[error("the root key is not the one this store was initialised with (its check value does not open)")]
    WrongKey,
    /// The material of an existing key does not open under this key.
    #[error("the root key is not the one this store's keys are sealed under (the material of key {0} does not open)")]
    WrongKeyForMaterial(KeyId),
    #[error("cannot read or write the root-key check value: {0}")]
    Store(#[from] StoreError),
    #[error("cannot seal the root-key check value")]
    Seal,
}

/// Whether the store already depends on a root key: it has a check value or holds keys. A
/// root key must never be created for such a store.
pub fn is_initialised(store: &dyn Store) -> Result<bool, StoreError> {
    Ok(store.root_check()?.is_some() || store.sample_key()?.is_some())
}

/// Checks `root` against the store, writing the check value where there is none yet.
pub fn verify(store: &dyn Store, root: &AeadKey) -> Result<RootCheck, RootCheckError> {
    if let Some(sealed) = store.root_check()? {
        return opens(root, &sealed)
            .then_some(RootCheck::Verified)
            .ok_or(RootCheckError::WrongKey);
    }
    let outcome = match store.sample_key()? {
        None => RootCheck::Initialised,
        Some(key) => match key.materials.first() {
            Some(m) => {
                root.open(&material_aad(&key.id, m.version), &m.sealed)
                    .map_err(|_| RootCheckError::WrongKeyForMaterial(key.id))?;
                RootCheck::VerifiedByMaterial
            }
            None => RootCheck::Unverifiable,
        },
    };
    let ours = root
        .seal(AAD, PLAINTEXT)
        .map_err(|_| RootCheckError::Seal)?;
    // Another process may have initialised the store between our read and our write: its
    // value is the one stored, and our key must open it too.
    let stored = store.init_root_check(ours)?;
    if !opens(root, &stored) {
        return Err(RootCheckError::WrongKey);
    }
    Ok(outcome)
}

/// The check value sealed under `new`, from the one stored under `old` (root-key rotation).
pub fn reseal(old: &AeadKey, new: &AeadKey, sealed: &[u8]) -> Result<Vec<u8>, RootCheckError> {
    if !opens(old, sealed) {
        return Err(RootCheckError::WrongKey);
    }
    new.seal(AAD, PLAINTEXT).map_err(|_| RootCheckError::Seal)
}

fn opens(root: &AeadKey, sealed: &[u8]) -> bool {
    root.open(AAD, sealed)
        .is_ok_and(|plain| plain.expose() == PLAINTEXT)
}
