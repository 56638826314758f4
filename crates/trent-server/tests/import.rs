//! Bring-your-own-key through `aws-sdk-kms`, done the way a client does it: download the
//! wrapping public key, wrap the material locally with independent libraries (RustCrypto `rsa`
//! and `aes-kw`), import. Imported material is then checked from outside (an HMAC computed by
//! the `hmac` crate, signatures verified by `p256` and `ed25519-dalek`, a public key compared
//! byte for byte).

mod common;

use aws_sdk_kms::primitives::{Blob, DateTime};
use aws_sdk_kms::types::{
    AlgorithmSpec, ExpirationModelType, ImportState, ImportType, IncludeKeyMaterial,
    KeyMaterialState, KeySpec, KeyState, KeyUsageType, MacAlgorithmSpec, MessageType, OriginType,
    RotationType, SigningAlgorithmSpec, WrappingKeySpec,
};
use aws_sdk_kms::Client;
use common::{byok, decrypts_to, encrypt, external_key, key_state, Server};

fn seconds_from_now(secs: i64) -> DateTime {
    DateTime::from_secs(common::now_secs() + secs)
}

/// Every wrapping algorithm with every wrapping key size imports symmetric material.
#[tokio::test]
async fn every_wrapping_algorithm_and_key_size_imports() {
    let (_server, kms) = common::start();
    for algorithm in [
        AlgorithmSpec::RsaesOaepSha1,
        AlgorithmSpec::RsaesOaepSha256,
        AlgorithmSpec::RsaAesKeyWrapSha1,
        AlgorithmSpec::RsaAesKeyWrapSha256,
    ] {
        for spec in [
            WrappingKeySpec::Rsa2048,
            WrappingKeySpec::Rsa3072,
            WrappingKeySpec::Rsa4096,
        ] {
            let id = external_key(&kms, None).await;
            let params = kms
                .get_parameters_for_import()
                .key_id(&id)
                .wrapping_algorithm(algorithm.clone())
                .wrapping_key_spec(spec.clone())
                .send()
                .await
                .unwrap();
            // Valid for 24 hours.
            let valid_to = params.parameters_valid_to().unwrap().secs();
            let now = seconds_from_now(0).secs();
            assert!((valid_to - now - 86_400).abs() < 60, "{valid_to} vs {now}");
            let token = params.import_token().unwrap().as_ref();
            let public = params.public_key().unwrap().as_ref();
            let wrapped = byok::wrap(public, &algorithm, &[7u8; 32]);
            byok::import_with(&kms, &id, token, &wrapped, None)
                .await
                .unwrap_or_else(|e| panic!("{algorithm:?} {spec:?}: {e:?}"));
            assert_eq!(key_state(&kms, &id).await, KeyState::Enabled);
            let blob = encrypt(&kms, &id, "imported").await;
            common::decrypts_to(&kms, blob, b"imported").await;
        }
    }
}

/// The source documents' transitions: import → Enabled; delete → PendingImport (old
/// ciphertexts unusable); reimport of the same material brings them back; other material is
/// refused.
#[tokio::test]
async fn delete_and_reimport_the_same_material() {
    let (_server, kms) = common::start();
    let id = external_key(&kms, None).await;
    let material = [0x42u8; 32];
    let imported = byok::import(&kms, &id, &material, None).await.unwrap();
    assert_eq!(imported.key_material_id().map(str::len), Some(64));
    let meta = kms.describe_key().key_id(&id).send().await.unwrap();
    let meta = meta.key_metadata().unwrap();
    assert_eq!(meta.key_state(), Some(&KeyState::Enabled));
    assert_eq!(meta.origin(), Some(&OriginType::External));
    assert_eq!(
        meta.expiration_model(),
        Some(&ExpirationModelType::KeyMaterialDoesNotExpire)
    );
    let blob = encrypt(&kms, &id, "before").await;

    kms.delete_imported_key_material()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(key_state(&kms, &id).await, KeyState::PendingImport);
    assert_code!(
        common::decrypt_request(&kms, &blob).send().await,
        "KMSInvalidStateException"
    );
    // Deleting again changes nothing.
    kms.delete_imported_key_material()
        .key_id(&id)
        .send()
        .await
        .unwrap();

    assert_code!(
        byok::import(&kms, &id, &[0x43u8; 32], None).await,
        "IncorrectKeyMaterialException"
    );
    assert_eq!(key_state(&kms, &id).await, KeyState::PendingImport);
    byok::import(&kms, &id, &material, None).await.unwrap();
    assert_eq!(key_state(&kms, &id).await, KeyState::Enabled);
    common::decrypts_to(&kms, blob, b"before").await;
    // Reimporting into an enabled key: the same material only.
    byok::import(&kms, &id, &material, None).await.unwrap();
    assert_code!(
        byok::import(&kms, &id, &[0x43u8; 32], None).await,
        "IncorrectKeyMaterialException"
    );
    // Material of the wrong size for the spec is refused too.
    let other = external_key(&kms, None).await;
    assert_code!(
        byok::import(&kms, &other, &[1u8; 16], None).await,
        "IncorrectKeyMaterialException"
    );
}

