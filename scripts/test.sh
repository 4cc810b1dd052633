#!/usr/bin/env bash
# Sets the machine up (scripts/setup.sh, dev profile), then checks everything:
# formatting, clippy (native and wasm32), unit tests, and the end-to-end tests against
# the real relay, a real sshd, real RDP servers (xrdp, freerdp-shadow) and headless
# Chromium (tests/tests/e2e_*.rs, all run by `cargo test -p vigil-tests`). Exits non-zero if any step fails;
# the last line sums up the test runners' results.
#
#   VIGIL_E2E_TIMEOUT   seconds the e2e step may take (default 2400)
#   VIGIL_SKIP_SETUP=1  skip scripts/setup.sh (everything already built)
#   VIGIL_FULL=1        the long runs: every fuzz target for an hour instead of 10 s, and
#                       the soak with 500 sessions for 30 minutes (10 of warm-up) instead of 40 for 60 s
#   VIGIL_FUZZ_SECONDS  seconds per fuzz target (overrides both)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
T0=$SECONDS

TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
LOGS=$(mktemp -d "${TMPDIR:-/tmp}/vigil-test-logs.XXXXXX")
FAILED=()

elapsed() { echo "$((SECONDS - T0)) s"; }

# run NAME CMD...: runs one step, keeps its output in $LOGS/NAME.log, records failure.
run() {
  local name=$1
  shift
  local t0=$SECONDS rc
  echo
  echo "==> test: $name"
  "$@" 2>&1 | tee "$LOGS/$name.log"
  rc=${PIPESTATUS[0]}
  if [ "$rc" = 0 ]; then
    echo "==> test: $name ok ($((SECONDS - t0)) s)"
  else
    echo "==> test: $name FAILED (exit $rc, $((SECONDS - t0)) s)"
    FAILED+=("$name")
  fi
  return 0
}

# Adds up cargo test's `test result:` lines of every log.
summary() {
  local passed=0 failed=0 ignored=0 p f i line
  while IFS= read -r line; do
    p=$(sed -nE 's/.* ([0-9]+) passed.*/\1/p' <<<"$line")
    f=$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$line")
    i=$(sed -nE 's/.* ([0-9]+) ignored.*/\1/p' <<<"$line")
    passed=$((passed + ${p:-0}))
    failed=$((failed + ${f:-0}))
    ignored=$((ignored + ${i:-0}))
  done < <(cat "$LOGS"/*.log 2>/dev/null | grep -E '^test result: ')
  echo
  echo "==> test: total time $(elapsed)"
  if [ ${#FAILED[@]} -gt 0 ]; then
    echo "==> test: failed steps: ${FAILED[*]} (logs in $LOGS)"
    case " ${FAILED[*]} " in
      *" e2e "*) echo "==> test: e2e page sources and screenshots: $VIGIL_TEST_ARTIFACTS" ;;
    esac
  fi
  if [ "$ignored" -gt 0 ]; then
    echo "tests: $passed passed, $failed failed, $ignored skipped"
  else
    echo "tests: $passed passed, $failed failed"
  fi
}

echo "==> test: setup"
if [ "${VIGIL_SKIP_SETUP:-0}" != 1 ]; then
  if ! VIGIL_PROFILE=dev bash scripts/setup.sh; then
    echo "==> test: setup FAILED after $(elapsed); nothing else can run"
    echo "tests: 0 passed, 1 failed"
    exit 1
  fi
fi

run fmt cargo fmt --all --check
run clippy-native cargo clippy --workspace --exclude vigil-app --all-targets --locked -- -D warnings
run clippy-wasm cargo clippy -p vigil-app -p vigil-decode-worker --target wasm32-unknown-unknown --locked -- -D warnings
# The workspace forbids unsafe code; alloc/ alone opts out (the allocator's forwarding and
# one foreign call). Fails if any other crate allows it or leaves the workspace's lints.
unsafe_confined() {
  local bad
  bad=$(grep -rln --include='*.rs' 'allow(unsafe_code)' "$ROOT" --exclude-dir=target --exclude-dir=alloc --exclude-dir=.git || true)
  for toml in "$ROOT"/*/Cargo.toml; do
    case "$toml" in */alloc/Cargo.toml|*/fuzz/Cargo.toml) continue ;; esac
    grep -q '^workspace = true' <(sed -n '/^\[lints\]/,/^\[/p' "$toml") || bad="$bad $toml"
  done
  [ -z "$bad" ] || { echo "unsafe code allowed outside alloc/:$bad"; return 1; }
}
run unsafe-confined unsafe_confined
# Unit tests of every crate, the app's pure modules included (they build natively).
run unit cargo test --workspace --exclude vigil-tests --locked --no-fail-fast
# The login page's script (public/login.js, outside the wasm app): its pure parts.
run js node --test tests/js/
# End-to-end: the relay binary built by setup (dev) and the benchmark bundle: the app of
# `cargo xtask dist` plus the hidden timing figures the tests read (`--bench`).
run dist-bench cargo xtask dist --bench
export VIGIL_BIN=$TARGET_DIR/debug/vigil
export VIGIL_DIST_DIR=$TARGET_DIR/dist-bench
export VIGIL_TEST_ARTIFACTS=$TARGET_DIR/e2e-artifacts
export CHROMEDRIVER=${CHROMEDRIVER:-/usr/bin/chromedriver}
# The tests' temporary dirs (targets, relays, browser profiles) go under a dir of this
# run, so what this run started can be told apart from anything else on the machine.
# Traversable by the targets' own accounts (the sshd key account's files live below it).
E2E_TMP=$(mktemp -d "${TMPDIR:-/tmp}/vigil-e2e-run.XXXXXX")
chmod 755 "$E2E_TMP"
run e2e env TMPDIR="$E2E_TMP" timeout --kill-after=30 "${VIGIL_E2E_TIMEOUT:-2400}" cargo test -p vigil-tests --locked --no-fail-fast

