//! Asymmetric private keys (RSA, ECDSA/ECDH on the NIST curves and secp256k1, Ed25519, ML-DSA,
//! ML-KEM): generated and parsed as PKCS#8, public keys exported as DER SubjectPublicKeyInfo,
//! signing (message or pre-computed digest), RSA-OAEP, ECDH and ML-KEM encapsulation (in
//! [`crate::kem`]).
//!
//! The caller (the engine) decides which scheme fits which key; a scheme that does not fit is
//! refused here too, with the same opaque error as every other failure.

use std::fmt;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{
    self, OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey,
    OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256,
};
use aws_lc_rs::signature::{
    self, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, PqdsaKeyPair, UnparsedPublicKey,
};
use aws_lc_rs::{agreement, digest};

use crate::kem::{self, KemKeyPair, MlKem};
use crate::{ffi, CryptoError, SecretBytes};

/// The kinds of key pair Trent holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPairSpec {
    Rsa2048,
    Rsa3072,
    Rsa4096,
    EccP256,
    EccP384,
    EccP521,
    EccSecp256k1,
    Ed25519,
    MlDsa44,
    MlDsa65,
    MlDsa87,
    MlKem512,
    MlKem768,
    MlKem1024,
}

/// Length of the μ an ML-DSA key signs as a [`Signed::Digest`].
pub const ML_DSA_MU_LEN: usize = ffi::ML_DSA_MU_LEN;

/// A SHA-2 digest as used by a signature scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    pub fn output_len(self) -> usize {
        self.algorithm().output_len()
    }

    fn algorithm(self) -> &'static digest::Algorithm {
        match self {
            Hash::Sha256 => &digest::SHA256,
            Hash::Sha384 => &digest::SHA384,
            Hash::Sha512 => &digest::SHA512,
        }
    }
}

/// A signature scheme. ECDSA signatures are DER-encoded (as AWS KMS returns them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureScheme {
    RsaPss(Hash),
    RsaPkcs1(Hash),
    Ecdsa(Hash),
    /// PureEdDSA on edwards25519 (RFC 8032 §5.1): signs the message itself, never a digest.
    Ed25519,
    /// HashEdDSA on edwards25519 (RFC 8032 §5.1 with phflag 1), empty context: signs SHA-512
    /// of the message.
    Ed25519ph,
    /// Pure ML-DSA (FIPS 204) with an empty context string.
    MlDsa,
}

/// What is signed: the message itself, or its digest computed by the caller: the scheme's hash
/// of the message; for Ed25519ph, the 64-byte SHA-512 prehash PH(M); for ML-DSA, the 64-byte
/// message representative μ of FIPS 204 §6.2 ("external μ", for an empty context).
#[derive(Debug, Clone, Copy)]
pub enum Signed<'a> {
    Message(&'a [u8]),
    Digest(&'a [u8]),
}

/// The hash of RSA-OAEP (the MGF1 hash is the same).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OaepHash {
    Sha1,
    Sha256,
}

impl OaepHash {
    fn algorithm(self) -> &'static rsa::OaepAlgorithm {
        match self {
            OaepHash::Sha1 => &OAEP_SHA1_MGF1SHA1,
            OaepHash::Sha256 => &OAEP_SHA256_MGF1SHA256,
        }
    }

    fn output_len(self) -> usize {
        match self {
            OaepHash::Sha1 => 20,
            OaepHash::Sha256 => 32,
        }
    }
}

/// The largest plaintext RSA-OAEP can encrypt under a key of `modulus_len` bytes (RFC 8017
/// §7.1.1: k − 2·hLen − 2).
pub fn oaep_max_plaintext(modulus_len: usize, hash: OaepHash) -> usize {
    modulus_len.saturating_sub(2 * hash.output_len() + 2)
}

impl KeyPairSpec {
    fn rsa_size(self) -> Option<rsa::KeySize> {
        match self {
            KeyPairSpec::Rsa2048 => Some(rsa::KeySize::Rsa2048),
            KeyPairSpec::Rsa3072 => Some(rsa::KeySize::Rsa3072),
            KeyPairSpec::Rsa4096 => Some(rsa::KeySize::Rsa4096),
            _ => None,
        }
    }

    /// The modulus length in bytes of an RSA spec.
    pub fn rsa_modulus_len(self) -> Option<usize> {
        self.rsa_size().map(|s| s.len())
    }

    fn ecdsa(self) -> Option<(&'static signature::EcdsaSigningAlgorithm, Hash)> {
        match self {
            KeyPairSpec::EccP256 => {
                Some((&signature::ECDSA_P256_SHA256_ASN1_SIGNING, Hash::Sha256))
            }
            KeyPairSpec::EccP384 => {
                Some((&signature::ECDSA_P384_SHA384_ASN1_SIGNING, Hash::Sha384))
            }
            KeyPairSpec::EccP521 => {
                Some((&signature::ECDSA_P521_SHA512_ASN1_SIGNING, Hash::Sha512))
            }
            KeyPairSpec::EccSecp256k1 => {
                Some((&signature::ECDSA_P256K1_SHA256_ASN1_SIGNING, Hash::Sha256))
            }
            _ => None,
        }
    }

