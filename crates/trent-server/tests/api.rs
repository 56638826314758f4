//! The AWS API through the official `aws-sdk-kms` client against the real binary.

mod common;

use aws_sdk_kms::operation::generate_data_key::builders::GenerateDataKeyFluentBuilder;
use aws_sdk_kms::types::{DataKeySpec, KeyState, OriginType, Tag};
use common::{Server, ACCOUNT, REGION};

#[tokio::test]
async fn key_lifecycle() {
    let (_server, kms) = common::start();

    let created = kms
        .create_key()
        .description("app key")
        .send()
        .await
        .unwrap();
    let meta = created.key_metadata().unwrap();
    let id = meta.key_id().to_owned();
    assert_eq!(meta.key_state(), Some(&KeyState::Enabled));
    assert!(meta.enabled());
    assert_eq!(meta.aws_account_id(), Some(ACCOUNT));
    assert_eq!(
        meta.arn(),
        Some(format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{id}").as_str())
    );
    assert_eq!(meta.description(), Some("app key"));
    assert_eq!(meta.origin(), Some(&OriginType::AwsKms));
    assert_eq!(
        meta.key_spec().map(|s| s.as_str()),
        Some("SYMMETRIC_DEFAULT")
    );
    assert_eq!(
        meta.key_usage().map(|s| s.as_str()),
        Some("ENCRYPT_DECRYPT")
    );
    assert_eq!(meta.key_manager().map(|s| s.as_str()), Some("CUSTOMER"));
    assert_eq!(meta.encryption_algorithms().len(), 1);
    assert_eq!(meta.multi_region(), Some(false));
    assert!(meta.creation_date().is_some());

    let listed = kms.list_keys().send().await.unwrap();
    assert!(listed
        .keys()
        .iter()
        .any(|k| k.key_id() == Some(id.as_str())));

    kms.disable_key().key_id(&id).send().await.unwrap();
    let d = common::metadata(&kms, &id).await;
    assert_eq!(d.key_state(), Some(&KeyState::Disabled));
    assert!(!d.enabled());
    // Enable and disable are idempotent between Enabled and Disabled.
    kms.disable_key().key_id(&id).send().await.unwrap();
    kms.enable_key().key_id(&id).send().await.unwrap();
    kms.enable_key().key_id(&id).send().await.unwrap();

    kms.update_key_description()
        .key_id(&id)
        .description("renamed")
        .send()
        .await
        .unwrap();
    let d = common::metadata(&kms, &id).await;
    assert_eq!(d.description(), Some("renamed"));

    let scheduled = kms
        .schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert_eq!(scheduled.key_state(), Some(&KeyState::PendingDeletion));
    assert_eq!(scheduled.pending_window_in_days(), Some(7));
    let deletion = scheduled.deletion_date().unwrap().secs();
    let now = common::now_secs();
    assert!(
        (deletion - now - 7 * 86400).abs() < 120,
        "deletion date {deletion} vs now {now}"
    );
    let d = common::metadata(&kms, &id).await;
    assert_eq!(d.key_state(), Some(&KeyState::PendingDeletion));
    assert!(d.deletion_date().is_some());

    let cancelled = kms.cancel_key_deletion().key_id(&id).send().await.unwrap();
    assert_eq!(
        cancelled.key_id(),
        Some(format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{id}").as_str())
    );
    // AWS (and the source document): a cancelled key is Disabled.
    let d = common::metadata(&kms, &id).await;
    assert_eq!(d.key_state(), Some(&KeyState::Disabled));
    assert!(d.deletion_date().is_none());
}

#[tokio::test]
async fn default_deletion_window_is_30_days_and_range_is_7_to_30() {
    let (_server, kms) = common::start();
    let id = common::symmetric_key(&kms).await;
    let schedule = |days: Option<i32>| {
        kms.schedule_key_deletion()
            .key_id(&id)
            .set_pending_window_in_days(days)
            .send()
    };
    for days in [6, 31] {
        assert_code!(schedule(Some(days)).await, "ValidationException");
    }
    let s = schedule(None).await.unwrap();
    assert_eq!(s.pending_window_in_days(), Some(30));
}

#[tokio::test]
async fn external_keys_start_pending_import() {
    let (_server, kms) = common::start();
    let meta = common::created(kms.create_key().origin(OriginType::External)).await;
    assert_eq!(meta.key_state(), Some(&KeyState::PendingImport));
    assert_eq!(meta.origin(), Some(&OriginType::External));
    assert!(!meta.enabled());
    let id = meta.key_id();
    // A key without material cannot be enabled or used.
    assert_code!(
        kms.enable_key().key_id(id).send().await,
        "KMSInvalidStateException"
    );
    assert_code!(
        common::encrypt_request(&kms, id, "x").send().await,
        "KMSInvalidStateException"
    );
    // Scheduling deletion works; cancelling returns it to PendingImport (it has no material).
    kms.schedule_key_deletion().key_id(id).send().await.unwrap();
    kms.cancel_key_deletion().key_id(id).send().await.unwrap();
    assert_eq!(common::key_state(&kms, id).await, KeyState::PendingImport);
}

#[tokio::test]
async fn encrypt_decrypt_round_trips_with_every_key_reference_form() {
    let (_server, kms) = common::start();
    let meta = common::created(kms.create_key()).await;
    let id = meta.key_id().to_owned();
    let arn = meta.arn().unwrap().to_owned();
    common::create_alias(&kms, "alias/app", &id).await;
    let alias_arn = format!("arn:aws:kms:{REGION}:{ACCOUNT}:alias/app");

    for key in [&id, &arn, &"alias/app".to_owned(), &alias_arn] {
        let secret = format!("secret for {key}");
        let enc = common::encrypt_request(&kms, key, secret.clone())
            .encryption_context("purpose", "test")
            .encryption_context("tenant", "a")
            .send()
            .await
            .unwrap();
        assert_eq!(enc.key_id(), Some(arn.as_str()));
        assert_eq!(
            enc.encryption_algorithm().map(|a| a.as_str()),
            Some("SYMMETRIC_DEFAULT")
        );
        let blob = enc.ciphertext_blob().unwrap().clone();
        assert!(!blob
            .as_ref()
            .windows(secret.len())
            .any(|w| w == secret.as_bytes()));
        // Decrypt needs no KeyId: the blob names its key. The context must match exactly,
        // in any order.
        let dec = common::decrypt_request(&kms, &blob)
            .encryption_context("tenant", "a")
            .encryption_context("purpose", "test")
            .send()
            .await
            .unwrap();
        assert_eq!(dec.plaintext().unwrap().as_ref(), secret.as_bytes());
        assert_eq!(dec.key_id(), Some(arn.as_str()));
        assert_eq!(
            common::plaintext_of(
                common::decrypt_request(&kms, &blob)
                    .key_id(key)
                    .encryption_context("tenant", "a")
                    .encryption_context("purpose", "test")
            )
            .await,
            secret.as_bytes()
        );
        // Wrong, missing or extra context: InvalidCiphertextException.
        assert_code!(
            common::decrypt_request(&kms, &blob).send().await,
            "InvalidCiphertextException"
        );
        assert_code!(
            common::decrypt_request(&kms, &blob)
                .encryption_context("tenant", "b")
                .encryption_context("purpose", "test")
                .send()
                .await,
            "InvalidCiphertextException"
        );
    }
}

#[tokio::test]
async fn decryption_failures() {
    let (server, kms) = common::start();
    let a = common::symmetric_key(&kms).await;
    let b = common::symmetric_key(&kms).await;
    let blob = common::encrypt(&kms, &a, "hello").await;

    // Decrypt with a different KeyId.
    assert_code!(
        common::decrypt_request(&kms, &blob).key_id(&b).send().await,
        "IncorrectKeyException"
    );
    // Any flipped byte: no detail, one code.
    for i in [0, 5, 20, 30, blob.as_ref().len() - 1] {
        let mut t = blob.as_ref().to_vec();
        t[i] ^= 0x01;
        let r = common::decrypt_request(&kms, &t).send().await;
        let c = common::code(&r.unwrap_err());
        // A flipped key-id byte names a key that does not exist here.
        assert!(
            c == "InvalidCiphertextException" || c == "AccessDeniedException",
            "byte {i}: {c}"
        );
    }
    // Garbage and truncation.
    assert_code!(
        common::decrypt_request(&kms, vec![7u8; 100]).send().await,
        "InvalidCiphertextException"
    );
    assert_code!(
        common::decrypt_request(&kms, &blob.as_ref()[..30])
            .send()
            .await,
        "InvalidCiphertextException"
    );
    // The same blob in another region: the key does not exist there.
    let west = server.client_for("eu-west-1", "test", "test");
    assert_code!(
        common::decrypt_request(&west, &blob).send().await,
        "AccessDeniedException"
    );
    // Still fine here.
    assert!(common::decrypt_request(&kms, &blob).send().await.is_ok());
}

#[tokio::test]
async fn data_keys_and_random() {
    let (_server, kms) = common::start();
    let id = common::symmetric_key(&kms).await;

    let dk = kms
        .generate_data_key()
        .key_id(&id)
        .key_spec(DataKeySpec::Aes256)
        .encryption_context("k", "v")
        .send()
        .await
        .unwrap();
    let plain = dk.plaintext().unwrap().as_ref().to_vec();
    assert_eq!(plain.len(), 32);
    assert_eq!(
        common::plaintext_of(
            common::decrypt_request(&kms, dk.ciphertext_blob().unwrap())
                .encryption_context("k", "v")
        )
        .await,
        plain.as_slice()
    );

    // The length of the plaintext data key a GenerateDataKey request returns.
    let data_key_len = |request: GenerateDataKeyFluentBuilder| async move {
        request
            .send()
            .await
            .unwrap()
            .plaintext()
            .unwrap()
            .as_ref()
            .len()
    };
    let data_key = || kms.generate_data_key().key_id(&id);
    assert_eq!(
        data_key_len(data_key().key_spec(DataKeySpec::Aes128)).await,
        16
    );
    assert_eq!(data_key_len(data_key().number_of_bytes(1024)).await, 1024);
    assert_eq!(data_key_len(data_key().number_of_bytes(1)).await, 1);

    let wp = kms
        .generate_data_key_without_plaintext()
        .key_id(&id)
        .key_spec(DataKeySpec::Aes256)
        .send()
        .await
        .unwrap();
    assert_eq!(
        common::decrypt(&kms, wp.ciphertext_blob().unwrap())
            .await
            .len(),
        32
    );

    // Neither or both of KeySpec and NumberOfBytes; 1 to 1024 bytes.
    for request in [
        data_key(),
        data_key().number_of_bytes(1025),
        data_key().number_of_bytes(0),
        data_key().number_of_bytes(32).key_spec(DataKeySpec::Aes256),
    ] {
        assert_code!(request.send().await, "ValidationException");
    }

    let random = |n: Option<i32>| {
        let request = kms.generate_random().set_number_of_bytes(n);
        async move {
            request
                .send()
                .await
                .map(|out| out.plaintext().unwrap().as_ref().to_vec())
        }
    };
    let r1 = random(Some(32)).await.unwrap();
    let r2 = random(Some(32)).await.unwrap();
    assert_eq!(r1.len(), 32);
    assert_ne!(r1, r2);
    assert_eq!(random(Some(1024)).await.unwrap().len(), 1024);
    for n in [Some(1025), Some(0), None] {
        assert_code!(random(n).await, "ValidationException");
    }
}

#[tokio::test]
async fn re_encrypt_moves_a_ciphertext_between_keys() {
    let (_server, kms) = common::start();
    let a = common::created(kms.create_key()).await;
    let b = common::created(kms.create_key()).await;
    let blob = common::encrypt_request(&kms, a.key_id(), "move me")
        .encryption_context("x", "1")
        .send()
        .await
        .unwrap()
        .ciphertext_blob()
        .unwrap()
        .clone();
    let re = kms
        .re_encrypt()
        .ciphertext_blob(blob)
        .source_encryption_context("x", "1")
        .destination_key_id(b.key_id())
        .destination_encryption_context("y", "2")
        .send()
        .await
        .unwrap();
    assert_eq!(re.source_key_id(), a.arn());
    assert_eq!(re.key_id(), b.arn());
    let dec = common::decrypt_request(&kms, re.ciphertext_blob().unwrap())
        .encryption_context("y", "2")
        .send()
        .await
        .unwrap();
    assert_eq!(dec.plaintext().unwrap().as_ref(), b"move me");
    assert_eq!(dec.key_id(), b.arn());
}

#[tokio::test]
async fn plaintext_limits() {
    let (_server, kms) = common::start();
    let id = common::symmetric_key(&kms).await;
    assert!(common::encrypt_request(&kms, &id, vec![1u8; 4096])
        .send()
        .await
        .is_ok());
    assert_code!(
        common::encrypt_request(&kms, &id, vec![1u8; 4097])
            .send()
            .await,
        "ValidationException"
    );
    assert_code!(
        common::encrypt_request(&kms, &id, Vec::<u8>::new())
            .send()
            .await,
        "ValidationException"
    );
}

#[tokio::test]
async fn aliases() {
    let (_server, kms) = common::start();
    let a = common::symmetric_key(&kms).await;
    let b = common::symmetric_key(&kms).await;

    common::create_alias(&kms, "alias/one", &a).await;
    assert_code!(
        common::alias_request(&kms, "alias/one", &b).send().await,
        "AlreadyExistsException"
    );
    assert_code!(
        common::alias_request(&kms, "noprefix", &a).send().await,
        "ValidationException"
    );
    assert_code!(
        common::alias_request(&kms, "alias/aws/mine", &a)
            .send()
            .await,
        "NotAuthorizedException"
    );
    assert_code!(
        common::alias_request(&kms, "alias/bad name", &a)
            .send()
            .await,
        "ValidationException"
    );
    assert_code!(
        common::alias_request(&kms, "alias/", &a).send().await,
        "InvalidAliasNameException"
    );
    assert_code!(
        common::alias_request(&kms, "alias/two", "alias/one")
            .send()
            .await,
        "ValidationException"
    );

    let d = common::metadata(&kms, "alias/one").await;
    assert_eq!(d.key_id(), a);

    kms.update_alias()
        .alias_name("alias/one")
        .target_key_id(&b)
        .send()
        .await
        .unwrap();
    let d = common::metadata(&kms, "alias/one").await;
    assert_eq!(d.key_id(), b);
    assert_code!(
        kms.update_alias()
            .alias_name("alias/missing")
            .target_key_id(&b)
            .send()
            .await,
        "NotFoundException"
    );

    for i in 0..5 {
        common::create_alias(&kms, format!("alias/page-{i}"), &a).await;
    }
    let all = kms.list_aliases().send().await.unwrap();
    assert_eq!(all.aliases().len(), 6);
    let one = all
        .aliases()
        .iter()
        .find(|x| x.alias_name() == Some("alias/one"))
        .unwrap();
    assert_eq!(one.target_key_id(), Some(b.as_str()));
    assert_eq!(
        one.alias_arn(),
        Some(format!("arn:aws:kms:{REGION}:{ACCOUNT}:alias/one").as_str())
    );
    let of_a = kms.list_aliases().key_id(&a).send().await.unwrap();
    assert_eq!(of_a.aliases().len(), 5);
    // Pagination.
    let first = kms.list_aliases().limit(4).send().await.unwrap();
    assert_eq!(first.aliases().len(), 4);
    assert!(first.truncated());
    let rest = kms
        .list_aliases()
        .limit(4)
        .marker(first.next_marker().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rest.aliases().len(), 2);
    assert!(!rest.truncated());
    assert_code!(
        kms.list_aliases().limit(101).send().await,
        "ValidationException"
    );

    kms.delete_alias()
        .alias_name("alias/one")
        .send()
        .await
        .unwrap();
    assert_code!(
        kms.describe_key().key_id("alias/one").send().await,
        "NotFoundException"
    );
    assert_code!(
        kms.delete_alias().alias_name("alias/one").send().await,
        "NotFoundException"
    );
    // The name is free again.
    common::create_alias(&kms, "alias/one", &a).await;
}

#[tokio::test]
async fn tags() {
    let (_server, kms) = common::start();
    let tag = |k: &str, v: &str| Tag::builder().tag_key(k).tag_value(v).build().unwrap();
    let id = common::create_with(kms.create_key().tags(tag("env", "test"))).await;
    kms.tag_resource()
        .key_id(&id)
        .tags(tag("team", "kms"))
        .tags(tag("env", "prod"))
        .send()
        .await
        .unwrap();
    let listed = kms.list_resource_tags().key_id(&id).send().await.unwrap();
    let pairs: Vec<(String, String)> = listed
        .tags()
        .iter()
        .map(|t| (t.tag_key().to_owned(), t.tag_value().to_owned()))
        .collect();
    assert_eq!(
        pairs,
        vec![("env".into(), "prod".into()), ("team".into(), "kms".into())]
    );
    kms.untag_resource()
        .key_id(&id)
        .tag_keys("env")
        .send()
        .await
        .unwrap();
    assert_eq!(
        kms.list_resource_tags()
            .key_id(&id)
            .send()
            .await
            .unwrap()
            .tags()
            .len(),
        1
    );

    assert_code!(
        kms.tag_resource()
            .key_id(&id)
            .tags(tag("aws:reserved", "x"))
            .send()
            .await,
        "TagException"
    );
    assert_code!(
        kms.tag_resource()
            .key_id(&id)
            .tags(tag("a", "1"))
            .tags(tag("a", "2"))
            .send()
            .await,
        "TagException"
    );
    let mut too_many = kms.tag_resource().key_id(&id);
    for i in 0..50 {
        too_many = too_many.tags(tag(&format!("k{i}"), "v"));
    }
    assert_code!(too_many.send().await, "TagException");
    assert_code!(
        kms.tag_resource()
            .key_id(&id)
            .tags(tag(&"k".repeat(129), "v"))
            .send()
            .await,
        "ValidationException"
    );
    // Pagination.
    for i in 0..5 {
        kms.tag_resource()
            .key_id(&id)
            .tags(tag(&format!("p{i}"), "v"))
            .send()
            .await
            .unwrap();
    }
    let first = kms
        .list_resource_tags()
        .key_id(&id)
        .limit(4)
        .send()
        .await
        .unwrap();
    assert!(first.truncated());
    let rest = kms
        .list_resource_tags()
        .key_id(&id)
        .limit(4)
        .marker(first.next_marker().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(first.tags().len() + rest.tags().len(), 6);
}

#[tokio::test]
async fn key_policies() {
    let (_server, kms) = common::start();
    let id = common::symmetric_key(&kms).await;
    let p = kms
        .get_key_policy()
        .key_id(&id)
        .policy_name("default")
        .send()
        .await
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(p.policy().unwrap()).unwrap();
    assert_eq!(
        doc["Statement"][0]["Principal"]["AWS"],
        format!("arn:aws:iam::{ACCOUNT}:root")
    );
    assert_eq!(doc["Statement"][0]["Action"], "kms:*");
    let names = kms.list_key_policies().key_id(&id).send().await.unwrap();
    assert_eq!(names.policy_names(), ["default"]);
    // A policy the caller can still change (the lockout check), in AWS's grammar.
    let mine = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"Owner","Effect":"Allow","Principal":{{"AWS":"{ACCOUNT}"}},"Action":"kms:*","Resource":"*"}}]}}"#
    );
    let mine = mine.as_str();
    kms.put_key_policy()
        .key_id(&id)
        .policy_name("default")
        .policy(mine)
        .send()
        .await
        .unwrap();
    assert_eq!(
        kms.get_key_policy()
            .key_id(&id)
            .policy_name("default")
            .send()
            .await
            .unwrap()
            .policy(),
        Some(mine)
    );
    assert_code!(
        kms.put_key_policy()
            .key_id(&id)
            .policy_name("default")
            .policy("not json")
            .send()
            .await,
        "MalformedPolicyDocumentException"
    );
    assert_code!(
        kms.get_key_policy()
            .key_id(&id)
            .policy_name("other")
            .send()
            .await,
        "NotFoundException"
    );
}