#[tokio::test]
async fn import_tokens_are_bound_to_their_key_and_expire() {
    let (server, kms) = common::start();
    let a = external_key(&kms, None).await;
    let b = external_key(&kms, None).await;
    let alg = AlgorithmSpec::RsaesOaepSha256;
    let (token_a, public_a) = byok::parameters(&kms, &a, &alg, WrappingKeySpec::Rsa2048).await;
    let wrapped = byok::wrap(&public_a, &alg, &[9u8; 32]);
    // A's token does not import into B.
    assert_code!(
        byok::import_with(&kms, &b, &token_a, &wrapped, None).await,
        "InvalidImportTokenException"
    );
    // A token that is not one at all.
    assert_code!(
        byok::import_with(&kms, &a, &[1u8; 100], &wrapped, None).await,
        "InvalidImportTokenException"
    );
    // Material wrapped under another key's public key does not unwrap.
    let (_, public_b) = byok::parameters(&kms, &b, &alg, WrappingKeySpec::Rsa2048).await;
    assert_code!(
        byok::import_with(
            &kms,
            &a,
            &token_a,
            &byok::wrap(&public_b, &alg, &[9u8; 32]),
            None
        )
        .await,
        "InvalidCiphertextException"
    );
    // After 24 hours the token has expired.
    server.advance_clock(86_400 + 60).await;
    assert_code!(
        byok::import_with(&kms, &a, &token_a, &wrapped, None).await,
        "ExpiredImportTokenException"
    );
    assert_eq!(key_state(&kms, &a).await, KeyState::PendingImport);
}

#[tokio::test]
async fn only_external_keys_take_imports() {
    let (_server, kms) = common::start();
    let id = common::symmetric_key(&kms).await;
    let expected = format!("arn:aws:kms:us-east-1:000000000000:key/{id} origin is AWS_KMS which is not valid for this operation.");
    assert_eq!(
        error_message!(
            kms.get_parameters_for_import()
                .key_id(&id)
                .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
                .wrapping_key_spec(WrappingKeySpec::Rsa2048)
                .send()
                .await,
            "UnsupportedOperationException"
        ),
        expected.as_str()
    );
    assert_code!(
        kms.delete_imported_key_material().key_id(&id).send().await,
        "UnsupportedOperationException"
    );
    assert_code!(
        kms.import_key_material()
            .key_id(&id)
            .import_token(Blob::new(vec![1u8; 10]))
            .encrypted_key_material(Blob::new(vec![1u8; 10]))
            .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
            .send()
            .await,
        "UnsupportedOperationException"
    );
    // A wrapping algorithm AWS has withdrawn.
    let ext = external_key(&kms, None).await;
    assert_code!(
        kms.get_parameters_for_import()
            .key_id(&ext)
            .wrapping_algorithm(AlgorithmSpec::RsaesPkcs1V15)
            .wrapping_key_spec(WrappingKeySpec::Rsa2048)
            .send()
            .await,
        "UnsupportedOperationException"
    );
}

