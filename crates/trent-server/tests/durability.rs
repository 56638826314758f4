//! What a client was told succeeded survives `kill -9`; key material is never stored in
//! plaintext.

mod common;

use aws_sdk_kms::types::KeyState;
use common::Server;

#[tokio::test]
async fn acknowledged_writes_survive_kill_9() {
    let mut server = Server::start();
    let kms = server.client();
    let mut keys = Vec::new();
    for i in 0..20 {
        let id = common::create_with(kms.create_key().description(format!("k{i}"))).await;
        let secret = format!("secret number {i}");
        let blob = common::encrypt(&kms, &id, secret.clone()).await;
        keys.push((id, secret, blob));
    }
    common::create_alias(&kms, "alias/kept", &keys[0].0).await;
    kms.disable_key().key_id(&keys[1].0).send().await.unwrap();
    kms.schedule_key_deletion()
        .key_id(&keys[2].0)
        .send()
        .await
        .unwrap();

    server.kill9();
    server.restart();
    let kms = server.client();

    for (i, (id, secret, blob)) in keys.iter().enumerate() {
        let d = common::metadata(&kms, id).await;
        assert_eq!(d.description(), Some(format!("k{i}").as_str()));
        if i == 1 || i == 2 {
            continue;
        }
        common::decrypts_to(&kms, blob.clone(), secret.as_bytes()).await;
    }
    assert_eq!(
        kms.describe_key()
            .key_id("alias/kept")
            .send()
            .await
            .unwrap()
            .key_metadata()
            .unwrap()
            .key_id(),
        keys[0].0
    );
    assert_eq!(
        common::key_state(&kms, &keys[1].0).await,
        KeyState::Disabled
    );
    assert_eq!(
        common::key_state(&kms, &keys[2].0).await,
        KeyState::PendingDeletion
    );
    // Decryption of a disabled key's blob is refused, and works again once re-enabled.
    kms.enable_key().key_id(&keys[1].0).send().await.unwrap();
    assert!(common::decrypt_request(&kms, &keys[1].2)
        .send()
        .await
        .is_ok());
}

#[tokio::test]
async fn concurrent_writes_all_land_and_survive_kill_9() {
    let mut server = Server::start();
    let kms = server.client();
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let kms = kms.clone();
        tasks.push(tokio::spawn(
            async move { common::symmetric_key(&kms).await },
        ));
    }
    let mut ids = Vec::new();
    for t in tasks {
        ids.push(t.await.unwrap());
    }
    server.kill9();
    server.restart();
    let kms = server.client();
    for id in ids {
        kms.describe_key().key_id(&id).send().await.unwrap();
    }
}

#[tokio::test]
async fn sigterm_shuts_down_cleanly() {
    let mut server = Server::start();
    server.client().create_key().send().await.unwrap();
    assert!(server.terminate(), "trent did not exit cleanly on SIGTERM");
}

/// Opens the sealed material with the root key (proving it is sealed and how), then searches
/// every file in the data directory for the plaintext material: it must not be there.
#[tokio::test]
async fn database_holds_no_plaintext_key_material() {
    let mut server = Server::start();
    let kms = server.client();
    for _ in 0..5 {
        let id = common::symmetric_key(&kms).await;
        common::encrypt_request(&kms, &id, "PLAINTEXT-MARKER-0123456789")
            .send()
            .await
            .unwrap();
    }
    // Let the server stop so the WAL is complete on disk, then read everything.
    assert!(server.terminate());

    let root_hex = std::fs::read_to_string(server.data_dir().join("root.key")).unwrap();
    let root = trent_crypto::AeadKey::new(&trent_crypto::SecretBytes::new(
        hex::decode(root_hex.trim()).unwrap(),
    ))
    .unwrap();
    let conn = rusqlite::Connection::open(server.db_path()).unwrap();
    let mut stmt = conn
        .prepare("SELECT key_id, version, sealed FROM key_material")
        .unwrap();
    let rows: Vec<(Vec<u8>, u32, Vec<u8>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 5);
    let mut files = Vec::new();
    for entry in std::fs::read_dir(server.data_dir()).unwrap() {
        let path = entry.unwrap().path();
        files.push((path.clone(), std::fs::read(&path).unwrap()));
    }
    for (id, version, sealed) in rows {
        let id = trent_core::KeyId::from_bytes(id.try_into().unwrap());
        let material = root
            .open(&trent_core::engine::material_aad(&id, version), &sealed)
            .expect("sealed under the root key");
        assert_eq!(material.len(), 32);
        for (path, bytes) in &files {
            assert!(
                !bytes.windows(32).any(|w| w == material.expose()),
                "plaintext key material found in {}",
                path.display()
            );
        }
    }
    for (path, bytes) in &files {
        assert!(
            !bytes.windows(16).any(|w| w == b"PLAINTEXT-MARKER"),
            "plaintext found in {}",
            path.display()
        );
    }
}
