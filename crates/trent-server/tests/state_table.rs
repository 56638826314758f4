//! Walks every operation of the key-state table × every key state through the real API and
//! checks each answer against the table (which unit tests in trent-core check against the
//! source documents).

mod common;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    AlgorithmSpec, DataKeyPairSpec, DataKeySpec, EncapsulationAlgorithmSpec,
    KeyAgreementAlgorithmSpec, KeySpec, KeyUsageType, MacAlgorithmSpec, OriginType,
    SigningAlgorithmSpec, Tag, WrappingKeySpec,
};
use aws_sdk_kms::Client;
use common::byok;
use trent_core::state::{self, Cell, KeyOp};
use trent_core::KeyState;

const STATES: [KeyState; 4] = [
    KeyState::Enabled,
    KeyState::Disabled,
    KeyState::PendingDeletion,
    KeyState::PendingImport,
];

/// Which kind of key an operation needs to get past its usage checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Symmetric,
    Signing,
    Agreement,
    /// An ML-KEM key (ENCAPSULATE_DECAPSULATE).
    Kem,
    Hmac,
    /// A symmetric key with imported material (EXTERNAL).
    Imported,
    /// A multi-Region primary key (symmetric).
    MultiRegion,
    /// A multi-Region primary key with a replica in [`REPLICA_REGION`].
    Replicated,
}

/// Where multi-Region fixtures are replicated to.
const REPLICA_REGION: &str = "eu-west-1";

fn kind_of(op: KeyOp) -> Kind {
    match op {
        KeyOp::GetPublicKey | KeyOp::Sign | KeyOp::Verify => Kind::Signing,
        KeyOp::DeriveSharedSecret => Kind::Agreement,
        KeyOp::Encapsulate | KeyOp::Decapsulate => Kind::Kem,
        KeyOp::GenerateMac | KeyOp::VerifyMac => Kind::Hmac,
        KeyOp::GetParametersForImport
        | KeyOp::ImportKeyMaterial
        | KeyOp::DeleteImportedKeyMaterial => Kind::Imported,
        KeyOp::ReplicateKey => Kind::MultiRegion,
        KeyOp::UpdatePrimaryRegion => Kind::Replicated,
        _ => Kind::Symmetric,
    }
}

/// A key in the wanted state, with an alias pointing at it (made before any state change, so
/// it exists whatever the state) and, unless it never had material, a ciphertext (or a
/// signature, or a MAC) made while it was enabled. Imported keys also keep their material and
/// an import token obtained while the key could still get one.
struct Fixture {
    id: String,
    alias: String,
    blob: Vec<u8>,
    material: Vec<u8>,
    token: Vec<u8>,
    wrapping_key: Vec<u8>,
}

