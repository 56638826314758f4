//! Key rotation through `aws-sdk-kms`, across moves of the server's clock: automatic rotation
//! by the background sweeper, on-demand rotation and its quota, the history, and old
//! ciphertexts that keep decrypting.

mod common;

use std::time::Duration;

use aws_sdk_kms::operation::get_key_rotation_status::GetKeyRotationStatusOutput;
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    IncludeKeyMaterial, KeyMaterialState, KeySpec, KeyUsageType, OriginType, RotationType,
};
use aws_sdk_kms::Client;
use common::{decrypts_to, encrypt, symmetric_key, Server};

const DAY: i64 = 86_400;

/// The material version a Trent ciphertext names (bytes 17..21 of the blob).
fn material_version(blob: &Blob) -> u32 {
    u32::from_be_bytes(blob.as_ref()[17..21].try_into().unwrap())
}

async fn rotations(kms: &Client, id: &str) -> Vec<RotationType> {
    kms.list_key_rotations()
        .key_id(id)
        .send()
        .await
        .unwrap()
        .rotations()
        .iter()
        .map(|r| r.rotation_type().unwrap().clone())
        .collect()
}

async fn rotation_status(kms: &Client, id: &str) -> GetKeyRotationStatusOutput {
    kms.get_key_rotation_status()
        .key_id(id)
        .send()
        .await
        .expect("GetKeyRotationStatus")
}

async fn enable_rotation(kms: &Client, id: &str, days: i32) {
    kms.enable_key_rotation()
        .key_id(id)
        .rotation_period_in_days(days)
        .send()
        .await
        .expect("EnableKeyRotation");
}

/// Waits for the sweeper (run every second in these tests) to have run at least once more.
async fn sweep() {
    tokio::time::sleep(Duration::from_millis(2_200)).await;
}

#[tokio::test]
async fn automatic_rotation_follows_the_clock() {
    let mut server = Server::start_with(&["--sweep-interval-secs", "1"]);
    let kms = server.client();
    let id = symmetric_key(&kms).await;
    let status = rotation_status(&kms, &id).await;
    assert!(!status.key_rotation_enabled());
    assert_eq!(status.next_rotation_date(), None);

    kms.enable_key_rotation().key_id(&id).send().await.unwrap();
    let status = rotation_status(&kms, &id).await;
    assert!(status.key_rotation_enabled());
    assert_eq!(status.rotation_period_in_days(), Some(365));
    let next = status.next_rotation_date().unwrap().secs();
    let now = common::now_secs();
    assert!((next - now - 365 * DAY).abs() < 60);

    let before = encrypt(&kms, &id, "year one").await;
    assert_eq!(material_version(&before), 1);
    server.advance_clock(364 * DAY).await;
    sweep().await;
    assert!(rotations(&kms, &id).await.is_empty(), "not due yet");

    server.advance_clock(2 * DAY).await;
    sweep().await;
    assert_eq!(rotations(&kms, &id).await, [RotationType::Automatic]);
    let after = encrypt(&kms, &id, "year two").await;
    assert_eq!(
        material_version(&after),
        2,
        "new ciphertexts use the new material"
    );
    decrypts_to(&kms, &before, "year one").await;
    decrypts_to(&kms, &after, "year two").await;
    let status = rotation_status(&kms, &id).await;
    assert!(status.next_rotation_date().unwrap().secs() > next + 364 * DAY);

    // A shorter period, then rotation off.
    enable_rotation(&kms, &id, 90).await;
    server.advance_clock(91 * DAY).await;
    sweep().await;
    assert_eq!(rotations(&kms, &id).await.len(), 2);
    kms.disable_key_rotation().key_id(&id).send().await.unwrap();
    let status = rotation_status(&kms, &id).await;
    assert!(!status.key_rotation_enabled());
    assert_eq!(status.next_rotation_date(), None);
    server.advance_clock(400 * DAY).await;
    sweep().await;
    assert_eq!(rotations(&kms, &id).await.len(), 2);

    // Everything survives a restart.
    let third = encrypt(&kms, &id, "year three").await;
    assert_eq!(material_version(&third), 3);
    server.restart();
    let kms = server.client();
    decrypts_to(&kms, &before, "year one").await;
    decrypts_to(&kms, &after, "year two").await;
    decrypts_to(&kms, &third, "year three").await;
    assert_eq!(rotations(&kms, &id).await.len(), 2);
}

/// AWS does not rotate a disabled key; once enabled again past its date, it rotates.
#[tokio::test]
async fn disabled_keys_do_not_rotate() {
    let server = Server::start_with(&["--sweep-interval-secs", "1"]);
    let kms = server.client();
    let id = symmetric_key(&kms).await;
    enable_rotation(&kms, &id, 90).await;
    kms.disable_key().key_id(&id).send().await.unwrap();
    assert_code!(
        kms.enable_key_rotation().key_id(&id).send().await,
        "DisabledException"
    );
    server.advance_clock(100 * DAY).await;
    sweep().await;
    assert!(rotations(&kms, &id).await.is_empty());
    kms.enable_key().key_id(&id).send().await.unwrap();
    sweep().await;
    assert_eq!(rotations(&kms, &id).await, [RotationType::Automatic]);
}

