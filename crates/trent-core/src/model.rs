//! The key model: specs, usages, origins, states and the records the store keeps.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::{AliasName, KeyId, Scope};

/// Declares a closed set of names that travel on the wire, with one table from variant to name.
macro_rules! named_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name { $($(#[$vm])* #[serde(rename = $text)] $variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(s: &str) -> Option<Self> {
                match s { $($text => Some($name::$variant),)+ _ => None }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

named_enum!(
    /// The states of the source documents' state machine (AWS and Alibaba share these four).
    KeyState {
        Enabled => "Enabled",
        Disabled => "Disabled",
        PendingDeletion => "PendingDeletion",
        PendingImport => "PendingImport",
    }
);

named_enum!(
    /// Key specs. Only SYMMETRIC_DEFAULT has an engine so far; the rest are recognised so that a
    /// request naming them gets a precise refusal rather than a parse error.
    KeySpec {
        SymmetricDefault => "SYMMETRIC_DEFAULT",
        Rsa2048 => "RSA_2048",
        Rsa3072 => "RSA_3072",
        Rsa4096 => "RSA_4096",
        EccNistP256 => "ECC_NIST_P256",
        EccNistP384 => "ECC_NIST_P384",
        EccNistP521 => "ECC_NIST_P521",
        EccSecgP256k1 => "ECC_SECG_P256K1",
        EccNistEdwards25519 => "ECC_NIST_EDWARDS25519",
        Hmac224 => "HMAC_224",
        Hmac256 => "HMAC_256",
        Hmac384 => "HMAC_384",
        Hmac512 => "HMAC_512",
        MlDsa44 => "ML_DSA_44",
        MlDsa65 => "ML_DSA_65",
        MlDsa87 => "ML_DSA_87",
        MlKem512 => "ML_KEM_512",
        MlKem768 => "ML_KEM_768",
        MlKem1024 => "ML_KEM_1024",
        Sm2 => "SM2",
    }
);

named_enum!(
    KeyUsage {
        EncryptDecrypt => "ENCRYPT_DECRYPT",
        SignVerify => "SIGN_VERIFY",
        GenerateVerifyMac => "GENERATE_VERIFY_MAC",
        KeyAgreement => "KEY_AGREEMENT",
        EncapsulateDecapsulate => "ENCAPSULATE_DECAPSULATE",
    }
);

named_enum!(
    Origin {
        AwsKms => "AWS_KMS",
        External => "EXTERNAL",
        AwsCloudHsm => "AWS_CLOUDHSM",
        ExternalKeyStore => "EXTERNAL_KEY_STORE",
    }
);

named_enum!(
    EncryptionAlgorithm {
        SymmetricDefault => "SYMMETRIC_DEFAULT",
        RsaesOaepSha1 => "RSAES_OAEP_SHA_1",
        RsaesOaepSha256 => "RSAES_OAEP_SHA_256",
        Sm2Pke => "SM2PKE",
    }
);

named_enum!(
    /// `KeySpec` of GenerateDataKey.
    DataKeySpec {
        Aes256 => "AES_256",
        Aes128 => "AES_128",
    }
);

impl DataKeySpec {
    pub fn byte_len(self) -> usize {
        match self {
            DataKeySpec::Aes256 => 32,
            DataKeySpec::Aes128 => 16,
        }
    }
}

/// Milliseconds since the Unix epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub const DAY_MS: i64 = 86_400_000;

    pub fn plus_days(self, days: u32) -> Self {
        Timestamp(self.0 + i64::from(days) * Self::DAY_MS)
    }

    /// Seconds since the epoch, as the AWS JSON protocol renders timestamps.
    pub fn epoch_seconds(self) -> f64 {
        self.0 as f64 / 1000.0
    }
}

/// One version of a key's material, sealed under the root key. Never holds plaintext.
#[derive(Clone, PartialEq, Eq)]
pub struct SealedMaterial {
    pub version: u32,
    pub sealed: Vec<u8>,
}

impl std::fmt::Debug for SealedMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "SealedMaterial(v{}, {} bytes)",
            self.version,
            self.sealed.len()
        )
    }
}

/// Everything about a key except its material; stored as one document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyMeta {
    pub description: String,
    pub key_spec: KeySpec,
    pub key_usage: KeyUsage,
    pub origin: Origin,
    pub state: KeyState,
    pub created_at: Timestamp,
    pub deletion_date: Option<Timestamp>,
    pub pending_window_days: Option<u32>,
    pub policy: String,
    pub tags: BTreeMap<String, String>,
    /// The material version new ciphertexts use; `None` while an EXTERNAL key has none.
    pub current_material: Option<u32>,
    pub multi_region: bool,
}

/// A key as stored: identity, a row version for compare-and-set, metadata and sealed material.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyRecord {
    pub id: KeyId,
    pub scope: Scope,
    /// Incremented by every write; writes name the version they read (compare-and-set).
    pub version: u64,
    pub meta: KeyMeta,
    pub materials: Vec<SealedMaterial>,
}

impl KeyRecord {
    pub fn arn(&self) -> String {
        self.scope.key_arn(&self.id)
    }

    pub fn encryption_algorithms(&self) -> &'static [EncryptionAlgorithm] {
        match (self.meta.key_spec, self.meta.key_usage) {
            (KeySpec::SymmetricDefault, _) => &[EncryptionAlgorithm::SymmetricDefault],
            (KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096, KeyUsage::EncryptDecrypt) => {
                &[
                    EncryptionAlgorithm::RsaesOaepSha1,
                    EncryptionAlgorithm::RsaesOaepSha256,
                ]
            }
            _ => &[],
        }
    }
}

/// An alias: a name in a scope that points at one key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AliasRecord {
    pub scope: Scope,
    pub name: AliasName,
    pub target: KeyId,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}