async fn key_in(kms: &Client, state: KeyState, n: usize, kind: Kind) -> Fixture {
    let external = state == KeyState::PendingImport || kind == Kind::Imported;
    let mut create = kms.create_key();
    if external {
        create = create.origin(OriginType::External);
    }
    create = match kind {
        Kind::Signing => create
            .key_spec(KeySpec::EccNistP256)
            .key_usage(KeyUsageType::SignVerify),
        Kind::Agreement => create
            .key_spec(KeySpec::EccNistP256)
            .key_usage(KeyUsageType::KeyAgreement),
        Kind::Kem => create
            .key_spec(KeySpec::MlKem768)
            .key_usage(KeyUsageType::EncapsulateDecapsulate),
        Kind::Hmac => create
            .key_spec(KeySpec::Hmac256)
            .key_usage(KeyUsageType::GenerateVerifyMac),
        Kind::MultiRegion | Kind::Replicated => create.multi_region(true),
        Kind::Symmetric | Kind::Imported => create,
    };
    let id = common::create_with(create).await;
    if kind == Kind::Replicated {
        kms.replicate_key()
            .key_id(&id)
            .replica_region(REPLICA_REGION)
            .send()
            .await
            .unwrap();
    }
    let alias = format!("alias/fixture-{n}");
    common::create_alias(kms, &alias, &id).await;
    let material = vec![0x5A; 32];
    let (mut token, mut wrapping_key) = (vec![], vec![]);
    if kind == Kind::Imported {
        let algorithm = AlgorithmSpec::RsaesOaepSha256;
        if state != KeyState::PendingImport {
            byok::import(kms, &id, &material, None).await.unwrap();
        }
        (token, wrapping_key) =
            byok::parameters(kms, &id, &algorithm, WrappingKeySpec::Rsa2048).await;
    }
    let blob = if state == KeyState::PendingImport && kind == Kind::Kem {
        // Any ciphertext of ML-KEM-768's length reaches the state check.
        vec![0u8; 1088]
    } else if state == KeyState::PendingImport {
        // No material was ever there: a well-formed blob naming the key is enough to reach the
        // state check, which comes before any decryption.
        let mut b = trent_core::blob::header(&trent_core::KeyId::parse(&id).unwrap(), 1).to_vec();
        b.extend_from_slice(&[0u8; 40]);
        b
    } else {
        match kind {
            Kind::Signing => {
                common::sign_request(kms, &id, "fixture", &SigningAlgorithmSpec::EcdsaSha256)
                    .send()
                    .await
                    .unwrap()
                    .signature()
                    .unwrap()
                    .as_ref()
                    .to_vec()
            }
            Kind::Hmac => kms
                .generate_mac()
                .key_id(&id)
                .message(Blob::new("fixture"))
                .mac_algorithm(MacAlgorithmSpec::HmacSha256)
                .send()
                .await
                .unwrap()
                .mac()
                .unwrap()
                .as_ref()
                .to_vec(),
            Kind::Agreement => vec![],
            Kind::Kem => kms
                .encapsulate()
                .key_id(&id)
                .encapsulation_algorithm(EncapsulationAlgorithmSpec::MlKem)
                .send()
                .await
                .unwrap()
                .shared_secret_ciphertext_blob()
                .unwrap()
                .as_ref()
                .to_vec(),
            Kind::Symmetric | Kind::Imported | Kind::MultiRegion | Kind::Replicated => {
                common::encrypt_request(kms, &id, "fixture")
                    .send()
                    .await
                    .unwrap()
                    .ciphertext_blob()
                    .unwrap()
                    .as_ref()
                    .to_vec()
            }
        }
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
        KeyState::PendingReplicaDeletion => unreachable!("reached through PendingDeletion"),
    }
    Fixture {
        id,
        alias,
        blob,
        material,
        token,
        wrapping_key,
    }
}