/// ValidTo: the key is unusable the moment it passes, and the sweeper deletes the material
/// durably (a restart, which resets the test clock, does not bring it back).
#[tokio::test]
async fn expiring_material_is_deleted_when_valid_to_passes() {
    let mut server = Server::start_with(&["--sweep-interval-secs", "1"]);
    let kms = server.client();
    let id = external_key(&kms, None).await;
    // ValidTo must be in the future; KEY_MATERIAL_EXPIRES needs one.
    assert_code!(
        byok::import(&kms, &id, &[5u8; 32], Some(seconds_from_now(-60))).await,
        "ValidationException"
    );
    let (token, public) = byok::parameters(
        &kms,
        &id,
        &AlgorithmSpec::RsaesOaepSha256,
        WrappingKeySpec::Rsa2048,
    )
    .await;
    let err = kms
        .import_key_material()
        .key_id(&id)
        .import_token(Blob::new(token))
        .encrypted_key_material(Blob::new(byok::wrap(
            &public,
            &AlgorithmSpec::RsaesOaepSha256,
            &[5u8; 32],
        )))
        .expiration_model(ExpirationModelType::KeyMaterialExpires)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        err.into_service_error().meta().message(),
        Some("A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES")
    );

    let valid_to = seconds_from_now(3_600);
    byok::import(&kms, &id, &[5u8; 32], Some(valid_to))
        .await
        .unwrap();
    let meta = kms.describe_key().key_id(&id).send().await.unwrap();
    let meta = meta.key_metadata().unwrap();
    assert_eq!(
        meta.expiration_model(),
        Some(&ExpirationModelType::KeyMaterialExpires)
    );
    assert_eq!(meta.valid_to().map(|t| t.secs()), Some(valid_to.secs()));
    encrypt(&kms, &id, "still valid").await;

    server.advance_clock(3_601).await;
    // At once, before any sweep.
    assert_code!(
        common::encrypt_request(&kms, &id, "x").send().await,
        "KMSInvalidStateException"
    );
    assert_eq!(key_state(&kms, &id).await, KeyState::PendingImport);
    // The sweeper makes it durable.
    tokio::time::sleep(std::time::Duration::from_millis(2_500)).await;
    server.restart();
    let kms = server.client();
    assert_eq!(key_state(&kms, &id).await, KeyState::PendingImport);
    let meta = common::metadata(&kms, &id).await;
    assert_eq!(meta.expiration_model(), None);
    // The same material imports again.
    byok::import(&kms, &id, &[5u8; 32], None).await.unwrap();
    assert_eq!(key_state(&kms, &id).await, KeyState::Enabled);
}

/// Deleting the material of a key pending deletion leaves it pending deletion; cancelling then
/// leaves it PendingImport (it has nothing to be enabled with).
#[tokio::test]
async fn delete_material_while_pending_deletion() {
    let (_server, kms) = common::start();
    let id = external_key(&kms, None).await;
    byok::import(&kms, &id, &[3u8; 32], None).await.unwrap();
    let alg = AlgorithmSpec::RsaesOaepSha256;
    let (token, public) = byok::parameters(&kms, &id, &alg, WrappingKeySpec::Rsa2048).await;
    kms.schedule_key_deletion()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    // No new import parameters for a key pending deletion (AWS's key-state reference, [8]).
    assert_code!(
        kms.get_parameters_for_import()
            .key_id(&id)
            .wrapping_algorithm(alg.clone())
            .wrapping_key_spec(WrappingKeySpec::Rsa2048)
            .send()
            .await,
        "KMSInvalidStateException"
    );
    kms.delete_imported_key_material()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(key_state(&kms, &id).await, KeyState::PendingDeletion);
    assert_code!(
        byok::import_with(
            &kms,
            &id,
            &token,
            &byok::wrap(&public, &alg, &[3u8; 32]),
            None
        )
        .await,
        "KMSInvalidStateException"
    );
    kms.cancel_key_deletion().key_id(&id).send().await.unwrap();
    assert_eq!(key_state(&kms, &id).await, KeyState::PendingImport);
}

