//! The key model: specs, usages, origins, states and the records the store keeps.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use trent_crypto::asymmetric::{Hash, ImportWrapping, KeyPairSpec, OaepHash, SignatureScheme};
use trent_crypto::mac::MacHash;

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
    /// The states of the source documents' state machine (AWS and Alibaba share the first
    /// four). `PendingReplicaDeletion` is AWS's state of a multi-Region primary key scheduled for
    /// deletion while it still has replicas. AWS's transient `Creating` and `Updating` never
    /// show: Trent replicates and changes the primary Region synchronously.
    KeyState {
        Enabled => "Enabled",
        Disabled => "Disabled",
        PendingDeletion => "PendingDeletion",
        PendingImport => "PendingImport",
        PendingReplicaDeletion => "PendingReplicaDeletion",
    }
);

named_enum!(
    /// Which copy of a multi-Region key a record is (AWS's `MultiRegionKeyType`).
    MultiRegionKeyType {
        Primary => "PRIMARY",
        Replica => "REPLICA",
    }
);

/// The copies of a multi-Region key: the Region of the primary key and of every replica, in the
/// order they were made. Every copy's record holds the same set; a change to it is written to
/// every copy in one batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MultiRegionSet {
    pub primary: String,
    pub replicas: Vec<String>,
}

impl MultiRegionSet {
    /// Every Region holding a copy, the primary first.
    pub fn regions(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.primary.as_str()).chain(self.replicas.iter().map(String::as_str))
    }
}

named_enum!(
    /// Key specs. Every AWS spec is recognised; [`KeySpec::kind`] says which ones Trent
    /// implements, so the others get a precise refusal rather than a parse error.
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
    SigningAlgorithm {
        RsassaPssSha256 => "RSASSA_PSS_SHA_256",
        RsassaPssSha384 => "RSASSA_PSS_SHA_384",
        RsassaPssSha512 => "RSASSA_PSS_SHA_512",
        RsassaPkcs1V15Sha256 => "RSASSA_PKCS1_V1_5_SHA_256",
        RsassaPkcs1V15Sha384 => "RSASSA_PKCS1_V1_5_SHA_384",
        RsassaPkcs1V15Sha512 => "RSASSA_PKCS1_V1_5_SHA_512",
        EcdsaSha256 => "ECDSA_SHA_256",
        EcdsaSha384 => "ECDSA_SHA_384",
        EcdsaSha512 => "ECDSA_SHA_512",
        Sm2Dsa => "SM2DSA",
        MlDsaShake256 => "ML_DSA_SHAKE_256",
        Ed25519Sha512 => "ED25519_SHA_512",
        Ed25519PhSha512 => "ED25519_PH_SHA_512",
    }
);

named_enum!(
    MessageType {
        Raw => "RAW",
        Digest => "DIGEST",
        ExternalMu => "EXTERNAL_MU",
    }
);

named_enum!(
    MacAlgorithm {
        HmacSha224 => "HMAC_SHA_224",
        HmacSha256 => "HMAC_SHA_256",
        HmacSha384 => "HMAC_SHA_384",
        HmacSha512 => "HMAC_SHA_512",
    }
);

named_enum!(
    KeyAgreementAlgorithm {
        Ecdh => "ECDH",
    }
);

named_enum!(
    /// AWS's `EncapsulationAlgorithmSpec` (Encapsulate, Decapsulate; ML-KEM keys).
    EncapsulationAlgorithm {
        MlKem => "ML_KEM",
    }
);

named_enum!(
    /// `KeyPairSpec` of GenerateDataKeyPair.
    DataKeyPairSpec {
        Rsa2048 => "RSA_2048",
        Rsa3072 => "RSA_3072",
        Rsa4096 => "RSA_4096",
        EccNistP256 => "ECC_NIST_P256",
        EccNistP384 => "ECC_NIST_P384",
        EccNistP521 => "ECC_NIST_P521",
        EccSecgP256k1 => "ECC_SECG_P256K1",
        Sm2 => "SM2",
        EccNistEdwards25519 => "ECC_NIST_EDWARDS25519",
        MlKem512 => "ML_KEM_512",
        MlKem768 => "ML_KEM_768",
        MlKem1024 => "ML_KEM_1024",
    }
);