/// A P-256 public key (SPKI DER) from an independent library, for DeriveSharedSecret.
fn peer_public_key() -> Vec<u8> {
    use p256::pkcs8::EncodePublicKey;
    let secret = p256::SecretKey::random(&mut rand_core::OsRng);
    secret
        .public_key()
        .to_public_key_der()
        .unwrap()
        .as_bytes()
        .to_vec()
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
        KeyOp::Encrypt => err(common::encrypt_request(kms, id, "p").send().await),
        KeyOp::Decrypt => err(common::decrypt_request(kms, f.blob.clone()).send().await),
        KeyOp::ReEncryptTo => {
            let good = common::encrypt(kms, enabled_key, "p").await;
            err(kms
                .re_encrypt()
                .ciphertext_blob(good)
                .destination_key_id(id)
                .send()
                .await)
        }
        KeyOp::ReEncryptFrom => err(kms
            .re_encrypt()
            .ciphertext_blob(Blob::new(f.blob.clone()))
            .destination_key_id(enabled_key)
            .send()
            .await),
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
        KeyOp::CreateAlias => err(common::alias_request(kms, format!("alias/new-{n}"), id)
            .send()
            .await),
        KeyOp::UpdateAlias => {
            // The alias starts on an enabled key; the key in the state is the destination.
            let name = format!("alias/moving-{n}");
            common::create_alias(kms, &name, enabled_key).await;
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
            .policy(format!(
                r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::{}:root"}},"Action":"kms:*","Resource":"*"}}]}}"#,
                common::ACCOUNT
            ))
            .send()
            .await),
        KeyOp::ListKeyPolicies => err(kms.list_key_policies().key_id(id).send().await),
        KeyOp::GetPublicKey => err(kms.get_public_key().key_id(id).send().await),
        KeyOp::Sign => err(
            common::sign_request(kms, id, "m", &SigningAlgorithmSpec::EcdsaSha256)
                .send()
                .await,
        ),
        KeyOp::Verify => err(kms
            .verify()
            .key_id(id)
            .message(Blob::new("fixture"))
            .signature(Blob::new(if f.blob.is_empty() {
                vec![0]
            } else {
                f.blob.clone()
            }))
            .signing_algorithm(SigningAlgorithmSpec::EcdsaSha256)
            .send()
            .await),
        KeyOp::GenerateDataKeyPair => err(kms
            .generate_data_key_pair()
            .key_id(id)
            .key_pair_spec(DataKeyPairSpec::EccNistP256)
            .send()
            .await),
        KeyOp::GenerateDataKeyPairWithoutPlaintext => err(kms
            .generate_data_key_pair_without_plaintext()
            .key_id(id)
            .key_pair_spec(DataKeyPairSpec::EccNistP256)
            .send()
            .await),
        KeyOp::DeriveSharedSecret => err(kms
            .derive_shared_secret()
            .key_id(id)
            .key_agreement_algorithm(KeyAgreementAlgorithmSpec::Ecdh)
            .public_key(Blob::new(peer_public_key()))
            .send()
            .await),
        KeyOp::Encapsulate => err(kms
            .encapsulate()
            .key_id(id)
            .encapsulation_algorithm(EncapsulationAlgorithmSpec::MlKem)
            .send()
            .await),
        KeyOp::Decapsulate => err(kms
            .decapsulate()
            .key_id(id)
            .shared_secret_ciphertext_blob(Blob::new(f.blob.clone()))
            .encapsulation_algorithm(EncapsulationAlgorithmSpec::MlKem)
            .send()
            .await),
        KeyOp::GenerateMac => err(kms
            .generate_mac()
            .key_id(id)
            .message(Blob::new("m"))
            .mac_algorithm(MacAlgorithmSpec::HmacSha256)
            .send()
            .await),
        KeyOp::VerifyMac => err(kms
            .verify_mac()
            .key_id(id)
            .message(Blob::new("fixture"))
            .mac(Blob::new(if f.blob.is_empty() {
                vec![0]
            } else {
                f.blob.clone()
            }))
            .mac_algorithm(MacAlgorithmSpec::HmacSha256)
            .send()
            .await),
        KeyOp::GetParametersForImport => err(kms
            .get_parameters_for_import()
            .key_id(id)
            .wrapping_algorithm(AlgorithmSpec::RsaesOaepSha256)
            .wrapping_key_spec(WrappingKeySpec::Rsa2048)
            .send()
            .await),
        KeyOp::ImportKeyMaterial => {
            // The same material again (or the first material, for a key pending import).
            let wrapped = byok::wrap(
                &f.wrapping_key,
                &AlgorithmSpec::RsaesOaepSha256,
                &f.material,
            );
            err(byok::import_with(kms, id, &f.token, &wrapped, None).await)
        }
        KeyOp::DeleteImportedKeyMaterial => {
            err(kms.delete_imported_key_material().key_id(id).send().await)
        }
        KeyOp::EnableKeyRotation => err(kms.enable_key_rotation().key_id(id).send().await),
        KeyOp::DisableKeyRotation => err(kms.disable_key_rotation().key_id(id).send().await),
        KeyOp::GetKeyRotationStatus => err(kms.get_key_rotation_status().key_id(id).send().await),
        KeyOp::RotateKeyOnDemand => err(kms.rotate_key_on_demand().key_id(id).send().await),
        KeyOp::ListKeyRotations => err(kms.list_key_rotations().key_id(id).send().await),
        KeyOp::GetKeyLastUsage => err(kms.get_key_last_usage().key_id(id).send().await),
        KeyOp::ReplicateKey => err(kms
            .replicate_key()
            .key_id(id)
            .replica_region(REPLICA_REGION)
            .send()
            .await),
        KeyOp::UpdatePrimaryRegion => err(kms
            .update_primary_region()
            .key_id(id)
            .primary_region(REPLICA_REGION)
            .send()
            .await),
        KeyOp::SetDeletionProtection => unreachable!("Alibaba only: walked by tests/aliyun.rs"),
        KeyOp::UpdateAliasCurrent => unreachable!("no state rule: walked through UpdateAlias"),
        KeyOp::CreateGrant => err(kms
            .create_grant()
            .key_id(id)
            .grantee_principal(format!("arn:aws:iam::{}:root", common::ACCOUNT))
            .operations(aws_sdk_kms::types::GrantOperation::DescribeKey)
            .send()
            .await),
        KeyOp::ListGrants => err(kms.list_grants().key_id(id).send().await),
        KeyOp::RevokeGrant | KeyOp::RetireGrant | KeyOp::ListRetirableGrants => {
            unreachable!("need a grant: walked by tests/grants.rs")
        }
        KeyOp::CreateKey | KeyOp::ListKeys | KeyOp::GenerateRandom => {
            unreachable!("names no key: not in the state table")
        }
    }
}

