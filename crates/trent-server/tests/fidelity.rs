//! Answers compared with AWS's recorded ones, on the raw wire body: the `__type`, the HTTP
//! status, and the `message` member or its absence (AWS sends none when it has nothing to say,
//! and botocore then shows an empty `Error.Message`).

mod common;

use aws_sdk_kms::config::http::HttpResponse;
use aws_sdk_kms::error::SdkError;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    ExpirationModelType, ImportType, KeyAgreementAlgorithmSpec, KeySpec, KeyUsageType,
    MacAlgorithmSpec, MessageType, SigningAlgorithmSpec, Tag,
};
use common::{byok, create_key, encrypt, external_key, symmetric_key, ACCOUNT, REGION};
use serde_json::Value;

/// The status and parsed body of a failed call.
fn raw<O, E>(result: Result<O, SdkError<E, HttpResponse>>) -> (u16, Value) {
    let Err(err) = result else {
        panic!("expected an error, the call succeeded");
    };
    let response = err.raw_response().expect("a service response");
    let body = response.body().bytes().expect("a buffered body");
    (
        response.status().as_u16(),
        serde_json::from_slice(body).expect("a JSON body"),
    )
}

/// Asserts an error with `code`, status 400 and no `message` member at all.
fn assert_bare<O, E>(result: Result<O, SdkError<E, HttpResponse>>, code: &str) {
    let (status, body) = raw(result);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["__type"], code, "{body}");
    assert!(
        body.get("message").is_none() && body.get("Message").is_none(),
        "AWS sends no message member: {body}"
    );
}

/// Asserts an error with `code`, status 400 and exactly `message`.
fn assert_says<O, E>(result: Result<O, SdkError<E, HttpResponse>>, code: &str, message: &str) {
    let (status, body) = raw(result);
    assert_eq!(status, 400, "{body}");
    assert_eq!(body["__type"], code, "{body}");
    assert_eq!(body["message"], message, "{body}");
}

fn arn(id: &str) -> String {
    format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{id}")
}

// ----- 1. no empty message member -----------------------------------------------------------

#[tokio::test]
async fn errors_without_detail_have_no_message_member() {
    let (_server, kms) = common::start();
    let key = symmetric_key(&kms).await;
    let blob = encrypt(&kms, &key, "secret").await;

    // A wrong encryption context, a missing one, and a tampered blob.
    let mut context = std::collections::HashMap::new();
    context.insert("purpose".to_owned(), "test".to_owned());
    let bound = kms
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new("x"))
        .set_encryption_context(Some(context))
        .send()
        .await
        .unwrap();
    let bound = bound.ciphertext_blob().unwrap().clone();
    assert_bare(
        kms.decrypt().ciphertext_blob(bound.clone()).send().await,
        "InvalidCiphertextException",
    );
    assert_bare(
        kms.decrypt()
            .ciphertext_blob(bound)
            .encryption_context("purpose", "other")
            .send()
            .await,
        "InvalidCiphertextException",
    );
    let mut tampered = blob.as_ref().to_vec();
    *tampered.last_mut().unwrap() ^= 1;
    assert_bare(
        kms.decrypt()
            .ciphertext_blob(Blob::new(tampered))
            .send()
            .await,
        "InvalidCiphertextException",
    );

    // A signature that does not verify.
    let signer = create_key(&kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    assert_bare(
        kms.verify()
            .key_id(&signer)
            .message(Blob::new("message"))
            .message_type(MessageType::Raw)
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .signature(Blob::new(vec![
                0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01,
            ]))
            .send()
            .await,
        "KMSInvalidSignatureException",
    );

    // A MAC that does not verify.
    let hmac = create_key(&kms, KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac).await;
    assert_bare(
        kms.verify_mac()
            .key_id(&hmac)
            .message(Blob::new("message"))
            .mac_algorithm(MacAlgorithmSpec::HmacSha256)
            .mac(Blob::new(vec![0u8; 32]))
            .send()
            .await,
        "KMSInvalidMacException",
    );

    // On-demand rotation of a key that cannot rotate.
    assert_bare(
        kms.rotate_key_on_demand().key_id(&hmac).send().await,
        "UnsupportedOperationException",
    );

    // A peer public key that is not a DER SubjectPublicKeyInfo.
    let agreement = create_key(&kms, KeySpec::EccNistP256, KeyUsageType::KeyAgreement).await;
    assert_bare(
        kms.derive_shared_secret()
            .key_id(&agreement)
            .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
            .public_key(Blob::new(b"not a public key".to_vec()))
            .send()
            .await,
        "ValidationException",
    );

    // Errors that have text keep it.
    let (_, body) = raw(kms.describe_key().key_id("fake-key-id").send().await);
    assert_eq!(body["message"], "Invalid keyId 'fake-key-id'");
}