#[tokio::test]
async fn not_found_and_scoping() {
    let (server, kms) = common::start();
    let missing = "11111111-2222-3333-4444-555555555555";
    assert_code!(
        kms.describe_key().key_id(missing).send().await,
        "NotFoundException"
    );
    assert_code!(
        kms.describe_key().key_id("fake-key-id").send().await,
        "NotFoundException"
    );
    assert_code!(
        kms.describe_key().key_id("alias/nothing").send().await,
        "NotFoundException"
    );
    assert_code!(
        kms.disable_key().key_id(missing).send().await,
        "NotFoundException"
    );
    assert_eq!(
        error_message!(
            kms.disable_key().key_id("alias/nothing").send().await,
            "NotFoundException"
        ),
        "Invalid keyId alias/nothing"
    );

    // Keys live per region: not visible from another.
    let id = common::symmetric_key(&kms).await;
    let west = server.client_for("eu-west-1", "test", "test");
    assert_code!(
        west.describe_key().key_id(&id).send().await,
        "NotFoundException"
    );
    assert!(!west
        .list_keys()
        .send()
        .await
        .unwrap()
        .keys()
        .iter()
        .any(|k| k.key_id() == Some(id.as_str())));
    // An ARN naming another region is not found either.
    let arn = format!("arn:aws:kms:{REGION}:{ACCOUNT}:key/{id}");
    assert_code!(
        west.describe_key().key_id(&arn).send().await,
        "NotFoundException"
    );
    // Errors are HTTP 400, as AWS sends them.
    let e = kms.describe_key().key_id(missing).send().await.unwrap_err();
    assert_eq!(common::status(&e), 400);
}

