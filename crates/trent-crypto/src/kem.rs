//! ML-KEM (FIPS 203) key pairs, in the formats of the IETF "ML-KEM in X.509" specification
//! (RFC 9935):
//!
//! - public key: DER SubjectPublicKeyInfo, algorithm `id-alg-ml-kem-512/768/1024`
//!   (2.16.840.1.101.3.4.4.1/2/3) without parameters, the encapsulation key as the bit string;
//! - private key: PKCS#8 `OneAsymmetricKey` whose `privateKey` is the `seed` choice
//!   (`[0] IMPLICIT OCTET STRING`, the 64 bytes d‖z of FIPS 203 KeyGen). AWS KMS returns ML-KEM
//!   data key pairs in this seed form ("the length of the private key is the same for all ML-KEM
//!   key pair specs"), and Trent seals a KMS key's private key at rest in the same form, like every
//!   other private key it holds.
//!
//! aws-lc-rs's `kem` module encapsulates and decapsulates, but neither exposes the seed nor reads
//! or writes these documents. aws-lc itself does both (`EVP_marshal_private_key` and
//! `EVP_parse_private_key` know ML-KEM), so `crate::ffi` asks aws-lc, through aws-lc-sys, for exactly
//! that: a fresh key as PKCS#8, and a PKCS#8 document taken apart into the raw keys and the SPKI.
//! Every cryptographic operation then goes through aws-lc-rs's safe API.

use aws_lc_rs::kem::{
    Ciphertext, DecapsulationKey, EncapsulationKey, ML_KEM_1024, ML_KEM_512, ML_KEM_768,
};

use crate::{ffi, CryptoError, SecretBytes};

/// The three ML-KEM parameter sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MlKem {
    MlKem512,
    MlKem768,
    MlKem1024,
}

/// Length of an ML-KEM shared secret (all parameter sets).
pub const SHARED_SECRET_LEN: usize = 32;

impl MlKem {
    fn algorithm(self) -> &'static aws_lc_rs::kem::Algorithm {
        match self {
            MlKem::MlKem512 => &ML_KEM_512,
            MlKem::MlKem768 => &ML_KEM_768,
            MlKem::MlKem1024 => &ML_KEM_1024,
        }
    }

    /// Length of the encapsulation key (FIPS 203 §8, table 3).
    pub fn public_key_len(self) -> usize {
        match self {
            MlKem::MlKem512 => 800,
            MlKem::MlKem768 => 1184,
            MlKem::MlKem1024 => 1568,
        }
    }

    /// Length of a ciphertext (FIPS 203 §8, table 3).
    pub fn ciphertext_len(self) -> usize {
        match self {
            MlKem::MlKem512 => 768,
            MlKem::MlKem768 => 1088,
            MlKem::MlKem1024 => 1568,
        }
    }
}

/// A fresh key pair of `params`, as PKCS#8 (seed form).
pub fn generate_pkcs8(params: MlKem) -> Result<SecretBytes, CryptoError> {
    ffi::ml_kem_generate_pkcs8(nid(params))
}

/// A parsed ML-KEM key pair, ready to encapsulate to its public key and decapsulate.
pub struct KemKeyPair {
    params: MlKem,
    decapsulation: DecapsulationKey,
    encapsulation: EncapsulationKey,
    public_der: Vec<u8>,
}

impl std::fmt::Debug for KemKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KemKeyPair({:?}, <redacted>)", self.params)
    }
}

impl KemKeyPair {
    /// Parses PKCS#8 and checks that it holds a key pair of exactly `params`.
    pub fn from_pkcs8(params: MlKem, pkcs8: &[u8]) -> Result<Self, CryptoError> {
        let parts = ffi::ml_kem_parse_pkcs8(pkcs8)?;
        // The encapsulation key's length names the parameter set unambiguously.
        if parts.public_key.len() != params.public_key_len() {
            return Err(CryptoError);
        }
        let alg = params.algorithm();
        Ok(Self {
            params,
            decapsulation: DecapsulationKey::new(alg, parts.private_key.expose())
                .map_err(|_| CryptoError)?,
            encapsulation: EncapsulationKey::new(alg, &parts.public_key)
                .map_err(|_| CryptoError)?,
            public_der: parts.spki,
        })
    }

    pub fn params(&self) -> MlKem {
        self.params
    }

