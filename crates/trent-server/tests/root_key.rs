//! `trent root-key rotate`: every sealed value re-sealed under a new key in one step; the old
//! key opens nothing afterwards, and every ciphertext, signature and imported material still
//! works.

mod common;

use std::path::Path;
use std::process::Command;

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{
    KeySpec, KeyUsageType, MacAlgorithmSpec, MessageType, SigningAlgorithmSpec,
};
use common::{byok, Server};
use trent_crypto::AeadKey;

fn trent(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(args)
        .env_remove("TRENT_ROOT_KEY")
        .env_remove("TRENT_DATA_DIR")
        .envs(env.iter().copied())
        .output()
        .unwrap()
}

fn key_of(hex_text: &str) -> AeadKey {
    let bytes = hex::decode(hex_text.trim()).unwrap();
    AeadKey::new(&trent_crypto::SecretBytes::new(bytes)).unwrap()
}

/// Every sealed value in the database, with its associated data.
fn sealed_values(db: &Path) -> Vec<(Vec<u8>, Vec<u8>)> {
    let conn = rusqlite::Connection::open(db).unwrap();
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = conn
        .prepare("SELECT key_id, version, sealed FROM key_material")
        .unwrap()
        .query_map([], |r| {
            let id: Vec<u8> = r.get(0)?;
            let version: u32 = r.get(1)?;
            let sealed: Vec<u8> = r.get(2)?;
            let id = trent_core::KeyId::from_bytes(id.try_into().unwrap());
            Ok((trent_core::engine::material_aad(&id, version), sealed))
        })
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let check: Vec<u8> = conn
        .query_row("SELECT sealed FROM root_check WHERE id = 1", [], |r| {
            r.get(0)
        })
        .unwrap();
    out.push((b"trent/root-check/v1".to_vec(), check));
    out
}

#[tokio::test]
async fn after_rotation_the_old_key_opens_nothing_and_everything_still_works() {
    let mut server = Server::start();
    let kms = server.client();
    let sym = common::symmetric_key(&kms).await;
    let blob = common::encrypt(&kms, &sym, "before rotation").await;
    kms.rotate_key_on_demand()
        .key_id(&sym)
        .send()
        .await
        .unwrap();
    let blob2 = common::encrypt(&kms, &sym, "after key rotation").await;
    let signer = common::create_key(&kms, KeySpec::EccNistP256, KeyUsageType::SignVerify).await;
    let signature = common::sign(
        &kms,
        &signer,
        b"m",
        MessageType::Raw,
        &SigningAlgorithmSpec::EcdsaSha256,
    )
    .await;
    let mac_key = common::create_key(&kms, KeySpec::Hmac256, KeyUsageType::GenerateVerifyMac).await;
    let mac = kms
        .generate_mac()
        .key_id(&mac_key)
        .message(Blob::new("m"))
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .unwrap()
        .mac()
        .unwrap()
        .as_ref()
        .to_vec();
    let external = common::external_key(&kms, None).await;
    let material = [0x42u8; 32];
    let material_id = byok::import(&kms, &external, &material, None)
        .await
        .unwrap()
        .key_material_id()
        .unwrap()
        .to_owned();
    let imported_blob = common::encrypt(&kms, &external, "imported").await;

    // Not while the server runs.
    let data_dir = server.data_dir().to_owned();
    let dir = data_dir.to_str().unwrap();
    let busy = trent(&["root-key", "rotate", "--data-dir", dir], &[]);
    assert!(!busy.status.success());
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("in use"),
        "{busy:?}"
    );

    assert!(server.terminate());
    let old_hex = std::fs::read_to_string(data_dir.join("root.key")).unwrap();
    let old = key_of(&old_hex);
    let db = server.db_path();
    let before = sealed_values(&db);
    assert!(before.iter().all(|(aad, s)| old.open(aad, s).is_ok()));

    let out = trent(&["root-key", "rotate", "--data-dir", dir], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new_hex = std::fs::read_to_string(data_dir.join("root.key")).unwrap();
    assert_ne!(new_hex.trim(), old_hex.trim());
    assert!(!data_dir.join("root.key.new").exists());
    let new = key_of(&new_hex);

    // The old key opens nothing in the store (nor in its WAL, which the rotation emptied); the
    // new one opens everything.
    let after = sealed_values(&db);
    assert_eq!(after.len(), before.len());
    for (aad, sealed) in &after {
        assert!(
            old.open(aad, sealed).is_err(),
            "the old key still opens {aad:?}"
        );
        assert!(new.open(aad, sealed).is_ok());
    }
    let wal = std::fs::metadata(data_dir.join("trent.db-wal")).map_or(0, |m| m.len());
    assert_eq!(wal, 0, "the WAL still holds pages sealed under the old key");
    // A server given the old key refuses to start.
    let refused = trent(
        &["serve", "--listen", "127.0.0.1:0", "--data-dir", dir],
        &[("TRENT_ROOT_KEY", old_hex.trim())],
    );
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("does not open this store"));

    server.spawn();
    let kms = server.client();
    common::decrypts_to(&kms, &blob, "before rotation").await;
    common::decrypts_to(&kms, &blob2, "after key rotation").await;
    common::decrypts_to(&kms, &imported_blob, "imported").await;
    common::verifies(common::verify_request(
        &kms,
        &signer,
        b"m",
        &signature,
        &SigningAlgorithmSpec::EcdsaSha256,
    ))
    .await;
    assert!(kms
        .verify_mac()
        .key_id(&mac_key)
        .message(Blob::new("m"))
        .mac(Blob::new(mac))
        .mac_algorithm(MacAlgorithmSpec::HmacSha256)
        .send()
        .await
        .unwrap()
        .mac_valid());
    // The imported material keeps its id, and its sealed check still recognises it: delete and
    // reimport the same material.
    let meta = common::metadata(&kms, &external).await;
    assert_eq!(meta.current_key_material_id(), Some(material_id.as_str()));
    kms.delete_imported_key_material()
        .key_id(&external)
        .send()
        .await
        .unwrap();
    let again = byok::import(&kms, &external, &material, None)
        .await
        .unwrap();
    assert_eq!(again.key_material_id(), Some(material_id.as_str()));
    assert_code!(
        byok::import(&kms, &external, &[0x43u8; 32], None).await,
        "IncorrectKeyMaterialException"
    );
    common::decrypts_to(&kms, &imported_blob, "imported").await;
}

