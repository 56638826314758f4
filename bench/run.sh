#!/usr/bin/env bash
# Produces docs/BENCHMARKS.md: Trent vs a trivial HTTP server vs moto's server, same machine,
# same run, then the engine's read path on many threads in process (`trent-bench engine`). Run
# it on an otherwise idle machine; it takes a few minutes.
#   bash bench/run.sh                 # the standard run
#   MANY_KEYS=1000000 bash bench/run.sh   # also the many-keys figures (slow: creates the keys through the API)
#   PIN=0 bash bench/run.sh           # unpinned only (no second table)
#   bash bench/run.sh --cores 1,2,4,8 # Trent on 1, 2, 4, 8 cores: writes docs/BENCHMARKS-CORES.md
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

# --cores 1,2,4,8: Trent and the trivial server each pinned to the first N cores, the load
# generators (one per remaining core, at most 8, in parallel) to the others; their req/s summed.
# Writes docs/BENCHMARKS-CORES.md. N leaving no core for a generator is reported, not measured.
cores_mode() {
  local list=$1 cpus model out cmdline
  cpus=$(nproc)
  model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
  tmp=$(mktemp -d)
  pids=()
  trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"' EXIT
  cmdline="bash bench/run.sh --cores $list"
  [ "$SECONDS_PER_FIGURE" = 8 ] || cmdline="SECONDS_PER_FIGURE=$SECONDS_PER_FIGURE $cmdline"

  # Starts "$@" with its stdout in $tmp/server.out; sets $url to the address it announces.
  start_server() {
    "$@" > "$tmp/server.out" 2>/dev/null &
    pids+=($!)
    url=""
    for _ in $(seq 600); do
      url=$(sed -n 's/^listening on //p' "$tmp/server.out" | head -1)
      [ -n "$url" ] && return 0
      sleep 0.1
    done
    echo "$* did not start listening" >&2
    return 1
  }
  stop_server() {
    kill "${pids[-1]}" 2>/dev/null || true
    wait "${pids[-1]}" 2>/dev/null || true
    unset 'pids[-1]'
  }
  # The summed req/s of one load generator per CPU in $gen_cpus against $url, all at once;
  # "failed" if any generator failed.
  load_sum() {
    local op=$1 cpu i=0 status=0 gens=() p sum=0 rps
    for cpu in $gen_cpus; do
      taskset -c "$cpu" ./target/release/trent-bench load --url "$url" --op "$op" \
        --seconds "$SECONDS_PER_FIGURE" --connections 32 > "$tmp/load.$i" 2> "$tmp/load.$i.err" &
      gens+=($!)
      i=$((i + 1))
    done
    for p in "${gens[@]}"; do wait "$p" || status=1; done
    for ((i = 0; i < ${#gens[@]}; i++)); do
      sed 's/^/    /' "$tmp/load.$i" "$tmp/load.$i.err" >&2
      rps=$(awk '/req\/s/ { print $2 }' "$tmp/load.$i")
      if [ -z "$rps" ]; then status=1; else sum=$((sum + rps)); fi
    done
    if [ "$status" = 0 ]; then echo "$sum"; else echo failed; fi
  }
  ratio() {
    case "$1$2" in *failed*) echo "–" ;; *) awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }' ;; esac
  }

  local rows="" short=0 n
  for n in ${list//,/ }; do
    local gens=$((cpus - n))
    [ "$gens" -gt 8 ] && gens=8
    if [ "$n" -lt 1 ] || [ "$gens" -lt 1 ]; then
      echo "$n server cores: load generators out of cores ($cpus cores here)" >&2
      rows+="| $n | 0 (load generators out of cores) | – | – | – | – | – | – | – | – |"$'\n'
      continue
    fi
    gen_cpus=$(seq "$n" $((n + gens - 1)))
    local gen_cell=$gens
    if [ "$gens" -lt 2 ]; then gen_cell="$gens †"; short=1; fi
    echo "$n server cores (0-$((n - 1))), $gens load generators ($(echo $gen_cpus | tr ' ' ,)):" >&2
    start_server taskset -c "0-$((n - 1))" ./target/release/trent-bench trivial --listen 127.0.0.1:0
    local trivial enc desc sign create
    trivial=$(load_sum Trivial)
    stop_server
    rm -rf "$tmp/data" && mkdir "$tmp/data"
    start_server env TRENT_LOG=error taskset -c "0-$((n - 1))" ./target/release/trent serve \
      --listen 127.0.0.1:0 --data-dir "$tmp/data" --no-audit
    enc=$(load_sum Encrypt)
    desc=$(load_sum DescribeKey)
    sign=$(load_sum Sign)
    create=$(load_sum CreateKey)
    stop_server
    rows+="| $n | $gen_cell | $trivial | $enc | $(ratio "$enc" "$trivial") | $desc | $(ratio "$desc" "$trivial") | $sign | $(ratio "$sign" "$trivial") | $create |"$'\n'
  done

  out=docs/BENCHMARKS-CORES.md
  {
    echo "# Benchmarks across server cores"
    echo
    echo "Produced by \`$cmdline\` (see [bench/run.sh](../bench/run.sh)) on $(date -u +%Y-%m-%d); do not edit by hand."
    echo
    echo "- Machine: $cpus cores ($model). A server on N cores leaves $cpus − N for load generators, so on this machine only N ≤ $((cpus - 1)) leaves a core for a generator."
    echo "- Servers: the trivial server (axum on tokio answering every POST with \`{}\`), then Trent (release build, embedded SQLite on a fresh data directory, \`--no-audit\`, \`TRENT_LOG=error\`), each pinned to cores 0 to N − 1 (\`taskset -c 0-(N-1)\`)."
    echo "- Load: one \`trent-bench load\` per remaining core (at most 8), each pinned to its core, 32 keep-alive connections each, closed loop, $SECONDS_PER_FIGURE s per figure after a warm-up, all at once; the figure is the sum of their req/s. Every request SigV4-signed. Sign is ECC_NIST_P256 (ECDSA_SHA_256); CreateKey is durable (fsync'd before the answer). Any non-2xx answer fails the figure."
    echo
    echo "| server cores | load generators | trivial req/s | Encrypt | × trivial | DescribeKey | × | Sign P-256 | × | CreateKey |"
    echo "|---|---|---|---|---|---|---|---|---|---|"
    printf '%s' "$rows"
    if [ "$short" = 1 ]; then
      echo
      echo "† Fewer than 2 load generators: load generators out of cores. One generator thread may bound these figures, the trivial one most: then the trivial figure understates the trivial server, and the × trivial ratios overstate Trent's share of it."
    fi
  } > "$out"
  cat "$out"
  echo "wrote $out" >&2
}

if [ "${1:-}" = --cores ]; then
  cores_mode "${2:?--cores takes a list of core counts, e.g. --cores 1,2,4,8}"
  exit 0
fi

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

# The engine's read path on many threads in process (no HTTP), unpinned: contention shows here
# before a many-core machine is at hand.
echo >> docs/BENCHMARKS.md
./target/release/trent-bench engine --seconds 2 >> docs/BENCHMARKS.md
echo "wrote docs/BENCHMARKS.md"
