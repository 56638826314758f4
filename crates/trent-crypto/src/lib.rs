//! Trent's cryptography, on one vetted library (aws-lc-rs).
//!
//! Owns: secret byte containers that zeroize on drop and never print, AES-256-GCM sealing with a
//! random nonce (for key material at rest and for ciphertext blobs; nonces are drawn from the
//! CSPRNG 64 at a time, per thread), random bytes, the
//! SHA-256/HMAC-SHA-256 primitives SigV4 needs, and the KMS key types: [`asymmetric`] (RSA,
//! ECDSA/ECDH, Ed25519, ML-DSA, ML-KEM, import unwrapping), [`kem`] (ML-KEM and its key
//! formats), [`mac`] (HMAC keys) and [`key_wrap`] (AES-KWP).
//!
//! Must not: do I/O, log, or say *why* something failed. Every failure is the one opaque
//! [`CryptoError`], so no caller can build a padding or tag oracle out of it.

use std::fmt;

pub mod asymmetric;
mod ffi;
pub mod kem;
pub mod key_wrap;
pub mod mac;

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
    key: aead::LessSafeKey,
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
        let key = aead::UnboundKey::new(&aead::AES_256_GCM, material.expose())
            .map_err(|_| CryptoError)?;
        Ok(Self {
            key: aead::LessSafeKey::new(key),
        })
    }

    /// Encrypts `plaintext` bound to `aad`; returns `nonce || ciphertext || tag`.
    pub fn seal(&self, aad: &[u8], plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mut out = Vec::with_capacity(NONCE_LEN + plaintext.len() + TAG_LEN);
        out.extend_from_slice(&[0u8; NONCE_LEN]);
        out.extend_from_slice(plaintext);
        let (head, body) = out.split_at_mut(NONCE_LEN);
        let nonce = random_nonce()?;
        head.copy_from_slice(&nonce);
        let tag = self
            .key
            .seal_in_place_separate_tag(
                aead::Nonce::assume_unique_for_key(nonce),
                aead::Aad::from(aad),
                body,
            )
            .map_err(|_| CryptoError)?;
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

/// Nonces drawn from the CSPRNG in one call, per thread: enough to make the draw's cost
/// negligible (a 64th of a `RAND_bytes` call a seal), few enough to bound what a copy of a
/// running process could repeat (see [`NONCES`]).
const NONCES_PER_DRAW: usize = 64;
const POOL_BYTES: usize = NONCE_LEN * NONCES_PER_DRAW;

thread_local! {
    /// Random bytes drawn ahead for GCM nonces, and how many of them are used. A nonce is not
    /// secret (it is sent with the ciphertext) and only has to be unique, which 96 random bits
    /// from the CSPRNG are whether they are drawn one at a time or a few hundred bytes at once;
    /// a `RAND_bytes` call per nonce (aws-lc mixes in CPU entropy on every call) was 2.7 % of an
    /// Encrypt's CPU.
    ///
    /// What drawing ahead gives up: aws-lc's per-call entropy would make two copies of one
    /// running process (a VM snapshot restored twice, a CRIU checkpoint) draw different nonces;
    /// these pools would hand both copies the same ones (at most 63 a thread), and a repeated
    /// GCM nonce under one key exposes the key's authentication subkey. Trent never forks, and
    /// a running server must not be cloned (DESIGN.md, "Nonces").
    static NONCES: std::cell::RefCell<([u8; POOL_BYTES], usize)> =
        const { std::cell::RefCell::new(([0; POOL_BYTES], POOL_BYTES)) };
}

/// A fresh random 96-bit GCM nonce. Each is handed out once.
fn random_nonce() -> Result<[u8; NONCE_LEN], CryptoError> {
    NONCES.with(|pool| {
        let (bytes, used) = &mut *pool.borrow_mut();
        if *used == bytes.len() {
            rand::fill(bytes).map_err(|_| CryptoError)?;
            *used = 0;
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&bytes[*used..*used + NONCE_LEN]);
        *used += NONCE_LEN;
        Ok(nonce)
    })
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

/// HMAC-SHA-1 of `data` under `key`. Only for verifying Alibaba Cloud's RPC signatures
/// (SignatureMethod HMAC-SHA1), which its legacy SDKs still send; never for anything new.
pub fn hmac_sha1(key: &[u8], data: &[u8]) -> [u8; 20] {
    let k = hmac::Key::new(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, key);
    let tag = hmac::sign(&k, data);
    let mut out = [0u8; 20];
    out.copy_from_slice(tag.as_ref());
    out
}

/// RSA-OAEP encryption to someone else's RSA public key (DER SubjectPublicKeyInfo) whose modulus
/// is `modulus_len` bytes: how Alibaba's GenerateAndExportDataKey and ExportDataKey hand a data
/// key to the holder of that key. (Belongs beside `PrivateKey::encrypt_oaep` in `asymmetric`.)
pub fn encrypt_oaep_to(
    spki: &[u8],
    modulus_len: usize,
    hash: asymmetric::OaepHash,
    plaintext: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    use aws_lc_rs::rsa::{
        OaepPublicEncryptingKey, PublicEncryptingKey, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256,
    };
    let key = PublicEncryptingKey::from_der(spki).map_err(|_| CryptoError)?;
    if key.key_size_bytes() != modulus_len {
        return Err(CryptoError);
    }
    let key = OaepPublicEncryptingKey::new(key).map_err(|_| CryptoError)?;
    let algorithm = match hash {
        asymmetric::OaepHash::Sha1 => &OAEP_SHA1_MGF1SHA1,
        asymmetric::OaepHash::Sha256 => &OAEP_SHA256_MGF1SHA256,
    };
    let mut out = vec![0u8; key.ciphertext_size()];
    let len = key
        .encrypt(algorithm, plaintext, &mut out, None)
        .map_err(|_| CryptoError)?
        .len();
    out.truncate(len);
    Ok(out)
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

    /// Across several draws of the per-thread pool, and on several threads at once, no nonce
    /// repeats and none is all zeros (a pool handed out before it was filled).
    #[test]
    fn nonces_never_repeat_across_draws_and_threads() {
        let key = std::sync::Arc::new(AeadKey::new(&SecretBytes::random(32).unwrap()).unwrap());
        let per_thread = NONCES_PER_DRAW * 5 + 7;
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let key = key.clone();
                std::thread::spawn(move || {
                    (0..per_thread)
                        .map(|_| {
                            let sealed = key.seal(b"", b"x").unwrap();
                            let nonce: [u8; NONCE_LEN] = sealed[..NONCE_LEN].try_into().unwrap();
                            assert_eq!(key.open(b"", &sealed).unwrap().expose(), b"x");
                            nonce
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let mut seen = std::collections::HashSet::new();
        for t in threads {
            for nonce in t.join().unwrap() {
                assert_ne!(nonce, [0; NONCE_LEN]);
                assert!(seen.insert(nonce), "a nonce repeated");
            }
        }
        assert_eq!(seen.len(), 4 * per_thread);
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
    fn oaep_to_a_public_key_opens_with_its_private_key() {
        use asymmetric::{generate_private_key, KeyPairSpec, OaepHash, PrivateKey};
        let pkcs8 = generate_private_key(KeyPairSpec::Rsa2048).unwrap();
        let key = PrivateKey::from_pkcs8(KeyPairSpec::Rsa2048, pkcs8.expose()).unwrap();
        for hash in [OaepHash::Sha1, OaepHash::Sha256] {
            let sealed = encrypt_oaep_to(key.public_key_der(), 256, hash, b"data key").unwrap();
            assert_eq!(
                key.decrypt_oaep(hash, &sealed).unwrap().expose(),
                b"data key"
            );
        }
        assert!(encrypt_oaep_to(key.public_key_der(), 384, OaepHash::Sha256, b"x").is_err());
        assert!(encrypt_oaep_to(b"not a key", 256, OaepHash::Sha256, b"x").is_err());
    }

    #[test]
    fn hmac_sha1_known_answer_rfc2202_case2() {
        let tag = hmac_sha1(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            tag.iter().map(|b| format!("{b:02x}")).collect::<String>(),
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"
        );
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