    fn ecdh(self) -> Option<&'static agreement::Algorithm> {
        match self {
            KeyPairSpec::EccP256 => Some(&agreement::ECDH_P256),
            KeyPairSpec::EccP384 => Some(&agreement::ECDH_P384),
            KeyPairSpec::EccP521 => Some(&agreement::ECDH_P521),
            _ => None,
        }
    }

    fn ml_kem(self) -> Option<MlKem> {
        match self {
            KeyPairSpec::MlKem512 => Some(MlKem::MlKem512),
            KeyPairSpec::MlKem768 => Some(MlKem::MlKem768),
            KeyPairSpec::MlKem1024 => Some(MlKem::MlKem1024),
            _ => None,
        }
    }

    fn ml_dsa(self) -> Option<&'static signature::PqdsaSigningAlgorithm> {
        match self {
            KeyPairSpec::MlDsa44 => Some(&signature::ML_DSA_44_SIGNING),
            KeyPairSpec::MlDsa65 => Some(&signature::ML_DSA_65_SIGNING),
            KeyPairSpec::MlDsa87 => Some(&signature::ML_DSA_87_SIGNING),
            _ => None,
        }
    }
}

fn secret(der: &[u8]) -> SecretBytes {
    SecretBytes::new(der.to_vec())
}

/// A fresh private key of `spec`, as PKCS#8 DER.
pub fn generate_private_key(spec: KeyPairSpec) -> Result<SecretBytes, CryptoError> {
    if let Some(size) = spec.rsa_size() {
        let pair = rsa::KeyPair::generate(size).map_err(|_| CryptoError)?;
        let der = pair.as_der().map_err(|_| CryptoError)?;
        return Ok(secret(der.as_ref()));
    }
    if let Some((alg, _)) = spec.ecdsa() {
        let pair = EcdsaKeyPair::generate(alg).map_err(|_| CryptoError)?;
        return Ok(secret(pair.to_pkcs8v1().map_err(|_| CryptoError)?.as_ref()));
    }
    if spec == KeyPairSpec::Ed25519 {
        let pair = Ed25519KeyPair::generate().map_err(|_| CryptoError)?;
        return Ok(secret(pair.to_pkcs8v1().map_err(|_| CryptoError)?.as_ref()));
    }
    if let Some(params) = spec.ml_kem() {
        return kem::generate_pkcs8(params);
    }
    let alg = spec.ml_dsa().ok_or(CryptoError)?;
    let pair = PqdsaKeyPair::generate(alg).map_err(|_| CryptoError)?;
    Ok(secret(pair.to_pkcs8v1().map_err(|_| CryptoError)?.as_ref()))
}

enum Inner {
    Rsa {
        signer: rsa::KeyPair,
        decrypter: OaepPrivateDecryptingKey,
        encrypter: OaepPublicEncryptingKey,
    },
    Ec {
        signer: EcdsaKeyPair,
        hash: Hash,
        /// Present for the curves ECDH is offered on.
        agreement: Option<agreement::PrivateKey>,
    },
    Ed25519(Ed25519KeyPair),
    MlDsa(PqdsaKeyPair),
    MlKem(KemKeyPair),
}

/// A parsed private key, ready to sign, decrypt or agree. The library cleanses its key
/// structures when dropped.
pub struct PrivateKey {
    spec: KeyPairSpec,
    inner: Inner,
    public_der: Vec<u8>,
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PrivateKey({:?}, <redacted>)", self.spec)
    }
}