/// HMAC and asymmetric keys take imported material too, and then use exactly that material.
#[tokio::test]
async fn hmac_and_asymmetric_material_imports() {
    use hmac::Mac;
    use p256::pkcs8::{EncodePrivateKey, EncodePublicKey};
    let (_server, kms) = common::start();

    // HMAC: the MAC equals one computed by an independent library with the same key.
    let id = external_key(
        &kms,
        Some((KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac)),
    )
    .await;
    let material = [0x33u8; 40];
    byok::import(&kms, &id, &material, None).await.unwrap();
    let mac = kms
        .generate_mac()
        .key_id(&id)
        .message(Blob::new("message"))
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .unwrap();
    let mut expected = hmac::Hmac::<sha2::Sha256>::new_from_slice(&material).unwrap();
    expected.update(b"message");
    assert_eq!(
        mac.mac().unwrap().as_ref(),
        &expected.finalize().into_bytes()[..]
    );
    // HMAC_256 material is 32–64 bytes.
    let short = external_key(
        &kms,
        Some((KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac)),
    )
    .await;
    assert_code!(
        byok::import(&kms, &short, &[1u8; 31], None).await,
        "IncorrectKeyMaterialException"
    );

    // ECC: a private key made by an independent library; Trent's public key is its public key
    // and Trent's signatures verify with it.
    let id = external_key(&kms, Some((KeySpec::EccNistP256, KeyUsageType::SignVerify))).await;
    let secret = p256::SecretKey::random(&mut rand_core::OsRng);
    let pkcs8 = secret.to_pkcs8_der().unwrap().as_bytes().to_vec();
    byok::import(&kms, &id, &pkcs8, None).await.unwrap();
    let public = kms.get_public_key().key_id(&id).send().await.unwrap();
    assert_eq!(
        public.public_key().unwrap().as_ref(),
        secret.public_key().to_public_key_der().unwrap().as_bytes()
    );
    let sig = common::sign_request(&kms, &id, "signed", &SigningAlgorithmSpec::EcdsaSha256)
        .send()
        .await
        .unwrap();
    let verifying = p256::ecdsa::VerifyingKey::from(secret.public_key());
    let sig = p256::ecdsa::Signature::from_der(sig.signature().unwrap().as_ref()).unwrap();
    p256::ecdsa::signature::Verifier::verify(&verifying, b"signed", &sig).unwrap();
    // Another curve's key is not material for this key.
    let other = p384::SecretKey::random(&mut rand_core::OsRng)
        .to_pkcs8_der()
        .unwrap()
        .as_bytes()
        .to_vec();
    let fresh = external_key(&kms, Some((KeySpec::EccNistP256, KeyUsageType::SignVerify))).await;
    assert_code!(
        byok::import(&kms, &fresh, &other, None).await,
        "IncorrectKeyMaterialException"
    );

    // RSA: too long for RSA-OAEP, so wrapped with RSA_AES_KEY_WRAP_SHA_1.
    let id = external_key(&kms, Some((KeySpec::Rsa2048, KeyUsageType::EncryptDecrypt))).await;
    let private = aws_lc_rs::rsa::KeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
    let pkcs8 = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&private)
        .unwrap()
        .as_ref()
        .to_vec();
    let alg = AlgorithmSpec::RsaAesKeyWrapSha1;
    let (token, wrapping) = byok::parameters(&kms, &id, &alg, WrappingKeySpec::Rsa4096).await;
    byok::import_with(
        &kms,
        &id,
        &token,
        &byok::wrap(&wrapping, &alg, &pkcs8),
        None,
    )
    .await
    .unwrap();
    let spki = kms.get_public_key().key_id(&id).send().await.unwrap();
    let expected = aws_lc_rs::encoding::AsDer::<aws_lc_rs::encoding::PublicKeyX509Der>::as_der(
        aws_lc_rs::signature::KeyPair::public_key(&private),
    )
    .unwrap();
    assert_eq!(spki.public_key().unwrap().as_ref(), expected.as_ref());

    // Ed25519: a key made by `ed25519-dalek` (PKCS#8 v2, with its public key) imports; Trent
    // verifies what the independent library signs, with both algorithms, and the other way
    // round.
    {
        use ed25519_dalek::pkcs8::EncodePrivateKey;
        use ed25519_dalek::Signer;
        use rand_core::RngCore;
        use sha2::Digest;
        let mut seed = [0u8; 32];
        rand_core::OsRng.fill_bytes(&mut seed);
        let signing = ed25519_dalek::SigningKey::from_bytes(&seed);
        let id = external_key(
            &kms,
            Some((KeySpec::EccNistEdwards25519, KeyUsageType::SignVerify)),
        )
        .await;
        let pkcs8 = signing.to_pkcs8_der().unwrap();
        byok::import(&kms, &id, pkcs8.as_bytes(), None)
            .await
            .unwrap();
        let spki = kms.get_public_key().key_id(&id).send().await.unwrap();
        assert_eq!(
            spki.public_key().unwrap().as_ref(),
            signing
                .verifying_key()
                .to_public_key_der()
                .unwrap()
                .as_bytes()
        );
        let message = b"signed outside";
        let digest = sha2::Sha512::digest(message).to_vec();
        let pure = signing.sign(message);
        // AWS's ED25519_PH_SHA_512 takes the digest and prehashes it again.
        let ph = signing
            .sign_prehashed(sha2::Sha512::new().chain_update(&digest), None)
            .unwrap();
        for (input, message_type, algorithm, sig) in [
            (
                &message[..],
                MessageType::Raw,
                SigningAlgorithmSpec::Ed25519Sha512,
                pure,
            ),
            (
                &digest[..],
                MessageType::Digest,
                SigningAlgorithmSpec::Ed25519PhSha512,
                ph,
            ),
        ] {
            let verified = kms
                .verify()
                .key_id(&id)
                .message(Blob::new(input))
                .message_type(message_type.clone())
                .signature(Blob::new(sig.to_bytes().to_vec()))
                .signing_algorithm(algorithm.clone())
                .send()
                .await
                .unwrap();
            assert!(verified.signature_valid());
            // Ed25519 signatures are deterministic (RFC 8032): Trent's are the same bytes.
            let signed = common::sign_request(&kms, &id, input, &algorithm)
                .message_type(message_type)
                .send()
                .await
                .unwrap();
            assert_eq!(signed.signature().unwrap().as_ref(), &sig.to_bytes()[..]);
        }
        // A P-256 key is not Ed25519 material.
        let fresh = external_key(
            &kms,
            Some((KeySpec::EccNistEdwards25519, KeyUsageType::SignVerify)),
        )
        .await;
        assert_code!(
            byok::import(&kms, &fresh, &other, None).await,
            "IncorrectKeyMaterialException"
        );
    }
}