#[tokio::test]
async fn a_root_key_from_the_environment_is_rotated_into_a_new_file() {
    let mut server = Server::unstarted(&[]);
    let old_hex = "ab".repeat(32);
    server.env("TRENT_ROOT_KEY", &old_hex);
    server.spawn();
    let kms = server.client();
    let id = common::symmetric_key(&kms).await;
    let blob = common::encrypt(&kms, &id, "env").await;
    assert!(server.terminate());
    let dir = server.data_dir().to_str().unwrap().to_owned();

    let env = [("TRENT_ROOT_KEY", old_hex.as_str())];
    let missing = trent(&["root-key", "rotate", "--data-dir", &dir], &env);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--new-key-out"));
    let out_file = server.tmp_dir().join("new.key");
    let out = trent(
        &[
            "root-key",
            "rotate",
            "--data-dir",
            &dir,
            "--new-key-out",
            out_file.to_str().unwrap(),
        ],
        &env,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new_hex = std::fs::read_to_string(&out_file).unwrap();

    let mut server = Server::unstarted_in(server.data_dir(), &[]);
    server.env("TRENT_ROOT_KEY", new_hex.trim());
    server.spawn();
    common::decrypts_to(&server.client(), &blob, "env").await;
}

#[tokio::test]
async fn an_interrupted_rotation_is_completed_or_started_over_by_running_it_again() {
    let mut server = Server::start();
    let kms = server.client();
    let id = common::symmetric_key(&kms).await;
    let blob = common::encrypt(&kms, &id, "resume").await;
    assert!(server.terminate());
    let data_dir = server.data_dir().to_owned();
    let dir = data_dir.to_str().unwrap();
    let key_file = data_dir.join("root.key");
    let pending = data_dir.join("root.key.new");

    // Stopped before its transaction: a stray new key that opens nothing is discarded.
    std::fs::write(&pending, "cd".repeat(32)).unwrap();
    let old_hex = std::fs::read_to_string(&key_file).unwrap();
    let out = trent(&["root-key", "rotate", "--data-dir", dir], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new_hex = std::fs::read_to_string(&key_file).unwrap();
    assert_ne!(new_hex, old_hex);
    assert_ne!(new_hex.trim(), "cd".repeat(32));

    // Stopped after its transaction, before the file swap: the next run only swaps.
    std::fs::write(&pending, &new_hex).unwrap();
    std::fs::write(&key_file, &old_hex).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&pending, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    let out = trent(&["root-key", "rotate", "--data-dir", dir], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("completed an interrupted"));
    assert_eq!(std::fs::read_to_string(&key_file).unwrap(), new_hex);
    assert!(!pending.exists());

    server.spawn();
    common::decrypts_to(&server.client(), &blob, "resume").await;
}