impl PrivateKey {
    /// Parses PKCS#8 DER and checks it is a key of exactly `spec` (curve, modulus size).
    pub fn from_pkcs8(spec: KeyPairSpec, pkcs8: &[u8]) -> Result<Self, CryptoError> {
        let inner = if let Some(size) = spec.rsa_size() {
            let signer = rsa::KeyPair::from_pkcs8(pkcs8).map_err(|_| CryptoError)?;
            if signer.public_modulus_len() != size.len() {
                return Err(CryptoError);
            }
            let private = PrivateDecryptingKey::from_pkcs8(pkcs8).map_err(|_| CryptoError)?;
            let encrypter =
                OaepPublicEncryptingKey::new(private.public_key()).map_err(|_| CryptoError)?;
            let decrypter = OaepPrivateDecryptingKey::new(private).map_err(|_| CryptoError)?;
            Inner::Rsa {
                signer,
                decrypter,
                encrypter,
            }
        } else if let Some((alg, hash)) = spec.ecdsa() {
            let signer = EcdsaKeyPair::from_pkcs8(alg, pkcs8).map_err(|_| CryptoError)?;
            let agreement = spec
                .ecdh()
                .map(|alg| agreement::PrivateKey::from_private_key_der(alg, pkcs8))
                .transpose()
                .map_err(|_| CryptoError)?;
            Inner::Ec {
                signer,
                hash,
                agreement,
            }
        } else if spec == KeyPairSpec::Ed25519 {
            Inner::Ed25519(Ed25519KeyPair::from_pkcs8(pkcs8).map_err(|_| CryptoError)?)
        } else if let Some(params) = spec.ml_kem() {
            Inner::MlKem(KemKeyPair::from_pkcs8(params, pkcs8)?)
        } else {
            let alg = spec.ml_dsa().ok_or(CryptoError)?;
            Inner::MlDsa(PqdsaKeyPair::from_pkcs8(alg, pkcs8).map_err(|_| CryptoError)?)
        };
        let public_der = match &inner {
            Inner::Rsa { signer, .. } => signer.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Inner::Ec { signer, .. } => signer.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Inner::Ed25519(pair) => pair.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Inner::MlDsa(pair) => pair.public_key().as_der().map(|d| d.as_ref().to_vec()),
            Inner::MlKem(pair) => Ok(pair.public_key_der().to_vec()),
        }
        .map_err(|_| CryptoError)?;
        Ok(Self {
            spec,
            inner,
            public_der,
        })
    }

    pub fn spec(&self) -> KeyPairSpec {
        self.spec
    }

