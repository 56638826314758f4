//! Replays every checked-in fuzz input (`fuzz/corpus/<target>/`) through the same library
//! functions the fuzz targets call, on stable Rust: a crash found once stays fixed.

use std::path::PathBuf;

use trent_server::fuzzing;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target);
    let mut count = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let data = std::fs::read(&path).unwrap();
        let outcome = std::panic::catch_unwind(|| run(&data));
        assert!(outcome.is_ok(), "{target}: {} fails", path.display());
        count += 1;
    }
    assert!(count > 0, "no inputs in {}", dir.display());
}

#[test]
fn aws_json() {
    replay("aws_json", fuzzing::aws_json);
}

#[test]
fn ciphertext_blob() {
    replay("ciphertext_blob", fuzzing::ciphertext_blob);
}

#[test]
fn sigv4() {
    replay("sigv4", fuzzing::sigv4);
}

#[test]
fn aliyun_params() {
    replay("aliyun_params", fuzzing::aliyun_params);
}