impl DataKeyPairSpec {
    /// The key spec whose key pairs this data key pair spec names.
    pub fn key_spec(self) -> KeySpec {
        match self {
            DataKeyPairSpec::Rsa2048 => KeySpec::Rsa2048,
            DataKeyPairSpec::Rsa3072 => KeySpec::Rsa3072,
            DataKeyPairSpec::Rsa4096 => KeySpec::Rsa4096,
            DataKeyPairSpec::EccNistP256 => KeySpec::EccNistP256,
            DataKeyPairSpec::EccNistP384 => KeySpec::EccNistP384,
            DataKeyPairSpec::EccNistP521 => KeySpec::EccNistP521,
            DataKeyPairSpec::EccSecgP256k1 => KeySpec::EccSecgP256k1,
            DataKeyPairSpec::Sm2 => KeySpec::Sm2,
            DataKeyPairSpec::EccNistEdwards25519 => KeySpec::EccNistEdwards25519,
            DataKeyPairSpec::MlKem512 => KeySpec::MlKem512,
            DataKeyPairSpec::MlKem768 => KeySpec::MlKem768,
            DataKeyPairSpec::MlKem1024 => KeySpec::MlKem1024,
        }
    }
}

named_enum!(
    /// How the client wrapped key material for ImportKeyMaterial.
    WrappingAlgorithm {
        RsaesPkcs1V15 => "RSAES_PKCS1_V1_5",
        RsaesOaepSha1 => "RSAES_OAEP_SHA_1",
        RsaesOaepSha256 => "RSAES_OAEP_SHA_256",
        RsaAesKeyWrapSha1 => "RSA_AES_KEY_WRAP_SHA_1",
        RsaAesKeyWrapSha256 => "RSA_AES_KEY_WRAP_SHA_256",
        Sm2Pke => "SM2PKE",
    }
);

impl WrappingAlgorithm {
    /// The unwrapping scheme, for the algorithms Trent offers.
    pub fn scheme(self) -> Option<ImportWrapping> {
        Some(match self {
            WrappingAlgorithm::RsaesOaepSha1 => ImportWrapping::Oaep(OaepHash::Sha1),
            WrappingAlgorithm::RsaesOaepSha256 => ImportWrapping::Oaep(OaepHash::Sha256),
            WrappingAlgorithm::RsaAesKeyWrapSha1 => ImportWrapping::RsaAesKeyWrap(OaepHash::Sha1),
            WrappingAlgorithm::RsaAesKeyWrapSha256 => {
                ImportWrapping::RsaAesKeyWrap(OaepHash::Sha256)
            }
            WrappingAlgorithm::RsaesPkcs1V15 | WrappingAlgorithm::Sm2Pke => return None,
        })
    }
}

named_enum!(
    WrappingKeySpec {
        Rsa2048 => "RSA_2048",
        Rsa3072 => "RSA_3072",
        Rsa4096 => "RSA_4096",
        Sm2 => "SM2",
    }
);

impl WrappingKeySpec {
    pub fn key_pair_spec(self) -> Option<KeyPairSpec> {
        match self {
            WrappingKeySpec::Rsa2048 => Some(KeyPairSpec::Rsa2048),
            WrappingKeySpec::Rsa3072 => Some(KeyPairSpec::Rsa3072),
            WrappingKeySpec::Rsa4096 => Some(KeyPairSpec::Rsa4096),
            WrappingKeySpec::Sm2 => None,
        }
    }
}

named_enum!(
    ExpirationModel {
        KeyMaterialExpires => "KEY_MATERIAL_EXPIRES",
        KeyMaterialDoesNotExpire => "KEY_MATERIAL_DOES_NOT_EXPIRE",
    }
);

named_enum!(
    RotationType {
        Automatic => "AUTOMATIC",
        OnDemand => "ON_DEMAND",
    }
);

/// What kind of cryptography a key spec stands for, and so how its material is used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    /// AES-256-GCM material behind the ciphertext blob.
    Symmetric,
    /// HMAC material of the given hash.
    Hmac(MacAlgorithm),
    /// A private key, stored as PKCS#8.
    Asymmetric(KeyPairSpec),
    /// A spec AWS has that this server does not implement.
    Unsupported,
}

impl KeySpec {
    /// Whether generating a key of this spec takes long enough (RSA: milliseconds to a second)
    /// that it must not run on an async worker thread.
    pub fn slow_to_generate(self) -> bool {
        matches!(
            self.kind(),
            KeyKind::Asymmetric(KeyPairSpec::Rsa2048 | KeyPairSpec::Rsa3072 | KeyPairSpec::Rsa4096)
        )
    }

