//! Walks every operation of the key-state table × every key state through the real API and
//! checks each answer against the table (which unit tests in trent-core check against the
//! source documents).

mod common;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{DataKeySpec, OriginType, Tag};
use aws_sdk_kms::Client;
use common::Server;
use trent_core::state::{self, Cell, KeyOp};
use trent_core::KeyState;

const STATES: [KeyState; 4] = [
    KeyState::Enabled,
    KeyState::Disabled,
    KeyState::PendingDeletion,
    KeyState::PendingImport,
];

/// A key in the wanted state, with an alias pointing at it (made before any state change, so
/// it exists whatever the state) and, unless it never had material, a ciphertext made while it
/// was enabled.
struct Fixture {
    id: String,
    alias: String,
    blob: Vec<u8>,
}

async fn key_in(kms: &Client, state: KeyState, n: usize) -> Fixture {
    let external = state == KeyState::PendingImport;
    let mut create = kms.create_key();
    if external {
        create = create.origin(OriginType::External);
    }
    let id = create
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let alias = format!("alias/fixture-{n}");
    kms.create_alias()
        .alias_name(&alias)
        .target_key_id(&id)
        .send()
        .await
        .unwrap();
    let blob = if external {
        // No material was ever there: a well-formed blob naming the key is enough to reach the
        // state check, which comes before any decryption.
        let mut b = trent_core::blob::header(&trent_core::KeyId::parse(&id).unwrap(), 1).to_vec();
        b.extend_from_slice(&[0u8; 40]);
        b
    } else {
        kms.encrypt()
            .key_id(&id)
            .plaintext(Blob::new("fixture"))
            .send()
            .await
            .unwrap()
            .ciphertext_blob()
            .unwrap()
            .as_ref()
            .to_vec()
    };
    match state {
        KeyState::Disabled => {
            kms.disable_key().key_id(&id).send().await.unwrap();
        }
        KeyState::PendingDeletion => {
            kms.schedule_key_deletion()
                .key_id(&id)
                .send()
                .await
                .unwrap();
        }
        KeyState::Enabled | KeyState::PendingImport => {}
    }
    Fixture { id, alias, blob }
}

/// Performs `op` on the fixture key; returns the AWS error code, or None on success.
async fn perform(
    kms: &Client,
    op: KeyOp,
    f: &Fixture,
    enabled_key: &str,
    n: usize,
) -> Option<String> {
    fn err<T, E: aws_sdk_kms::error::ProvideErrorMetadata + std::fmt::Debug, R: std::fmt::Debug>(
        r: Result<T, aws_sdk_kms::error::SdkError<E, R>>,
    ) -> Option<String> {
        r.err().map(|e| common::code(&e))
    }
    let id = f.id.as_str();
    let tag = Tag::builder().tag_key("k").tag_value("v").build().unwrap();
    match op {
        KeyOp::DescribeKey => err(kms.describe_key().key_id(id).send().await),
        KeyOp::EnableKey => err(kms.enable_key().key_id(id).send().await),
        KeyOp::DisableKey => err(kms.disable_key().key_id(id).send().await),
        KeyOp::ScheduleKeyDeletion => err(kms.schedule_key_deletion().key_id(id).send().await),
        KeyOp::CancelKeyDeletion => err(kms.cancel_key_deletion().key_id(id).send().await),
        KeyOp::UpdateKeyDescription => err(kms
            .update_key_description()
            .key_id(id)
            .description("d")
            .send()
            .await),
        KeyOp::Encrypt => err(kms
            .encrypt()
            .key_id(id)
            .plaintext(Blob::new("p"))
            .send()
            .await),
        KeyOp::Decrypt => err(kms
            .decrypt()
            .ciphertext_blob(Blob::new(f.blob.clone()))
            .send()
            .await),
        KeyOp::ReEncrypt => {
            // The key in the state is checked both as source and as destination.
            let good = kms
                .encrypt()
                .key_id(enabled_key)
                .plaintext(Blob::new("p"))
                .send()
                .await
                .unwrap()
                .ciphertext_blob()
                .unwrap()
                .clone();
            let as_destination = err(kms
                .re_encrypt()
                .ciphertext_blob(good)
                .destination_key_id(id)
                .send()
                .await);
            let as_source = err(kms
                .re_encrypt()
                .ciphertext_blob(Blob::new(f.blob.clone()))
                .destination_key_id(enabled_key)
                .send()
                .await);
            assert_eq!(
                as_destination, as_source,
                "ReEncrypt source and destination disagree"
            );
            as_source
        }
        KeyOp::GenerateDataKey => err(kms
            .generate_data_key()
            .key_id(id)
            .key_spec(DataKeySpec::Aes256)
            .send()
            .await),
        KeyOp::GenerateDataKeyWithoutPlaintext => err(kms
            .generate_data_key_without_plaintext()
            .key_id(id)
            .key_spec(DataKeySpec::Aes256)
            .send()
            .await),
        KeyOp::CreateAlias => err(kms
            .create_alias()
            .alias_name(format!("alias/new-{n}"))
            .target_key_id(id)
            .send()
            .await),
        KeyOp::UpdateAlias => {
            // The alias starts on an enabled key; the key in the state is the destination.
            let name = format!("alias/moving-{n}");
            kms.create_alias()
                .alias_name(&name)
                .target_key_id(enabled_key)
                .send()
                .await
                .unwrap();
            err(kms
                .update_alias()
                .alias_name(&name)
                .target_key_id(id)
                .send()
                .await)
        }
        KeyOp::DeleteAlias => err(kms.delete_alias().alias_name(&f.alias).send().await),
        KeyOp::ListAliases => err(kms.list_aliases().key_id(id).send().await),
        KeyOp::TagResource => err(kms.tag_resource().key_id(id).tags(tag).send().await),
        KeyOp::UntagResource => err(kms.untag_resource().key_id(id).tag_keys("k").send().await),
        KeyOp::ListResourceTags => err(kms.list_resource_tags().key_id(id).send().await),
        KeyOp::GetKeyPolicy => err(kms
            .get_key_policy()
            .key_id(id)
            .policy_name("default")
            .send()
            .await),
        KeyOp::PutKeyPolicy => err(kms
            .put_key_policy()
            .key_id(id)
            .policy_name("default")
            .policy("{}")
            .send()
            .await),
        KeyOp::ListKeyPolicies => err(kms.list_key_policies().key_id(id).send().await),
    }
}

#[tokio::test]
async fn every_operation_in_every_state_matches_the_table() {
    let server = Server::start();
    let kms = server.client();
    let enabled = kms
        .create_key()
        .send()
        .await
        .unwrap()
        .key_metadata()
        .unwrap()
        .key_id()
        .to_owned();
    let mut n = 0;
    let mut checked = 0;
    let mut failures = Vec::new();
    for op in state::operations() {
        for st in STATES {
            n += 1;
            let fixture = key_in(&kms, st, n).await;
            let expected = match state::check(state::Dialect::Aws, op, st) {
                Ok(()) => None,
                Err(r) if r.cell == Cell::Unusable && r.state == KeyState::Disabled => {
                    Some("DisabledException".to_owned())
                }
                Err(_) => Some("KMSInvalidStateException".to_owned()),
            };
            let got = perform(&kms, op, &fixture, &enabled, n).await;
            if got != expected {
                failures.push(format!(
                    "{op:?} in {st:?}: expected {expected:?}, got {got:?}"
                ));
            }
            checked += 1;
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert_eq!(checked, state::operations().count() * 4);
}
