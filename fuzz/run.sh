#!/bin/sh
# Runs every fuzz target for SECONDS (default 60) each, starting from the checked-in inputs.
#   fuzz/run.sh [SECONDS]
# Needs the nightly toolchain; installs cargo-fuzz if missing. New inputs the fuzzer finds go to
# a scratch directory, so the checked-in corpus only changes by hand. A crash stops the run and
# leaves its input in fuzz/artifacts/<target>/: fix the bug, then copy the input into
# fuzz/corpus/<target>/ so `cargo test -p trent-server --test fuzz_corpus` keeps it fixed.
# FUZZ_SANITIZER=address builds with AddressSanitizer (slower build; the default "none" is
# enough for safe Rust, whose memory errors are already impossible).
set -eu
seconds=${1:-60}
sanitizer=${FUZZ_SANITIZER:-none}
cd "$(dirname "$0")"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
targets="aws_json ciphertext_blob sigv4 aliyun_params"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cargo +nightly fuzz build --sanitizer "$sanitizer"
for t in $targets; do
    mkdir -p "$scratch/$t"
    echo "fuzzing $t for ${seconds}s"
    cargo +nightly fuzz run --sanitizer "$sanitizer" "$t" "$scratch/$t" "corpus/$t" -- \
        -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -print_final_stats=1
done
