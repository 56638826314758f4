//! Use-cases of asymmetric and HMAC keys: public keys, signatures, RSA-OAEP, ECDH, ML-KEM
//! encapsulation, data key pairs and MACs. Each checks, in AWS's order: the state table, the key
//! usage, the algorithm against the key spec, then the message.

use std::sync::Arc;

use trent_crypto::asymmetric::{self, Hash, SignatureScheme, Signed};
use trent_crypto::SecretBytes;

use super::{gate, prepare_material, Caller, Facts, Kms, LoadedKey, Material};
use crate::blob::EncryptionContext;
use crate::error::KmsError;
use crate::ids::KeyRef;
use crate::model::*;
use crate::state::KeyOp;

/// Result of GenerateDataKeyPair(WithoutPlaintext).
#[derive(Debug)]
pub struct DataKeyPair {
    /// PKCS#8 DER of the private key.
    pub private_key: SecretBytes,
    /// The private key encrypted under the symmetric key (a normal ciphertext blob).
    pub private_key_ciphertext: Vec<u8>,
    /// DER SubjectPublicKeyInfo.
    pub public_key: Vec<u8>,
    pub key: Arc<LoadedKey>,
}

/// `<arn> key usage is X which is not valid for Op.` (AWS's InvalidKeyUsageException text).
pub(super) fn require_usage(key: &LoadedKey, usage: KeyUsage, op: &str) -> Result<(), KmsError> {
    let r = &key.record;
    if r.meta.key_usage == usage {
        return Ok(());
    }
    Err(KmsError::InvalidKeyUsage(format!(
        "{} key usage is {} which is not valid for {op}.",
        r.arn(),
        r.meta.key_usage
    )))
}

/// `Algorithm X is incompatible with key spec Y.`
pub(super) fn incompatible(algorithm: impl std::fmt::Display, spec: KeySpec) -> KmsError {
    KmsError::InvalidKeyUsage(format!(
        "Algorithm {algorithm} is incompatible with key spec {spec}."
    ))
}

fn private_key(key: &LoadedKey) -> Result<&asymmetric::PrivateKey, KmsError> {
    match key.current()? {
        (_, Material::Private(k)) => Ok(k),
        _ => Err(KmsError::internal("asymmetric key without a private key")),
    }
}

/// Checks a Sign/Verify request against the key and turns it into what the crypto layer signs.
fn signing_input<'a>(
    key: &LoadedKey,
    op: &str,
    message: &'a [u8],
    message_type: MessageType,
    algorithm: SigningAlgorithm,
) -> Result<(SignatureScheme, Signed<'a>), KmsError> {
    require_usage(key, KeyUsage::SignVerify, op)?;
    let spec = key.record.meta.key_spec;
    let scheme = algorithm
        .scheme()
        .filter(|_| spec.signing_algorithms().contains(&algorithm))
        .ok_or_else(|| incompatible(algorithm, spec))?;
    let of_len = |len: usize| {
        if message.len() == len {
            Ok(message)
        } else {
            Err(KmsError::Validation(format!(
                "Digest is invalid length for algorithm {algorithm}."
            )))
        }
    };
    // AWS's reference names no text for this refusal; this is the one another KMS emulator
    // reports measuring against AWS (floci, pull request 2930).
    let wrong_type = || {
        KmsError::Validation(format!(
            "Message type {message_type} is incompatible with algorithm {algorithm}."
        ))
    };
    let signed = match (scheme, message_type) {
        // AWS's Ed25519ph takes only a DIGEST (Sign's MessageType reference).
        (SignatureScheme::Ed25519ph, MessageType::Raw) => return Err(wrong_type()),
        (_, MessageType::Raw) => Signed::Message(message),
        (
            SignatureScheme::RsaPss(h) | SignatureScheme::RsaPkcs1(h) | SignatureScheme::Ecdsa(h),
            MessageType::Digest,
        ) => Signed::Digest(of_len(h.output_len())?),
        // A SHA-512 digest, which AWS hashes once more as Ed25519ph's own prehash ("the input
        // is hashed twice", same reference): to the scheme, the digest is the message.
        (SignatureScheme::Ed25519ph, MessageType::Digest) => {
            Signed::Message(of_len(Hash::Sha512.output_len())?)
        }
        // μ of FIPS 204 §6.2 ("the length of the Message value must be 64 bytes").
        (SignatureScheme::MlDsa, MessageType::ExternalMu) => {
            Signed::Digest(of_len(asymmetric::ML_DSA_MU_LEN)?)
        }
        _ => return Err(wrong_type()),
    };
    Ok((scheme, signed))
}