/// ListKeyRotations' view of a key's materials: (id, state, import state, description).
async fn materials(
    kms: &Client,
    id: &str,
    include: IncludeKeyMaterial,
) -> Vec<(
    String,
    KeyMaterialState,
    Option<ImportState>,
    Option<String>,
)> {
    let out = kms
        .list_key_rotations()
        .key_id(id)
        .include_key_material(include)
        .send()
        .await
        .unwrap();
    out.rotations()
        .iter()
        .map(|r| {
            (
                r.key_material_id().unwrap().to_owned(),
                r.key_material_state().unwrap().clone(),
                r.import_state().cloned(),
                r.key_material_description().map(str::to_owned),
            )
        })
        .collect()
}

async fn current_material(kms: &Client, id: &str) -> String {
    let meta = common::metadata(kms, id).await;
    meta.current_key_material_id().unwrap().to_owned()
}

/// AWS's multi-material imported keys: new material waits in PENDING_ROTATION until
/// RotateKeyOnDemand makes it current; the key needs every permanently associated material;
/// material is deleted and reimported by its KeyMaterialId.
#[tokio::test]
async fn symmetric_keys_hold_several_imported_materials() {
    use IncludeKeyMaterial::{AllKeyMaterial as All, RotationsOnly};
    use KeyMaterialState::{Current, NonCurrent, PendingRotation};
    let imported = Some(ImportState::Imported);
    let (_server, kms) = common::start();
    let id = external_key(&kms, None).await;
    let (m1, m2, m3) = ([1u8; 32], [2u8; 32], [3u8; 32]);

    // The first import is new material whatever it says: it cannot name an existing one.
    assert_code!(
        byok::request(&kms, &id, &m1)
            .await
            .key_material_id("ab".repeat(32))
            .send()
            .await,
        "ValidationException"
    );
    // The first material becomes current; an EXTERNAL key without a pending material cannot
    // rotate.
    let id1 = byok::import(&kms, &id, &m1, None).await.unwrap();
    let id1 = id1.key_material_id().unwrap().to_owned();
    assert_eq!(current_material(&kms, &id).await, id1);
    assert_code!(
        kms.rotate_key_on_demand().key_id(&id).send().await,
        "KMSInvalidStateException"
    );
    let blob1 = encrypt(&kms, &id, "one").await;

    // New material waits for the rotation; only one may wait.
    let out = byok::request(&kms, &id, &m2)
        .await
        .import_type(ImportType::NewKeyMaterial)
        .key_material_description("second one")
        .send()
        .await
        .unwrap();
    let id2 = out.key_material_id().unwrap().to_owned();
    assert_ne!(id1, id2);
    assert_eq!(current_material(&kms, &id).await, id1);
    assert_eq!(
        materials(&kms, &id, All).await,
        [
            (id1.clone(), Current, imported.clone(), None),
            (
                id2.clone(),
                PendingRotation,
                imported.clone(),
                Some("second one".into())
            ),
        ]
    );
    assert!(materials(&kms, &id, RotationsOnly).await.is_empty());
    assert_code!(
        byok::request(&kms, &id, &m3)
            .await
            .import_type(ImportType::NewKeyMaterial)
            .send()
            .await,
        "KMSInvalidStateException"
    );

    // Material pending rotation is not part of the key: deleting it leaves the key Enabled,
    // and other material may take its place.
    let deleted = kms
        .delete_imported_key_material()
        .key_id(&id)
        .key_material_id(&id2)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.key_material_id(), Some(id2.as_str()));
    assert_eq!(key_state(&kms, &id).await, KeyState::Enabled);
    assert_eq!(materials(&kms, &id, All).await.len(), 1);
    let id3 = byok::request(&kms, &id, &m3)
        .await
        .import_type(ImportType::NewKeyMaterial)
        .send()
        .await
        .unwrap();
    let id3 = id3.key_material_id().unwrap().to_owned();

    // The rotation makes it current: new ciphertexts use it, old ones still decrypt.
    kms.rotate_key_on_demand().key_id(&id).send().await.unwrap();
    assert_eq!(current_material(&kms, &id).await, id3);
    let blob3 = encrypt(&kms, &id, "three").await;
    decrypts_to(&kms, &blob1, "one").await;
    decrypts_to(&kms, &blob3, "three").await;
    assert_eq!(
        materials(&kms, &id, All).await,
        [
            (id1.clone(), NonCurrent, imported.clone(), None),
            (id3.clone(), Current, imported.clone(), None),
        ]
    );
    let rotations = kms.list_key_rotations().key_id(&id).send().await.unwrap();
    let [rotation] = rotations.rotations() else {
        panic!("one rotation: {rotations:?}")
    };
    assert_eq!(rotation.key_material_id(), Some(id3.as_str()));
    assert_eq!(rotation.rotation_type(), Some(&RotationType::OnDemand));
    assert!(rotation.rotation_date().is_some());
    assert_code!(
        kms.rotate_key_on_demand().key_id(&id).send().await,
        "KMSInvalidStateException"
    );

    // Every permanently associated material is needed: deleting the old one makes the key
    // PendingImport, reimporting it (named by its id) brings it back.
    kms.delete_imported_key_material()
        .key_id(&id)
        .key_material_id(&id1)
        .send()
        .await
        .unwrap();
    assert_eq!(key_state(&kms, &id).await, KeyState::PendingImport);
    assert_eq!(
        materials(&kms, &id, All).await[0],
        (
            id1.clone(),
            NonCurrent,
            Some(ImportState::PendingImport),
            None
        )
    );
    assert_code!(
        common::decrypt_request(&kms, &blob3).send().await,
        "KMSInvalidStateException"
    );
    // The wrong id for the material, or material the key never had, is refused.
    assert_code!(
        byok::request(&kms, &id, &m1)
            .await
            .key_material_id(&id3)
            .send()
            .await,
        "IncorrectKeyMaterialException"
    );
    assert_code!(
        byok::import(&kms, &id, &m2, None).await,
        "IncorrectKeyMaterialException"
    );
    let again = byok::request(&kms, &id, &m1)
        .await
        .import_type(ImportType::ExistingKeyMaterial)
        .key_material_id(&id1)
        .send()
        .await
        .unwrap();
    assert_eq!(again.key_material_id(), Some(id1.as_str()));
    assert_eq!(key_state(&kms, &id).await, KeyState::Enabled);
    decrypts_to(&kms, &blob1, "one").await;
    decrypts_to(&kms, &blob3, "three").await;

    // Requests that cannot be right.
    assert_code!(
        byok::request(&kms, &id, &m1)
            .await
            .import_type(ImportType::NewKeyMaterial)
            .send()
            .await,
        "ValidationException"
    );
    assert_code!(
        byok::request(&kms, &id, &[4u8; 32])
            .await
            .import_type(ImportType::NewKeyMaterial)
            .key_material_id(&id1)
            .send()
            .await,
        "ValidationException"
    );
    assert_code!(
        kms.delete_imported_key_material()
            .key_id(&id)
            .key_material_id("ab".repeat(32))
            .send()
            .await,
        "NotFoundException"
    );
    assert_code!(
        kms.delete_imported_key_material()
            .key_id(&id)
            .key_material_id("not-an-id")
            .send()
            .await,
        "ValidationException"
    );
    // Without an id, the current material is deleted.
    let deleted = kms
        .delete_imported_key_material()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.key_material_id(), Some(id3.as_str()));
    assert_eq!(key_state(&kms, &id).await, KeyState::PendingImport);
}

