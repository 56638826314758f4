//! Multi-Region keys through `aws-sdk-kms`, in two Regions of one account: CreateKey
//! MultiRegion, ReplicateKey, UpdatePrimaryRegion, DescribeKey's MultiRegionConfiguration,
//! ciphertexts that cross Regions, which properties are shared and which are each copy's own,
//! and the deletion of a primary that still has replicas.

mod common;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{KeyMetadata, KeyState, MultiRegionKeyType, Tag};
use aws_sdk_kms::Client;
use common::ACCOUNT;

const EAST: &str = "us-east-1";
const WEST: &str = "eu-west-1";

fn arn(region: &str, id: &str) -> String {
    format!("arn:aws:kms:{region}:{ACCOUNT}:key/{id}")
}

fn tag(k: &str, v: &str) -> Tag {
    Tag::builder().tag_key(k).tag_value(v).build().unwrap()
}

async fn describe(kms: &Client, id: &str) -> KeyMetadata {
    kms.describe_key()
        .key_id(id)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
}

/// (type, primary region, replica regions) of a key's MultiRegionConfiguration.
fn copies(m: &KeyMetadata) -> (MultiRegionKeyType, String, Vec<String>) {
    let c = m.multi_region_configuration().expect("a multi-Region key");
    let account = m.aws_account_id().unwrap();
    let arn = |region: &str, id: &str| format!("arn:aws:kms:{region}:{account}:key/{id}");
    let primary = c.primary_key().unwrap();
    assert_eq!(
        primary.arn(),
        Some(arn(primary.region().unwrap(), m.key_id()).as_str())
    );
    let replicas = c
        .replica_keys()
        .iter()
        .map(|r| {
            assert_eq!(r.arn(), Some(arn(r.region().unwrap(), m.key_id()).as_str()));
            r.region().unwrap().to_owned()
        })
        .collect();
    (
        c.multi_region_key_type().unwrap().clone(),
        primary.region().unwrap().to_owned(),
        replicas,
    )
}

async fn encrypt(kms: &Client, id: &str, text: &str) -> Blob {
    kms.encrypt()
        .key_id(id)
        .plaintext(Blob::new(text))
        .send()
        .await
        .unwrap()
        .ciphertext_blob
        .unwrap()
}

async fn decrypt(kms: &Client, blob: Blob) -> Vec<u8> {
    kms.decrypt()
        .ciphertext_blob(blob)
        .send()
        .await
        .unwrap()
        .plaintext
        .unwrap()
        .into_inner()
}

async fn create_multi_region(kms: &Client) -> String {
    let created = kms
        .create_key()
        .multi_region(true)
        .description("primary")
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    created.key_id().to_owned()
}