#[tokio::test]
async fn list_keys_paginates() {
    let (_server, kms) = common::start();
    let mut ids = Vec::new();
    for _ in 0..7 {
        ids.push(common::symmetric_key(&kms).await);
    }
    let mut seen = Vec::new();
    let mut marker: Option<String> = None;
    loop {
        let page = kms
            .list_keys()
            .limit(3)
            .set_marker(marker.clone())
            .send()
            .await
            .unwrap();
        assert!(page.keys().len() <= 3);
        seen.extend(page.keys().iter().map(|k| k.key_id().unwrap().to_owned()));
        if !page.truncated() {
            break;
        }
        marker = page.next_marker().map(str::to_owned);
    }
    ids.sort();
    seen.sort();
    assert_eq!(ids, seen);
    assert_code!(kms.list_keys().limit(0).send().await, "ValidationException");
    assert_code!(
        kms.list_keys().limit(1001).send().await,
        "ValidationException"
    );
    assert_code!(
        kms.list_keys().marker("garbage").send().await,
        "InvalidMarkerException"
    );
}

#[tokio::test]
async fn scheduled_deletion_destroys_the_key_when_the_window_passes() {
    let server = Server::start_with(&["--sweep-interval-secs", "1"]);
    let kms = server.client();
    let id = common::symmetric_key(&kms).await;
    common::create_alias(&kms, "alias/doomed", &id).await;
    let blob = common::encrypt(&kms, &id, "x").await;
    kms.schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();

    server.advance_clock(6 * 86400).await;
    assert!(
        kms.describe_key().key_id(&id).send().await.is_ok(),
        "still pending after 6 days"
    );

    server.advance_clock(86400 + 60).await;
    // On access: gone at once.
    assert_code!(
        kms.describe_key().key_id(&id).send().await,
        "NotFoundException"
    );
    assert_code!(
        kms.cancel_key_deletion().key_id(&id).send().await,
        "NotFoundException"
    );
    assert_code!(
        common::decrypt_request(&kms, &blob).send().await,
        "AccessDeniedException"
    );
    assert!(!kms
        .list_keys()
        .send()
        .await
        .unwrap()
        .keys()
        .iter()
        .any(|k| k.key_id() == Some(id.as_str())));

    // And by the sweeper: the key row, its material and its alias leave the database.
    let mut gone = false;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        if server.count_rows("keys") == 0 {
            gone = true;
            break;
        }
    }
    assert!(gone, "the sweeper did not destroy the key");
    assert!(kms
        .list_aliases()
        .send()
        .await
        .unwrap()
        .aliases()
        .is_empty());
}

