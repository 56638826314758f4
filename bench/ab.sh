#!/usr/bin/env bash
# One figure of one binary, for before/after comparisons in one session (BENCHMARK-ANALYSIS.md):
#   bash bench/ab.sh BIN OP SECONDS [serve flags...]
# e.g. bash bench/ab.sh /tmp/trent-before Encrypt 6 --no-audit
# A fresh data directory each time; the server pinned to CPU 0 and the load generator
# (32 connections) to CPU 1, unless PIN=0. Alternate the binaries, and repeat.
# PG=postgres://postgres@127.0.0.1:5432/postgres runs the server on a fresh database of that
# PostgreSQL server instead (created for the run and dropped after it; PostgreSQL is not pinned).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=$1 OP=$2 SECONDS_=$3
shift 3
pin_server=() pin_load=()
if [ "${PIN:-1}" = 1 ] && [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null; then
  pin_server=(taskset -c 0) pin_load=(taskset -c 1)
fi
data=$(mktemp -d)
port=$((20000 + RANDOM % 10000))
db=() drop=:
if [ -n "${PG:-}" ]; then
  name="trent_ab_$$_$RANDOM"
  psql -q "$PG" -c "CREATE DATABASE $name"
  db=(--database-url "${PG%/*}/$name")
  drop="psql -q '$PG' -c 'DROP DATABASE $name WITH (FORCE)'"
fi
TRENT_LOG=error "${pin_server[@]}" "$BIN" serve --listen "127.0.0.1:$port" --data-dir "$data" "${db[@]}" "$@" >"$data/log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null; rm -rf "$data"; eval "$drop"' EXIT
for _ in $(seq 100); do
  curl -s -o /dev/null "http://127.0.0.1:$port/health" && break
  sleep 0.1
done
"${pin_load[@]}" ./target/release/trent-bench load --url "http://127.0.0.1:$port" --op "$OP" --seconds "$SECONDS_" | tail -1