#[tokio::test]
async fn a_multi_region_key_is_replicated_used_across_regions_and_changes_primary() {
    let server = common::Server::start();
    let east = server.client_for(EAST, "test", "test");
    let west = server.client_for(WEST, "test", "test");

    // CreateKey MultiRegion=true: an mrk- id, a primary without replicas.
    let created = east
        .create_key()
        .multi_region(true)
        .description("primary")
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap();
    let id = created.key_id().to_owned();
    assert!(id.starts_with("mrk-") && id.len() == 36, "{id}");
    assert!(id[4..]
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert_eq!(created.multi_region(), Some(true));
    assert_eq!(
        copies(&created),
        (MultiRegionKeyType::Primary, EAST.to_owned(), vec![])
    );

    // ReplicateKey: the replica in eu-west-1, with its own description and tags.
    let out = east
        .replicate_key()
        .key_id(&id)
        .replica_region(WEST)
        .description("replica")
        .tags(tag("copy", "west"))
        .send()
        .await
        .unwrap();
    let replica = out.replica_key_metadata().unwrap();
    assert_eq!(replica.key_id(), id);
    assert_eq!(replica.arn(), Some(arn(WEST, &id).as_str()));
    assert_eq!(replica.description(), Some("replica"));
    assert_eq!(replica.key_state(), Some(&KeyState::Enabled));
    assert_eq!(
        copies(replica),
        (
            MultiRegionKeyType::Replica,
            EAST.to_owned(),
            vec![WEST.to_owned()]
        )
    );
    assert!(out.replica_policy().unwrap().contains("kms:*"));
    assert_eq!(out.replica_tags(), [tag("copy", "west")]);

    // Both copies describe the same set; each Region lists its own copy.
    let primary = describe(&east, &id).await;
    assert_eq!(
        copies(&primary),
        (
            MultiRegionKeyType::Primary,
            EAST.to_owned(),
            vec![WEST.to_owned()]
        )
    );
    assert_eq!(primary.description(), Some("primary"));
    let listed = west.list_keys().send().await.unwrap();
    assert!(listed
        .keys()
        .iter()
        .any(|k| k.key_arn() == Some(arn(WEST, &id).as_str())));

    // Ciphertexts cross Regions both ways.
    let from_east = encrypt(&east, &id, "made in the east").await;
    assert_eq!(decrypt(&west, from_east).await, b"made in the east");
    let from_west = encrypt(&west, &arn(WEST, &id), "made in the west").await;
    assert_eq!(decrypt(&east, from_west).await, b"made in the west");

    // A replica cannot be replicated.
    let e = error_message!(
        west.replicate_key()
            .key_id(&id)
            .replica_region("us-west-2")
            .send()
            .await,
        "UnsupportedOperationException"
    );
    assert_eq!(
        e,
        format!("{} is not a multi-region primary key.", arn(WEST, &id))
    );
    // Not to a Region that holds a copy already, the primary's own included.
    for region in [WEST, EAST] {
        let e = error_message!(
            east.replicate_key()
                .key_id(&id)
                .replica_region(region)
                .send()
                .await,
            "AlreadyExistsException"
        );
        assert_eq!(
            e,
            format!("Replica key {} already exists.", arn(region, &id))
        );
    }
    // Region names follow the service model's pattern.
    let e = error_message!(
        east.replicate_key()
            .key_id(&id)
            .replica_region("moon")
            .send()
            .await,
        "ValidationException"
    );
    assert_eq!(
        e,
        "1 validation error detected: Value 'moon' at 'replicaRegion' failed to satisfy constraint: Member must satisfy regular expression pattern: ^([a-z]+-){2,3}\\d+$"
    );
    // A single-Region key is no multi-Region primary.
    let single = common::symmetric_key(&east).await;
    let e = error_message!(
        east.replicate_key()
            .key_id(&single)
            .replica_region(WEST)
            .send()
            .await,
        "UnsupportedOperationException"
    );
    assert_eq!(
        e,
        format!("{} is not a multi-region primary key.", arn(EAST, &single))
    );

    // UpdatePrimaryRegion: the roles swap, ciphertexts still cross.
    east.update_primary_region()
        .key_id(&id)
        .primary_region(WEST)
        .send()
        .await
        .unwrap();
    assert_eq!(
        copies(&describe(&west, &id).await),
        (
            MultiRegionKeyType::Primary,
            WEST.to_owned(),
            vec![EAST.to_owned()]
        )
    );
    assert_eq!(
        copies(&describe(&east, &id).await),
        (
            MultiRegionKeyType::Replica,
            WEST.to_owned(),
            vec![EAST.to_owned()]
        )
    );
    let e = error_message!(
        east.update_primary_region()
            .key_id(&id)
            .primary_region(WEST)
            .send()
            .await,
        "UnsupportedOperationException"
    );
    assert_eq!(
        e,
        format!("{} is not a multi-region primary key.", arn(EAST, &id))
    );
    assert_code!(
        west.update_primary_region()
            .key_id(&id)
            .primary_region("ap-south-1")
            .send()
            .await,
        "NotFoundException"
    );
    let again = encrypt(&west, &id, "after the swap").await;
    assert_eq!(decrypt(&east, again).await, b"after the swap");
}

#[tokio::test]
async fn state_policy_aliases_tags_are_each_copys_own_rotation_is_shared() {
    let server = common::Server::start();
    let east = server.client_for(EAST, "test", "test");
    let west = server.client_for(WEST, "test", "test");
    let id = create_multi_region(&east).await;
    east.replicate_key()
        .key_id(&id)
        .replica_region(WEST)
        .send()
        .await
        .unwrap();

    // State: disabling the replica leaves the primary usable.
    west.disable_key().key_id(&id).send().await.unwrap();
    let e = error_message!(
        west.encrypt()
            .key_id(&id)
            .plaintext(Blob::new("x"))
            .send()
            .await,
        "DisabledException"
    );
    assert_eq!(e, format!("{} is disabled.", arn(WEST, &id)));
    let blob = encrypt(&east, &id, "still here").await;
    assert_eq!(
        describe(&east, &id).await.key_state(),
        Some(&KeyState::Enabled)
    );
    west.enable_key().key_id(&id).send().await.unwrap();
    assert_eq!(decrypt(&west, blob).await, b"still here");

    // Tags and aliases.
    west.tag_resource()
        .key_id(&id)
        .tags(tag("only", "west"))
        .send()
        .await
        .unwrap();
    let east_tags = east.list_resource_tags().key_id(&id).send().await.unwrap();
    assert!(east_tags.tags().is_empty());
    for (kms, target) in [(&east, &id), (&west, &id)] {
        kms.create_alias()
            .alias_name("alias/shared-name")
            .target_key_id(target)
            .send()
            .await
            .unwrap();
    }
    west.delete_alias()
        .alias_name("alias/shared-name")
        .send()
        .await
        .unwrap();
    assert_eq!(describe(&east, "alias/shared-name").await.key_id(), id);
    assert_code!(
        west.describe_key().key_id("alias/shared-name").send().await,
        "NotFoundException"
    );

    // Policy and description.
    west.update_key_description()
        .key_id(&id)
        .description("west only")
        .send()
        .await
        .unwrap();
    assert_eq!(describe(&east, &id).await.description(), Some("primary"));

    // Rotation happens on the primary and reaches the replica; a replica refuses it.
    let old = encrypt(&west, &id, "before rotation").await;
    let e = error_message!(
        west.rotate_key_on_demand().key_id(&id).send().await,
        "UnsupportedOperationException"
    );
    assert!(e.contains("replica"), "{e}");
    assert_code!(
        west.enable_key_rotation().key_id(&id).send().await,
        "UnsupportedOperationException"
    );
    east.rotate_key_on_demand()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    east.enable_key_rotation()
        .key_id(&id)
        .rotation_period_in_days(180)
        .send()
        .await
        .unwrap();
    let status = west
        .get_key_rotation_status()
        .key_id(&id)
        .send()
        .await
        .unwrap();
    assert!(status.key_rotation_enabled());
    assert_eq!(status.rotation_period_in_days(), Some(180));
    let rotations = west.list_key_rotations().key_id(&id).send().await.unwrap();
    assert_eq!(rotations.rotations().len(), 1);
    let new = encrypt(&west, &id, "after rotation").await;
    assert_eq!(decrypt(&east, new).await, b"after rotation");
    assert_eq!(decrypt(&east, old).await, b"before rotation");
}

#[tokio::test]
async fn a_primary_with_replicas_waits_for_their_deletion() {
    let server = common::Server::start_with(&["--sweep-interval-secs", "1"]);
    let east = server.client_for(EAST, "test", "test");
    let west = server.client_for(WEST, "test", "test");
    let id = create_multi_region(&east).await;
    east.replicate_key()
        .key_id(&id)
        .replica_region(WEST)
        .send()
        .await
        .unwrap();

    // AWS keeps the primary: PendingReplicaDeletion, no deletion date, unusable.
    let scheduled = east
        .schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    assert_eq!(
        scheduled.key_state(),
        Some(&KeyState::PendingReplicaDeletion)
    );
    assert_eq!(scheduled.deletion_date(), None);
    assert_eq!(scheduled.pending_window_in_days(), Some(7));
    let e = error_message!(
        east.encrypt()
            .key_id(&id)
            .plaintext(Blob::new("x"))
            .send()
            .await,
        "KMSInvalidStateException"
    );
    assert_eq!(e, format!("{} is pending deletion.", arn(EAST, &id)));
    assert_code!(
        east.replicate_key()
            .key_id(&id)
            .replica_region("ap-south-1")
            .send()
            .await,
        "KMSInvalidStateException"
    );
    // The replica is still usable on its own.
    let blob = encrypt(&west, &id, "replica").await;
    assert_eq!(decrypt(&west, blob).await, b"replica");

    // Once the replica is destroyed the primary's waiting period starts.
    west.schedule_key_deletion()
        .key_id(&id)
        .pending_window_in_days(7)
        .send()
        .await
        .unwrap();
    server.advance_clock(8 * 86400).await;
    assert_code!(
        west.describe_key().key_id(&id).send().await,
        "NotFoundException"
    );
    let mut primary = describe(&east, &id).await;
    for _ in 0..50 {
        if primary.key_state() == Some(&KeyState::PendingDeletion) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        primary = describe(&east, &id).await;
    }
    assert_eq!(primary.key_state(), Some(&KeyState::PendingDeletion));
    assert!(primary.deletion_date().is_some());
    assert_eq!(
        copies(&primary),
        (MultiRegionKeyType::Primary, EAST.to_owned(), vec![])
    );
    // Cancelling restores it like any key.
    east.cancel_key_deletion().key_id(&id).send().await.unwrap();
    assert_eq!(
        describe(&east, &id).await.key_state(),
        Some(&KeyState::Disabled)
    );
}

/// ReplicateKey needs kms:ReplicateKey on the primary and kms:CreateKey in the replica's Region;
/// UpdatePrimaryRegion needs kms:UpdatePrimaryRegion on both keys (AWS's multi-Region
/// permissions). Both operations are in the audit trail.
#[tokio::test]
async fn replication_and_primary_changes_are_authorized_and_audited() {
    const ACCT: &str = "111122223333";
    let cred = |key: &str, user: &str, policy: &str| {
        format!(
            "[[credentials]]\naccess_key_id = \"{key}\"\nsecret_access_key = \"secret\"\naccount_id = \"{ACCT}\"\nprincipal = \"arn:aws:iam::{ACCT}:user/{user}\"\npolicy = '''{policy}'''\n"
        )
    };
    let config = [
        format!("[[credentials]]\naccess_key_id = \"ROOT\"\nsecret_access_key = \"secret\"\naccount_id = \"{ACCT}\"\n"),
        cred(
            "EASTONLY",
            "eastonly",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Action":"kms:CreateKey","Resource":"*","Condition":{"StringEquals":{"aws:RequestedRegion":"eu-west-1"}}}]}"#,
        ),
        cred(
            "NOWEST",
            "nowest",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Action":"kms:UpdatePrimaryRegion","Resource":"arn:aws:kms:eu-west-1:*:key/*"}]}"#,
        ),
        cred(
            "SINGLE",
            "single",
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"},{"Effect":"Deny","Action":"kms:CreateKey","Resource":"*","Condition":{"Bool":{"kms:MultiRegion":"true"}}}]}"#,
        ),
    ]
    .concat();
    let (server, _dir) = common::start_with_config(&config);
    // kms:MultiRegion is CreateKey's request condition key.
    let single = server.client_for(EAST, "SINGLE", "secret");
    single.create_key().send().await.unwrap();
    assert_code!(
        single.create_key().multi_region(true).send().await,
        "AccessDeniedException"
    );
    let root = server.client_for(EAST, "ROOT", "secret");
    let east_only = server.client_for(EAST, "EASTONLY", "secret");
    let no_west = server.client_for(EAST, "NOWEST", "secret");
    let id = create_multi_region(&root).await;

    let e = error_message!(
        east_only
            .replicate_key()
            .key_id(&id)
            .replica_region(WEST)
            .send()
            .await,
        "AccessDeniedException"
    );
    assert!(e.contains("kms:CreateKey"), "{e}");
    // Refused: nothing was made in the replica's Region.
    let west_root = server.client_for(WEST, "ROOT", "secret");
    assert_code!(
        west_root.describe_key().key_id(&id).send().await,
        "NotFoundException"
    );
    east_only
        .replicate_key()
        .key_id(&id)
        .replica_region("ap-south-1")
        .send()
        .await
        .unwrap();
    root.replicate_key()
        .key_id(&id)
        .replica_region(WEST)
        .send()
        .await
        .unwrap();

    // Allowed on the primary, denied on the replica that would become primary.
    let e = error_message!(
        no_west
            .update_primary_region()
            .key_id(&id)
            .primary_region(WEST)
            .send()
            .await,
        "AccessDeniedException"
    );
    assert!(e.contains("kms:UpdatePrimaryRegion"), "{e}");
    no_west
        .update_primary_region()
        .key_id(&id)
        .primary_region("ap-south-1")
        .send()
        .await
        .unwrap();
    let south = server.client_for("ap-south-1", "ROOT", "secret");
    assert_eq!(
        copies(&describe(&south, &id).await).0,
        MultiRegionKeyType::Primary
    );
}

/// AWS allows multi-Region keys with imported material: each copy is given the same material
/// on its own. A replica starts PendingImport and takes only its primary's material.
#[tokio::test]
async fn an_external_replica_takes_only_its_primarys_material() {
    let server = common::Server::start();
    let east = server.client_for(EAST, "test", "test");
    let west = server.client_for(WEST, "test", "test");
    let id = east
        .create_key()
        .multi_region(true)
        .origin(aws_sdk_kms::types::OriginType::External)
        .send()
        .await
        .unwrap()
        .key_metadata
        .unwrap()
        .key_id()
        .to_owned();
    let material = [0x42u8; 32];
    common::byok::import(&east, &id, &material, None)
        .await
        .unwrap();
    let replica = east
        .replicate_key()
        .key_id(&id)
        .replica_region(WEST)
        .send()
        .await
        .unwrap();
    let meta = replica.replica_key_metadata().unwrap();
    assert_eq!(meta.key_state(), Some(&KeyState::PendingImport));
    assert_eq!(
        meta.origin(),
        Some(&aws_sdk_kms::types::OriginType::External)
    );
    assert_code!(
        common::byok::import(&west, &id, &[0x17u8; 32], None).await,
        "IncorrectKeyMaterialException"
    );
    // The copies share an id but not their import tokens: the primary's imports nothing into
    // the replica (whose policy may require other wrapping terms).
    let algorithm = aws_sdk_kms::types::AlgorithmSpec::RsaesOaepSha256;
    let (token, public) = common::byok::parameters(
        &east,
        &id,
        &algorithm,
        aws_sdk_kms::types::WrappingKeySpec::Rsa2048,
    )
    .await;
    let wrapped = common::byok::wrap(&public, &algorithm, &material);
    assert_code!(
        common::byok::import_with(&west, &id, &token, &wrapped, None).await,
        "InvalidImportTokenException"
    );
    common::byok::import(&west, &id, &material, None)
        .await
        .unwrap();
    assert_eq!(
        describe(&west, &id).await.key_state(),
        Some(&KeyState::Enabled)
    );
    let blob = encrypt(&east, &id, "imported").await;
    assert_eq!(decrypt(&west, blob).await, b"imported");
    assert_code!(
        east.rotate_key_on_demand().key_id(&id).send().await,
        "UnsupportedOperationException"
    );
}

/// Each copy's use is its own (GetKeyLastUsage answers per Region, as each copy is a key).
#[tokio::test]
async fn each_copy_tracks_its_own_use() {
    let server = common::Server::start();
    let east = server.client_for(EAST, "test", "test");
    let west = server.client_for(WEST, "test", "test");
    let id = create_multi_region(&east).await;
    east.replicate_key()
        .key_id(&id)
        .replica_region(WEST)
        .send()
        .await
        .unwrap();
    encrypt(&east, &id, "east only").await;
    let op = |out: aws_sdk_kms::operation::get_key_last_usage::GetKeyLastUsageOutput| {
        out.key_last_usage()
            .and_then(|u| u.operation())
            .map(|o| o.as_str().to_owned())
    };
    let in_east = east.get_key_last_usage().key_id(&id).send().await.unwrap();
    assert_eq!(op(in_east).as_deref(), Some("Encrypt"));
    let in_west = west.get_key_last_usage().key_id(&id).send().await.unwrap();
    assert_eq!(op(in_west), None);
}