// ----- 2, 3. key ids from another Region, multi-Region key ids --------------------------------

#[tokio::test]
async fn key_arns_of_another_region_and_multi_region_ids() {
    let (_server, kms) = common::start();
    let key = symmetric_key(&kms).await;
    let elsewhere = format!("arn:aws:kms:us-west-2:{ACCOUNT}:key/{key}");
    assert_says(
        kms.describe_key().key_id(&elsewhere).send().await,
        "NotFoundException",
        "Invalid arn us-west-2",
    );
    assert_says(
        kms.encrypt()
            .key_id(&elsewhere)
            .plaintext(Blob::new("x"))
            .send()
            .await,
        "NotFoundException",
        "Invalid arn us-west-2",
    );
    // A bare id that is not here names the key in the caller's Region.
    let west = common::Server::client_for(&_server, "us-west-2", "test", "test");
    assert_says(
        west.describe_key().key_id(&key).send().await,
        "NotFoundException",
        &format!("Key 'arn:aws:kms:us-west-2:{ACCOUNT}:key/{key}' does not exist"),
    );

    let mrk = "mrk-1234abcd12ab34cd56ef1234567890ab";
    assert_says(
        kms.describe_key().key_id(mrk).send().await,
        "NotFoundException",
        &format!("Key '{}' does not exist", arn(mrk)),
    );
    assert_says(
        kms.describe_key().key_id(arn(mrk)).send().await,
        "NotFoundException",
        &format!("Key '{}' does not exist", arn(mrk)),
    );
    assert_says(
        kms.describe_key().key_id("mrk-fake").send().await,
        "NotFoundException",
        "Invalid keyId 'mrk-fake'",
    );
}

// ----- 4. reserved tag prefix ---------------------------------------------------------------

#[tokio::test]
async fn the_reserved_tag_prefix_ignores_case() {
    let (_server, kms) = common::start();
    let key = symmetric_key(&kms).await;
    for k in ["aws:x", "AWS:x", "Aws:x", "aWs:x"] {
        let tag = Tag::builder().tag_key(k).tag_value("v").build().unwrap();
        assert_says(
            kms.tag_resource()
                .key_id(&key)
                .tags(tag.clone())
                .send()
                .await,
            "TagException",
            "Tags beginning with aws: are reserved",
        );
        assert_says(
            kms.create_key().tags(tag).send().await,
            "TagException",
            "Tags beginning with aws: are reserved",
        );
    }
}

// ----- 5. ReEncrypt's source key --------------------------------------------------------------

