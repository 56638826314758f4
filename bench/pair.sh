#!/usr/bin/env bash
# Before/after comparison of two builds that cancels the machine's drift (BENCHMARK-ANALYSIS.md):
#   bash bench/pair.sh ROUNDS OP SECONDS BIN_A BIN_B [serve flags...]
# e.g. bash bench/pair.sh 5 Encrypt 4 /tmp/trent-before ./target/release/trent --no-audit
# Each round serves A and B at the same time, both pinned to CPU 0 on fresh data directories,
# and loads both at the same time from CPU 1 (32 connections each). The two servers share one
# core, so whatever slows the machine down in a round slows both alike: B/A is the ratio of
# their costs per request. Alone, one figure after another, this machine drifts by ±20 % from
# run to run; B/A of a build against itself stays within 1.5 %. The servers start, and their
# loads start, in turn in alternate rounds. Prints B/A per round and the median.
# For CPU-bound loads only (e.g. --no-audit): two servers whose answers wait for fsyncs on one
# disk wait for each other's flushes, and B/A no longer measures their costs
# (BENCHMARK-ANALYSIS.md, "The audit trail without its store").
# LOG=info serves both with TRENT_LOG=info (default: error), their logs in files.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=$1 OP=$2 SECONDS_=$3 A=$4 B=$5
shift 5
[ "$(nproc)" -ge 2 ] || { echo "needs 2 CPUs" >&2; exit 1; }
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
# Starts server $1 (binary $2, the rest as flags) on a port of its own choosing.
start() {
  local name=$1 bin=$2
  shift 2
  mkdir -p "$tmp/$name"
  TRENT_LOG="${LOG:-error}" taskset -c 0 "$bin" serve --listen 127.0.0.1:0 --data-dir "$tmp/$name" "$@" \
    > "$tmp/$name.out" 2>&1 &
  pids+=($!)
}
# The URL server $1 announced, once it answers /health.
url() {
  local u=""
  for _ in $(seq 100); do
    u=$(sed -n 's/^listening on //p' "$tmp/$1.out" | head -1)
    [ -n "$u" ] && curl -sf -o /dev/null "$u/health" && { echo "$u"; return 0; }
    sleep 0.1
  done
  echo "server $1 did not start:" >&2
  cat "$tmp/$1.out" >&2
  return 1
}
load() {
  taskset -c 1 ./target/release/trent-bench load --url "$1" --op "$OP" --seconds "$SECONDS_" > "$2"
}
rps() { awk '/req\/s/ { for (i = 1; i <= NF; i++) if ($i == "req/s") print $(i - 1) }' "$1"; }
ratios=()
for round in $(seq "$ROUNDS"); do
  pids=()
  rm -rf "${tmp:?}"/*
  if [ $((round % 2)) = 1 ]; then start a "$A" "$@"; start b "$B" "$@"; else start b "$B" "$@"; start a "$A" "$@"; fi
  ua=$(url a)
  ub=$(url b)
  if [ $((round % 2)) = 1 ]; then
    load "$ua" "$tmp/a.load" & la=$!; load "$ub" "$tmp/b.load" & lb=$!
  else
    load "$ub" "$tmp/b.load" & lb=$!; load "$ua" "$tmp/a.load" & la=$!
  fi
  wait "$la"
  wait "$lb"
  ra=$(rps "$tmp/a.load") rb=$(rps "$tmp/b.load")
  [ -n "$ra" ] && [ -n "$rb" ] || { echo "a load failed: $(cat "$tmp/a.load" "$tmp/b.load")" >&2; exit 1; }
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  ratio=$(awk -v a="$ra" -v b="$rb" 'BEGIN { printf "%.3f", b / a }')
  ratios+=("$ratio")
  echo "  round $round: A $ra req/s, B $rb req/s, B/A $ratio" >&2
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
echo "$OP: B/A ${ratios[*]}; median $median"
