//! The order in which AWS lists each enum's values in its "Member must satisfy enum value set"
//! message, written once per enum. AWS's recorded order where one is known (`macAlgorithm`);
//! otherwise the order of the service model botocore ships (`kms/2014-11-01/service-2.json`,
//! botocore 1.44.8), which is the order AWS's front end is generated from.
//!
//! Only the AWS wire order lives here; the values themselves are `trent-core`'s.

use std::fmt::Display;

use trent_core::{
    DataKeyPairSpec, DataKeySpec, EncapsulationAlgorithm, EncryptionAlgorithm, ExpirationModel,
    GrantOperation, ImportType, IncludeKeyMaterial, KeyAgreementAlgorithm, KeySpec, KeyUsage,
    MacAlgorithm, MessageType, Origin, SigningAlgorithm, WrappingAlgorithm, WrappingKeySpec,
};

/// An enum member type of the AWS wire: its values in AWS's message order.
pub trait WireEnum: Copy + PartialEq + Display + 'static {
    /// Every value the member accepts, in the order AWS's message lists them.
    const MESSAGE_ORDER: &'static [Self];
}

macro_rules! message_order {
    ($($(#[$m:meta])* $t:ident: [$($v:ident),+ $(,)?];)+) => {
        $(
            $(#[$m])*
            impl WireEnum for $t {
                const MESSAGE_ORDER: &'static [Self] = &[$($t::$v),+];
            }
        )+

        #[cfg(test)]
        mod every_value_once {
            use super::*;

            /// Each table lists every value of its type exactly once.
            #[test]
            fn tables_are_permutations_of_the_types() {
                $(
                    let order = <$t as WireEnum>::MESSAGE_ORDER;
                    assert_eq!(order.len(), $t::ALL.len(), stringify!($t));
                    for v in $t::ALL {
                        assert!(order.contains(v), "{} lacks {v}", stringify!($t));
                    }
                )+
            }
        }
    };
}

message_order! {
    KeySpec: [
        Rsa2048, Rsa3072, Rsa4096, EccNistP256, EccNistP384, EccNistP521, EccSecgP256k1,
        SymmetricDefault, Hmac224, Hmac256, Hmac384, Hmac512, Sm2, MlDsa44, MlDsa65, MlDsa87,
        EccNistEdwards25519, MlKem512, MlKem768, MlKem1024,
    ];
    KeyUsage: [SignVerify, EncryptDecrypt, GenerateVerifyMac, KeyAgreement, EncapsulateDecapsulate];
    Origin: [AwsKms, External, AwsCloudHsm, ExternalKeyStore];
    EncryptionAlgorithm: [SymmetricDefault, RsaesOaepSha1, RsaesOaepSha256, Sm2Pke];
    SigningAlgorithm: [
        RsassaPssSha256, RsassaPssSha384, RsassaPssSha512, RsassaPkcs1V15Sha256,
        RsassaPkcs1V15Sha384, RsassaPkcs1V15Sha512, EcdsaSha256, EcdsaSha384, EcdsaSha512,
        Sm2Dsa, MlDsaShake256, Ed25519Sha512, Ed25519PhSha512,
    ];
    MessageType: [Raw, Digest, ExternalMu];
    /// Recorded against AWS: not the model's order.
    MacAlgorithm: [HmacSha384, HmacSha256, HmacSha224, HmacSha512];
    KeyAgreementAlgorithm: [Ecdh];
    EncapsulationAlgorithm: [MlKem];
    DataKeySpec: [Aes256, Aes128];
    DataKeyPairSpec: [
        Rsa2048, Rsa3072, Rsa4096, EccNistP256, EccNistP384, EccNistP521, EccSecgP256k1, Sm2,
        EccNistEdwards25519, MlKem512, MlKem768, MlKem1024,
    ];
    WrappingAlgorithm: [
        RsaesPkcs1V15, RsaesOaepSha1, RsaesOaepSha256, RsaAesKeyWrapSha1, RsaAesKeyWrapSha256,
        Sm2Pke,
    ];
    WrappingKeySpec: [Rsa2048, Rsa3072, Rsa4096, Sm2];
    ExpirationModel: [KeyMaterialExpires, KeyMaterialDoesNotExpire];
    ImportType: [NewKeyMaterial, ExistingKeyMaterial];
    GrantOperation: [
        Decrypt, Encrypt, GenerateDataKey, GenerateDataKeyWithoutPlaintext, ReEncryptFrom,
        ReEncryptTo, Sign, Verify, GetPublicKey, CreateGrant, RetireGrant, DescribeKey,
        GenerateDataKeyPair, GenerateDataKeyPairWithoutPlaintext, GenerateMac, VerifyMac,
        DeriveSharedSecret, Encapsulate, Decapsulate,
    ];
    IncludeKeyMaterial: [AllKeyMaterial, RotationsOnly];
}

/// The deprecated `CustomerMasterKeySpec` member: the key specs that existed when it was
/// replaced by `KeySpec`, in the model's order. Newer specs are not values of it.
pub const CUSTOMER_MASTER_KEY_SPECS: &[KeySpec] = &[
    KeySpec::Rsa2048,
    KeySpec::Rsa3072,
    KeySpec::Rsa4096,
    KeySpec::EccNistP256,
    KeySpec::EccNistP384,
    KeySpec::EccNistP521,
    KeySpec::EccSecgP256k1,
    KeySpec::SymmetricDefault,
    KeySpec::Hmac224,
    KeySpec::Hmac256,
    KeySpec::Hmac384,
    KeySpec::Hmac512,
    KeySpec::Sm2,
];
