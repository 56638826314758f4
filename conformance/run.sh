#!/usr/bin/env bash
# Conformance suite: drives a live `trent serve` with real AWS clients nobody on the team wrote
# (AWS CLI v1, boto3, the AWS Encryption SDK for Python, the AWS SDK for JavaScript v3, and
# Alibaba Cloud's own Python SDKs for the Alibaba dialect).
#
#   bash conformance/run.sh            (from the repo root, or from anywhere)
#
# Builds the server (cargo decides whether it is stale), installs the pinned clients into
# conformance/.venv and conformance/js/node_modules (skipped when already installed from the same
# pins), starts the server on a free port with a fresh data directory, runs every client's
# checks, and ends with one line `N passed, M failed`. Exits non-zero if anything failed.
#
# Environment knobs: TRENT_BIN=path (use this server binary, skip the build), PYTHON=python3.11,
# CONFORMANCE_ONLY="awscli boto3 boto3-keys access esdk js aliyun tls" (a subset), CONFORMANCE_VERBOSE=1 (tracebacks).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
cd "$ROOT"

START=$(date +%s)
BIN_OVERRIDE="${TRENT_BIN:-}"   # read before the TRENT_* variables are cleared below
PYTHON="${PYTHON:-python3}"
VENV="$HERE/.venv"
JSDIR="$HERE/js"
CLIENT_TIMEOUT="${CONFORMANCE_CLIENT_TIMEOUT:-240}"
ONLY="${CONFORMANCE_ONLY:-awscli boto3 boto3-keys access esdk js aliyun tls}"
ALIYUN_VENV="$HERE/aliyun/.venv"

PASSED=0
FAILED=0
SERVER_PID=""
TLS_PID=""
WORK="$(mktemp -d "${TMPDIR:-/tmp}/trent-conformance.XXXXXX")"

log() { printf '# %s\n' "$*"; }
elapsed() { echo "$(( $(date +%s) - START ))s"; }

declare -a NAMES=() PIDS=()
cleanup() {
    local rc=$?
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done   # clients still running
    [[ -n "$TLS_PID" ]] && { kill "$TLS_PID" 2>/dev/null; wait "$TLS_PID" 2>/dev/null; } || true
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

finish() {
    echo "$PASSED passed, $FAILED failed"
    if (( FAILED > 0 )); then exit 1; fi
    exit 0
}

setup_fail() {
    echo "FAIL $1: $2"
    FAILED=$((FAILED + 1))
}

stamp_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# Keep the machine's configuration out of it: no TRENT_* settings reach the server (so the
# development credential is active), no AWS_* settings or config files reach the clients.
for v in $(compgen -e); do
    case "$v" in TRENT_*|AWS_*) unset "$v" ;; esac
done

# ----- 1. the server binary ----------------------------------------------------------------
if [[ -n "$BIN_OVERRIDE" ]]; then
    BIN="$BIN_OVERRIDE"
else
    BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release/trent"
    # cargo rebuilds only what is missing or stale; an up-to-date binary costs a second.
    log "building trent-server (cargo build --release -p trent-server)"
    if ! cargo build --release -p trent-server --quiet 2>"$WORK/build.log"; then
        tail -n 40 "$WORK/build.log" | sed 's/^/# build: /'
        setup_fail build "cargo build --release -p trent-server failed"
        finish
    fi
fi
if [[ ! -x "$BIN" ]]; then
    setup_fail build "no server binary at $BIN"
    finish
fi

# ----- 2. Python clients (one venv for the AWS clients, one for Alibaba's SDKs) ------------
# ensure_venv DIR REQUIREMENTS: creates DIR and installs the pins, unless already done from the
# same pins. Returns non-zero (after printing why) when it cannot.
ensure_venv() {
    local venv="$1" req="$2" want
    want="$(stamp_of "$req")"
    if [[ -f "$venv/.installed" && "$(cat "$venv/.installed")" == "$want" && -x "$venv/bin/python" ]]; then
        return 0
    fi
    log "installing $(basename "$(dirname "$req")")/$(basename "$req") into ${venv#"$ROOT"/}"
    rm -rf "$venv"
    if ! "$PYTHON" -m venv "$venv" >"$WORK/venv.log" 2>&1; then
        # Debian-style Pythons without ensurepip: fall back to virtualenv.
        "$PYTHON" -m pip install -q --user virtualenv >>"$WORK/venv.log" 2>&1 || true
        "$PYTHON" -m virtualenv -q "$venv" >>"$WORK/venv.log" 2>&1 || true
    fi
    if [[ -x "$venv/bin/python" ]] &&
        PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv/bin/python" -m pip install -q -r "$req" >"$WORK/pip.log" 2>&1; then
        echo "$want" >"$venv/.installed"
        return 0
    fi
    cat "$WORK/venv.log" "$WORK/pip.log" 2>/dev/null | tail -n 30 | sed 's/^/# pip: /'
    return 1
}