#[tokio::test]
async fn dry_run_and_grant_tokens() {
    let (_server, kms) = common::start();
    let id = common::symmetric_key(&kms).await;
    assert_code!(
        common::encrypt_request(&kms, &id, "x")
            .dry_run(true)
            .send()
            .await,
        "DryRunOperationException"
    );
    assert_code!(
        common::encrypt_request(&kms, &id, "x")
            .grant_tokens("bogus")
            .send()
            .await,
        "InvalidGrantTokenException"
    );
}

#[tokio::test]
async fn unsupported_key_specs_are_refused_clearly() {
    let (_server, kms) = common::start();
    // Specs AWS has that this server does not implement yet.
    use aws_sdk_kms::types::{KeySpec, KeyUsageType};
    for (spec, usage) in [(KeySpec::Sm2, KeyUsageType::SignVerify)] {
        let r = common::create_request(&kms, spec, usage).send().await;
        assert_code!(r, "UnsupportedOperationException");
    }
    let r = kms
        .create_key()
        .key_usage(aws_sdk_kms::types::KeyUsageType::SignVerify)
        .send()
        .await;
    assert_code!(r, "ValidationException");
    // ReplicateKey is served (tests/multi_region.rs): a key that does not exist is not found.
    assert_code!(
        kms.replicate_key()
            .key_id("0b0e7c5e-0000-4000-8000-000000000000")
            .replica_region("us-west-2")
            .send()
            .await,
        "NotFoundException"
    );
    // Grants take key ids and ARNs only: an alias is answered like every key-only operation's.
    assert_code!(
        kms.list_grants().key_id("alias/x").send().await,
        "NotFoundException"
    );
}