# The e2e binaries stop their targets (by PID, with their process trees) and their relays
# once they exit; report, without killing anything, whatever of theirs is still running a
# moment later: processes named after this run's dir, and relays (whose command line names
# no path) started with this run's TMPDIR.
e2e_processes() {
  pgrep -af "$E2E_TMP/" 2>/dev/null || true
  local p
  for p in $(pgrep -x vigil 2>/dev/null); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qxF "TMPDIR=$E2E_TMP"; then
      echo "$p vigil (a relay of the e2e tests)"
    fi
  done
}
leftovers() {
  local left=""
  for _ in $(seq 1 20); do
    left=$(e2e_processes)
    [ -z "$left" ] && return 0
    sleep 0.5
  done
  echo "processes of the e2e targets still running:"
  echo "$left"
  return 1
}
run e2e-cleanup leftovers
rmdir "$E2E_TMP" 2>/dev/null || true

# Soak: SSH sessions with churn against the relay built by setup (bench/src/soak.rs). CI runs
# 40 sessions for 60 s; VIGIL_FULL=1 runs 500 for 30 minutes and gates the RSS slope over
# the last 20 (see the soak in README.md). Both
# sides hold a socket or more per session: the file limit goes up to the hard limit.
if [ "${VIGIL_FULL:-0}" = 1 ]; then
  SOAK_ARGS=(--sessions 500 --minutes 30 --hold 60 --warmup 10)
else
  SOAK_ARGS=(--sessions 40 --minutes 1 --hold 10 --warmup 0.5)
fi
soak() {
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  cargo run -q -p vigil-bench --bin bench-soak --locked -- "${SOAK_ARGS[@]}"
}
run soak soak

# Benchmarks: the short run of bench-all (bench/src/all/). It fails only when a file of the
# benchmark bundle is over its size budget; its other figures (small SSH, throughput and
# lock runs in the debug build) are printed for information. See Benchmarks in README.md.
bench_short() {
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  cargo run -q -p vigil-bench --bin bench-all --locked -- --short
}
run bench-all bench_short

# Fuzzing: a short run of every target in CI; VIGIL_FULL=1 runs each for an hour.
if [ "${VIGIL_FULL:-0}" = 1 ]; then FUZZ_SECONDS=${VIGIL_FUZZ_SECONDS:-3600}; else FUZZ_SECONDS=${VIGIL_FUZZ_SECONDS:-10}; fi
run fuzz env VIGIL_FUZZ_SECONDS="$FUZZ_SECONDS" bash scripts/fuzz.sh

summary
[ ${#FAILED[@]} -eq 0 ]
