#!/usr/bin/env bash
# Fuzzes Vigil's parsers of untrusted bytes with cargo-fuzz (libFuzzer), every target in
# fuzz/fuzz_targets for a fixed time, starting from the seeds in fuzz/corpus/<target>.
# Installs cargo-fuzz if missing (scripts/setup.sh installs the same version). Works on
# stable Rust: RUSTC_BOOTSTRAP=1 lets cargo-fuzz's flags through, and without a sanitizer (-s none) no nightly-only -Z flag is needed; a panic
# (assertion, overflow check, index out of bounds) is still a crash.
#
# Prints `fuzz <target>: N execs in S s, C crashes` per target and exits non-zero if any
# target crashed (or did not build/run). Crashing inputs land in fuzz/artifacts/<target>/;
# reproduce one with `RUSTC_BOOTSTRAP=1 cargo fuzz run -s none <target> <file>`.
#
#   VIGIL_FUZZ_SECONDS  seconds per target (default 30)
#   VIGIL_FUZZ_TARGETS  space-separated targets (default: all)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
S=${VIGIL_FUZZ_SECONDS:-30}
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "==> installing cargo-fuzz"
  cargo install cargo-fuzz --version 0.13.2 --locked || exit 1
fi

TARGETS=${VIGIL_FUZZ_TARGETS:-$(cargo fuzz list --fuzz-dir fuzz)}
LOGS=$(mktemp -d "${TMPDIR:-/tmp}/vigil-fuzz.XXXXXX")
SUMMARY=()
FAILED=0

# Builds every target once up front, so the fuzzing time is not spent compiling.
echo "==> building fuzz targets"
if ! cargo fuzz build --fuzz-dir fuzz -s none; then
  echo "fuzz: build failed"
  exit 1
fi

for t in $TARGETS; do
  # New inputs go to a scratch corpus (first directory); the committed seeds stay as they are.
  work=$ROOT/fuzz/target/corpus/$t
  artifacts=$ROOT/fuzz/artifacts/$t
  mkdir -p "$work" "$artifacts"
  before=$(find "$artifacts" -type f | wc -l)
  echo "==> fuzz $t for $S s"
  t0=$SECONDS
  cargo fuzz run --fuzz-dir fuzz -s none "$t" "$work" "$ROOT/fuzz/corpus/$t" -- \
    -max_total_time="$S" -timeout=20 \
    -artifact_prefix="$artifacts/" -print_final_stats=1 >"$LOGS/$t.log" 2>&1
  rc=$?
  secs=$((SECONDS - t0))
  crashes=$(( $(find "$artifacts" -type f | wc -l) - before ))
  # The final stats (`stat::number_of_executed_units: N`), else the last status line (`#N`).
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$LOGS/$t.log" | grep -o '[0-9]*$')
  [ -n "$execs" ] || execs=$(grep -o '^#[0-9]*' "$LOGS/$t.log" | tail -n 1 | tr -d '#')
  if [ "$rc" -ne 0 ] || [ "$crashes" -gt 0 ]; then
    FAILED=1
    [ "$crashes" -gt 0 ] || crashes="?"
    tail -n 40 "$LOGS/$t.log"
    echo "fuzz $t: exit $rc, inputs in $artifacts, log $LOGS/$t.log"
  fi
  SUMMARY+=("fuzz $t: ${execs:-0} execs in $secs s, $crashes crashes")
done

echo
printf '%s\n' "${SUMMARY[@]}"
exit "$FAILED"