/// Where AWS answers before reading the state table: the PendingImport fixture is an EXTERNAL
/// key, and the automatic rotation of one is refused by origin (footnote [6] of AWS's
/// key-state reference). Imported keys rotate on demand and list their materials, so
/// RotateKeyOnDemand and ListKeyRotations read the table.
fn answered_before_the_table(op: KeyOp, state: KeyState) -> Option<String> {
    let by_origin = matches!(
        op,
        KeyOp::EnableKeyRotation | KeyOp::DisableKeyRotation | KeyOp::GetKeyRotationStatus
    );
    (by_origin && state == KeyState::PendingImport)
        .then(|| "UnsupportedOperationException".to_owned())
}

/// Whether AWS has the operation. SetDeletionProtection is Alibaba's alone (its row is walked
/// by tests/aliyun.rs; what AWS callers see of it, a refused ScheduleKeyDeletion, is tested
/// there too).
fn aws_has(op: KeyOp) -> bool {
    // UpdateAlias's current target is admitted without a state rule (all cells Allowed).
    !matches!(
        op,
        KeyOp::SetDeletionProtection
            | KeyOp::UpdateAliasCurrent
            | KeyOp::RevokeGrant
            | KeyOp::RetireGrant
    )
}

#[tokio::test]
async fn every_operation_in_every_state_matches_the_table() {
    let (_server, kms) = common::start();
    let enabled = common::symmetric_key(&kms).await;
    let mut n = 0;
    let mut checked = 0;
    let mut failures = Vec::new();
    for op in state::operations().filter(|op| aws_has(*op)) {
        for st in STATES {
            n += 1;
            let fixture = key_in(&kms, st, n, kind_of(op)).await;
            let from_table = match state::check(state::Dialect::Aws, op, st) {
                Ok(()) => None,
                Err(r) if r.cell == Cell::Unusable && r.state == KeyState::Disabled => {
                    Some("DisabledException".to_owned())
                }
                Err(_) => Some("KMSInvalidStateException".to_owned()),
            };
            let expected = answered_before_the_table(op, st).or(from_table);
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
    assert_eq!(
        checked,
        state::operations().filter(|op| aws_has(*op)).count() * 4
    );
}
