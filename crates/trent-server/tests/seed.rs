//! Seed files: portable ciphertexts between machines seeded alike, idempotent restarts,
//! conflicts and bad entries refused at startup with nothing applied, and `trent seed export`.

mod common;

use std::path::Path;
use std::process::Command;

use aws_sdk_kms::types::{KeySpec, KeyState, MessageType, SigningAlgorithmSpec};
use base64::Engine;
use common::Server;

const KEY: &str = "bc436485-5092-42b8-92a3-0aa8b93536dc";
const OTHER: &str = "0f1e2d3c-4b5a-4697-8877-665544332211";
const SIGNER: &str = "5b0e3d9a-0c1f-4d7e-9a2b-1c3d4e5f6a7b";
const MATERIAL: &str = "5cdaead27fe7da2de47945d73cd6d79e36494e73802f3cd3869f1d2cb0b5d7a9";

fn p256_pem() -> String {
    let rng = aws_lc_rs::rand::SystemRandom::new();
    let der = aws_lc_rs::signature::EcdsaKeyPair::generate_pkcs8(
        &aws_lc_rs::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &rng,
    )
    .unwrap();
    let b64 = base64::engine::general_purpose::STANDARD.encode(der.as_ref());
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    )
}

fn seed_text(pem: &str) -> String {
    format!(
        r#"
[[keys]]
id = "{KEY}"
account_id = "000000000000"
region = "us-east-1"
key_spec = "SYMMETRIC_DEFAULT"
key_usage = "ENCRYPT_DECRYPT"
description = "app key"
material = "hex:{MATERIAL}"
state = "Enabled"
aliases = ["alias/app"]
tags = {{ team = "core" }}
rotation_period_days = 365

[[keys]]
id = "{OTHER}"
region = "us-east-1"
state = "Disabled"

[[keys]]
id = "{SIGNER}"
region = "us-east-1"
key_spec = "ECC_NIST_P256"
key_usage = "SIGN_VERIFY"
material = '''
{pem}'''
aliases = ["alias/signer"]
"#
    )
}

fn seeded(seed: &Path) -> Server {
    Server::start_with(&["--seed", seed.to_str().unwrap()])
}

/// Runs `trent` to completion (a serve that must fail at startup, or a subcommand).
fn run(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(args)
        .env_remove("TRENT_ROOT_KEY")
        .env_remove("TRENT_CONFIG")
        .env_remove("TRENT_SEED")
        .output()
        .unwrap()
}

fn refused_start(data_dir: &Path, seed: &Path) -> String {
    let out = run(&[
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
        data_dir.to_str().unwrap(),
        "--seed",
        seed.to_str().unwrap(),
    ]);
    assert!(!out.status.success(), "the server started");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn machines_seeded_alike_open_each_others_ciphertexts() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.toml");
    std::fs::write(&seed, seed_text(&p256_pem())).unwrap();
    let a = seeded(&seed);
    let b = seeded(&seed);
    let (ka, kb) = (a.client(), b.client());

    let blob = common::encrypt(&ka, "alias/app", "made on machine a").await;
    common::decrypts_to(&kb, &blob, "made on machine a").await;

    let meta = common::metadata(&kb, KEY).await;
    assert_eq!(meta.description(), Some("app key"));
    assert_eq!(meta.key_state(), Some(&KeyState::Enabled));
    assert_eq!(
        common::key_state(&kb, OTHER).await,
        KeyState::Disabled,
        "state as seeded"
    );
    let tags = kb.list_resource_tags().key_id(KEY).send().await.unwrap();
    assert_eq!(tags.tags()[0].tag_key(), "team");
    assert_eq!(tags.tags()[0].tag_value(), "core");
    let rotation = kb
        .get_key_rotation_status()
        .key_id(KEY)
        .send()
        .await
        .unwrap();
    assert!(rotation.key_rotation_enabled());
    assert_eq!(rotation.rotation_period_in_days(), Some(365));

    // The asymmetric key's PEM material: a signature made on a verifies on b.
    assert_eq!(
        common::metadata(&kb, SIGNER).await.key_spec(),
        Some(&KeySpec::EccNistP256)
    );
    assert_eq!(
        common::public_key(&ka, SIGNER).await,
        common::public_key(&kb, "alias/signer").await
    );
    let signature = common::sign(
        &ka,
        SIGNER,
        b"msg",
        MessageType::Raw,
        &SigningAlgorithmSpec::EcdsaSha256,
    )
    .await;
    common::verifies(common::verify_request(
        &kb,
        SIGNER,
        b"msg",
        &signature,
        &SigningAlgorithmSpec::EcdsaSha256,
    ))
    .await;
}

