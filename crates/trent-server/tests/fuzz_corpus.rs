//! Replays every checked-in fuzz input (`fuzz/corpus/<target>/`) through the same library
//! functions the fuzz targets call, on stable Rust: a crash found once stays fixed.
//!
//! `bounded_mutation_fuzz` (ignored by default; CI runs it with `FUZZ_SECONDS`) fuzzes the same
//! four targets on stable for a bounded time: it mutates the checked-in inputs (bit flips,
//! byte runs, cuts, splices between inputs, interesting values) with a seeded generator and
//! reports the seed and input of any panic. Coverage-guided fuzzing with cargo-fuzz on nightly
//! is `fuzz/run.sh`.

use std::path::PathBuf;

use trent_server::fuzzing;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

fn replay(target: &str, run: fn(&[u8])) {
    let dir = corpus_dir(target);
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

/// xorshift64*: a small, seeded, reproducible generator (not for secrets).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, corpus: &[Vec<u8>]) {
    const INTERESTING: &[&[u8]] = &[
        b"\0",
        b"\xff",
        b"{",
        b"}",
        b"\"",
        b"\\u0000",
        b"%",
        b"%00",
        b"&",
        b"=",
        b"\r\n",
        b"-1",
        b"4294967296",
        b"1e999",
        b"null",
        b"[]",
        b"{}",
        b"\xf0\x9f\x92\xa9",
    ];
    for _ in 0..=rng.below(4) {
        let len = input.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = rng.next() as u8;
            }
            2 => {
                let at = rng.below(len + 1);
                let value = INTERESTING[rng.below(INTERESTING.len())];
                input.splice(at..at, value.iter().copied());
            }
            3 if len > 0 => {
                let at = rng.below(len);
                let end = (at + 1 + rng.below(16)).min(len);
                input.drain(at..end);
            }
            4 => input.truncate(rng.below(len + 1)),
            5 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                let from = rng.below(other.len() + 1);
                let at = rng.below(len + 1);
                input.splice(at..at, other[from..].iter().copied());
            }
            _ => {
                let at = rng.below(len + 1);
                let byte = rng.next() as u8;
                input.splice(at..at, std::iter::repeat_n(byte, 1 + rng.below(64)));
            }
        }
    }
    input.truncate(64 * 1024);
}

#[test]
#[ignore = "bounded fuzzing: run with FUZZ_SECONDS=N (CI does)"]
fn bounded_mutation_fuzz() {
    let seconds: u64 = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        })
        | 1;
    type Target = (&'static str, fn(&[u8]));
    let targets: [Target; 4] = [
        ("aws_json", fuzzing::aws_json),
        ("ciphertext_blob", fuzzing::ciphertext_blob),
        ("sigv4", fuzzing::sigv4),
        ("aliyun_params", fuzzing::aliyun_params),
    ];
    for (name, run) in targets {
        let corpus: Vec<Vec<u8>> = std::fs::read_dir(corpus_dir(name))
            .unwrap()
            .map(|e| std::fs::read(e.unwrap().path()).unwrap())
            .collect();
        let mut rng = Rng(seed);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(seconds);
        let mut runs = 0u64;
        while std::time::Instant::now() < deadline {
            let mut input = corpus[rng.below(corpus.len())].clone();
            mutate(&mut rng, &mut input, &corpus);
            if std::panic::catch_unwind(|| run(&input)).is_err() {
                panic!(
                    "{name} panicked (FUZZ_SEED={seed}); input (hex): {}",
                    input.iter().map(|b| format!("{b:02x}")).collect::<String>()
                );
            }
            runs += 1;
        }
        println!("{name}: {runs} inputs in {seconds}s, no panic (FUZZ_SEED={seed})");
    }
}