/// Asymmetric and HMAC keys hold one material for life: the multi-material parameters are
/// refused for them, and they do not list rotations.
#[tokio::test]
async fn only_symmetric_keys_take_several_materials() {
    let (_server, kms) = common::start();
    let id = external_key(
        &kms,
        Some((KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac)),
    )
    .await;
    assert_code!(
        byok::request(&kms, &id, &[9u8; 32])
            .await
            .import_type(ImportType::NewKeyMaterial)
            .send()
            .await,
        "UnsupportedOperationException"
    );
    byok::import(&kms, &id, &[9u8; 32], None).await.unwrap();
    assert_code!(
        kms.list_key_rotations().key_id(&id).send().await,
        "UnsupportedOperationException"
    );
    let meta = common::metadata(&kms, &id).await;
    assert_eq!(meta.current_key_material_id(), None);
}

/// Each material expires on its own ValidTo. A material pending rotation just goes away (the
/// key stays usable) and its version is never given out again, even to material imported
/// before the sweeper has run; a permanently associated one that expires makes the key
/// PendingImport.
#[tokio::test]
async fn each_material_expires_on_its_own() {
    use IncludeKeyMaterial::AllKeyMaterial as All;
    let mut server = Server::start();
    let kms = server.client();
    let id = external_key(&kms, None).await;
    byok::import(&kms, &id, &[1u8; 32], Some(seconds_from_now(3 * 3_600)))
        .await
        .unwrap();
    let staged = |material: [u8; 32], valid_to: Option<DateTime>| {
        let kms = kms.clone();
        let id = id.clone();
        async move {
            let req = byok::request(&kms, &id, &material)
                .await
                .import_type(ImportType::NewKeyMaterial);
            byok::expiring(req, valid_to)
                .send()
                .await
                .unwrap()
                .key_material_id()
                .unwrap()
                .to_owned()
        }
    };
    staged([2u8; 32], Some(seconds_from_now(600))).await;
    assert_eq!(materials(&kms, &id, All).await.len(), 2);
    // DescribeKey's ValidTo is the earliest of the permanently associated materials'.
    let meta = common::metadata(&kms, &id).await;
    let valid_to = meta.valid_to().unwrap().secs();
    assert!((valid_to - seconds_from_now(3 * 3_600).secs()).abs() < 60);
    let before = encrypt(&kms, &id, "first material").await;

    // The staged material expires; new material is staged at once, before any sweep, and
    // rotated to: it is the material in use, across a restart too.
    server.advance_clock(601).await;
    assert_eq!(materials(&kms, &id, All).await.len(), 1);
    assert_eq!(key_state(&kms, &id).await, KeyState::Enabled);
    let id3 = staged([3u8; 32], None).await;
    kms.rotate_key_on_demand().key_id(&id).send().await.unwrap();
    let after = encrypt(&kms, &id, "third material").await;
    server.restart();
    let kms = server.client();
    assert_eq!(current_material(&kms, &id).await, id3);
    decrypts_to(&kms, &before, "first material").await;
    decrypts_to(&kms, &after, "third material").await;
    // What encrypted `after` is the third material itself: deleted and imported again, it
    // still decrypts it.
    kms.delete_imported_key_material()
        .key_id(&id)
        .key_material_id(&id3)
        .send()
        .await
        .unwrap();
    byok::request(&kms, &id, &[3u8; 32])
        .await
        .key_material_id(&id3)
        .send()
        .await
        .unwrap();
    decrypts_to(&kms, &after, "third material").await;

    // The first material, now NON_CURRENT, expires: the key needs it, so it is PendingImport.
    server.advance_clock(3 * 3_600).await;
    assert_eq!(key_state(&kms, &id).await, KeyState::PendingImport);
    let all = materials(&kms, &id, All).await;
    assert_eq!(all[0].1, KeyMaterialState::NonCurrent);
    assert_eq!(all[0].2, Some(ImportState::PendingImport));
    assert_code!(
        common::decrypt_request(&kms, &after).send().await,
        "KMSInvalidStateException"
    );
    byok::import(&kms, &id, &[1u8; 32], None).await.unwrap();
    decrypts_to(&kms, &before, "first material").await;
    decrypts_to(&kms, &after, "third material").await;
}