    pub fn kind(self) -> KeyKind {
        use KeySpec::*;
        match self {
            SymmetricDefault => KeyKind::Symmetric,
            Hmac224 => KeyKind::Hmac(MacAlgorithm::HmacSha224),
            Hmac256 => KeyKind::Hmac(MacAlgorithm::HmacSha256),
            Hmac384 => KeyKind::Hmac(MacAlgorithm::HmacSha384),
            Hmac512 => KeyKind::Hmac(MacAlgorithm::HmacSha512),
            Rsa2048 => KeyKind::Asymmetric(KeyPairSpec::Rsa2048),
            Rsa3072 => KeyKind::Asymmetric(KeyPairSpec::Rsa3072),
            Rsa4096 => KeyKind::Asymmetric(KeyPairSpec::Rsa4096),
            EccNistP256 => KeyKind::Asymmetric(KeyPairSpec::EccP256),
            EccNistP384 => KeyKind::Asymmetric(KeyPairSpec::EccP384),
            EccNistP521 => KeyKind::Asymmetric(KeyPairSpec::EccP521),
            EccSecgP256k1 => KeyKind::Asymmetric(KeyPairSpec::EccSecp256k1),
            EccNistEdwards25519 => KeyKind::Asymmetric(KeyPairSpec::Ed25519),
            MlDsa44 => KeyKind::Asymmetric(KeyPairSpec::MlDsa44),
            MlDsa65 => KeyKind::Asymmetric(KeyPairSpec::MlDsa65),
            MlDsa87 => KeyKind::Asymmetric(KeyPairSpec::MlDsa87),
            MlKem512 => KeyKind::Asymmetric(KeyPairSpec::MlKem512),
            MlKem768 => KeyKind::Asymmetric(KeyPairSpec::MlKem768),
            MlKem1024 => KeyKind::Asymmetric(KeyPairSpec::MlKem1024),
            Sm2 => KeyKind::Unsupported,
        }
    }

    /// The key usages AWS allows for this spec (AWS's CreateKey reference).
    pub fn usages(self) -> &'static [KeyUsage] {
        use KeySpec::*;
        match self {
            SymmetricDefault => &[KeyUsage::EncryptDecrypt],
            Hmac224 | Hmac256 | Hmac384 | Hmac512 => &[KeyUsage::GenerateVerifyMac],
            Rsa2048 | Rsa3072 | Rsa4096 => &[KeyUsage::EncryptDecrypt, KeyUsage::SignVerify],
            EccNistP256 | EccNistP384 | EccNistP521 => {
                &[KeyUsage::SignVerify, KeyUsage::KeyAgreement]
            }
            EccSecgP256k1 | EccNistEdwards25519 | MlDsa44 | MlDsa65 | MlDsa87 => {
                &[KeyUsage::SignVerify]
            }
            MlKem512 | MlKem768 | MlKem1024 => &[KeyUsage::EncapsulateDecapsulate],
            Sm2 => &[
                KeyUsage::EncryptDecrypt,
                KeyUsage::SignVerify,
                KeyUsage::KeyAgreement,
            ],
        }
    }

    /// The signing algorithms of a SIGN_VERIFY key of this spec.
    pub fn signing_algorithms(self) -> &'static [SigningAlgorithm] {
        use SigningAlgorithm::*;
        match self {
            KeySpec::Rsa2048 | KeySpec::Rsa3072 | KeySpec::Rsa4096 => &[
                RsassaPssSha256,
                RsassaPssSha384,
                RsassaPssSha512,
                RsassaPkcs1V15Sha256,
                RsassaPkcs1V15Sha384,
                RsassaPkcs1V15Sha512,
            ],
            KeySpec::EccNistP256 | KeySpec::EccSecgP256k1 => &[EcdsaSha256],
            KeySpec::EccNistP384 => &[EcdsaSha384],
            KeySpec::EccNistP521 => &[EcdsaSha512],
            KeySpec::EccNistEdwards25519 => &[Ed25519Sha512, Ed25519PhSha512],
            KeySpec::MlDsa44 | KeySpec::MlDsa65 | KeySpec::MlDsa87 => &[MlDsaShake256],
            _ => &[],
        }
    }

    /// Length of generated HMAC material: the hash's output length, as AWS generates it.
    pub fn hmac_material_len(self) -> Option<usize> {
        match self.kind() {
            KeyKind::Hmac(MacAlgorithm::HmacSha224) => Some(28),
            KeyKind::Hmac(MacAlgorithm::HmacSha256) => Some(32),
            KeyKind::Hmac(MacAlgorithm::HmacSha384) => Some(48),
            KeyKind::Hmac(MacAlgorithm::HmacSha512) => Some(64),
            _ => None,
        }
    }

    /// Lengths of HMAC material AWS accepts for import: from the hash's output length up to its
    /// block size.
    pub fn hmac_import_len(self) -> Option<std::ops::RangeInclusive<usize>> {
        match self.kind() {
            KeyKind::Hmac(MacAlgorithm::HmacSha224) => Some(28..=64),
            KeyKind::Hmac(MacAlgorithm::HmacSha256) => Some(32..=64),
            KeyKind::Hmac(MacAlgorithm::HmacSha384) => Some(48..=128),
            KeyKind::Hmac(MacAlgorithm::HmacSha512) => Some(64..=128),
            _ => None,
        }
    }
}

