//! GetKeyLastUsage through `aws-sdk-kms`: which operations count, that a use is answered at
//! once from memory, survives the key's cached copy being replaced, and reaches the store only
//! in batches (at the sweep, or when the server shuts down cleanly), never per request.

mod common;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeyLastUsageTrackingOperation as Op, KeySpec, KeyUsageType, Tag};
use aws_sdk_kms::Client;
use common::{create_key, encrypt, symmetric_key, Server};

/// The last operation GetKeyLastUsage reports for `id`, and its time in seconds.
async fn last_use(kms: &Client, id: &str) -> Option<(Op, f64)> {
    let out = kms.get_key_last_usage().key_id(id).send().await.unwrap();
    let usage = out
        .key_last_usage()
        .expect("KeyLastUsage is always present");
    match (usage.operation(), usage.timestamp()) {
        (Some(op), Some(at)) => Some((op.clone(), at.as_secs_f64())),
        (None, None) => None,
        other => panic!("operation and timestamp go together: {other:?}"),
    }
}

async fn last_op(kms: &Client, id: &str) -> Option<Op> {
    last_use(kms, id).await.map(|(op, _)| op)
}

#[tokio::test]
async fn successful_cryptographic_operations_are_the_last_use() {
    let (_server, kms) = common::start();
    let id = symmetric_key(&kms).await;
    let out = kms.get_key_last_usage().key_id(&id).send().await.unwrap();
    assert_eq!(out.key_id(), Some(id.as_str()));
    assert_eq!(out.tracking_start_date(), out.key_creation_date());
    assert!(out.key_creation_date().is_some());
    assert_eq!(last_use(&kms, &id).await, None, "not used yet");

    let blob = encrypt(&kms, &id, "secret").await;
    let (op, at) = last_use(&kms, &id).await.unwrap();
    assert_eq!(op, Op::Encrypt);
    assert!(at >= out.key_creation_date().unwrap().as_secs_f64());

    // Reads, management and failures are not uses.
    kms.describe_key().key_id(&id).send().await.unwrap();
    kms.get_key_rotation_status()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    let mut tampered = blob.as_ref().to_vec();
    *tampered.last_mut().unwrap() ^= 1;
    assert!(kms
        .decrypt()
        .ciphertext_blob(Blob::new(tampered))
        .send()
        .await
        .is_err());
    assert_eq!(last_op(&kms, &id).await, Some(Op::Encrypt));

    // A write replaces the cached key; the use stays.
    let tag = Tag::builder().tag_key("k").tag_value("v").build().unwrap();
    kms.tag_resource()
        .key_id(&id)
        .tags(tag)
        .send()
        .await
        .unwrap();
    assert_eq!(last_op(&kms, &id).await, Some(Op::Encrypt));

    common::decrypt(&kms, &blob).await;
    assert_eq!(last_op(&kms, &id).await, Some(Op::Decrypt));
    kms.generate_data_key_without_plaintext()
        .key_id(&id)
        .number_of_bytes(32)
        .send()
        .await
        .unwrap();
    assert_eq!(
        last_op(&kms, &id).await,
        Some(Op::GenerateDataKeyWithoutPlaintext)
    );

    // ReEncrypt is a use of both keys.
    let other = symmetric_key(&kms).await;
    kms.re_encrypt()
        .ciphertext_blob(blob)
        .destination_key_id(&other)
        .send()
        .await
        .unwrap();
    assert_eq!(last_op(&kms, &id).await, Some(Op::ReEncrypt));
    assert_eq!(last_op(&kms, &other).await, Some(Op::ReEncrypt));

    // Asymmetric and HMAC keys too.
    let hmac = create_key(&kms, KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac).await;
    kms.generate_mac()
        .key_id(&hmac)
        .message(Blob::new("m"))
        .mac_algorithm(aws_sdk_kms::types::MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .unwrap();
    assert_eq!(last_op(&kms, &hmac).await, Some(Op::GenerateMac));

    // Key ids only, as AWS documents; every state answers.
    common::create_alias(&kms, "alias/used", &id).await;
    assert_code!(
        kms.get_key_last_usage().key_id("alias/used").send().await,
        "NotFoundException"
    );
    kms.disable_key().key_id(&id).send().await.unwrap();
    assert_eq!(last_op(&kms, &id).await, Some(Op::ReEncrypt));
}

/// With a sweep far away, only a clean shutdown writes the uses: a SIGKILL loses them, which
/// shows there is no write per request.
#[tokio::test]
async fn uses_are_written_in_batches_not_per_request() {
    let mut server = Server::start_with(&["--sweep-interval-secs", "3600"]);
    let kms = server.client();
    let id = symmetric_key(&kms).await;
    encrypt(&kms, &id, "one").await;
    // The sweeper's first tick runs at start; give it no chance to matter.
    server.kill9();
    server.spawn();
    let kms = server.client();
    assert_eq!(
        last_use(&kms, &id).await,
        None,
        "nothing was written per request"
    );

    encrypt(&kms, &id, "two").await;
    let before = last_use(&kms, &id).await.unwrap();
    assert!(server.terminate(), "clean shutdown");
    server.spawn();
    let kms = server.client();
    assert_eq!(
        last_use(&kms, &id).await,
        Some(before),
        "written at shutdown"
    );
}

/// The sweeper writes them within its interval.
#[tokio::test]
async fn the_sweeper_writes_uses_within_its_interval() {
    let mut server = Server::start_with(&["--sweep-interval-secs", "1"]);
    let kms = server.client();
    let id = symmetric_key(&kms).await;
    encrypt(&kms, &id, "one").await;
    let used = last_use(&kms, &id).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    server.kill9();
    server.spawn();
    let kms = server.client();
    assert_eq!(last_use(&kms, &id).await, Some(used));
}
