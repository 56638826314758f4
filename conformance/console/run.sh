#!/usr/bin/env bash
# Browser test of the web console: headless Chromium (Debian's `chromium` package) driven by
# Playwright (`playwright-core` from npm, pinned in package-lock.json; Playwright's own browser
# download is never used). Also type-checks the page's scripts (JSDoc, `tsc --noEmit`) and checks
# its SigV4 signer against AWS's published examples.
#
#   bash conformance/console/run.sh        (from anywhere)
#
# Installs what it needs: `chromium` with apt-get when it is missing (as root), and
# node_modules with `npm ci` (skipped when already installed from the same lock file). Builds
# the server unless TRENT_BIN names one. Saves the key-list screenshot to docs/console.png.
# Ends with one line `N passed, M failed`; exits non-zero if anything failed.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
cd "$ROOT"
START=$(date +%s)
log() { printf '# %s\n' "$*"; }
setup_fail() { log "$1"; echo "0 passed, 1 failed"; exit 1; }

CHROMIUM="${CHROMIUM:-$(command -v chromium || true)}"
if [[ -z "$CHROMIUM" ]]; then
    log "installing Debian's chromium (apt-get)"
    if [[ $(id -u) -ne 0 ]]; then setup_fail "chromium is missing; install Debian's chromium package (needs root)"; fi
    export DEBIAN_FRONTEND=noninteractive
    { apt-get update -qq && apt-get install -y -qq chromium fonts-dejavu-core; } >/tmp/trent-console-apt.log 2>&1 ||
        { tail -n 20 /tmp/trent-console-apt.log | sed 's/^/# apt: /'; setup_fail "apt-get install chromium failed"; }
    CHROMIUM="$(command -v chromium)"
fi
export CHROMIUM

command -v npm >/dev/null || setup_fail "Node.js 20+ and npm are required"
want="$(sha256sum "$HERE/package-lock.json" | cut -d' ' -f1)"
if [[ ! -f "$HERE/node_modules/.installed" || "$(cat "$HERE/node_modules/.installed")" != "$want" ]]; then
    log "installing playwright-core into conformance/console/node_modules (npm ci)"
    (cd "$HERE" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error) ||
        setup_fail "npm ci in conformance/console failed"
    echo "$want" >"$HERE/node_modules/.installed"
fi

if [[ -z "${TRENT_BIN:-}" ]]; then
    log "building trent-server (cargo build --release -p trent-server)"
    cargo build --release -p trent-server --quiet || setup_fail "cargo build failed"
    TRENT_BIN="$ROOT/target/release/trent"
fi
export TRENT_BIN

passed=0; failed=0
log "tsc: the console's JavaScript against its JSDoc types (tsconfig.json; nothing is emitted)"
if node "$HERE/node_modules/typescript/bin/tsc" -p "$HERE/tsconfig.json"; then
    echo "ok - the console's scripts type-check"; passed=$((passed + 1))
else
    echo "not ok - the console's scripts type-check"; failed=$((failed + 1))
fi
for t in sigv4.test.mjs console.test.mjs; do
    log "node $t"
    out="$(node "$HERE/$t" 2>&1)" && rc=0 || rc=$?
    printf '%s\n' "$out" | sed '$d'
    last="$(printf '%s\n' "$out" | tail -n 1)"
    if [[ "$last" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
        passed=$((passed + BASH_REMATCH[1])); failed=$((failed + BASH_REMATCH[2]))
        if (( rc != 0 && BASH_REMATCH[2] == 0 )); then failed=$((failed + 1)); fi
    else
        printf '%s\n' "$last"; failed=$((failed + 1))
    fi
done
log "console tests took $(( $(date +%s) - START ))s"
echo "$passed passed, $failed failed"
(( failed == 0 ))