#[tokio::test]
async fn re_encrypt_checks_the_source_key_before_its_usage() {
    let (_server, kms) = common::start();
    let key = symmetric_key(&kms).await;
    let other = symmetric_key(&kms).await;
    let blob = encrypt(&kms, &key, "secret").await;
    let hmac = create_key(&kms, KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac).await;
    let signer = create_key(&kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    let message =
        "The key ID in the request does not identify a CMK that can perform this operation.";
    for source in [&other, &hmac, &signer] {
        assert_says(
            kms.re_encrypt()
                .ciphertext_blob(blob.clone())
                .source_key_id(source)
                .destination_key_id(&other)
                .send()
                .await,
            "IncorrectKeyException",
            message,
        );
        assert_says(
            kms.decrypt()
                .ciphertext_blob(blob.clone())
                .key_id(source)
                .send()
                .await,
            "IncorrectKeyException",
            message,
        );
    }
}

// ----- 6. ImportKeyMaterial's default expiration model -----------------------------------------

#[tokio::test]
async fn import_expires_by_default_and_then_needs_valid_to() {
    let (_server, kms) = common::start();
    let key = external_key(&kms, None).await;
    let request = byok::request(&kms, &key, &[7u8; 32])
        .await
        .set_expiration_model(None);
    assert_says(
        request.send().await,
        "ValidationException",
        "A validTo date must be set if the ExpirationModel is KEY_MATERIAL_EXPIRES",
    );
    // Saying so explicitly still works, and so does giving ValidTo alone.
    byok::request(&kms, &key, &[7u8; 32])
        .await
        .expiration_model(ExpirationModelType::KeyMaterialDoesNotExpire)
        .send()
        .await
        .unwrap();
    let expiring = byok::request(&kms, &key, &[7u8; 32])
        .await
        .set_expiration_model(None)
        .valid_to(aws_sdk_kms::primitives::DateTime::from_secs(
            common::now_secs() + 3600,
        ))
        .send()
        .await;
    assert!(expiring.is_ok(), "{expiring:?}");
    let meta = common::metadata(&kms, &key).await;
    assert_eq!(
        meta.expiration_model(),
        Some(&ExpirationModelType::KeyMaterialExpires)
    );
}

// ----- 7, 11. rotation status ----------------------------------------------------------------

#[tokio::test]
async fn rotation_status_after_on_demand_and_while_pending_deletion() {
    let (_server, kms) = common::start();
    let key = symmetric_key(&kms).await;
    kms.enable_key_rotation().key_id(&key).send().await.unwrap();
    kms.rotate_key_on_demand()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    let status = kms
        .get_key_rotation_status()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    assert!(status.key_rotation_enabled());
    assert_eq!(status.on_demand_rotation_start_date(), None);

    kms.schedule_key_deletion()
        .key_id(&key)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    let status = kms
        .get_key_rotation_status()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    assert!(!status.key_rotation_enabled());
    assert_eq!(status.next_rotation_date(), None);

    // Cancelling the deletion restores the original status.
    kms.cancel_key_deletion().key_id(&key).send().await.unwrap();
    let status = kms
        .get_key_rotation_status()
        .key_id(&key)
        .send()
        .await
        .unwrap();
    assert!(status.key_rotation_enabled());
    assert_eq!(status.rotation_period_in_days(), Some(365));
}

// ----- 8. import and rotation messages ---------------------------------------------------------

#[tokio::test]
async fn import_and_rotation_refusals_are_worded_as_aws() {
    let (_server, kms) = common::start();
    let key = external_key(&kms, None).await;
    byok::import(&kms, &key, &[1u8; 32], None).await.unwrap();
    assert_says(
        kms.rotate_key_on_demand().key_id(&key).send().await,
        "KMSInvalidStateException",
        &format!(
            "No available key material pending rotation for the key: {}.",
            arn(&key)
        ),
    );
    let pending = byok::request(&kms, &key, &[2u8; 32])
        .await
        .import_type(ImportType::NewKeyMaterial)
        .send()
        .await
        .unwrap();
    let pending = pending.key_material_id().unwrap().to_owned();
    let (status, body) = raw(byok::request(&kms, &key, &[3u8; 32])
        .await
        .import_type(ImportType::NewKeyMaterial)
        .send()
        .await);
    assert_eq!(
        (status, &body["__type"]),
        (400, &Value::from("KMSInvalidStateException"))
    );
    let message = body["message"].as_str().unwrap();
    let new_id = message
        .strip_prefix("New key material (id: ")
        .and_then(|m| m.split_once(')'))
        .map(|(id, _)| id)
        .unwrap_or_else(|| panic!("{message}"));
    assert_eq!(new_id.len(), 64, "{message}");
    assert_ne!(new_id, pending);
    assert_eq!(
        message,
        format!(
            "New key material (id: {new_id}) cannot be imported into KMS key {}, because another key material (id: {pending}) is pending rotation.",
            arn(&key)
        )
    );
}

// ----- 9. enum-set messages ----------------------------------------------------------------

#[tokio::test]
async fn enum_sets_are_listed_in_aws_order() {
    let (server, _kms) = common::start();
    let hmac = {
        let kms = server.client();
        create_key(&kms, KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac).await
    };
    let kms = server.client();
    assert_says(
        kms.generate_mac()
            .key_id(&hmac)
            .message(Blob::new("m"))
            .mac_algorithm(MacAlgorithmSpec::from("HMAC_SHA_1"))
            .send()
            .await,
        "ValidationException",
        "1 validation error detected: Value 'HMAC_SHA_1' at 'macAlgorithm' failed to satisfy constraint: Member must satisfy enum value set: [HMAC_SHA_384, HMAC_SHA_256, HMAC_SHA_224, HMAC_SHA_512]",
    );
    assert_says(
        kms.create_key()
            .key_spec(KeySpec::from("AES_256"))
            .send()
            .await,
        "ValidationException",
        "1 validation error detected: Value 'AES_256' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [RSA_2048, RSA_3072, RSA_4096, ECC_NIST_P256, ECC_NIST_P384, ECC_NIST_P521, ECC_SECG_P256K1, SYMMETRIC_DEFAULT, HMAC_224, HMAC_256, HMAC_384, HMAC_512, SM2, ML_DSA_44, ML_DSA_65, ML_DSA_87, ECC_NIST_EDWARDS25519, ML_KEM_512, ML_KEM_768, ML_KEM_1024]",
    );
    assert_says(
        kms.create_key()
            .key_usage(KeyUsageType::from("ENCRYPT"))
            .send()
            .await,
        "ValidationException",
        "1 validation error detected: Value 'ENCRYPT' at 'keyUsage' failed to satisfy constraint: Member must satisfy enum value set: [SIGN_VERIFY, ENCRYPT_DECRYPT, GENERATE_VERIFY_MAC, KEY_AGREEMENT, ENCAPSULATE_DECAPSULATE]",
    );
}

// ----- 10. alias names ---------------------------------------------------------------------

#[tokio::test]
async fn alias_names_are_refused_as_aws_refuses_them() {
    let (_server, kms) = common::start();
    let key = symmetric_key(&kms).await;
    assert_says(
        common::alias_request(&kms, "alias/my-alias!", &key).send().await,
        "ValidationException",
        "1 validation error detected: Value 'alias/my-alias!' at 'aliasName' failed to satisfy constraint: Member must satisfy regular expression pattern: ^[a-zA-Z0-9:/_-]+$",
    );
    assert_says(
        common::alias_request(&kms, "alias/my:alias", &key)
            .send()
            .await,
        "ValidationException",
        "alias/my:alias contains invalid characters for an alias",
    );
    assert_bare(
        common::alias_request(&kms, "alias/aws/mine", &key)
            .send()
            .await,
        "NotAuthorizedException",
    );
    common::create_alias(&kms, "alias/mine", &key).await;
    assert_says(
        common::alias_request(&kms, "alias/other", "alias/mine")
            .send()
            .await,
        "ValidationException",
        "Aliases must refer to keys. Not aliases",
    );
    assert_says(
        kms.enable_key_rotation().key_id("alias/mine").send().await,
        "NotFoundException",
        "Invalid keyId alias/mine",
    );
    assert_says(
        kms.get_key_rotation_status()
            .key_id("alias/mine")
            .send()
            .await,
        "NotFoundException",
        "Invalid keyId alias/mine",
    );
    assert_says(
        kms.put_key_policy()
            .key_id("alias/mine")
            .policy("{}")
            .send()
            .await,
        "NotFoundException",
        "Invalid keyId alias/mine",
    );
    // Nothing was created along the way.
    let aliases = kms.list_aliases().send().await.unwrap();
    let names: Vec<_> = aliases
        .aliases()
        .iter()
        .filter_map(|a| a.alias_name())
        .collect();
    assert_eq!(names, ["alias/mine"]);
}