impl SigningAlgorithm {
    /// The scheme that implements the algorithm, for the algorithms Trent offers.
    pub fn scheme(self) -> Option<SignatureScheme> {
        use SigningAlgorithm::*;
        Some(match self {
            RsassaPssSha256 => SignatureScheme::RsaPss(Hash::Sha256),
            RsassaPssSha384 => SignatureScheme::RsaPss(Hash::Sha384),
            RsassaPssSha512 => SignatureScheme::RsaPss(Hash::Sha512),
            RsassaPkcs1V15Sha256 => SignatureScheme::RsaPkcs1(Hash::Sha256),
            RsassaPkcs1V15Sha384 => SignatureScheme::RsaPkcs1(Hash::Sha384),
            RsassaPkcs1V15Sha512 => SignatureScheme::RsaPkcs1(Hash::Sha512),
            EcdsaSha256 => SignatureScheme::Ecdsa(Hash::Sha256),
            EcdsaSha384 => SignatureScheme::Ecdsa(Hash::Sha384),
            EcdsaSha512 => SignatureScheme::Ecdsa(Hash::Sha512),
            Ed25519Sha512 => SignatureScheme::Ed25519,
            Ed25519PhSha512 => SignatureScheme::Ed25519ph,
            MlDsaShake256 => SignatureScheme::MlDsa,
            Sm2Dsa => return None,
        })
    }
}

impl MacAlgorithm {
    pub fn hash(self) -> MacHash {
        match self {
            MacAlgorithm::HmacSha224 => MacHash::Sha224,
            MacAlgorithm::HmacSha256 => MacHash::Sha256,
            MacAlgorithm::HmacSha384 => MacHash::Sha384,
            MacAlgorithm::HmacSha512 => MacHash::Sha512,
        }
    }
}

impl EncryptionAlgorithm {
    /// The RSA-OAEP hash of an asymmetric encryption algorithm.
    pub fn oaep(self) -> Option<OaepHash> {
        match self {
            EncryptionAlgorithm::RsaesOaepSha1 => Some(OaepHash::Sha1),
            EncryptionAlgorithm::RsaesOaepSha256 => Some(OaepHash::Sha256),
            _ => None,
        }
    }
}

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
    /// A multi-Region key's copies (present exactly when `multi_region`). Keys stored before
    /// multi-Region keys existed have none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multi_region_set: Option<MultiRegionSet>,
    /// EXTERNAL keys: every key material associated with the key, imported or not (a deleted
    /// material stays listed, because only the same material may be imported in its place).
    /// Stores written before keys held several materials have one object (or null) under
    /// `import`; it reads as a one-element list.
    #[serde(default, alias = "import", deserialize_with = "stored_imports")]
    pub imports: Vec<ImportedKeyMaterial>,
    /// The highest material version ever given out. A version is never given out twice, not
    /// even one whose material was forgotten (pending material deleted before its rotation),
    /// because the store keeps a listed version's sealed bytes as they are.
    #[serde(default)]
    pub last_material_version: u32,
    /// Automatic and on-demand rotation of symmetric keys.
    #[serde(default)]
    pub rotation: Rotation,
    /// Deletion protection (Alibaba's SetDeletionProtection): while present, ScheduleKeyDeletion
    /// is refused in both dialects. Keys stored before it existed read as unprotected.
    #[serde(default)]
    pub deletion_protection: Option<DeletionProtection>,
    /// GetKeyLastUsage's record, as last flushed. Keys stored before it existed read as
    /// untracked.
    #[serde(default)]
    pub usage: UsageTracking,
    /// The key's grants. Keys stored before grants existed read as having none.
    #[serde(default)]
    pub grants: Vec<Grant>,
}