impl Kms {
    pub fn get_public_key(
        &self,
        caller: &Caller,
        key: &KeyRef,
    ) -> Result<Arc<LoadedKey>, KmsError> {
        let loaded = self.usable(caller, key, KeyOp::GetPublicKey)?;
        if !matches!(loaded.record.meta.key_spec.kind(), KeyKind::Asymmetric(_)) {
            return Err(KmsError::UnsupportedOperation(format!(
                "{} key spec {} has no public key.",
                loaded.arn(),
                loaded.record.meta.key_spec
            )));
        }
        Ok(loaded)
    }

    pub fn sign(
        &self,
        caller: &Caller,
        key: &KeyRef,
        message: &[u8],
        message_type: MessageType,
        algorithm: SigningAlgorithm,
    ) -> Result<(Vec<u8>, Arc<LoadedKey>), KmsError> {
        let facts = Facts {
            signing_algorithm: Some(algorithm),
            message_type: Some(message_type),
            ..Facts::default()
        };
        let loaded = self.admit_key(caller, key, KeyOp::Sign, &facts)?;
        let (scheme, signed) = signing_input(&loaded, "Sign", message, message_type, algorithm)?;
        let signature = private_key(&loaded)?.sign(scheme, signed)?;
        self.note_use(&loaded, KeyOp::Sign);
        Ok((signature, loaded))
    }

    /// Verifies a signature; a mismatch is `KmsError::InvalidSignature` (AWS answers it with
    /// an error, never with `SignatureValid: false`).
    pub fn verify(
        &self,
        caller: &Caller,
        key: &KeyRef,
        message: &[u8],
        message_type: MessageType,
        signature: &[u8],
        algorithm: SigningAlgorithm,
    ) -> Result<Arc<LoadedKey>, KmsError> {
        let facts = Facts {
            signing_algorithm: Some(algorithm),
            message_type: Some(message_type),
            ..Facts::default()
        };
        let loaded = self.admit_key(caller, key, KeyOp::Verify, &facts)?;
        let (scheme, signed) = signing_input(&loaded, "Verify", message, message_type, algorithm)?;
        if !private_key(&loaded)?.verify(scheme, signed, signature) {
            return Err(KmsError::InvalidSignature);
        }
        self.note_use(&loaded, KeyOp::Verify);
        Ok(loaded)
    }

    /// Checks that `key` may encrypt with `algorithm` (and `context`) in `op`.
    pub(super) fn check_encryption(
        key: &LoadedKey,
        op: &str,
        context: &EncryptionContext,
        algorithm: EncryptionAlgorithm,
    ) -> Result<(), KmsError> {
        match key.record.meta.key_spec.kind() {
            KeyKind::Asymmetric(_) => {
                Self::require_asymmetric_encryption(key, op, algorithm, context).map(|_| ())
            }
            _ => Self::require_symmetric(key, op, algorithm),
        }
    }

    /// Encrypts under `key`, symmetric (a ciphertext blob) or RSA (raw RSA-OAEP output).
    pub(super) fn encrypt_with(
        key: &LoadedKey,
        op: &str,
        plaintext: &[u8],
        context: &EncryptionContext,
        algorithm: EncryptionAlgorithm,
    ) -> Result<Vec<u8>, KmsError> {
        let KeyKind::Asymmetric(pair) = key.record.meta.key_spec.kind() else {
            Self::require_symmetric(key, op, algorithm)?;
            return Self::seal(key, plaintext, context);
        };
        let hash = Self::require_asymmetric_encryption(key, op, algorithm, context)?;
        let modulus = pair
            .rsa_modulus_len()
            .ok_or_else(|| KmsError::internal("encryption key is not RSA"))?;
        let max = asymmetric::oaep_max_plaintext(modulus, hash);
        if plaintext.len() > max {
            return Err(KmsError::Validation(format!(
                "Algorithm {algorithm} and key spec {} cannot encrypt data larger than {max} bytes.",
                key.record.meta.key_spec
            )));
        }
        Ok(private_key(key)?.encrypt_oaep(hash, plaintext)?)
    }

    /// Decrypts raw RSA-OAEP ciphertext under an asymmetric key; every failure to decrypt is the
    /// same `InvalidCiphertext`.
    pub(super) fn decrypt_asymmetric(
        key: &LoadedKey,
        op: &str,
        ciphertext: &[u8],
        context: &EncryptionContext,
        algorithm: EncryptionAlgorithm,
    ) -> Result<SecretBytes, KmsError> {
        let hash = Self::require_asymmetric_encryption(key, op, algorithm, context)?;
        private_key(key)?
            .decrypt_oaep(hash, ciphertext)
            .map_err(|_| KmsError::InvalidCiphertext)
    }