/// A key stored by the release before several materials existed, whose material was deleted
/// (one `import` object and no current material), takes its material back and works in full.
#[tokio::test]
async fn keys_stored_with_one_import_record_still_work() {
    let mut server = Server::start();
    let kms = server.client();
    let id = external_key(&kms, None).await;
    byok::import(&kms, &id, &[7u8; 32], None).await.unwrap();
    let blob = encrypt(&kms, &id, "old").await;
    kms.delete_imported_key_material()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    server.kill9();
    {
        // Rewrite the key's metadata in the shape the older release wrote.
        let conn = rusqlite::Connection::open(server.db_path()).unwrap();
        let meta: String = conn
            .query_row("SELECT meta FROM keys", [], |r| r.get(0))
            .unwrap();
        let mut meta: serde_json::Value = serde_json::from_str(&meta).unwrap();
        let fields = meta.as_object_mut().unwrap();
        let imports = fields.remove("imports").unwrap();
        let check = imports[0]["material_check"].clone();
        fields.remove("last_material_version");
        fields.insert("current_material".into(), serde_json::Value::Null);
        fields.insert(
            "import".into(),
            serde_json::json!({"material_check": check, "expiration_model": null, "valid_to": null}),
        );
        conn.execute("UPDATE keys SET meta = ?1", [meta.to_string()])
            .unwrap();
    }
    server.spawn();
    let kms = server.client();
    assert_eq!(key_state(&kms, &id).await, KeyState::PendingImport);
    assert_code!(
        byok::import(&kms, &id, &[8u8; 32], None).await,
        "IncorrectKeyMaterialException"
    );
    byok::import(&kms, &id, &[7u8; 32], None).await.unwrap();
    assert_eq!(key_state(&kms, &id).await, KeyState::Enabled);
    decrypts_to(&kms, &blob, "old").await;
    decrypts_to(&kms, &encrypt(&kms, &id, "new").await, "new").await;
    let current = current_material(&kms, &id).await;
    let deleted = kms
        .delete_imported_key_material()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.key_material_id(), Some(current.as_str()));
    assert_eq!(key_state(&kms, &id).await, KeyState::PendingImport);
}