named_enum!(
    /// The cryptographic operations whose successful use of a key is tracked (AWS's
    /// `KeyLastUsageTrackingOperation`).
    TrackedOperation {
        Decrypt => "Decrypt",
        DeriveSharedSecret => "DeriveSharedSecret",
        Encrypt => "Encrypt",
        GenerateDataKey => "GenerateDataKey",
        GenerateDataKeyPair => "GenerateDataKeyPair",
        GenerateDataKeyPairWithoutPlaintext => "GenerateDataKeyPairWithoutPlaintext",
        GenerateDataKeyWithoutPlaintext => "GenerateDataKeyWithoutPlaintext",
        GenerateMac => "GenerateMac",
        ReEncrypt => "ReEncrypt",
        Sign => "Sign",
        Verify => "Verify",
        VerifyMac => "VerifyMac",
        Encapsulate => "Encapsulate",
        Decapsulate => "Decapsulate",
    }
);

named_enum!(
    /// The operations a grant may allow (AWS's `GrantOperation`).
    GrantOperation {
        Decrypt => "Decrypt",
        Encrypt => "Encrypt",
        GenerateDataKey => "GenerateDataKey",
        GenerateDataKeyWithoutPlaintext => "GenerateDataKeyWithoutPlaintext",
        ReEncryptFrom => "ReEncryptFrom",
        ReEncryptTo => "ReEncryptTo",
        Sign => "Sign",
        Verify => "Verify",
        GetPublicKey => "GetPublicKey",
        CreateGrant => "CreateGrant",
        RetireGrant => "RetireGrant",
        DescribeKey => "DescribeKey",
        GenerateDataKeyPair => "GenerateDataKeyPair",
        GenerateDataKeyPairWithoutPlaintext => "GenerateDataKeyPairWithoutPlaintext",
        GenerateMac => "GenerateMac",
        VerifyMac => "VerifyMac",
        DeriveSharedSecret => "DeriveSharedSecret",
        Encapsulate => "Encapsulate",
        Decapsulate => "Decapsulate",
    }
);

/// The last successful cryptographic use of a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastUse {
    pub operation: TrackedOperation,
    pub at: Timestamp,
}

/// What the store knows of a key's use. Uses are counted in memory and written in batches
/// (see `engine::usage`), so this lags the truth by at most one flush.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageTracking {
    /// Since when uses are recorded: the key's creation, or for a key made before tracking
    /// existed, when a node first flushed its use. `None` until then.
    pub since: Option<Timestamp>,
    pub last: Option<LastUse>,
}

/// A grant's encryption-context constraint: keys compare case-insensitively, values exactly.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GrantConstraint {
    /// The request's context contains every pair.
    Subset(BTreeMap<String, String>),
    /// The request's context is exactly these pairs.
    Equals(BTreeMap<String, String>),
}

impl GrantConstraint {
    /// Whether a request's encryption context satisfies the constraint.
    pub fn allows(&self, context: &BTreeMap<String, String>) -> bool {
        let has = |(k, v): (&String, &String)| {
            context
                .iter()
                .any(|(ck, cv)| ck.eq_ignore_ascii_case(k) && cv == v)
        };
        match self {
            GrantConstraint::Subset(pairs) => pairs.iter().all(has),
            GrantConstraint::Equals(pairs) => pairs.len() == context.len() && pairs.iter().all(has),
        }
    }

    /// Whether a child grant's constraint is at least as strict as this one (sub-grants).
    pub fn is_narrowed_by(&self, child: Option<&GrantConstraint>) -> bool {
        match (self, child) {
            (_, None) => false,
            (GrantConstraint::Equals(p), Some(GrantConstraint::Equals(c))) => p == c,
            (GrantConstraint::Equals(_), Some(GrantConstraint::Subset(_))) => false,
            (GrantConstraint::Subset(p), Some(c)) => {
                let pairs = match c {
                    GrantConstraint::Subset(c) | GrantConstraint::Equals(c) => c,
                };
                GrantConstraint::Subset(p.clone()).allows(pairs)
            }
        }
    }
}

/// A grant on a key: stored in the key's record, so it moves with the key's compare-and-set
/// writes and is destroyed with the key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// 64 hex characters.
    pub id: String,
    pub name: Option<String>,
    pub grantee: String,
    pub retiring: Option<String>,
    pub operations: Vec<GrantOperation>,
    pub constraint: Option<GrantConstraint>,
    /// The account the grant was created in.
    pub issuing_account: String,
    pub created_at: Timestamp,
}