PY_OK=1
if [[ " $ONLY " =~ \ (awscli|boto3|boto3-keys|esdk|tls)\  ]] && ! ensure_venv "$VENV" "$HERE/requirements.txt"; then
    setup_fail python-clients "could not create conformance/.venv or install requirements.txt"
    PY_OK=0
fi
# The aws CLI checks wrap key material and verify signatures with openssl, as AWS's guides do.
if [[ " $ONLY " == *" awscli "* ]] && ! command -v openssl >/dev/null; then
    log "installing openssl (apt-get)"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openssl; } >"$WORK/apt.log" 2>&1 ||
        setup_fail openssl "openssl is missing and apt-get could not install it (see the awscli checks)"
fi
ALIYUN_OK=1
if [[ " $ONLY " == *" aliyun "* ]] && ! ensure_venv "$ALIYUN_VENV" "$HERE/aliyun/requirements.txt"; then
    setup_fail aliyun-clients "could not create conformance/aliyun/.venv or install its requirements.txt"
    ALIYUN_OK=0
fi

# ----- 3. JavaScript client ----------------------------------------------------------------
JS_OK=1
if [[ " $ONLY " == *" js "* ]]; then
    want="$(stamp_of "$JSDIR/package.json" "$JSDIR/package-lock.json")"
    if [[ ! -f "$JSDIR/node_modules/.installed" || "$(cat "$JSDIR/node_modules/.installed")" != "$want" ]]; then
        log "installing @aws-sdk/client-kms into conformance/js/node_modules (npm ci)"
        if command -v npm >/dev/null &&
            (cd "$JSDIR" && npm ci --no-audit --no-fund --loglevel=error >"$WORK/npm.log" 2>&1); then
            echo "$want" >"$JSDIR/node_modules/.installed"
        else
            tail -n 30 "$WORK/npm.log" 2>/dev/null | sed 's/^/# npm: /'
            setup_fail js-client "npm ci in conformance/js failed (is Node.js 20 + npm installed?)"
            JS_OK=0
        fi
    fi
fi
log "setup done after $(elapsed)"

# ----- 4. the server -----------------------------------------------------------------------
DATA="$WORK/data"
mkdir -p "$DATA"
# The development credential (root of 000000000000), plus two IAM users for test_access.py.
cat >"$WORK/trent.toml" <<'TOML'
[[credentials]]
access_key_id = "test"
secret_access_key = "test"
account_id = "000000000000"

[[credentials]]
access_key_id = "AKIDALICE"
secret_access_key = "alicesecret"
account_id = "000000000000"
principal = "arn:aws:iam::000000000000:user/alice"
policy = '''{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}'''