    /// The public key as DER SubjectPublicKeyInfo.
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_der
    }

    pub fn sign(
        &self,
        scheme: SignatureScheme,
        signed: Signed<'_>,
    ) -> Result<Vec<u8>, CryptoError> {
        match (&self.inner, scheme) {
            (
                Inner::Rsa { signer, .. },
                SignatureScheme::RsaPss(h) | SignatureScheme::RsaPkcs1(h),
            ) => {
                let encoding = rsa_encoding(scheme, h);
                let mut sig = vec![0u8; signer.public_modulus_len()];
                match signed {
                    Signed::Message(m) => signer
                        .sign(encoding, &aws_lc_rs::rand::SystemRandom::new(), m, &mut sig)
                        .map_err(|_| CryptoError)?,
                    Signed::Digest(d) => signer
                        .sign_digest(encoding, &import_digest(h, d)?, &mut sig)
                        .map_err(|_| CryptoError)?,
                }
                Ok(sig)
            }
            (Inner::Ec { signer, hash, .. }, SignatureScheme::Ecdsa(h)) if *hash == h => {
                let sig = match signed {
                    Signed::Message(m) => signer.sign(&aws_lc_rs::rand::SystemRandom::new(), m),
                    Signed::Digest(d) => signer.sign_digest(&import_digest(h, d)?),
                }
                .map_err(|_| CryptoError)?;
                Ok(sig.as_ref().to_vec())
            }
            (Inner::Ed25519(pair), SignatureScheme::Ed25519) => match signed {
                Signed::Message(m) => {
                    Ok(pair.try_sign(m).map_err(|_| CryptoError)?.as_ref().to_vec())
                }
                Signed::Digest(_) => Err(CryptoError),
            },
            // The library's safe API has neither Ed25519ph nor external μ: both go through
            // `ffi`, which takes the key as PKCS#8 (a zeroized-on-drop document).
            (Inner::Ed25519(pair), SignatureScheme::Ed25519ph) => {
                let prehash = ed25519_prehash(signed)?;
                let pkcs8 = pair.to_pkcs8v1().map_err(|_| CryptoError)?;
                ffi::ed25519ph_sign(pkcs8.as_ref(), &prehash)
            }
            (Inner::MlDsa(pair), SignatureScheme::MlDsa) => match signed {
                Signed::Message(m) => {
                    let mut sig = vec![0u8; pair.algorithm().signature_len()];
                    let len = pair.sign(m, &mut sig).map_err(|_| CryptoError)?;
                    sig.truncate(len);
                    Ok(sig)
                }
                Signed::Digest(mu) => {
                    let pkcs8 = pair.to_pkcs8v1().map_err(|_| CryptoError)?;
                    ffi::ml_dsa_sign_mu(pkcs8.as_ref(), mu)
                }
            },
            _ => Err(CryptoError),
        }
    }

    /// Whether `sig` is a valid signature by this key.
    pub fn verify(&self, scheme: SignatureScheme, signed: Signed<'_>, sig: &[u8]) -> bool {
        match (&self.inner, scheme, signed) {
            (Inner::Ed25519(pair), SignatureScheme::Ed25519ph, _) => ed25519_prehash(signed)
                .is_ok_and(|prehash| {
                    ffi::ed25519ph_verify(pair.public_key().as_ref(), &prehash, sig)
                }),
            (Inner::MlDsa(_), SignatureScheme::MlDsa, Signed::Digest(mu)) => {
                ffi::ml_dsa_verify_mu(&self.public_der, mu, sig)
            }
            _ => self.verify_with_library(scheme, signed, sig),
        }
    }

    /// Verification through the library's safe API.
    fn verify_with_library(&self, scheme: SignatureScheme, signed: Signed<'_>, sig: &[u8]) -> bool {
        let (alg, key): (&'static dyn signature::VerificationAlgorithm, &[u8]) =
            match (&self.inner, scheme) {
                (Inner::Rsa { signer, .. }, _) => match rsa_verification(scheme) {
                    Some(alg) => (alg, signer.public_key().as_ref()),
                    None => return false,
                },
                (Inner::Ec { signer, hash, .. }, SignatureScheme::Ecdsa(h)) if *hash == h => {
                    (ecdsa_verification(self.spec), signer.public_key().as_ref())
                }
                (Inner::Ed25519(pair), SignatureScheme::Ed25519) => {
                    (&signature::ED25519, pair.public_key().as_ref())
                }
                (Inner::MlDsa(pair), SignatureScheme::MlDsa) => {
                    (ml_dsa_verification(self.spec), pair.public_key().as_ref())
                }
                _ => return false,
            };
        let key = UnparsedPublicKey::new(alg, key);
        match signed {
            Signed::Message(m) => key.verify(m, sig).is_ok(),
            Signed::Digest(d) => match scheme_hash(scheme).map(|h| import_digest(h, d)) {
                Some(Ok(digest)) => key.verify_digest(&digest, sig).is_ok(),
                _ => false,
            },
        }
    }

    /// RSA-OAEP encryption to this key's public half.
    pub fn encrypt_oaep(&self, hash: OaepHash, plaintext: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let Inner::Rsa { encrypter, .. } = &self.inner else {
            return Err(CryptoError);
        };
        let mut out = vec![0u8; encrypter.ciphertext_size()];
        let len = encrypter
            .encrypt(hash.algorithm(), plaintext, &mut out, None)
            .map_err(|_| CryptoError)?
            .len();
        out.truncate(len);
        Ok(out)
    }

    pub fn decrypt_oaep(
        &self,
        hash: OaepHash,
        ciphertext: &[u8],
    ) -> Result<SecretBytes, CryptoError> {
        let Inner::Rsa { decrypter, .. } = &self.inner else {
            return Err(CryptoError);
        };
        oaep_decrypt(decrypter, hash, ciphertext)
    }

    /// ML-KEM: a fresh shared secret and its ciphertext under this key's public half.
    pub fn encapsulate(&self) -> Result<(Vec<u8>, SecretBytes), CryptoError> {
        let Inner::MlKem(pair) = &self.inner else {
            return Err(CryptoError);
        };
        pair.encapsulate()
    }

    /// ML-KEM: the shared secret of `ciphertext`; fails only for a ciphertext of the wrong length
    /// (see [`KemKeyPair::decapsulate`]).
    pub fn decapsulate(&self, ciphertext: &[u8]) -> Result<SecretBytes, CryptoError> {
        let Inner::MlKem(pair) = &self.inner else {
            return Err(CryptoError);
        };
        pair.decapsulate(ciphertext)
    }

    /// ECDH with a peer public key given as DER SubjectPublicKeyInfo on the same curve; the raw
    /// shared secret (the x-coordinate), as AWS KMS returns it.
    pub fn agree(&self, peer_spki: &[u8]) -> Result<SecretBytes, CryptoError> {
        let Inner::Ec {
            agreement: Some(private),
            ..
        } = &self.inner
        else {
            return Err(CryptoError);
        };
        let peer = agreement::UnparsedPublicKey::new(private.algorithm(), peer_spki);
        agreement::agree(private, peer, CryptoError, |secret| {
            Ok(SecretBytes::new(secret.to_vec()))
        })
    }
}

fn oaep_decrypt(
    decrypter: &OaepPrivateDecryptingKey,
    hash: OaepHash,
    ciphertext: &[u8],
) -> Result<SecretBytes, CryptoError> {
    let mut out = zeroize::Zeroizing::new(vec![0u8; decrypter.min_output_size()]);
    let len = decrypter
        .decrypt(hash.algorithm(), ciphertext, &mut out, None)
        .map_err(|_| CryptoError)?
        .len();
    Ok(SecretBytes::new(out[..len].to_vec()))
}

/// PH(M) of Ed25519ph: SHA-512 of the message, or the caller's 64-byte digest as it is.
fn ed25519_prehash(signed: Signed<'_>) -> Result<[u8; ffi::SHA512_LEN], CryptoError> {
    match signed {
        Signed::Message(m) => digest::digest(&digest::SHA512, m).as_ref().try_into(),
        Signed::Digest(d) => d.try_into(),
    }
    .map_err(|_| CryptoError)
}

fn import_digest(hash: Hash, bytes: &[u8]) -> Result<digest::Digest, CryptoError> {
    digest::Digest::import_less_safe(bytes, hash.algorithm()).map_err(|_| CryptoError)
}