    fn require_asymmetric_encryption(
        key: &LoadedKey,
        op: &str,
        algorithm: EncryptionAlgorithm,
        context: &EncryptionContext,
    ) -> Result<asymmetric::OaepHash, KmsError> {
        require_usage(key, KeyUsage::EncryptDecrypt, op)?;
        let hash = algorithm
            .oaep()
            .filter(|_| key.record.encryption_algorithms().contains(&algorithm))
            .ok_or_else(|| incompatible(algorithm, key.record.meta.key_spec))?;
        if !context.is_empty() {
            // RSA-OAEP has nothing to bind a context to; AWS takes it only with symmetric keys.
            return Err(KmsError::Validation(
                "EncryptionContext is not supported with asymmetric KMS keys.".into(),
            ));
        }
        Ok(hash)
    }

    /// ECDH between the key and a peer public key (DER SubjectPublicKeyInfo).
    pub fn derive_shared_secret(
        &self,
        caller: &Caller,
        key: &KeyRef,
        algorithm: KeyAgreementAlgorithm,
        peer_public_key: &[u8],
    ) -> Result<(SecretBytes, Arc<LoadedKey>), KmsError> {
        let facts = Facts {
            key_agreement_algorithm: Some(algorithm),
            ..Facts::default()
        };
        let loaded = self.admit_key(caller, key, KeyOp::DeriveSharedSecret, &facts)?;
        require_usage(&loaded, KeyUsage::KeyAgreement, "DeriveSharedSecret")?;
        if !loaded
            .record
            .key_agreement_algorithms()
            .contains(&algorithm)
        {
            return Err(incompatible(algorithm, loaded.record.meta.key_spec));
        }
        let secret = private_key(&loaded)?
            .agree(peer_public_key)
            .map_err(|_| KmsError::InvalidPeerPublicKey)?;
        self.note_use(&loaded, KeyOp::DeriveSharedSecret);
        Ok((secret, loaded))
    }