[[credentials]]
access_key_id = "AKIDBOB"
secret_access_key = "bobsecret"
account_id = "000000000000"
principal = "arn:aws:iam::000000000000:user/bob"
TOML
TRENT_LOG=info "$BIN" serve --listen 127.0.0.1:0 --data-dir "$DATA" --config "$WORK/trent.toml" >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
URL=""
for _ in $(seq 300); do
    line="$(head -n 1 "$WORK/server.out" 2>/dev/null || true)"
    if [[ "$line" =~ ^listening\ on\ (http://127\.0\.0\.1:[0-9]+)$ ]]; then
        URL="${BASH_REMATCH[1]}"
        break
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
done
if [[ -z "$URL" ]]; then
    tail -n 30 "$WORK/server.err" | sed 's/^/# server: /'
    setup_fail server "trent serve did not print 'listening on http://127.0.0.1:PORT' (first line: $(head -n 1 "$WORK/server.out" 2>/dev/null))"
    finish
fi
log "server $URL (pid $SERVER_PID, data $DATA)"

# A second server over HTTPS, with a certificate from `trent dev-cert`, for the TLS checks.
TLS_OK=0
if [[ " $ONLY " == *" tls "* ]]; then
    if "$BIN" dev-cert --out "$WORK/certs" >"$WORK/dev-cert.out" 2>&1; then
        TRENT_LOG=info "$BIN" serve --listen 127.0.0.1:0 --data-dir "$WORK/tls-data" \
            --tls-cert "$WORK/certs/cert.pem" --tls-key "$WORK/certs/key.pem" \
            >"$WORK/tls.server.out" 2>"$WORK/tls.server.err" &
        TLS_PID=$!
        for _ in $(seq 300); do
            line="$(head -n 1 "$WORK/tls.server.out" 2>/dev/null || true)"
            if [[ "$line" =~ ^listening\ on\ https://127\.0\.0\.1:([0-9]+)$ ]]; then
                export TRENT_TLS_URL="https://localhost:${BASH_REMATCH[1]}" TRENT_TLS_CA="$WORK/certs/ca.pem"
                TLS_OK=1
                break
            fi
            kill -0 "$TLS_PID" 2>/dev/null || break
            sleep 0.1
        done
        ((TLS_OK)) || setup_fail tls-server "trent serve --tls-cert did not start: $(tail -n 3 "$WORK/tls.server.err")"
    else
        setup_fail dev-cert "trent dev-cert failed: $(cat "$WORK/dev-cert.out")"
    fi
fi

# ----- 5. the clients, side by side --------------------------------------------------------
EMPTY="$WORK/aws-empty-config"
: >"$EMPTY"
export TRENT_URL="$URL"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_CONFIG_FILE="$EMPTY" AWS_SHARED_CREDENTIALS_FILE="$EMPTY" AWS_MAX_ATTEMPTS=1 AWS_EC2_METADATA_DISABLED=true
export PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1

launch() { # name, dir, command...
    local name="$1" dir="$2"
    shift 2
    (cd "$dir" && exec timeout -k 5 "$CLIENT_TIMEOUT" "$@") >"$WORK/$name.out" 2>"$WORK/$name.err" &
    NAMES+=("$name")
    PIDS+=($!)
}

for c in $ONLY; do
    case "$c" in
        awscli) ((PY_OK)) && launch awscli "$HERE" "$VENV/bin/python" test_awscli.py ;;
        boto3)  ((PY_OK)) && launch boto3 "$HERE" "$VENV/bin/python" test_boto3.py ;;
        boto3-keys) ((PY_OK)) && launch boto3-keys "$HERE" "$VENV/bin/python" test_boto3_keys.py ;;
        access) ((PY_OK)) && launch access "$HERE" "$VENV/bin/python" test_access.py ;;
        esdk)   ((PY_OK)) && launch esdk "$HERE" "$VENV/bin/python" test_encryption_sdk.py ;;
        js)     ((JS_OK)) && launch js "$JSDIR" node roundtrip.mjs ;;
        tls)    ((PY_OK && TLS_OK)) && launch tls "$HERE" "$VENV/bin/python" test_tls.py ;;
        aliyun) ((ALIYUN_OK)) && launch aliyun "$HERE/aliyun" "$ALIYUN_VENV/bin/python" test_aliyun.py "$URL" ;;
        *) setup_fail "$c" "unknown client in CONFORMANCE_ONLY" ;;
    esac
done

for i in "${!NAMES[@]}"; do
    name="${NAMES[$i]}"
    rc=0
    wait "${PIDS[$i]}" || rc=$?
    out="$WORK/$name.out"
    echo "## $name"
    cat "$out"
    p=$(grep -c '^PASS ' "$out" || true)
    f=$(grep -c '^FAIL ' "$out" || true)
    PASSED=$((PASSED + p))
    FAILED=$((FAILED + f))
    if ! grep -q '^END ' "$out"; then
        why="exited $rc before finishing"
        (( rc == 124 || rc == 137 )) && why="timed out after ${CLIENT_TIMEOUT}s"
        echo "FAIL $name.script: $why; last stderr lines:"
        tail -n 15 "$WORK/$name.err" | sed 's/^/#   /'
        FAILED=$((FAILED + 1))
    elif (( rc != 0 && f == 0 )); then
        echo "FAIL $name.script: exited $rc although every check passed"
        tail -n 15 "$WORK/$name.err" | sed 's/^/#   /'
        FAILED=$((FAILED + 1))
    fi
done

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "FAIL server.alive: trent serve exited during the run"
    FAILED=$((FAILED + 1))
fi
if (( FAILED > 0 )); then
    log "last server log lines:"
    tail -n 20 "$WORK/server.err" | sed 's/^/#   /'
fi
if grep -qE 'panicked|ERROR' "$WORK/server.err"; then
    echo "FAIL server.log-clean: the server logged a panic or an ERROR:"
    grep -E 'panicked|ERROR' "$WORK/server.err" | head -n 10 | sed 's/^/#   /'
    FAILED=$((FAILED + 1))
fi
log "done after $(elapsed)"
finish