fn scheme_hash(scheme: SignatureScheme) -> Option<Hash> {
    match scheme {
        SignatureScheme::RsaPss(h) | SignatureScheme::RsaPkcs1(h) | SignatureScheme::Ecdsa(h) => {
            Some(h)
        }
        SignatureScheme::Ed25519 | SignatureScheme::Ed25519ph | SignatureScheme::MlDsa => None,
    }
}

fn rsa_encoding(scheme: SignatureScheme, hash: Hash) -> &'static dyn signature::RsaEncoding {
    match (scheme, hash) {
        (SignatureScheme::RsaPss(_), Hash::Sha256) => &signature::RSA_PSS_SHA256,
        (SignatureScheme::RsaPss(_), Hash::Sha384) => &signature::RSA_PSS_SHA384,
        (SignatureScheme::RsaPss(_), Hash::Sha512) => &signature::RSA_PSS_SHA512,
        (_, Hash::Sha256) => &signature::RSA_PKCS1_SHA256,
        (_, Hash::Sha384) => &signature::RSA_PKCS1_SHA384,
        (_, Hash::Sha512) => &signature::RSA_PKCS1_SHA512,
    }
}

fn rsa_verification(
    scheme: SignatureScheme,
) -> Option<&'static dyn signature::VerificationAlgorithm> {
    Some(match scheme {
        SignatureScheme::RsaPss(Hash::Sha256) => &signature::RSA_PSS_2048_8192_SHA256,
        SignatureScheme::RsaPss(Hash::Sha384) => &signature::RSA_PSS_2048_8192_SHA384,
        SignatureScheme::RsaPss(Hash::Sha512) => &signature::RSA_PSS_2048_8192_SHA512,
        SignatureScheme::RsaPkcs1(Hash::Sha256) => &signature::RSA_PKCS1_2048_8192_SHA256,
        SignatureScheme::RsaPkcs1(Hash::Sha384) => &signature::RSA_PKCS1_2048_8192_SHA384,
        SignatureScheme::RsaPkcs1(Hash::Sha512) => &signature::RSA_PKCS1_2048_8192_SHA512,
        _ => return None,
    })
}

fn ecdsa_verification(spec: KeyPairSpec) -> &'static dyn signature::VerificationAlgorithm {
    match spec {
        KeyPairSpec::EccP384 => &signature::ECDSA_P384_SHA384_ASN1,
        KeyPairSpec::EccP521 => &signature::ECDSA_P521_SHA512_ASN1,
        KeyPairSpec::EccSecp256k1 => &signature::ECDSA_P256K1_SHA256_ASN1,
        _ => &signature::ECDSA_P256_SHA256_ASN1,
    }
}

fn ml_dsa_verification(spec: KeyPairSpec) -> &'static dyn signature::VerificationAlgorithm {
    match spec {
        KeyPairSpec::MlDsa65 => &signature::ML_DSA_65,
        KeyPairSpec::MlDsa87 => &signature::ML_DSA_87,
        _ => &signature::ML_DSA_44,
    }
}

/// An RSA key pair used only to receive imported key material (GetParametersForImport): its
/// PKCS#8 stays sealed in the import token, its public key goes to the client.
pub fn generate_wrapping_key(spec: KeyPairSpec) -> Result<(SecretBytes, Vec<u8>), CryptoError> {
    let size = spec.rsa_size().ok_or(CryptoError)?;
    let key = PrivateDecryptingKey::generate(size).map_err(|_| CryptoError)?;
    let pkcs8 = secret(key.as_der().map_err(|_| CryptoError)?.as_ref());
    let public = key
        .public_key()
        .as_der()
        .map_err(|_| CryptoError)?
        .as_ref()
        .to_vec();
    Ok((pkcs8, public))
}

/// How imported key material was wrapped by the client (AWS's `WrappingAlgorithm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportWrapping {
    /// The material itself, RSA-OAEP encrypted.
    Oaep(OaepHash),
    /// A fresh AES-256 key, RSA-OAEP encrypted, followed by the material wrapped under that key
    /// with AES key wrap with padding (RFC 5649). Needed for material too long for OAEP.
    RsaAesKeyWrap(OaepHash),
}