    /// The public key as DER SubjectPublicKeyInfo.
    pub fn public_key_der(&self) -> &[u8] {
        &self.public_der
    }

    /// A fresh shared secret and its ciphertext under this key pair's public key.
    pub fn encapsulate(&self) -> Result<(Vec<u8>, SecretBytes), CryptoError> {
        let (ciphertext, secret) = self.encapsulation.encapsulate().map_err(|_| CryptoError)?;
        Ok((
            ciphertext.as_ref().to_vec(),
            SecretBytes::new(secret.as_ref().to_vec()),
        ))
    }

    /// The shared secret of `ciphertext`. Only a ciphertext of the wrong length fails: any other
    /// ciphertext yields a pseudo-random secret (FIPS 203 implicit rejection).
    pub fn decapsulate(&self, ciphertext: &[u8]) -> Result<SecretBytes, CryptoError> {
        if ciphertext.len() != self.params.ciphertext_len() {
            return Err(CryptoError);
        }
        let secret = self
            .decapsulation
            .decapsulate(Ciphertext::from(ciphertext))
            .map_err(|_| CryptoError)?;
        Ok(SecretBytes::new(secret.as_ref().to_vec()))
    }
}

/// aws-lc's identifier of the parameter set.
fn nid(params: MlKem) -> i32 {
    match params {
        MlKem::MlKem512 => aws_lc_sys::NID_MLKEM512,
        MlKem::MlKem768 => aws_lc_sys::NID_MLKEM768,
        MlKem::MlKem1024 => aws_lc_sys::NID_MLKEM1024,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [MlKem; 3] = [MlKem::MlKem512, MlKem::MlKem768, MlKem::MlKem1024];

    /// id-alg-ml-kem-* as DER OBJECT IDENTIFIER contents: 2.16.840.1.101.3.4.4.{1,2,3}.
    fn oid(params: MlKem) -> [u8; 9] {
        let last = match params {
            MlKem::MlKem512 => 1,
            MlKem::MlKem768 => 2,
            MlKem::MlKem1024 => 3,
        };
        [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x04, last]
    }

    /// DER length octets.
    fn len(n: usize) -> Vec<u8> {
        match n {
            0..=0x7f => vec![n as u8],
            0x80..=0xff => vec![0x81, n as u8],
            _ => vec![0x82, (n >> 8) as u8, n as u8],
        }
    }

    fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        out.extend(len(body.len()));
        out.extend_from_slice(body);
        out
    }

    /// The seed-form PKCS#8 the IETF specification describes, built here independently.
    fn expected_pkcs8(params: MlKem, seed: &[u8]) -> Vec<u8> {
        let algorithm = tlv(0x30, &tlv(0x06, &oid(params)));
        let private_key = tlv(0x04, &tlv(0x80, seed));
        tlv(0x30, &[tlv(0x02, &[0]), algorithm, private_key].concat())
    }

    fn expected_spki(params: MlKem, public_key: &[u8]) -> Vec<u8> {
        let algorithm = tlv(0x30, &tlv(0x06, &oid(params)));
        let bits = tlv(0x03, &[&[0u8][..], public_key].concat());
        tlv(0x30, &[algorithm, bits].concat())
    }

    #[test]
    fn generated_keys_are_seed_form_pkcs8_with_rfc_spki() {
        for params in ALL {
            let pkcs8 = generate_pkcs8(params).unwrap();
            // 2 + 3 + 11 + 2 + 2 + 64: the same 86 bytes for every parameter set.
            assert_eq!(pkcs8.len(), 86, "{params:?}");
            let seed = &pkcs8.expose()[22..];
            assert_eq!(pkcs8.expose(), &expected_pkcs8(params, seed)[..]);

            let key = KemKeyPair::from_pkcs8(params, pkcs8.expose()).unwrap();
            let spki = key.public_key_der();
            let public_key = &spki[spki.len() - params.public_key_len()..];
            assert_eq!(spki, &expected_spki(params, public_key)[..], "{params:?}");
        }
    }

    #[test]
    fn encapsulate_then_decapsulate_agree() {
        for params in ALL {
            let pkcs8 = generate_pkcs8(params).unwrap();
            let key = KemKeyPair::from_pkcs8(params, pkcs8.expose()).unwrap();
            let (ciphertext, secret) = key.encapsulate().unwrap();
            assert_eq!(ciphertext.len(), params.ciphertext_len());
            assert_eq!(secret.len(), SHARED_SECRET_LEN);
            assert_eq!(key.decapsulate(&ciphertext).unwrap(), secret);

            // A parsed copy of the same document is the same key pair.
            let again = KemKeyPair::from_pkcs8(params, pkcs8.expose()).unwrap();
            assert_eq!(again.decapsulate(&ciphertext).unwrap(), secret);
            assert_eq!(again.public_key_der(), key.public_key_der());
        }
    }

    #[test]
    fn tampered_ciphertexts_reject_implicitly_and_wrong_lengths_fail() {
        let params = MlKem::MlKem768;
        let key = KemKeyPair::from_pkcs8(params, generate_pkcs8(params).unwrap().expose()).unwrap();
        let (mut ciphertext, secret) = key.encapsulate().unwrap();
        ciphertext[0] ^= 1;
        let other = key.decapsulate(&ciphertext).unwrap();
        assert_eq!(other.len(), SHARED_SECRET_LEN);
        assert_ne!(other, secret);
        assert!(key.decapsulate(&ciphertext[1..]).is_err());
        assert!(key
            .decapsulate(&[ciphertext.clone(), vec![0]].concat())
            .is_err());
    }

    #[test]
    fn a_seed_determines_the_key_pair() {
        // Two documents with the same seed are the same key pair: what makes the seed form a
        // complete private key.
        let params = MlKem::MlKem512;
        let seed: Vec<u8> = (0u8..64).collect();
        let a = KemKeyPair::from_pkcs8(params, &expected_pkcs8(params, &seed)).unwrap();
        let b = KemKeyPair::from_pkcs8(params, &expected_pkcs8(params, &seed)).unwrap();
        assert_eq!(a.public_key_der(), b.public_key_der());
        let (ciphertext, secret) = a.encapsulate().unwrap();
        assert_eq!(b.decapsulate(&ciphertext).unwrap(), secret);
    }

    #[test]
    fn other_documents_are_refused() {
        let pkcs8 = generate_pkcs8(MlKem::MlKem768).unwrap();
        // Another parameter set, a truncated or extended document, a short seed, not a key.
        assert!(KemKeyPair::from_pkcs8(MlKem::MlKem512, pkcs8.expose()).is_err());
        assert!(KemKeyPair::from_pkcs8(MlKem::MlKem768, &pkcs8.expose()[..85]).is_err());
        let mut extended = pkcs8.expose().to_vec();
        extended.push(0);
        assert!(KemKeyPair::from_pkcs8(MlKem::MlKem768, &extended).is_err());
        let short = expected_pkcs8(MlKem::MlKem768, &[7u8; 32]);
        assert!(KemKeyPair::from_pkcs8(MlKem::MlKem768, &short).is_err());
        assert!(KemKeyPair::from_pkcs8(MlKem::MlKem768, b"not a key").is_err());
        // Documents AWS-LC's parser would take but that are not the canonical seed form: bytes
        // after the seed inside the private key, a version-2 document with a public key, an
        // attribute set.
        let seed = &pkcs8.expose()[22..];
        let algorithm = tlv(0x30, &tlv(0x06, &oid(MlKem::MlKem768)));
        let padded = tlv(0x04, &[tlv(0x80, seed), vec![0, 0]].concat());
        let padded = tlv(0x30, &[tlv(0x02, &[0]), algorithm.clone(), padded].concat());
        let private_key = tlv(0x04, &tlv(0x80, seed));
        let v2 = tlv(
            0x30,
            &[
                tlv(0x02, &[1]),
                algorithm.clone(),
                private_key.clone(),
                tlv(0x81, &[0u8; 21]),
            ]
            .concat(),
        );
        let with_attributes = tlv(
            0x30,
            &[tlv(0x02, &[0]), algorithm, private_key, tlv(0xa0, &[])].concat(),
        );
        for document in [padded, v2, with_attributes] {
            assert!(KemKeyPair::from_pkcs8(MlKem::MlKem768, &document).is_err());
        }
        // Another kind of private key.
        let p256 = crate::asymmetric::generate_private_key(crate::asymmetric::KeyPairSpec::EccP256)
            .unwrap();
        assert!(KemKeyPair::from_pkcs8(MlKem::MlKem768, p256.expose()).is_err());
    }
}