#[tokio::test]
async fn on_demand_rotation_and_its_quota() {
    let (_server, kms) = common::start();
    let id = symmetric_key(&kms).await;
    let mut blobs = vec![encrypt(&kms, &id, "v1").await];
    for n in 2..=26 {
        let out = kms.rotate_key_on_demand().key_id(&id).send().await.unwrap();
        assert!(out.key_id().unwrap().ends_with(&id));
        let blob = encrypt(&kms, &id, &format!("v{n}")).await;
        assert_eq!(material_version(&blob), n);
        blobs.push(blob);
    }
    assert_eq!(error_message!(kms
        .rotate_key_on_demand()
        .key_id(&id)
        .send()
        .await, "LimitExceededException"), format!("The on-demand rotations limit has been reached for the given keyId. No more on-demand rotations can be performed for this key: arn:aws:kms:us-east-1:000000000000:key/{id}"));
    for (n, blob) in blobs.iter().enumerate() {
        decrypts_to(&kms, blob, &format!("v{}", n + 1)).await;
    }
    let status = rotation_status(&kms, &id).await;
    assert!(
        status.on_demand_rotation_start_date().is_none(),
        "on-demand rotation is complete when it returns"
    );
    assert!(
        !status.key_rotation_enabled(),
        "on demand leaves automatic rotation off"
    );

    // The history pages.
    let first = kms
        .list_key_rotations()
        .key_id(&id)
        .limit(4)
        .send()
        .await
        .unwrap();
    assert_eq!(first.rotations().len(), 4);
    assert!(first.truncated());
    assert!(first
        .rotations()
        .iter()
        .all(|r| r.rotation_type() == Some(&RotationType::OnDemand)));
    let rest = kms
        .list_key_rotations()
        .key_id(&id)
        .marker(first.next_marker().unwrap())
        .limit(100)
        .send()
        .await
        .unwrap();
    assert_eq!(rest.rotations().len(), 21);
    assert!(!rest.truncated());
    // With ALL_KEY_MATERIAL the first material is listed too (without a rotation date); each
    // material has its own id, and the last is the key's current one.
    let all = kms
        .list_key_rotations()
        .key_id(&id)
        .include_key_material(IncludeKeyMaterial::AllKeyMaterial)
        .send()
        .await
        .unwrap();
    let all = all.rotations();
    assert_eq!(all.len(), 26);
    assert!(all[0].rotation_date().is_none());
    assert!(all[1..].iter().all(|r| r.rotation_date().is_some()));
    let states: Vec<_> = all
        .iter()
        .map(|r| r.key_material_state().unwrap())
        .collect();
    assert!(states[..25]
        .iter()
        .all(|s| **s == KeyMaterialState::NonCurrent));
    assert_eq!(states[25], &KeyMaterialState::Current);
    let ids: std::collections::BTreeSet<_> =
        all.iter().map(|r| r.key_material_id().unwrap()).collect();
    assert_eq!(ids.len(), 26);
    let meta = common::metadata(&kms, &id).await;
    assert_eq!(meta.current_key_material_id(), all[25].key_material_id());
    assert_code!(
        kms.list_key_rotations()
            .key_id(&id)
            .marker("bogus")
            .send()
            .await,
        "InvalidMarkerException"
    );
    // A disabled key does not rotate on demand either.
    kms.disable_key().key_id(&id).send().await.unwrap();
    assert_code!(
        kms.rotate_key_on_demand().key_id(&id).send().await,
        "DisabledException"
    );
}

#[tokio::test]
async fn only_symmetric_generated_keys_rotate() {
    let (_server, kms) = common::start();
    let id = symmetric_key(&kms).await;
    for days in [89, 2561] {
        assert_code!(
            kms.enable_key_rotation()
                .key_id(&id)
                .rotation_period_in_days(days)
                .send()
                .await,
            "ValidationException"
        );
    }
    for (spec, usage) in [
        (KeySpec::Rsa2048, KeyUsageType::SignVerify),
        (KeySpec::EccNistP256, KeyUsageType::SignVerify),
        (KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac),
    ] {
        let other = common::create_key(&kms, spec, usage).await;
        assert_code!(
            kms.enable_key_rotation().key_id(&other).send().await,
            "UnsupportedOperationException"
        );
        assert_code!(
            kms.rotate_key_on_demand().key_id(&other).send().await,
            "UnsupportedOperationException"
        );
        assert_code!(
            kms.get_key_rotation_status().key_id(&other).send().await,
            "UnsupportedOperationException"
        );
    }
    let external = common::create_with(kms.create_key().origin(OriginType::External)).await;
    assert!(error_message!(
        kms.enable_key_rotation().key_id(&external).send().await,
        "UnsupportedOperationException"
    )
    .ends_with("origin is EXTERNAL which is not valid for this operation."));
    // An EXTERNAL key without material: the state answers first, as recorded against AWS.
    assert_code!(
        kms.rotate_key_on_demand().key_id(&external).send().await,
        "KMSInvalidStateException"
    );
    // Aliases are not accepted where AWS takes only key ids and ARNs.
    common::create_alias(&kms, "alias/rot", &id).await;
    assert!(kms
        .enable_key_rotation()
        .key_id("alias/rot")
        .send()
        .await
        .is_err());
}