impl Grant {
    /// About how many bytes the grant takes in its key's record: its text as JSON escapes it
    /// (a control character takes six bytes), plus a few bytes a member for the encoding.
    pub fn weight(&self) -> usize {
        fn json(s: &str) -> usize {
            s.chars()
                .map(|c| match c {
                    '"' | '\\' => 2,
                    c if c < ' ' => 6,
                    c => c.len_utf8(),
                })
                .sum::<usize>()
                + 8
        }
        let pairs = match &self.constraint {
            Some(GrantConstraint::Subset(pairs) | GrantConstraint::Equals(pairs)) => {
                pairs.iter().map(|(k, v)| json(k) + json(v)).sum()
            }
            None => 0,
        };
        json(&self.id)
            + self.name.as_deref().map_or(0, json)
            + json(&self.grantee)
            + self.retiring.as_deref().map_or(0, json)
            + json(&self.issuing_account)
            + 32 * self.operations.len()
            + pairs
            + 128
    }
}

/// A key's deletion protection, with the description given when it was turned on.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionProtection {
    pub description: String,
}

named_enum!(
    /// ImportKeyMaterial's `ImportType`.
    ImportType {
        NewKeyMaterial => "NEW_KEY_MATERIAL",
        ExistingKeyMaterial => "EXISTING_KEY_MATERIAL",
    }
);

named_enum!(
    /// How a key uses one of its materials (ListKeyRotations' `KeyMaterialState`).
    KeyMaterialState {
        Current => "CURRENT",
        NonCurrent => "NON_CURRENT",
        PendingRotation => "PENDING_ROTATION",
    }
);

named_enum!(
    /// Whether an imported material is in the key now (ListKeyRotations' `ImportState`).
    ImportState {
        Imported => "IMPORTED",
        PendingImport => "PENDING_IMPORT",
    }
);

named_enum!(
    /// ListKeyRotations' `IncludeKeyMaterial`.
    IncludeKeyMaterial {
        AllKeyMaterial => "ALL_KEY_MATERIAL",
        RotationsOnly => "ROTATIONS_ONLY",
    }
);

/// One key material of an EXTERNAL key. The first material and every material a rotation made
/// current are permanently associated with the key: the key is usable only while all of them
/// are imported. Material imported for a rotation that has not happened yet
/// (`pending_rotation`) is not; it may be deleted and other material imported in its place.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportedKeyMaterial {
    /// The material version its ciphertexts carry.
    #[serde(default = "first_version")]
    pub version: u32,
    /// Hex of a digest of the material, sealed under the root key: it tells whether material
    /// offered later is the same, and gives nothing to check a guess of the material against
    /// without the root key.
    pub material_check: String,
    /// The `KeyMaterialId`, once a root-key rotation has re-sealed `material_check` (the id is
    /// derived from the first sealed check and must not change with the root key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub material_id: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub pending_rotation: bool,
    /// Set while the material is imported; `None` after it was deleted or expired.
    pub expiration_model: Option<ExpirationModel>,
    pub valid_to: Option<Timestamp>,
}

fn first_version() -> u32 {
    1
}

fn stored_imports<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Vec<ImportedKeyMaterial>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored {
        Many(Vec<ImportedKeyMaterial>),
        One(Option<ImportedKeyMaterial>),
    }
    Ok(match Stored::deserialize(d)? {
        Stored::Many(all) => all,
        Stored::One(one) => one.into_iter().collect(),
    })
}

impl ImportedKeyMaterial {
    /// A stable, public identifier of the material (AWS's `KeyMaterialId`, 64 hex digits):
    /// derived from the sealed check, so it reveals nothing about the material.
    pub fn key_material_id(&self) -> String {
        match &self.material_id {
            Some(id) => id.clone(),
            None => hex::encode(trent_crypto::sha256(self.material_check.as_bytes())),
        }
    }
}

