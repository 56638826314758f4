//! Asymmetric and HMAC keys through `aws-sdk-kms`, with every signature, decryption and shared
//! secret cross-checked by an independent implementation (RustCrypto `rsa`, `p256`, `p384`,
//! `p521`, `k256`, `ed25519-dalek`, `ml-dsa`, with `sha3` computing ML-DSA's μ).

mod common;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    DataKeyPairSpec, EncryptionAlgorithmSpec, KeyAgreementAlgorithmSpec, KeySpec, KeyUsageType,
    MacAlgorithmSpec, MessageType, SigningAlgorithmSpec,
};
use common::{create_key, public_key, sign, symmetric_key};
use rsa::pkcs8::DecodePublicKey;
use sha2::Digest;

/// Verifies a Trent signature over `message` with an independent library.
fn verify_independently(spki: &[u8], algorithm: &SigningAlgorithmSpec, message: &[u8], sig: &[u8]) {
    use rsa::signature::Verifier;
    use SigningAlgorithmSpec as A;
    match algorithm {
        A::RsassaPssSha256 | A::RsassaPssSha384 | A::RsassaPssSha512 => {
            let key = rsa::RsaPublicKey::from_public_key_der(spki).unwrap();
            let sig = rsa::pss::Signature::try_from(sig).unwrap();
            match algorithm {
                A::RsassaPssSha256 => {
                    rsa::pss::VerifyingKey::<sha2::Sha256>::new(key).verify(message, &sig)
                }
                A::RsassaPssSha384 => {
                    rsa::pss::VerifyingKey::<sha2::Sha384>::new(key).verify(message, &sig)
                }
                _ => rsa::pss::VerifyingKey::<sha2::Sha512>::new(key).verify(message, &sig),
            }
            .unwrap()
        }
        A::RsassaPkcs1V15Sha256 | A::RsassaPkcs1V15Sha384 | A::RsassaPkcs1V15Sha512 => {
            let key = rsa::RsaPublicKey::from_public_key_der(spki).unwrap();
            let sig = rsa::pkcs1v15::Signature::try_from(sig).unwrap();
            match algorithm {
                A::RsassaPkcs1V15Sha256 => {
                    rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key).verify(message, &sig)
                }
                A::RsassaPkcs1V15Sha384 => {
                    rsa::pkcs1v15::VerifyingKey::<sha2::Sha384>::new(key).verify(message, &sig)
                }
                _ => rsa::pkcs1v15::VerifyingKey::<sha2::Sha512>::new(key).verify(message, &sig),
            }
            .unwrap()
        }
        A::EcdsaSha256 => {
            // P-256 and secp256k1 both use ECDSA_SHA_256; the SPKI's curve OID tells them apart.
            if let Ok(key) = p256::ecdsa::VerifyingKey::from_public_key_der(spki) {
                let sig = p256::ecdsa::Signature::from_der(sig).unwrap();
                key.verify(message, &sig).unwrap();
            } else {
                let key = k256::ecdsa::VerifyingKey::from_public_key_der(spki).unwrap();
                let sig = k256::ecdsa::Signature::from_der(sig).unwrap();
                // k256 accepts only low-S signatures (Bitcoin's rule); (r, n−s) is the same
                // signature for ECDSA itself.
                let sig = sig.normalize_s().unwrap_or(sig);
                key.verify(message, &sig).unwrap();
            }
        }
        A::EcdsaSha384 => {
            let key = p384::ecdsa::VerifyingKey::from_public_key_der(spki).unwrap();
            let sig = p384::ecdsa::Signature::from_der(sig).unwrap();
            key.verify(message, &sig).unwrap();
        }
        A::EcdsaSha512 => {
            let public = p521::PublicKey::from_public_key_der(spki).unwrap();
            let point =
                p521::elliptic_curve::sec1::ToEncodedPoint::to_encoded_point(&public, false);
            let key = p521::ecdsa::VerifyingKey::from_sec1_bytes(point.as_bytes()).unwrap();
            let sig = p521::ecdsa::Signature::from_der(sig).unwrap();
            key.verify(message, &sig).unwrap();
        }
        other => panic!("no independent verifier for {other:?}"),
    }
}

fn digest(algorithm: &SigningAlgorithmSpec, message: &[u8]) -> Vec<u8> {
    let name = algorithm.as_str();
    if name.ends_with("384") {
        sha2::Sha384::digest(message).to_vec()
    } else if name.ends_with("512") {
        sha2::Sha512::digest(message).to_vec()
    } else {
        sha2::Sha256::digest(message).to_vec()
    }
}