#[tokio::test]
async fn restarts_are_idempotent_and_recreate_missing_aliases() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.toml");
    std::fs::write(&seed, seed_text(&p256_pem())).unwrap();
    let mut server = seeded(&seed);
    let kms = server.client();
    let blob = common::encrypt(&kms, "alias/app", "x").await;
    kms.update_key_description()
        .key_id(KEY)
        .description("changed by hand")
        .send()
        .await
        .unwrap();
    kms.delete_alias()
        .alias_name("alias/app")
        .send()
        .await
        .unwrap();

    server.restart();
    let kms = server.client();
    // The key was left as it is; the missing alias is back.
    assert_eq!(
        common::metadata(&kms, KEY).await.description(),
        Some("changed by hand")
    );
    common::decrypts_to(&kms, &blob, "x").await;
    let blob2 = common::encrypt(&kms, "alias/app", "y").await;
    common::decrypts_to(&kms, &blob2, "y").await;
    assert_eq!(kms.list_keys().send().await.unwrap().keys().len(), 3);
}

#[tokio::test]
async fn conflicts_refuse_startup_naming_the_entry() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.toml");
    std::fs::write(&seed, seed_text(&p256_pem())).unwrap();
    let mut server = seeded(&seed);
    let kms = server.client();
    // alias/taken points at a key of the user's; the seed wants it for KEY.
    let mine = common::symmetric_key(&kms).await;
    common::create_alias(&kms, "alias/taken", &mine).await;
    server.kill9();
    let data_dir = server.data_dir().to_owned();

    let conflict = dir.path().join("conflict.toml");
    std::fs::write(
        &conflict,
        format!("[[keys]]\nid = \"{KEY}\"\nregion = \"us-east-1\"\naliases = [\"alias/taken\"]\n"),
    )
    .unwrap();
    let err = refused_start(&data_dir, &conflict);
    assert!(err.contains("entry 1"), "{err}");
    assert!(err.contains(KEY), "{err}");
    assert!(
        err.contains(&format!("alias alias/taken already points at key {mine}")),
        "{err}"
    );

    let other_material = dir.path().join("material.toml");
    std::fs::write(
        &other_material,
        format!(
            "[[keys]]\nid = \"{OTHER}\"\nregion = \"us-east-1\"\n\n[[keys]]\nid = \"{KEY}\"\nregion = \"us-east-1\"\nmaterial = \"hex:{}\"\n",
            "11".repeat(32)
        ),
    )
    .unwrap();
    let err = refused_start(&data_dir, &other_material);
    assert!(err.contains("entry 2"), "{err}");
    assert!(err.contains("different material"), "{err}");
}

