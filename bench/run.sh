#!/usr/bin/env bash
# Produces docs/BENCHMARKS.md: Trent vs a trivial HTTP server vs moto's server, same machine,
# same run. Run it on an otherwise idle machine; it takes a few minutes.
#   bash bench/run.sh                 # the standard run
#   MANY_KEYS=1000000 bash bench/run.sh   # also the many-keys figures (slow: creates the keys through the API)
#   PIN=0 bash bench/run.sh           # unpinned only (no second table)
set -euo pipefail
cd "$(dirname "$0")/.."

MOTO_VERSION="${MOTO_VERSION:-5.2.5}"
SECONDS_PER_FIGURE="${SECONDS_PER_FIGURE:-8}"
MANY_KEYS="${MANY_KEYS:-0}"
# LookupEvents is measured once the trail holds this many records (Encrypt fills it).
MANY_EVENTS="${MANY_EVENTS:-1000000}"
# The PostgreSQL rows: a server the run may create (and drop) a database on; "" skips them.
POSTGRES="${POSTGRES-postgres://postgres@127.0.0.1:5432/postgres}"

cargo build --release --locked -p trent-server -p trent-bench

venv=bench/.venv
if [ ! -x "$venv/bin/moto_server" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==${MOTO_VERSION}"
fi

# The main report: every server pinned to CPU 0, the load generator to CPU 1 (stable on a
# two-core machine: neither steals the other's core mid-figure). PIN=0 measures unpinned only.
PIN="${PIN:-1}"
cpus=$(nproc)
if [ "$PIN" = 1 ] && [ "$cpus" -ge 2 ] && command -v taskset >/dev/null; then
  pinned=(taskset -c 1 ./target/release/trent-bench suite --pin-server 0)
else
  pinned=(./target/release/trent-bench suite)
fi
"${pinned[@]}" \
  --trent target/release/trent \
  --moto "$venv/bin/moto_server" \
  --seconds "$SECONDS_PER_FIGURE" \
  --many-keys "$MANY_KEYS" \
  --many-events "$MANY_EVENTS" \
  ${POSTGRES:+--postgres "$POSTGRES"} \
  --command "bash bench/run.sh" \
  --out docs/BENCHMARKS.md

# The second table: the same throughput figures unpinned (the previous rounds' mode).
if [ "${pinned[0]}" = taskset ]; then
  ./target/release/trent-bench suite \
    --trent target/release/trent \
    --seconds "$SECONDS_PER_FIGURE" \
    --throughput-only "Unpinned" >> docs/BENCHMARKS.md
fi
echo "wrote docs/BENCHMARKS.md"