/// Rotation settings and history of a key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    /// Automatic rotation period, while automatic rotation is enabled.
    pub period_days: Option<u32>,
    /// When automatic rotation next happens (while enabled).
    pub next_rotation: Option<Timestamp>,
    /// Every completed rotation, oldest first.
    pub history: Vec<RotationEntry>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RotationEntry {
    pub material_version: u32,
    pub date: Timestamp,
    pub kind: RotationType,
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

    /// Whether this copy is a multi-Region key's primary or a replica; `None` for a
    /// single-Region key.
    pub fn multi_region_type(&self) -> Option<MultiRegionKeyType> {
        let set = self.meta.multi_region_set.as_ref()?;
        Some(if set.primary == self.scope.region.0 {
            MultiRegionKeyType::Primary
        } else {
            MultiRegionKeyType::Replica
        })
    }

    pub fn signing_algorithms(&self) -> &'static [SigningAlgorithm] {
        match self.meta.key_usage {
            KeyUsage::SignVerify => self.meta.key_spec.signing_algorithms(),
            _ => &[],
        }
    }

    pub fn mac_algorithms(&self) -> &'static [MacAlgorithm] {
        match self.meta.key_spec.kind() {
            KeyKind::Hmac(MacAlgorithm::HmacSha224) => &[MacAlgorithm::HmacSha224],
            KeyKind::Hmac(MacAlgorithm::HmacSha256) => &[MacAlgorithm::HmacSha256],
            KeyKind::Hmac(MacAlgorithm::HmacSha384) => &[MacAlgorithm::HmacSha384],
            KeyKind::Hmac(MacAlgorithm::HmacSha512) => &[MacAlgorithm::HmacSha512],
            _ => &[],
        }
    }

    pub fn key_agreement_algorithms(&self) -> &'static [KeyAgreementAlgorithm] {
        match self.meta.key_usage {
            KeyUsage::KeyAgreement => &[KeyAgreementAlgorithm::Ecdh],
            _ => &[],
        }
    }

    pub fn encapsulation_algorithms(&self) -> &'static [EncapsulationAlgorithm] {
        match self.meta.key_usage {
            KeyUsage::EncapsulateDecapsulate => &[EncapsulationAlgorithm::MlKem],
            _ => &[],
        }
    }

    /// The earliest moment something is due to happen to this key on its own: its deletion,
    /// the expiry of its imported material, or its next automatic rotation (only while it is
    /// Enabled: AWS does not rotate keys that are disabled or pending deletion).
    pub fn next_due(&self) -> Option<Timestamp> {
        let m = &self.meta;
        let deletion = m
            .deletion_date
            .filter(|_| m.state == KeyState::PendingDeletion);
        let expiry = self.expiring_materials().map(|(_, t)| t).min();
        // A multi-Region replica is rotated by its primary, never on its own.
        let rotation = m.rotation.next_rotation.filter(|_| {
            m.state == KeyState::Enabled
                && self.multi_region_type() != Some(MultiRegionKeyType::Replica)
        });
        [deletion, expiry, rotation].into_iter().flatten().min()
    }

    /// Imported material that is in the key and has a ValidTo: (version, ValidTo).
    pub fn expiring_materials(&self) -> impl Iterator<Item = (u32, Timestamp)> + '_ {
        self.meta
            .imports
            .iter()
            .filter(|i| self.is_imported(i.version))
            .filter_map(|i| i.valid_to.map(|t| (i.version, t)))
    }

    /// Gives out the next material version: one past every version the key has had.
    pub fn next_material_version(&mut self) -> u32 {
        let highest = self
            .materials
            .iter()
            .map(|m| m.version)
            .chain(self.meta.imports.iter().map(|i| i.version))
            .chain(self.meta.current_material)
            .fold(self.meta.last_material_version, u32::max);
        self.meta.last_material_version = highest + 1;
        highest + 1
    }

    /// Whether the sealed material of `version` is in the key.
    pub fn is_imported(&self, version: u32) -> bool {
        self.materials.iter().any(|m| m.version == version)
    }

    /// The imported materials permanently associated with the key: all but the one waiting
    /// for a rotation.
    pub fn permanent_imports(&self) -> impl Iterator<Item = &ImportedKeyMaterial> {
        self.meta.imports.iter().filter(|i| !i.pending_rotation)
    }

    /// Whether the key holds all the material it needs to be used: always for generated
    /// material; for EXTERNAL keys, every permanently associated material must be imported.
    pub fn has_material(&self) -> bool {
        if self.meta.origin != Origin::External {
            return true;
        }
        let mut permanent = self.permanent_imports().peekable();
        permanent.peek().is_some() && permanent.all(|i| self.is_imported(i.version))
    }

    /// The key's material versions, oldest first: every version generated, or for EXTERNAL
    /// keys every material associated with the key, imported or not, and with
    /// `include_pending` also the material waiting for a rotation.
    pub fn material_versions(&self, include_pending: bool) -> Vec<u32> {
        let mut versions: Vec<u32> = match self.meta.origin {
            Origin::External if include_pending => {
                self.meta.imports.iter().map(|i| i.version).collect()
            }
            Origin::External => self.permanent_imports().map(|i| i.version).collect(),
            _ => self.materials.iter().map(|m| m.version).collect(),
        };
        versions.sort_unstable();
        versions
    }

    /// How the key uses the material of `version`.
    pub fn material_state(&self, version: u32) -> KeyMaterialState {
        let pending = self
            .meta
            .imports
            .iter()
            .any(|i| i.version == version && i.pending_rotation);
        if pending {
            KeyMaterialState::PendingRotation
        } else if self.meta.current_material == Some(version) {
            KeyMaterialState::Current
        } else {
            KeyMaterialState::NonCurrent
        }
    }

    /// AWS's `KeyMaterialId` of the material of `version`: for imported material, derived from
    /// its sealed check; for generated material, from the key id and the version.
    pub fn key_material_id(&self, version: u32) -> String {
        match self.meta.imports.iter().find(|i| i.version == version) {
            Some(imported) => imported.key_material_id(),
            None => {
                let mut input = b"trent/key-material-id/v1/".to_vec();
                input.extend_from_slice(self.id.as_bytes());
                input.extend_from_slice(&version.to_be_bytes());
                hex::encode(trent_crypto::sha256(&input))
            }
        }
    }

    /// DescribeKey's ExpirationModel and ValidTo of an EXTERNAL key: the earliest expiry of
    /// the imported, permanently associated materials.
    pub fn import_expiration(&self) -> (Option<ExpirationModel>, Option<Timestamp>) {
        let imported = || {
            self.permanent_imports()
                .filter(|i| self.is_imported(i.version))
        };
        let valid_to = imported().filter_map(|i| i.valid_to).min();
        let model = match valid_to {
            Some(_) => Some(ExpirationModel::KeyMaterialExpires),
            None => imported()
                .next()
                .map(|_| ExpirationModel::KeyMaterialDoesNotExpire),
        };
        (model, valid_to)
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A grant weighs at least what it takes in the record as JSON, however its text escapes.
    #[test]
    fn a_grants_weight_covers_its_json() {
        for text in ["plain", "\u{1}\u{2}\u{1f}", "\"\\\"", "é中"] {
            let long = text.repeat(200);
            let pairs: BTreeMap<String, String> = (0..8)
                .map(|i| (format!("{i}{long}"), long.clone()))
                .collect();
            let grant = Grant {
                id: "a".repeat(64),
                name: Some(long.clone()),
                grantee: long.clone(),
                retiring: Some(long.clone()),
                operations: vec![GrantOperation::Decrypt, GrantOperation::Encrypt],
                constraint: Some(GrantConstraint::Subset(pairs)),
                issuing_account: "111122223333".into(),
                created_at: Timestamp(0),
            };
            let json = serde_json::to_string(&grant).unwrap().len();
            assert!(
                grant.weight() >= json,
                "{text:?}: {} < {json}",
                grant.weight()
            );
        }
    }

    fn meta_with(imports: &str) -> KeyMeta {
        let json = format!(
            r#"{{"description":"","key_spec":"SYMMETRIC_DEFAULT","key_usage":"ENCRYPT_DECRYPT",
            "origin":"EXTERNAL","state":"Enabled","created_at":1,"deletion_date":null,
            "pending_window_days":null,"policy":"{{}}","tags":{{}},"current_material":1,
            "multi_region":false{imports}}}"#
        );
        serde_json::from_str(&json).unwrap()
    }

    /// Stores written before keys held several materials keep one object under `import`; it
    /// reads as the key's first material.
    #[test]
    fn single_import_records_of_older_stores_still_read() {
        let legacy = meta_with(
            r#","import":{"material_check":"ab","expiration_model":"KEY_MATERIAL_EXPIRES","valid_to":5}"#,
        );
        assert_eq!(
            legacy.imports,
            [ImportedKeyMaterial {
                version: 1,
                material_check: "ab".into(),
                material_id: None,
                description: None,
                pending_rotation: false,
                expiration_model: Some(ExpirationModel::KeyMaterialExpires),
                valid_to: Some(Timestamp(5)),
            }]
        );
        assert!(meta_with(r#","import":null"#).imports.is_empty());
        assert!(meta_with("").imports.is_empty());
        // Keys stored before deletion protection existed are unprotected.
        assert_eq!(meta_with("").deletion_protection, None);
        // And what is written now reads back.
        let json = serde_json::to_string(&legacy).unwrap();
        assert_eq!(serde_json::from_str::<KeyMeta>(&json).unwrap(), legacy);
    }
}
