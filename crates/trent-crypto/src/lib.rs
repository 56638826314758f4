//! Trent's cryptography, on one vetted library (aws-lc-rs).
//!
//! Owns: secret byte containers that zeroize on drop and never print, AES-256-GCM sealing with a
//! random nonce (for key material at rest and for ciphertext blobs), random bytes, and the
//! SHA-256/HMAC-SHA-256 primitives SigV4 needs.
//!
//! Must not: do I/O, log, or say *why* something failed. Every failure is the one opaque
//! [`CryptoError`], so no caller can build a padding or tag oracle out of it.

use std::fmt;

use aws_lc_rs::{aead, constant_time, digest, hmac, rand};
use zeroize::{Zeroize, Zeroizing};

/// The only error this crate returns. It deliberately carries no detail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CryptoError;

impl fmt::Display for CryptoError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("cryptographic operation failed")
    }
}

impl std::error::Error for CryptoError {}

/// Secret bytes (key material, plaintext data keys): zeroized on drop, redacted in `Debug`, read
/// only through [`SecretBytes::expose`].
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretBytes(Zeroizing<Vec<u8>>);

impl SecretBytes {
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// Fresh random bytes from the library's CSPRNG.
    pub fn random(len: usize) -> Result<Self, CryptoError> {
        let mut bytes = Zeroizing::new(vec![0u8; len]);
        rand::fill(&mut bytes).map_err(|_| CryptoError)?;
        Ok(Self(bytes))
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretBytes(<{} bytes redacted>)", self.0.len())
    }
}

/// Length of an AES-256 key.
pub const AES_256_KEY_LEN: usize = 32;
/// Length of the GCM nonce this crate generates.
pub const NONCE_LEN: usize = aead::NONCE_LEN;
/// Length of the GCM tag.
pub const TAG_LEN: usize = 16;

/// An AES-256-GCM key, prepared once (key schedule computed) and reused for many operations.
/// Used both for the root key and for symmetric KMS key material.
pub struct AeadKey {
    key: aead::RandomizedNonceKey,
}

impl fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AeadKey(<redacted>)")
    }
}

impl AeadKey {
    pub fn new(material: &SecretBytes) -> Result<Self, CryptoError> {
        if material.len() != AES_256_KEY_LEN {
            return Err(CryptoError);
        }
        let key = aead::RandomizedNonceKey::new(&aead::AES_256_GCM, material.expose())
            .map_err(|_| CryptoError)?;
        Ok(Self { key })
    }

    /// Encrypts `plaintext` bound to `aad`; returns `nonce || ciphertext || tag`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&[0u8; NONCE_LEN]);
        out.extend_from_slice(plaintext);
        let (head, body) = out.split_at_mut(NONCE_LEN);
        let (nonce, tag) = self
            .key
            .seal_in_place_separate_tag(aead::Aad::from(aad), body)
            .map_err(|_| CryptoError)?;
        head.copy_from_slice(nonce.as_ref());
        out.extend_from_slice(tag.as_ref());
        Ok(out)
    }

    /// Reverses [`AeadKey::seal`]. Any failure (short input, wrong key, wrong `aad`, tampering)
    /// is the same opaque error.
    pub fn open(&self, aad: &[u8], sealed: &[u8]) -> Result<SecretBytes, CryptoError> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return Err(CryptoError);
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let nonce = aead::Nonce::try_assume_unique_for_key(nonce).map_err(|_| CryptoError)?;
        let mut buf = Zeroizing::new(body.to_vec());
        let len = self
            .key
            .open_in_place(nonce, aead::Aad::from(aad), &mut buf)
            .map_err(|_| CryptoError)?
            .len();
        buf.truncate(len);
        let mut plain = Vec::new();
        std::mem::swap(&mut plain, &mut buf);
        Ok(SecretBytes::new(plain))
    }
}

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    let d = digest::digest(&digest::SHA256, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// HMAC-SHA-256 of `data` under `key`.
pub fn hmac_sha256(key: &[u8], data: &[u8]) -> [u8; 32] {
    let k = hmac::Key::new(hmac::HMAC_SHA256, key);
    let tag = hmac::sign(&k, data);
    let mut out = [0u8; 32];
    out.copy_from_slice(tag.as_ref());
    out
}

/// Compares two byte strings in time independent of where they differ.
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    #[allow(deprecated)]
    constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// Random bytes that are not secret (nonces, ids).
pub fn random_array<const N: usize>() -> Result<[u8; N], CryptoError> {
    let mut out = [0u8; N];
    rand::fill(&mut out).map_err(|_| CryptoError)?;
    Ok(out)
}

/// Wipes a buffer that held secret bytes but is not a [`SecretBytes`].
pub fn wipe(buf: &mut [u8]) {
    buf.zeroize();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_round_trip_and_aad_binding() {
        let key = AeadKey::new(&SecretBytes::random(32).unwrap()).unwrap();
        let sealed = key.seal(b"aad", b"hello").unwrap();
        assert_eq!(sealed.len(), NONCE_LEN + 5 + TAG_LEN);
        assert_eq!(key.open(b"aad", &sealed).unwrap().expose(), b"hello");
        assert_eq!(key.open(b"other", &sealed), Err(CryptoError));
        let mut tampered = sealed.clone();
        tampered[NONCE_LEN] ^= 1;
        assert_eq!(key.open(b"aad", &tampered), Err(CryptoError));
        assert_eq!(key.open(b"aad", &sealed[..10]), Err(CryptoError));
    }

    #[test]
    fn nonces_are_fresh() {
        let key = AeadKey::new(&SecretBytes::random(32).unwrap()).unwrap();
        let a = key.seal(b"", b"x").unwrap();
        let b = key.seal(b"", b"x").unwrap();
        assert_ne!(a[..NONCE_LEN], b[..NONCE_LEN]);
    }

    #[test]
    fn wrong_key_length_is_refused() {
        assert!(AeadKey::new(&SecretBytes::new(vec![0; 16])).is_err());
    }

    #[test]
    fn debug_redacts() {
        let s = SecretBytes::new(b"topsecret".to_vec());
        assert!(!format!("{s:?}").contains("topsecret"));
    }

    #[test]
    fn hmac_known_answer_rfc4231_case2() {
        let tag = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            tag.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