    /// Checks an Encapsulate/Decapsulate request against the key: its usage, then the algorithm.
    fn kem_key<'k>(
        key: &'k LoadedKey,
        op: &str,
        algorithm: EncapsulationAlgorithm,
    ) -> Result<&'k asymmetric::PrivateKey, KmsError> {
        require_usage(key, KeyUsage::EncapsulateDecapsulate, op)?;
        if !key.record.encapsulation_algorithms().contains(&algorithm) {
            return Err(incompatible(algorithm, key.record.meta.key_spec));
        }
        private_key(key)
    }

    /// ML-KEM encapsulation to the key's public key: the ciphertext and the shared secret.
    pub fn encapsulate(
        &self,
        caller: &Caller,
        key: &KeyRef,
        algorithm: EncapsulationAlgorithm,
    ) -> Result<(Vec<u8>, SecretBytes, Arc<LoadedKey>), KmsError> {
        let loaded = self.usable(caller, key, KeyOp::Encapsulate)?;
        let (ciphertext, secret) =
            Self::kem_key(&loaded, "Encapsulate", algorithm)?.encapsulate()?;
        self.note_use(&loaded, KeyOp::Encapsulate);
        Ok((ciphertext, secret, loaded))
    }

    /// ML-KEM decapsulation. Only a ciphertext of the wrong length for the key spec is
    /// `InvalidCiphertext`; any other yields a secret (FIPS 203 implicit rejection, as AWS says).
    pub fn decapsulate(
        &self,
        caller: &Caller,
        key: &KeyRef,
        ciphertext: &[u8],
        algorithm: EncapsulationAlgorithm,
    ) -> Result<(SecretBytes, Arc<LoadedKey>), KmsError> {
        let loaded = self.usable(caller, key, KeyOp::Decapsulate)?;
        let secret = Self::kem_key(&loaded, "Decapsulate", algorithm)?
            .decapsulate(ciphertext)
            .map_err(|_| KmsError::InvalidCiphertext)?;
        self.note_use(&loaded, KeyOp::Decapsulate);
        Ok((secret, loaded))
    }

    /// A fresh key pair whose private key is returned encrypted under the symmetric `key`
    /// (and, unless `op` is the WithoutPlaintext variant, in plaintext too).
    pub fn generate_data_key_pair(
        &self,
        caller: &Caller,
        key: &KeyRef,
        pair_spec: DataKeyPairSpec,
        context: &EncryptionContext,
        op: KeyOp,
    ) -> Result<DataKeyPair, KmsError> {
        let facts = Facts {
            encryption_context: Some(context),
            encryption_algorithm: Some(EncryptionAlgorithm::SymmetricDefault),
            data_key_pair_spec: Some(pair_spec),
            ..Facts::default()
        };
        let loaded = self.admit_key(caller, key, op, &facts)?;
        let op_name = match op {
            KeyOp::GenerateDataKeyPairWithoutPlaintext => "GenerateDataKeyPairWithoutPlaintext",
            _ => "GenerateDataKeyPair",
        };
        Self::require_symmetric(&loaded, op_name, EncryptionAlgorithm::SymmetricDefault)?;
        let spec = pair_spec.key_spec();
        let KeyKind::Asymmetric(pair): KeyKind = spec.kind() else {
            return Err(KmsError::UnsupportedOperation(format!(
                "KeyPairSpec {pair_spec} is not supported by this server."
            )));
        };
        let private_key = asymmetric::generate_private_key(pair)?;
        let Material::Private(parsed) = prepare_material(spec, &private_key)? else {
            return Err(KmsError::internal("generated key pair did not parse"));
        };
        let private_key_ciphertext = Self::seal(&loaded, private_key.expose(), context)?;
        self.note_use(&loaded, op);
        Ok(DataKeyPair {
            public_key: parsed.public_key_der().to_vec(),
            private_key,
            private_key_ciphertext,
            key: loaded,
        })
    }

    fn mac_key<'k>(
        key: &'k LoadedKey,
        op: &str,
        algorithm: MacAlgorithm,
    ) -> Result<&'k trent_crypto::mac::MacKey, KmsError> {
        require_usage(key, KeyUsage::GenerateVerifyMac, op)?;
        if !key.record.mac_algorithms().contains(&algorithm) {
            return Err(incompatible(algorithm, key.record.meta.key_spec));
        }
        match key.current()? {
            (_, Material::Mac(m)) => Ok(m),
            _ => Err(KmsError::internal("HMAC key without HMAC material")),
        }
    }

    fn mac_admitted(
        &self,
        caller: &Caller,
        key: &KeyRef,
        op: KeyOp,
        algorithm: MacAlgorithm,
    ) -> Result<Arc<LoadedKey>, KmsError> {
        let facts = Facts {
            mac_algorithm: Some(algorithm),
            ..Facts::default()
        };
        self.admit_key(caller, key, op, &facts)
    }

    pub fn generate_mac(
        &self,
        caller: &Caller,
        key: &KeyRef,
        message: &[u8],
        algorithm: MacAlgorithm,
    ) -> Result<(Vec<u8>, Arc<LoadedKey>), KmsError> {
        let loaded = self.mac_admitted(caller, key, KeyOp::GenerateMac, algorithm)?;
        let mac = Self::mac_key(&loaded, "GenerateMac", algorithm)?.sign(message);
        self.note_use(&loaded, KeyOp::GenerateMac);
        Ok((mac, loaded))
    }

    /// Verifies a MAC; a mismatch is `KmsError::InvalidMac`.
    pub fn verify_mac(
        &self,
        caller: &Caller,
        key: &KeyRef,
        message: &[u8],
        algorithm: MacAlgorithm,
        mac: &[u8],
    ) -> Result<Arc<LoadedKey>, KmsError> {
        let loaded = self.mac_admitted(caller, key, KeyOp::VerifyMac, algorithm)?;
        if !Self::mac_key(&loaded, "VerifyMac", algorithm)?.verify(message, mac) {
            return Err(KmsError::InvalidMac);
        }
        self.note_use(&loaded, KeyOp::VerifyMac);
        Ok(loaded)
    }

    /// Loads the key a Decrypt names, if it is asymmetric (then the ciphertext is raw RSA
    /// output and the key must be named); `None` for symmetric keys, whose blob names the key.
    pub(super) fn named_asymmetric(
        &self,
        caller: &Caller,
        key: Option<&KeyRef>,
        op: KeyOp,
        facts: &Facts<'_>,
    ) -> Result<Option<Arc<LoadedKey>>, KmsError> {
        let Some(named) = key else {
            return Ok(None);
        };
        // Which kind of key is named decides where the key comes from (the request or the
        // blob); the gate decides on it either way, before anything is decrypted.
        if gate::is_foreign(caller, named) {
            // Another account's key: its policies decide before anything of it (its kind)
            // shows. Once they allow, its state answers where the caller's own key's would.
            match self.admit_key(caller, named, op, facts) {
                Ok(loaded) => {
                    let kind = loaded.record.meta.key_spec.kind();
                    return Ok(matches!(kind, KeyKind::Asymmetric(_)).then_some(loaded));
                }
                Err(e @ KmsError::AccessDenied(_)) => return Err(e),
                Err(_) => {}
            }
        }
        let (scope, id) = self.resolve_admissible(caller, named, op, facts)?;
        let asymmetric = self
            .peek_spec(&scope, &id)
            .is_some_and(|spec| matches!(spec.kind(), KeyKind::Asymmetric(_)));
        if !asymmetric {
            return Ok(None);
        }
        self.admit(caller, op, Some(named), facts)
    }
}