/// Every signing spec with every algorithm AWS lists for it: RAW and DIGEST signatures verify
/// with an independent library and through Verify; DescribeKey and GetPublicKey agree.
#[tokio::test]
async fn signatures_verify_independently_for_every_spec_and_algorithm() {
    let (_server, kms) = common::start();
    use SigningAlgorithmSpec as A;
    let rsa_algorithms = vec![
        A::RsassaPssSha256,
        A::RsassaPssSha384,
        A::RsassaPssSha512,
        A::RsassaPkcs1V15Sha256,
        A::RsassaPkcs1V15Sha384,
        A::RsassaPkcs1V15Sha512,
    ];
    let cases = vec![
        (KeySpec::Rsa2048, rsa_algorithms.clone()),
        (KeySpec::Rsa3072, rsa_algorithms.clone()),
        (KeySpec::Rsa4096, rsa_algorithms),
        (KeySpec::EccNistP256, vec![A::EcdsaSha256]),
        (KeySpec::EccNistP384, vec![A::EcdsaSha384]),
        (KeySpec::EccNistP521, vec![A::EcdsaSha512]),
        (KeySpec::EccSecgP256K1, vec![A::EcdsaSha256]),
    ];
    let message = b"the message Trent signs";
    for (spec, algorithms) in cases {
        let id = create_key(&kms, spec.clone(), KeyUsageType::SignVerify).await;
        let meta = common::metadata(&kms, &id).await;
        assert_eq!(meta.signing_algorithms(), &algorithms[..], "{spec:?}");
        assert!(meta.encryption_algorithms().is_empty());
        let got = kms.get_public_key().key_id(&id).send().await.unwrap();
        assert_eq!(got.key_spec(), Some(&spec));
        assert_eq!(got.key_usage(), Some(&KeyUsageType::SignVerify));
        assert_eq!(got.signing_algorithms(), &algorithms[..]);
        let spki = got.public_key().unwrap().as_ref().to_vec();
        for algorithm in &algorithms {
            let raw = sign(&kms, &id, message, MessageType::Raw, algorithm).await;
            verify_independently(&spki, algorithm, message, &raw);
            let pre = sign(
                &kms,
                &id,
                &digest(algorithm, message),
                MessageType::Digest,
                algorithm,
            )
            .await;
            verify_independently(&spki, algorithm, message, &pre);
            common::verifies(common::verify_request(
                &kms,
                &id,
                message.as_slice(),
                raw.clone(),
                algorithm,
            ))
            .await;
            let mut bad = raw.clone();
            let last = bad.len() - 1;
            bad[last] ^= 1;
            common::does_not_verify(common::verify_request(
                &kms,
                &id,
                message.as_slice(),
                bad,
                algorithm,
            ))
            .await;
        }
    }
}

/// Verifies an ML-DSA signature (pure, empty context) with RustCrypto's `ml-dsa`.
fn verify_ml_dsa(spec: &KeySpec, spki: &[u8], message: &[u8], sig: &[u8]) -> bool {
    fn check<P: ml_dsa::MlDsaParams>(spki: &[u8], message: &[u8], sig: &[u8]) -> bool
    where
        ml_dsa::VerifyingKey<P>: DecodePublicKey,
    {
        let key = ml_dsa::VerifyingKey::<P>::from_public_key_der(spki).unwrap();
        let sig = ml_dsa::Signature::<P>::try_from(sig).unwrap();
        key.verify_with_context(message, &[], &sig)
    }
    match spec {
        KeySpec::MlDsa44 => check::<ml_dsa::MlDsa44>(spki, message, sig),
        KeySpec::MlDsa65 => check::<ml_dsa::MlDsa65>(spki, message, sig),
        _ => check::<ml_dsa::MlDsa87>(spki, message, sig),
    }
}