/// Unwraps imported key material with the wrapping key's PKCS#8.
pub fn unwrap_imported(
    wrapping_pkcs8: &[u8],
    wrapping: ImportWrapping,
    wrapped: &[u8],
) -> Result<SecretBytes, CryptoError> {
    let decrypter = OaepPrivateDecryptingKey::new(
        PrivateDecryptingKey::from_pkcs8(wrapping_pkcs8).map_err(|_| CryptoError)?,
    )
    .map_err(|_| CryptoError)?;
    match wrapping {
        ImportWrapping::Oaep(hash) => oaep_decrypt(&decrypter, hash, wrapped),
        ImportWrapping::RsaAesKeyWrap(hash) => {
            let split = decrypter.key_size_bytes();
            if wrapped.len() <= split {
                return Err(CryptoError);
            }
            let (rsa_part, kwp_part) = wrapped.split_at(split);
            let aes = oaep_decrypt(&decrypter, hash, rsa_part)?;
            crate::key_wrap::unwrap_with_padding(&aes, kwp_part)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [KeyPairSpec; 11] = [
        KeyPairSpec::Rsa2048,
        KeyPairSpec::Rsa3072,
        KeyPairSpec::Rsa4096,
        KeyPairSpec::EccP256,
        KeyPairSpec::EccP384,
        KeyPairSpec::EccP521,
        KeyPairSpec::EccSecp256k1,
        KeyPairSpec::Ed25519,
        KeyPairSpec::MlDsa44,
        KeyPairSpec::MlDsa65,
        KeyPairSpec::MlDsa87,
    ];

    fn scheme_for(spec: KeyPairSpec) -> SignatureScheme {
        match spec {
            KeyPairSpec::EccP256 | KeyPairSpec::EccSecp256k1 => {
                SignatureScheme::Ecdsa(Hash::Sha256)
            }
            KeyPairSpec::EccP384 => SignatureScheme::Ecdsa(Hash::Sha384),
            KeyPairSpec::EccP521 => SignatureScheme::Ecdsa(Hash::Sha512),
            KeyPairSpec::Ed25519 => SignatureScheme::Ed25519,
            KeyPairSpec::MlDsa44 | KeyPairSpec::MlDsa65 | KeyPairSpec::MlDsa87 => {
                SignatureScheme::MlDsa
            }
            _ => SignatureScheme::RsaPss(Hash::Sha256),
        }
    }

    #[test]
    fn every_spec_generates_parses_signs_and_verifies() {
        for spec in ALL {
            let pkcs8 = generate_private_key(spec).unwrap();
            let key = PrivateKey::from_pkcs8(spec, pkcs8.expose()).unwrap();
            assert!(!key.public_key_der().is_empty());
            let scheme = scheme_for(spec);
            let sig = key.sign(scheme, Signed::Message(b"hello")).unwrap();
            assert!(
                key.verify(scheme, Signed::Message(b"hello"), &sig),
                "{spec:?}"
            );
            assert!(
                !key.verify(scheme, Signed::Message(b"hellO"), &sig),
                "{spec:?}"
            );
        }
    }

    #[test]
    fn ml_kem_specs_encapsulate_and_do_nothing_else() {
        for spec in [
            KeyPairSpec::MlKem512,
            KeyPairSpec::MlKem768,
            KeyPairSpec::MlKem1024,
        ] {
            let pkcs8 = generate_private_key(spec).unwrap();
            let key = PrivateKey::from_pkcs8(spec, pkcs8.expose()).unwrap();
            let (ciphertext, secret) = key.encapsulate().unwrap();
            assert_eq!(key.decapsulate(&ciphertext).unwrap(), secret);
            assert!(key
                .sign(SignatureScheme::MlDsa, Signed::Message(b"m"))
                .is_err());
            assert!(key.encrypt_oaep(OaepHash::Sha256, b"m").is_err());
            assert!(key.agree(key.public_key_der()).is_err());
        }
        // Other keys do not encapsulate, and an ML-KEM key is not an ML-DSA key.
        let p256 = generate_private_key(KeyPairSpec::EccP256).unwrap();
        let p256 = PrivateKey::from_pkcs8(KeyPairSpec::EccP256, p256.expose()).unwrap();
        assert!(p256.encapsulate().is_err());
        assert!(p256.decapsulate(&[0u8; 1088]).is_err());
        let kem = generate_private_key(KeyPairSpec::MlKem768).unwrap();
        assert!(PrivateKey::from_pkcs8(KeyPairSpec::MlDsa65, kem.expose()).is_err());
        let dsa = generate_private_key(KeyPairSpec::MlDsa65).unwrap();
        assert!(PrivateKey::from_pkcs8(KeyPairSpec::MlKem768, dsa.expose()).is_err());
    }

    #[test]
    fn a_key_of_another_spec_is_refused() {
        let p256 = generate_private_key(KeyPairSpec::EccP256).unwrap();
        assert!(PrivateKey::from_pkcs8(KeyPairSpec::EccP384, p256.expose()).is_err());
        let rsa = generate_private_key(KeyPairSpec::Rsa2048).unwrap();
        assert!(PrivateKey::from_pkcs8(KeyPairSpec::Rsa3072, rsa.expose()).is_err());
        assert!(PrivateKey::from_pkcs8(KeyPairSpec::EccP256, rsa.expose()).is_err());
    }

    #[test]
    fn digest_signatures_match_message_signatures() {
        let pkcs8 = generate_private_key(KeyPairSpec::EccP256).unwrap();
        let key = PrivateKey::from_pkcs8(KeyPairSpec::EccP256, pkcs8.expose()).unwrap();
        let scheme = SignatureScheme::Ecdsa(Hash::Sha256);
        let digest = crate::sha256(b"message");
        let sig = key.sign(scheme, Signed::Digest(&digest)).unwrap();
        assert!(key.verify(scheme, Signed::Message(b"message"), &sig));
        assert!(key.verify(scheme, Signed::Digest(&digest), &sig));
        assert!(!key.verify(scheme, Signed::Digest(&[0u8; 32]), &sig));
        assert!(key.sign(scheme, Signed::Digest(&digest[..31])).is_err());
        // The curve fixes the hash.
        assert!(key
            .sign(SignatureScheme::Ecdsa(Hash::Sha384), Signed::Message(b"m"))
            .is_err());
    }

    #[test]
    fn rsa_digest_signatures_verify_both_ways() {
        let pkcs8 = generate_private_key(KeyPairSpec::Rsa2048).unwrap();
        let key = PrivateKey::from_pkcs8(KeyPairSpec::Rsa2048, pkcs8.expose()).unwrap();
        let digest = crate::sha256(b"message");
        for scheme in [
            SignatureScheme::RsaPss(Hash::Sha256),
            SignatureScheme::RsaPkcs1(Hash::Sha256),
        ] {
            let sig = key.sign(scheme, Signed::Digest(&digest)).unwrap();
            assert!(key.verify(scheme, Signed::Message(b"message"), &sig));
            assert!(key.verify(scheme, Signed::Digest(&digest), &sig));
            // A PSS signature is not a PKCS#1 v1.5 one and vice versa.
            let other = match scheme {
                SignatureScheme::RsaPss(h) => SignatureScheme::RsaPkcs1(h),
                _ => SignatureScheme::RsaPss(Hash::Sha256),
            };
            assert!(!key.verify(other, Signed::Message(b"message"), &sig));
        }
    }

    #[test]
    fn oaep_round_trip_and_limits() {
        let pkcs8 = generate_private_key(KeyPairSpec::Rsa2048).unwrap();
        let key = PrivateKey::from_pkcs8(KeyPairSpec::Rsa2048, pkcs8.expose()).unwrap();
        for hash in [OaepHash::Sha1, OaepHash::Sha256] {
            let max = oaep_max_plaintext(256, hash);
            let ct = key.encrypt_oaep(hash, &vec![7u8; max]).unwrap();
            assert_eq!(
                key.decrypt_oaep(hash, &ct).unwrap().expose(),
                &vec![7u8; max][..]
            );
            assert!(key.encrypt_oaep(hash, &vec![7u8; max + 1]).is_err());
        }
        assert_eq!(oaep_max_plaintext(256, OaepHash::Sha256), 190);
        assert_eq!(oaep_max_plaintext(512, OaepHash::Sha1), 470);
    }

    #[test]
    fn ecdh_agrees_both_ways() {
        let a = PrivateKey::from_pkcs8(
            KeyPairSpec::EccP384,
            generate_private_key(KeyPairSpec::EccP384).unwrap().expose(),
        )
        .unwrap();
        let b = PrivateKey::from_pkcs8(
            KeyPairSpec::EccP384,
            generate_private_key(KeyPairSpec::EccP384).unwrap().expose(),
        )
        .unwrap();
        let ab = a.agree(b.public_key_der()).unwrap();
        assert_eq!(ab, b.agree(a.public_key_der()).unwrap());
        assert_eq!(ab.len(), 48);
        let other = PrivateKey::from_pkcs8(
            KeyPairSpec::EccP256,
            generate_private_key(KeyPairSpec::EccP256).unwrap().expose(),
        )
        .unwrap();
        assert!(a.agree(other.public_key_der()).is_err());
    }

    /// An Ed25519 PKCS#8 v1 document around a 32-byte seed (RFC 8410 §7).
    fn ed25519_pkcs8(seed: &[u8]) -> Vec<u8> {
        let mut der = hex::decode("302e020100300506032b657004220420").unwrap();
        der.extend_from_slice(seed);
        der
    }

    /// RFC 8032 §7.3, the Ed25519ph test vector ("abc").
    #[test]
    fn ed25519ph_matches_rfc8032() {
        let seed = hex::decode("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42")
            .unwrap();
        let public = "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf";
        let expected = hex::decode(concat!(
            "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41",
            "31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406"
        ))
        .unwrap();
        let key = PrivateKey::from_pkcs8(KeyPairSpec::Ed25519, &ed25519_pkcs8(&seed)).unwrap();
        // The SPKI ends with the raw public key (RFC 8410 §4).
        assert!(hex::encode(key.public_key_der()).ends_with(public));
        let scheme = SignatureScheme::Ed25519ph;
        let sig = key.sign(scheme, Signed::Message(b"abc")).unwrap();
        assert_eq!(sig, expected);
        // The same signature from the caller's prehash PH(M) = SHA-512("abc").
        let prehash = digest::digest(&digest::SHA512, b"abc");
        let sig = key.sign(scheme, Signed::Digest(prehash.as_ref())).unwrap();
        assert_eq!(sig, expected);
        assert!(key.verify(scheme, Signed::Message(b"abc"), &expected));
        assert!(key.verify(scheme, Signed::Digest(prehash.as_ref()), &expected));
        assert!(!key.verify(scheme, Signed::Message(b"abd"), &expected));
        // Ed25519ph is not Ed25519: the same bytes are no pure signature of the message.
        assert!(!key.verify(SignatureScheme::Ed25519, Signed::Message(b"abc"), &expected));
        // A prehash is 64 bytes; pure Ed25519 takes no digest.
        assert!(key.sign(scheme, Signed::Digest(&[0u8; 32])).is_err());
        assert!(!key.verify(scheme, Signed::Digest(&[0u8; 63]), &expected));
        assert!(key
            .sign(SignatureScheme::Ed25519, Signed::Digest(prehash.as_ref()))
            .is_err());
    }

    /// RFC 8032 §7.1, TEST 3 (two-byte message), for pure Ed25519.
    #[test]
    fn ed25519_matches_rfc8032() {
        let seed = hex::decode("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7")
            .unwrap();
        let key = PrivateKey::from_pkcs8(KeyPairSpec::Ed25519, &ed25519_pkcs8(&seed)).unwrap();
        let sig = key
            .sign(SignatureScheme::Ed25519, Signed::Message(&[0xaf, 0x82]))
            .unwrap();
        assert_eq!(
            hex::encode(&sig),
            concat!(
                "6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac",
                "18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a"
            )
        );
        assert!(hex::encode(key.public_key_der())
            .ends_with("fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025"));
    }

    /// μ of FIPS 204 Algorithm 7 line 6 for an empty context, computed independently:
    /// SHAKE256(SHAKE256(pk, 64) ‖ 0x00 ‖ 0x00 ‖ M, 64).
    fn mu(raw_public: &[u8], message: &[u8]) -> Vec<u8> {
        use sha3::digest::{ExtendableOutput, Update, XofReader};
        let shake = |parts: &[&[u8]]| {
            let mut h = sha3::Shake256::default();
            parts.iter().for_each(|p| h.update(p));
            let mut out = vec![0u8; 64];
            h.finalize_xof().read(&mut out);
            out
        };
        shake(&[&shake(&[raw_public]), &[0, 0], message])
    }

    #[test]
    fn ml_dsa_signs_and_verifies_an_external_mu() {
        for spec in [
            KeyPairSpec::MlDsa44,
            KeyPairSpec::MlDsa65,
            KeyPairSpec::MlDsa87,
        ] {
            let pkcs8 = generate_private_key(spec).unwrap();
            let key = PrivateKey::from_pkcs8(spec, pkcs8.expose()).unwrap();
            let Inner::MlDsa(pair) = &key.inner else {
                unreachable!()
            };
            let mu = mu(pair.public_key().as_ref(), b"message");
            let sig = key
                .sign(SignatureScheme::MlDsa, Signed::Digest(&mu))
                .unwrap();
            assert_eq!(sig.len(), pair.algorithm().signature_len(), "{spec:?}");
            // A signature of μ is a signature of the message, and the other way round.
            assert!(key.verify(SignatureScheme::MlDsa, Signed::Message(b"message"), &sig));
            assert!(key.verify(SignatureScheme::MlDsa, Signed::Digest(&mu), &sig));
            let by_message = key
                .sign(SignatureScheme::MlDsa, Signed::Message(b"message"))
                .unwrap();
            assert!(key.verify(SignatureScheme::MlDsa, Signed::Digest(&mu), &by_message));
            assert!(!key.verify(SignatureScheme::MlDsa, Signed::Message(b"messagE"), &sig));
            let mut other = mu.clone();
            other[0] ^= 1;
            assert!(!key.verify(SignatureScheme::MlDsa, Signed::Digest(&other), &sig));
            // μ is exactly 64 bytes.
            assert!(key
                .sign(SignatureScheme::MlDsa, Signed::Digest(&mu[..63]))
                .is_err());
            assert!(!key.verify(SignatureScheme::MlDsa, Signed::Digest(&mu[..63]), &sig));
        }
    }

    #[test]
    fn ffi_refuses_keys_of_another_type() {
        let p256 = generate_private_key(KeyPairSpec::EccP256).unwrap();
        assert!(ffi::ml_dsa_sign_mu(p256.expose(), &[0u8; 64]).is_err());
        assert!(ffi::ed25519ph_sign(p256.expose(), &[0u8; 64]).is_err());
        let ed = generate_private_key(KeyPairSpec::Ed25519).unwrap();
        assert!(ffi::ml_dsa_sign_mu(ed.expose(), &[0u8; 64]).is_err());
        assert!(PrivateKey::from_pkcs8(KeyPairSpec::Ed25519, p256.expose()).is_err());
        assert!(PrivateKey::from_pkcs8(KeyPairSpec::EccP256, ed.expose()).is_err());
    }
}