#[tokio::test]
async fn bad_entries_are_refused_and_nothing_is_half_applied() {
    let dir = tempfile::tempdir().unwrap();
    let data_dir = dir.path().join("data");
    let cases = [
        (
            "region = \"us-east-1\"\nkey_spec = \"NOPE\"",
            "unknown key_spec",
        ),
        (
            "region = \"us-east-1\"\nmaterial = \"hex:abcd\"",
            "not a valid SYMMETRIC_DEFAULT key",
        ),
        (
            "region = \"us-east-1\"\nstate = \"PendingDeletion\"",
            "state must be Enabled or Disabled",
        ),
        (
            "region = \"us-east-1\"\naliases = [\"nope\"]",
            "invalid alias name",
        ),
        (
            "region = \"us-east-1\"\naliases = [\"alias/aws/x\"]",
            "reserved",
        ),
        (
            "region = \"us-east-1\"\nkey_spec = \"RSA_2048\"",
            "key_usage is required",
        ),
        (
            "region = \"us-east-1\"\nrotation_period_days = 10",
            "between 90 and 2560",
        ),
        ("region = \"us-east-1\"\ncolour = \"blue\"", "unknown field"),
    ];
    for (i, (bad, reason)) in cases.iter().enumerate() {
        let seed = dir.path().join(format!("bad{i}.toml"));
        // A good entry first: it must not be applied when the second is bad.
        std::fs::write(
            &seed,
            format!(
                "[[keys]]\nid = \"{KEY}\"\nregion = \"us-east-1\"\naliases = [\"alias/first\"]\n\n[[keys]]\nid = \"{OTHER}\"\n{bad}\n"
            ),
        )
        .unwrap();
        let err = refused_start(&data_dir, &seed);
        assert!(err.contains(seed.to_str().unwrap()), "{err}");
        assert!(
            err.to_lowercase().contains(&reason.to_lowercase()),
            "{reason}: {err}"
        );
        if !reason.contains("unknown field") {
            assert!(err.contains("entry 2"), "{err}");
        }
    }
    let server = Server::unstarted_in(&data_dir, &[]);
    let mut server = server;
    server.spawn();
    let kms = server.client();
    assert!(kms.list_keys().send().await.unwrap().keys().is_empty());
    assert!(kms
        .list_aliases()
        .send()
        .await
        .unwrap()
        .aliases()
        .is_empty());
}

#[tokio::test]
async fn exported_seeds_recreate_the_keys_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let seed = dir.path().join("seed.toml");
    std::fs::write(&seed, seed_text(&p256_pem())).unwrap();
    let a = seeded(&seed);
    let ka = a.client();
    let made = common::symmetric_key(&ka).await;
    common::create_alias(&ka, "alias/made", &made).await;
    let blob = common::encrypt(&ka, "alias/made", "exported").await;
    let seeded_blob = common::encrypt(&ka, "alias/app", "seeded").await;
    let signature = common::sign(
        &ka,
        SIGNER,
        b"m",
        MessageType::Raw,
        &SigningAlgorithmSpec::EcdsaSha256,
    )
    .await;

    // While a runs.
    let out = dir.path().join("export.toml");
    let result = run(&[
        "seed",
        "export",
        "--data-dir",
        a.data_dir().to_str().unwrap(),
        "--account",
        common::ACCOUNT,
        "--region",
        common::REGION,
        "--with-material",
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        result.status.success(),
        "{}",
        String::from_utf8_lossy(&result.stderr)
    );
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.contains(&format!("hex:{MATERIAL}")), "{text}");
    assert!(text.contains("BEGIN PRIVATE KEY"), "{text}");

    let b = seeded(&out);
    let kb = b.client();
    common::decrypts_to(&kb, &blob, "exported").await;
    common::decrypts_to(&kb, &seeded_blob, "seeded").await;
    common::verifies(common::verify_request(
        &kb,
        "alias/signer",
        b"m",
        &signature,
        &SigningAlgorithmSpec::EcdsaSha256,
    ))
    .await;
    assert_eq!(common::key_state(&kb, OTHER).await, KeyState::Disabled);

    // Without --with-material: no material in the file.
    let result = run(&[
        "seed",
        "export",
        "--data-dir",
        a.data_dir().to_str().unwrap(),
        "--account",
        common::ACCOUNT,
        "--region",
        common::REGION,
    ]);
    assert!(result.status.success());
    let text = String::from_utf8(result.stdout).unwrap();
    assert!(text.contains(&made), "{text}");
    assert!(!text.contains("material"), "{text}");
}