#[tokio::test]
async fn ml_dsa_signs_and_verifies() {
    let (_server, kms) = common::start();
    // (spec, public key length in the SPKI, signature length), FIPS 204 table 2.
    for (spec, pk_len, sig_len) in [
        (KeySpec::MlDsa44, 1312, 2420),
        (KeySpec::MlDsa65, 1952, 3309),
        (KeySpec::MlDsa87, 2592, 4627),
    ] {
        let id = create_key(&kms, spec.clone(), KeyUsageType::SignVerify).await;
        let spki = public_key(&kms, &id).await;
        assert!(spki.len() > pk_len && spki.len() < pk_len + 30, "{spec:?}");
        let alg = SigningAlgorithmSpec::MlDsaShake256;
        let sig = sign(&kms, &id, b"post-quantum", MessageType::Raw, &alg).await;
        assert_eq!(sig.len(), sig_len);
        assert!(
            verify_ml_dsa(&spec, &spki, b"post-quantum", &sig),
            "{spec:?}"
        );
        assert!(!verify_ml_dsa(&spec, &spki, b"post-quantuM", &sig));
        common::verifies(common::verify_request(
            &kms,
            &id,
            "post-quantum",
            sig.clone(),
            &alg,
        ))
        .await;
        common::does_not_verify(common::verify_request(&kms, &id, "post-quantuM", sig, &alg)).await;
        // ML-DSA signs messages, not digests.
        assert_code!(
            common::sign_request(&kms, &id, vec![0u8; 32], &alg)
                .message_type(MessageType::Digest)
                .send()
                .await,
            "ValidationException"
        );

        // EXTERNAL_MU: the client computes μ from the public key and the message; Trent's
        // signature of μ is an ordinary ML-DSA signature of the message.
        let message = b"signed through its mu";
        // The raw public key is the SPKI's BIT STRING, its last element.
        let mu = external_mu(&spki[spki.len() - pk_len..], message);
        let sig = sign(&kms, &id, &mu, MessageType::ExternalMu, &alg).await;
        assert_eq!(sig.len(), sig_len);
        assert!(verify_ml_dsa(&spec, &spki, message, &sig), "{spec:?}");
        for (input, message_type) in [
            (&mu[..], MessageType::ExternalMu),
            (&message[..], MessageType::Raw),
        ] {
            common::verifies(
                common::verify_request(&kms, &id, input, sig.clone(), &alg)
                    .message_type(message_type),
            )
            .await;
        }
        let mut other = mu.clone();
        other[0] ^= 1;
        common::does_not_verify(
            common::verify_request(&kms, &id, other, sig, &alg)
                .message_type(MessageType::ExternalMu),
        )
        .await;
        // μ is exactly 64 bytes.
        assert_eq!(
            error_message!(
                common::sign_request(&kms, &id, &mu[..63], &alg)
                    .message_type(MessageType::ExternalMu)
                    .send()
                    .await,
                "ValidationException"
            ),
            "Digest is invalid length for algorithm ML_DSA_SHAKE_256."
        );
    }
}

/// μ of FIPS 204 (Algorithm 7, line 6) for an empty context, computed with `sha3`:
/// SHAKE256(SHAKE256(pk, 64) ‖ 0x00 ‖ 0x00 ‖ M, 64).
fn external_mu(raw_public_key: &[u8], message: &[u8]) -> Vec<u8> {
    use sha3::digest::{ExtendableOutput, Update, XofReader};
    let shake = |parts: &[&[u8]]| {
        let mut hasher = sha3::Shake256::default();
        for part in parts {
            hasher.update(part);
        }
        let mut out = vec![0u8; 64];
        hasher.finalize_xof().read(&mut out);
        out
    };
    shake(&[&shake(&[raw_public_key]), &[0, 0], message])
}

