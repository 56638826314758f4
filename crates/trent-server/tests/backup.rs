//! `trent backup` while a server writes, `trent restore` into an empty data directory, and every
//! ciphertext acknowledged before the backup decrypting on the restored store.

mod common;

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::Server;

fn trent(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_trent"))
        .args(args)
        .env_remove("TRENT_ROOT_KEY")
        .env_remove("TRENT_DATA_DIR")
        .output()
        .unwrap()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// One writer's acknowledged ciphertexts, in the order their keys were created.
type Acked = Arc<Mutex<Vec<(String, aws_sdk_kms::primitives::Blob, String)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_under_write_load_restores_every_acknowledged_ciphertext() {
    let server = Server::start();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<(Acked, _)> = (0..2)
        .map(|w| {
            let acked: Acked = Arc::default();
            let kms = server.client();
            let (acked2, stop) = (acked.clone(), stop.clone());
            let task = tokio::spawn(async move {
                let deadline = Instant::now() + Duration::from_secs(60);
                for i in 0..400 {
                    if stop.load(Ordering::Relaxed) || Instant::now() > deadline {
                        break;
                    }
                    // Each key is acknowledged (committed) before its ciphertext exists.
                    let id = common::symmetric_key(&kms).await;
                    let text = format!("writer {w} message {i}");
                    let blob = common::encrypt(&kms, &id, &text).await;
                    acked2.lock().unwrap().push((id, blob, text));
                }
            });
            (acked, task)
        })
        .collect();

    // Let the load build up, then back up in the middle of it.
    while writers.iter().any(|(a, _)| a.lock().unwrap().len() < 10) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before: Vec<usize> = writers
        .iter()
        .map(|(a, _)| a.lock().unwrap().len())
        .collect();
    let tmp = tempfile::tempdir().unwrap();
    let snapshot = tmp.path().join("trent.backup");
    let data_dir = server.data_dir().to_owned();
    let snapshot2 = snapshot.clone();
    let out = tokio::task::spawn_blocking(move || {
        trent(&[
            "backup",
            "--data-dir",
            path(&data_dir),
            "--out",
            path(&snapshot2),
        ])
    })
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("root key"));
    // More writes after the backup, which the snapshot must not need.
    while writers
        .iter()
        .zip(&before)
        .any(|((a, _), b)| a.lock().unwrap().len() < b + 5)
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut logs = Vec::new();
    for (acked, task) in writers {
        task.await.unwrap();
        logs.push(acked.lock().unwrap().clone());
    }

    // Restore into an empty data directory that holds only the root key.
    let restored = tmp.path().join("restored");
    std::fs::create_dir(&restored).unwrap();
    let out = trent(&[
        "restore",
        "--data-dir",
        path(&restored),
        "--from",
        path(&snapshot),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let key = server.data_dir().join("root.key");
    std::fs::copy(&key, restored.join("root.key")).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            restored.join("root.key"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
    }
    drop(server);
    let mut server = Server::unstarted_in(&restored, &[]);
    server.spawn();
    let kms = server.client();

    for (log, acked_before) in logs.iter().zip(&before) {
        // Every ciphertext acknowledged before the backup started decrypts; beyond that, the
        // keys present are a prefix of each writer's sequence (one consistent state).
        let mut present = true;
        for (i, (id, blob, text)) in log.iter().enumerate() {
            let result = common::decrypt_request(&kms, blob.as_ref()).send().await;
            match result {
                Ok(out) => {
                    assert!(present, "key {id} ({i}) restored after a missing one");
                    assert_eq!(out.plaintext().unwrap().as_ref(), text.as_bytes());
                }
                Err(e) => {
                    assert!(
                        i >= *acked_before,
                        "acknowledged ciphertext {i} lost: {e:?}"
                    );
                    present = false;
                }
            }
        }
        assert!(!present, "the snapshot holds keys created after it");
    }
}

#[test]
fn backup_and_restore_refuse_to_overwrite_and_foreign_files() {
    let mut server = Server::start();
    let tmp = tempfile::tempdir().unwrap();
    let snapshot = tmp.path().join("snap");
    std::fs::write(&snapshot, "something else").unwrap();
    let out = trent(&[
        "backup",
        "--data-dir",
        path(server.data_dir()),
        "--out",
        path(&snapshot),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    assert_eq!(
        std::fs::read_to_string(&snapshot).unwrap(),
        "something else"
    );
    // A link is never followed, not even a dangling one (to where a snapshot would land).
    let (link, elsewhere) = (tmp.path().join("link"), tmp.path().join("elsewhere"));
    std::os::unix::fs::symlink(&elsewhere, &link).unwrap();
    let out = trent(&[
        "backup",
        "--data-dir",
        path(server.data_dir()),
        "--out",
        path(&link),
    ]);
    assert!(!out.status.success());
    assert!(!elsewhere.exists());

    // Not a Trent database.
    let out = trent(&[
        "restore",
        "--data-dir",
        path(&tmp.path().join("new")),
        "--from",
        path(&snapshot),
    ]);
    assert!(!out.status.success());

    // A data directory that has a database already.
    let good = tmp.path().join("good");
    assert!(trent(&[
        "backup",
        "--data-dir",
        path(server.data_dir()),
        "--out",
        path(&good)
    ])
    .status
    .success());
    // Readable by its owner alone from the moment it exists.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&good).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let dir = server.data_dir().to_owned();
    let restore_into = || trent(&["restore", "--data-dir", path(&dir), "--from", path(&good)]);
    // In use by a server: refused by the data directory's lock.
    let out = restore_into();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("in use"));
    // Stopped, but with a database.
    assert!(server.terminate());
    let out = restore_into();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("without a database"));
}
