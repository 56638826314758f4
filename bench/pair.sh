#!/usr/bin/env bash
# Before/after comparison of two builds that cancels the machine's drift (BENCHMARK-ANALYSIS.md):
#   bash bench/pair.sh ROUNDS OP SECONDS BIN_A BIN_B [serve flags...]
# e.g. bash bench/pair.sh 5 Encrypt 4 /tmp/trent-before ./target/release/trent --no-audit
# Each round serves A and B at the same time, both pinned to CPU 0 on fresh data directories,
# and loads both at the same time from CPU 1 (32 connections each). The two servers share one
# core, so whatever slows the machine down in a round slows both alike: B/A is the ratio of
# their costs per request. Alone, one figure after another, this machine drifts by ±20 % from
# run to run; B/A of a build against itself stays within 1.5 %. The servers start in turn in
# alternate rounds. Prints B/A per round and the median.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=$1 OP=$2 SECONDS_=$3 A=$4 B=$5
shift 5
[ "$(nproc)" -ge 2 ] || { echo "needs 2 CPUs" >&2; exit 1; }
tmp=$(mktemp -d)
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
# Starts server $1 with the rest as flags; its port in $tmp/$1.port.
start() {
  local name=$1 bin=$2 port=$((20000 + RANDOM % 10000))
  shift 2
  mkdir -p "$tmp/$name"
  TRENT_LOG=error taskset -c 0 "$bin" serve --listen "127.0.0.1:$port" --data-dir "$tmp/$name" "$@" \
    > "$tmp/$name.log" 2>&1 &
  pids+=($!)
  echo "$port" > "$tmp/$name.port"
}
rps() { awk '/req\/s/ { for (i = 1; i <= NF; i++) if ($i == "req/s") print $(i - 1) }' "$1"; }
ratios=()
for round in $(seq "$ROUNDS"); do
  pids=()
  rm -rf "${tmp:?}"/*
  if [ $((round % 2)) = 1 ]; then start a "$A" "$@"; start b "$B" "$@"; else start b "$B" "$@"; start a "$A" "$@"; fi
  pa=$(cat "$tmp/a.port") pb=$(cat "$tmp/b.port")
  for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$pa/health" && curl -s -o /dev/null "http://127.0.0.1:$pb/health" && break
    sleep 0.1
  done
  taskset -c 1 ./target/release/trent-bench load --url "http://127.0.0.1:$pa" --op "$OP" --seconds "$SECONDS_" > "$tmp/a.out" &
  la=$!
  taskset -c 1 ./target/release/trent-bench load --url "http://127.0.0.1:$pb" --op "$OP" --seconds "$SECONDS_" > "$tmp/b.out" &
  lb=$!
  wait "$la" "$lb"
  ra=$(rps "$tmp/a.out") rb=$(rps "$tmp/b.out")
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  ratio=$(awk -v a="$ra" -v b="$rb" 'BEGIN { printf "%.3f", b / a }')
  ratios+=("$ratio")
  echo "  round $round: A $ra req/s, B $rb req/s, B/A $ratio" >&2
done
median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }')
echo "$OP: B/A ${ratios[*]}; median $median"