/// Ed25519 (RFC 8032) keys: both algorithms, each with the one MessageType AWS takes for it,
/// verified by `ed25519-dalek` with the public key from GetPublicKey, and by Verify.
#[tokio::test]
async fn ed25519_signs_and_verifies() {
    use ed25519_dalek::pkcs8::DecodePublicKey as _;
    let (_server, kms) = common::start();
    let id = create_key(&kms, KeySpec::EccNistEdwards25519, KeyUsageType::SignVerify).await;
    let pure = SigningAlgorithmSpec::Ed25519Sha512;
    let ph = SigningAlgorithmSpec::Ed25519PhSha512;
    let meta = kms.describe_key().key_id(&id).send().await.unwrap();
    assert_eq!(
        meta.key_metadata().unwrap().signing_algorithms(),
        &[pure.clone(), ph.clone()]
    );
    let spki = public_key(&kms, &id).await;
    let verifying = ed25519_dalek::VerifyingKey::from_public_key_der(&spki).unwrap();
    let message = b"the message Trent signs with Ed25519";

    // ED25519_SHA_512 signs the message itself.
    let sig = sign(&kms, &id, message, MessageType::Raw, &pure).await;
    let parsed = ed25519_dalek::Signature::from_slice(&sig).unwrap();
    verifying.verify_strict(message, &parsed).unwrap();
    // ED25519_PH_SHA_512 takes a SHA-512 digest, which AWS hashes once more as Ed25519ph's
    // prehash: to Ed25519ph, the digest is the message.
    let digest = sha2::Sha512::digest(message).to_vec();
    let ph_sig = sign(&kms, &id, &digest, MessageType::Digest, &ph).await;
    let parsed = ed25519_dalek::Signature::from_slice(&ph_sig).unwrap();
    verifying
        .verify_prehashed(sha2::Sha512::new().chain_update(&digest), None, &parsed)
        .unwrap();
    assert!(verifying.verify_strict(message, &parsed).is_err());

    for (input, message_type, algorithm, good) in [
        (&message[..], MessageType::Raw, &pure, &sig),
        (&digest[..], MessageType::Digest, &ph, &ph_sig),
    ] {
        let verify = |signature: Vec<u8>| {
            common::verify_request(&kms, &id, input, signature, algorithm)
                .message_type(message_type.clone())
                .send()
        };
        assert!(verify(good.clone()).await.unwrap().signature_valid());
        let mut bad = good.clone();
        bad[10] ^= 1;
        assert_code!(verify(bad).await, "KMSInvalidSignatureException");
    }
    // One algorithm's signature is not the other's.
    common::does_not_verify(common::verify_request(
        &kms,
        &id,
        message.as_slice(),
        ph_sig,
        &pure,
    ))
    .await;

    // Each algorithm takes only its own MessageType; Ed25519ph's digest is 64 bytes.
    let refused = |input: Vec<u8>, message_type: MessageType, algorithm: SigningAlgorithmSpec| {
        common::sign_request(&kms, &id, input, &algorithm)
            .message_type(message_type)
            .send()
    };
    for (input, message_type, algorithm, text) in [
        (
            digest.clone(),
            MessageType::Digest,
            pure.clone(),
            "Message type DIGEST is incompatible with algorithm ED25519_SHA_512.",
        ),
        (
            message.to_vec(),
            MessageType::Raw,
            ph.clone(),
            "Message type RAW is incompatible with algorithm ED25519_PH_SHA_512.",
        ),
        (
            digest.clone(),
            MessageType::ExternalMu,
            ph.clone(),
            "Message type EXTERNAL_MU is incompatible with algorithm ED25519_PH_SHA_512.",
        ),
        (
            digest[..32].to_vec(),
            MessageType::Digest,
            ph.clone(),
            "Digest is invalid length for algorithm ED25519_PH_SHA_512.",
        ),
    ] {
        assert_eq!(
            error_message!(
                refused(input, message_type, algorithm).await,
                "ValidationException"
            ),
            text
        );
    }
    // Another key spec's algorithm, or an Ed25519 algorithm on another spec.
    assert_eq!(
        error_message!(
            refused(
                message.to_vec(),
                MessageType::Raw,
                SigningAlgorithmSpec::EcdsaSha256,
            )
            .await,
            "InvalidKeyUsageException"
        ),
        "Algorithm ECDSA_SHA_256 is incompatible with key spec ECC_NIST_EDWARDS25519."
    );
    let ec = create_key(&kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    assert_code!(
        common::sign_request(&kms, &ec, message.as_slice(), &pure)
            .send()
            .await,
        "InvalidKeyUsageException"
    );
    // Ed25519 keys only sign and verify.
    for usage in [KeyUsageType::EncryptDecrypt, KeyUsageType::KeyAgreement] {
        assert_code!(
            common::create_request(&kms, KeySpec::EccNistEdwards25519, usage)
                .send()
                .await,
            "ValidationException"
        );
    }
}

#[tokio::test]
async fn signing_is_refused_as_aws_refuses_it() {
    let (_server, kms) = common::start();
    let ec = create_key(&kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    // An algorithm of another curve.
    common::refuses_sign(&kms, &ec, &SigningAlgorithmSpec::EcdsaSha384).await;
    // A digest of the wrong length.
    assert_eq!(
        error_message!(
            common::sign_request(&kms, &ec, vec![0u8; 31], &SigningAlgorithmSpec::EcdsaSha256)
                .message_type(MessageType::Digest)
                .send()
                .await,
            "ValidationException"
        ),
        "Digest is invalid length for algorithm ECDSA_SHA_256."
    );
    // Messages are 1–4096 bytes.
    assert_code!(
        common::sign_request(
            &kms,
            &ec,
            vec![0u8; 4097],
            &SigningAlgorithmSpec::EcdsaSha256
        )
        .send()
        .await,
        "ValidationException"
    );
    // The signing algorithm is required.
    assert_code!(
        kms.sign().key_id(&ec).message(Blob::new("m")).send().await,
        "ValidationException"
    );
    // A signing key does not encrypt; a symmetric key does not sign and has no public key.
    common::refuses_encrypt(&kms, &ec).await;
    let symmetric = symmetric_key(&kms).await;
    assert!(error_message!(
        common::sign_request(&kms, &symmetric, "m", &SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await,
        "InvalidKeyUsageException"
    )
    .ends_with("key usage is ENCRYPT_DECRYPT which is not valid for Sign."));
    assert_code!(
        kms.get_public_key().key_id(&symmetric).send().await,
        "UnsupportedOperationException"
    );
    // A disabled key signs nothing.
    kms.disable_key().key_id(&ec).send().await.unwrap();
    assert_code!(
        common::sign_request(&kms, &ec, "m", &SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await,
        "DisabledException"
    );
}

#[tokio::test]
async fn create_key_checks_spec_and_usage_as_aws_does() {
    let (_server, kms) = common::start();
    assert_eq!(
        error_message!(
            common::create_request(&kms, KeySpec::Rsa2048, KeyUsageType::KeyAgreement)
                .send()
                .await,
            "ValidationException"
        ),
        "KeyUsage KEY_AGREEMENT is not compatible with KeySpec RSA_2048"
    );
    let err = kms
        .create_key()
        .key_spec(KeySpec::Hmac256)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.into_service_error().meta().message(),
        Some("You must specify a KeyUsage value for all KMS keys except for symmetric encryption keys.")
    );
    assert_code!(
        common::create_request(&kms, KeySpec::EccSecgP256K1, KeyUsageType::KeyAgreement)
            .send()
            .await,
        "ValidationException"
    );
    assert_code!(
        common::create_request(&kms, KeySpec::Hmac384, KeyUsageType::EncryptDecrypt)
            .send()
            .await,
        "ValidationException"
    );
}

/// A message encrypted by an independent library to the public key decrypts in Trent, for
/// both OAEP hashes and every RSA size; Trent's own ciphertexts round-trip; limits as AWS's.
#[tokio::test]
async fn rsa_oaep_interoperates() {
    let (_server, kms) = common::start();
    for (spec, modulus) in [
        (KeySpec::Rsa2048, 256),
        (KeySpec::Rsa3072, 384),
        (KeySpec::Rsa4096, 512),
    ] {
        let id = create_key(&kms, spec.clone(), KeyUsageType::EncryptDecrypt).await;
        let meta = kms.describe_key().key_id(&id).send().await.unwrap();
        assert_eq!(
            meta.key_metadata().unwrap().encryption_algorithms(),
            &[
                EncryptionAlgorithmSpec::RsaesOaepSha1,
                EncryptionAlgorithmSpec::RsaesOaepSha256
            ]
        );
        let public = rsa::RsaPublicKey::from_public_key_der(&public_key(&kms, &id).await).unwrap();
        for (algorithm, hash_len) in [
            (EncryptionAlgorithmSpec::RsaesOaepSha1, 20),
            (EncryptionAlgorithmSpec::RsaesOaepSha256, 32),
        ] {
            let max = modulus - 2 * hash_len - 2;
            let message = vec![0xA5u8; max];
            let outside = if hash_len == 20 {
                public.encrypt(
                    &mut rand_core::OsRng,
                    rsa::Oaep::new::<sha1::Sha1>(),
                    &message,
                )
            } else {
                public.encrypt(
                    &mut rand_core::OsRng,
                    rsa::Oaep::new::<sha2::Sha256>(),
                    &message,
                )
            }
            .unwrap();
            let plain = kms
                .decrypt()
                .key_id(&id)
                .ciphertext_blob(Blob::new(outside.clone()))
                .encryption_algorithm(algorithm.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(plain.plaintext().unwrap().as_ref(), &message[..]);
            assert_eq!(plain.encryption_algorithm(), Some(&algorithm));
            // Trent's ciphertext is raw RSA output of the modulus size.
            let inside = common::encrypt_request(&kms, &id, message.clone())
                .encryption_algorithm(algorithm.clone())
                .send()
                .await
                .unwrap();
            let blob = inside.ciphertext_blob().unwrap().as_ref().to_vec();
            assert_eq!(blob.len(), modulus);
            let again = kms
                .decrypt()
                .key_id(&id)
                .ciphertext_blob(Blob::new(blob))
                .encryption_algorithm(algorithm.clone())
                .send()
                .await
                .unwrap();
            assert_eq!(again.plaintext().unwrap().as_ref(), &message[..]);
            // One byte over the limit.
            assert_eq!(
                error_message!(
                    common::encrypt_request(&kms, &id, vec![1u8; max + 1])
                        .encryption_algorithm(algorithm.clone())
                        .send()
                        .await,
                    "ValidationException"
                ),
                format!(
                    "Algorithm {} and key spec {} cannot encrypt data larger than {max} bytes.",
                    algorithm.as_str(),
                    spec.as_str()
                )
            );
            // The wrong hash does not decrypt.
            let other = if hash_len == 20 {
                EncryptionAlgorithmSpec::RsaesOaepSha256
            } else {
                EncryptionAlgorithmSpec::RsaesOaepSha1
            };
            assert_code!(
                kms.decrypt()
                    .key_id(&id)
                    .ciphertext_blob(Blob::new(outside))
                    .encryption_algorithm(other)
                    .send()
                    .await,
                "InvalidCiphertextException"
            );
        }
        // ReEncrypt from RSA to a symmetric key and back.
        let symmetric = symmetric_key(&kms).await;
        let rsa_blob = common::encrypt_request(&kms, &id, "moved")
            .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
            .send()
            .await
            .unwrap()
            .ciphertext_blob()
            .unwrap()
            .clone();
        let moved = kms
            .re_encrypt()
            .ciphertext_blob(rsa_blob)
            .source_key_id(&id)
            .source_encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
            .destination_key_id(&symmetric)
            .send()
            .await
            .unwrap();
        let back = kms
            .re_encrypt()
            .ciphertext_blob(moved.ciphertext_blob().unwrap().clone())
            .destination_key_id(&id)
            .destination_encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha1)
            .send()
            .await
            .unwrap();
        let plain = kms
            .decrypt()
            .key_id(&id)
            .ciphertext_blob(back.ciphertext_blob().unwrap().clone())
            .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha1)
            .send()
            .await
            .unwrap();
        assert_eq!(plain.plaintext().unwrap().as_ref(), b"moved");
        // Raw RSA ciphertext does not name its key: Decrypt needs the KeyId.
        assert_code!(
            common::decrypt_request(&kms, vec![1u8; modulus])
                .encryption_algorithm(EncryptionAlgorithmSpec::RsaesOaepSha256)
                .send()
                .await,
            "ValidationException"
        );
        // SYMMETRIC_DEFAULT does not fit an RSA key; an encryption key does not sign.
        common::refuses_encrypt(&kms, &id).await;
        common::refuses_sign(&kms, &id, &SigningAlgorithmSpec::RsassaPssSha256).await;
    }
}

/// ECDH: Trent's shared secret equals the one an independent library derives on the other
/// side, on every NIST curve.
#[tokio::test]
async fn derive_shared_secret_matches_the_peer() {
    use p256::pkcs8::EncodePublicKey;
    let (_server, kms) = common::start();
    let derive = |id: String, peer: Vec<u8>| {
        let kms = kms.clone();
        async move {
            let out = kms
                .derive_shared_secret()
                .key_id(id)
                .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
                .public_key(Blob::new(peer))
                .send()
                .await
                .unwrap();
            assert_eq!(
                out.key_agreement_algorithm(),
                Some(&KeyAgreementAlgorithmSpec::Ecdh)
            );
            out.shared_secret().unwrap().as_ref().to_vec()
        }
    };

    // Trent's key on `$curve` agrees with a fresh peer key on the secret; returns Trent's key.
    macro_rules! agree_on {
        ($curve:ident, $spec:expr) => {{
            let id = create_key(&kms, $spec, KeyUsageType::KeyAgreement).await;
            let meta = common::metadata(&kms, &id).await;
            assert_eq!(
                meta.key_agreement_algorithms(),
                &[KeyAgreementAlgorithmSpec::Ecdh]
            );
            let trent =
                $curve::PublicKey::from_public_key_der(&public_key(&kms, &id).await).unwrap();
            let peer = $curve::SecretKey::random(&mut rand_core::OsRng);
            let expected =
                $curve::ecdh::diffie_hellman(peer.to_nonzero_scalar(), trent.as_affine());
            let peer_spki = peer
                .public_key()
                .to_public_key_der()
                .unwrap()
                .as_bytes()
                .to_vec();
            assert_eq!(
                derive(id.clone(), peer_spki).await,
                expected.raw_secret_bytes().to_vec()
            );
            id
        }};
    }
    let id = agree_on!(p256, KeySpec::EccNistP256);
    let id384 = agree_on!(p384, KeySpec::EccNistP384);
    agree_on!(p521, KeySpec::EccNistP521);

    // A peer key on another curve, or a key that is not for key agreement, is refused.
    let other = p256::SecretKey::random(&mut rand_core::OsRng)
        .public_key()
        .to_public_key_der()
        .unwrap()
        .as_bytes()
        .to_vec();
    assert_code!(
        kms.derive_shared_secret()
            .key_id(&id384)
            .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
            .public_key(Blob::new(other.clone()))
            .send()
            .await,
        "ValidationException"
    );
    let signing = create_key(&kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    assert_code!(
        kms.derive_shared_secret()
            .key_id(&signing)
            .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
            .public_key(Blob::new(other))
            .send()
            .await,
        "InvalidKeyUsageException"
    );
    common::refuses_sign(&kms, &id, &SigningAlgorithmSpec::EcdsaSha256).await;
}

/// Data key pairs: the private key is PKCS#8 an independent library parses, matching the public
/// key; its encrypted copy is a normal ciphertext of the symmetric key, bound to the context.
#[tokio::test]
async fn data_key_pairs() {
    use p256::pkcs8::{DecodePrivateKey, EncodePublicKey};
    let (_server, kms) = common::start();
    let key = symmetric_key(&kms).await;
    let pair = kms
        .generate_data_key_pair()
        .key_id(&key)
        .key_pair_spec(DataKeyPairSpec::EccNistP256)
        .encryption_context("purpose", "test")
        .send()
        .await
        .unwrap();
    assert_eq!(pair.key_pair_spec(), Some(&DataKeyPairSpec::EccNistP256));
    let private = pair.private_key_plaintext().unwrap().as_ref().to_vec();
    let secret = p256::SecretKey::from_pkcs8_der(&private).unwrap();
    assert_eq!(
        secret.public_key().to_public_key_der().unwrap().as_bytes(),
        pair.public_key().unwrap().as_ref()
    );
    let blob = pair.private_key_ciphertext_blob().unwrap().clone();
    assert_eq!(
        common::plaintext_of(
            common::decrypt_request(&kms, &blob).encryption_context("purpose", "test")
        )
        .await,
        &private[..]
    );
    assert_code!(
        common::decrypt_request(&kms, &blob).send().await,
        "InvalidCiphertextException"
    );

    let rsa_pair = kms
        .generate_data_key_pair_without_plaintext()
        .key_id(&key)
        .key_pair_spec(DataKeyPairSpec::Rsa2048)
        .send()
        .await
        .unwrap();
    let public =
        rsa::RsaPublicKey::from_public_key_der(rsa_pair.public_key().unwrap().as_ref()).unwrap();
    assert_eq!(rsa::traits::PublicKeyParts::size(&public), 256);
    let opened = common::decrypt_request(&kms, rsa_pair.private_key_ciphertext_blob().unwrap())
        .send()
        .await
        .unwrap();
    let private = rsa::RsaPrivateKey::from_pkcs8_der(opened.plaintext().unwrap().as_ref()).unwrap();
    assert_eq!(private.to_public_key(), public);

    // Ed25519: the PKCS#8 private key parses in `ed25519-dalek` and matches the SPKI public key
    // (RFC 8410), with or without the plaintext copy.
    for without_plaintext in [false, true] {
        use ed25519_dalek::pkcs8::{DecodePrivateKey, EncodePublicKey};
        use ed25519_dalek::Signer;
        let (public, private_blob, plaintext) = if without_plaintext {
            let pair = kms
                .generate_data_key_pair_without_plaintext()
                .key_id(&key)
                .key_pair_spec(DataKeyPairSpec::EccNistEdwards25519)
                .send()
                .await
                .unwrap();
            assert_eq!(
                pair.key_pair_spec(),
                Some(&DataKeyPairSpec::EccNistEdwards25519)
            );
            let public = pair.public_key().unwrap().as_ref().to_vec();
            (
                public,
                pair.private_key_ciphertext_blob().unwrap().clone(),
                None,
            )
        } else {
            let pair = kms
                .generate_data_key_pair()
                .key_id(&key)
                .key_pair_spec(DataKeyPairSpec::EccNistEdwards25519)
                .send()
                .await
                .unwrap();
            let public = pair.public_key().unwrap().as_ref().to_vec();
            let plaintext = pair.private_key_plaintext().unwrap().as_ref().to_vec();
            (
                public,
                pair.private_key_ciphertext_blob().unwrap().clone(),
                Some(plaintext),
            )
        };
        let opened = common::decrypt_request(&kms, &private_blob)
            .send()
            .await
            .unwrap();
        let private = opened.plaintext().unwrap().as_ref().to_vec();
        if let Some(plaintext) = plaintext {
            assert_eq!(plaintext, private);
        }
        let signing = ed25519_dalek::SigningKey::from_pkcs8_der(&private).unwrap();
        assert_eq!(
            signing
                .verifying_key()
                .to_public_key_der()
                .unwrap()
                .as_bytes(),
            &public[..]
        );
        let verifying = ed25519_dalek::VerifyingKey::from_public_key_der(&public).unwrap();
        let sig = signing.sign(b"data key pair");
        verifying.verify_strict(b"data key pair", &sig).unwrap();
    }

    // The wrapping key must be symmetric; unimplemented pair specs are refused clearly.
    let signing = create_key(&kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    assert_code!(
        kms.generate_data_key_pair()
            .key_id(&signing)
            .key_pair_spec(DataKeyPairSpec::EccNistP256)
            .send()
            .await,
        "InvalidKeyUsageException"
    );
    assert_code!(
        kms.generate_data_key_pair()
            .key_id(&key)
            .key_pair_spec(DataKeyPairSpec::Sm2)
            .send()
            .await,
        "UnsupportedOperationException"
    );
}

#[tokio::test]
async fn hmac_keys_generate_and_verify_macs() {
    let (_server, kms) = common::start();
    for (spec, algorithm, len) in [
        (KeySpec::Hmac224, MacAlgorithmSpec::HmacSha224, 28),
        (KeySpec::Hmac256, MacAlgorithmSpec::HmacSha256, 32),
        (KeySpec::Hmac384, MacAlgorithmSpec::HmacSha384, 48),
        (KeySpec::Hmac512, MacAlgorithmSpec::HmacSha512, 64),
    ] {
        let id = create_key(&kms, spec.clone(), KeyUsageType::GenerateVerifyMac).await;
        let meta = kms.describe_key().key_id(&id).send().await.unwrap();
        assert_eq!(
            meta.key_metadata().unwrap().mac_algorithms(),
            std::slice::from_ref(&algorithm)
        );
        let mac = kms
            .generate_mac()
            .key_id(&id)
            .message(Blob::new("hello"))
            .mac_algorithm(algorithm.clone())
            .send()
            .await
            .unwrap();
        let tag = mac.mac().unwrap().as_ref().to_vec();
        assert_eq!(tag.len(), len);
        let ok = kms
            .verify_mac()
            .key_id(&id)
            .message(Blob::new("hello"))
            .mac(Blob::new(tag.clone()))
            .mac_algorithm(algorithm.clone())
            .send()
            .await
            .unwrap();
        assert!(ok.mac_valid());
        assert_code!(
            kms.verify_mac()
                .key_id(&id)
                .message(Blob::new("hellO"))
                .mac(Blob::new(tag))
                .mac_algorithm(algorithm.clone())
                .send()
                .await,
            "KMSInvalidMacException"
        );
        let other = if algorithm == MacAlgorithmSpec::HmacSha256 {
            MacAlgorithmSpec::HmacSha512
        } else {
            MacAlgorithmSpec::HmacSha256
        };
        assert_eq!(
            error_message!(
                kms.generate_mac()
                    .key_id(&id)
                    .message(Blob::new("hello"))
                    .mac_algorithm(other.clone())
                    .send()
                    .await,
                "InvalidKeyUsageException"
            ),
            format!(
                "Algorithm {} is incompatible with key spec {}.",
                other.as_str(),
                spec.as_str()
            )
        );
        common::refuses_encrypt(&kms, &id).await;
    }
    let symmetric = symmetric_key(&kms).await;
    let err = kms
        .generate_mac()
        .key_id(&symmetric)
        .message(Blob::new("hello"))
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .unwrap_err();
    assert!(err
        .into_service_error()
        .meta()
        .message()
        .unwrap()
        .ends_with("key usage is ENCRYPT_DECRYPT which is not valid for GenerateMac."));
}
