#!/usr/bin/env bash
# Prepares this machine to build, run and test Vigil. Idempotent: every step checks
# what is already there and does only what is missing.
#
#   VIGIL_PROFILE=release|dev   profile of the relay build (default: release)
#
# Steps: Debian packages (Chromium and its driver, Firefox ESR, OpenSSH server and client,
# sshpass, and the RDP targets': xrdp with xorgxrdp, FreeRDP's shadow server, Xvfb and the X
# clients the target desktops show; rsyslog, debootstrap and python3-venv for the operations
# tests), the wasm32 Rust target, the npm packages (xterm.js, binaryen's wasm-opt, axe-core),
# the API contract's Python tools, the cargo tools (cargo-deb, geckodriver, cargo-fuzz), the
# Debian 12 root of the package test, the relay binary, and the browser bundle in dist/
# (`cargo xtask dist`).
#
# The cargo tools compile while the network-bound steps (apt, npm, pip, debootstrap) run:
# they start first, in the background, and the relay build waits for them.
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=${VIGIL_PROFILE:-release}
case "$PROFILE" in
  release) PROFILE_FLAG=(--release) ;;
  dev) PROFILE_FLAG=() ;;
  *) echo "setup.sh: VIGIL_PROFILE must be release or dev, not '$PROFILE'" >&2; exit 2 ;;
esac

SETUP_T0=$SECONDS
step() {
  local name=$1
  shift
  local t0=$SECONDS
  echo "==> setup: $name"
  "$@"
  echo "==> setup: $name done in $((SECONDS - t0)) s"
}

as_root() {
  if [ "$(id -u)" = 0 ]; then
    "$@"
  elif command -v sudo >/dev/null; then
    sudo "$@"
  else
    echo "setup.sh: '$*' needs root (no sudo here)" >&2
    return 1
  fi
}

APT_PACKAGES=(chromium chromium-driver firefox-esr openssh-server openssh-client sshpass)
# What scripts/targets/start-xrdp.sh and start-shadow.sh need (they install what is
# missing themselves too; installing here keeps apt out of the tests' time limits).
APT_PACKAGES+=(xrdp xorgxrdp freerdp2-shadow-x11 winpr-utils xvfb xterm x11-apps
  x11-xserver-utils x11-utils dbus-x11 procps iproute2 openssl)
# The operations tests: a real syslog server (with TLS) for the audit export, and
# debootstrap for the throw-away root the Debian package is installed into.
APT_PACKAGES+=(rsyslog rsyslog-gnutls debootstrap python3-venv)

apt_packages() {
  local missing=() p
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  if ! command -v npm >/dev/null; then
    missing+=(nodejs npm)
  fi
  if [ ${#missing[@]} -eq 0 ]; then
    echo "all present: ${APT_PACKAGES[*]}"
    return 0
  fi
  echo "installing: ${missing[*]}"
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3)
  # The package lists of a fresh machine are empty or stale: update them once first.
  as_root "${apt[@]}" update -qq
  as_root "${apt[@]}" install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

wasm_target() {
  if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
    echo "wasm32-unknown-unknown already installed"
  else
    rustup target add wasm32-unknown-unknown
  fi
}

npm_packages() {
  # `npm ci` wipes and reinstalls node_modules; skip it while the lockfile it was run
  # for is unchanged.
  local stamp=node_modules/.vigil-npm-ci.sha256
  local want
  want=$(sha256sum package-lock.json | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x node_modules/.bin/wasm-opt ]; then
    echo "node_modules matches package-lock.json"
    return 0
  fi
  npm ci --no-audit --no-fund
  echo "$want" >"$stamp"
}

# The API contract's tests: a validator and a client generator from PyPI, in a venv of
# their own under target/ (nothing is installed into the system's Python).
OPS_VENV=target/ops-venv
PY_TOOLS=(openapi-spec-validator==0.9.0 openapi-python-client==0.29.1)
python_tools() {
  local stamp=$OPS_VENV/.vigil-tools
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "${PY_TOOLS[*]}" ]; then
    echo "present: ${PY_TOOLS[*]}"
    return 0
  fi
  python3 -m venv "$OPS_VENV"
  "$OPS_VENV/bin/pip" install -q --disable-pip-version-check "${PY_TOOLS[@]}"
  echo "${PY_TOOLS[*]}" >"$stamp"
}

# The cargo tools, each at a pinned version: cargo-deb builds the Debian package
# (scripts/package.sh); geckodriver drives Firefox in the end-to-end tests (a debug build:
# it only relays WebDriver commands, and compiles in half the time); cargo-fuzz runs
# scripts/fuzz.sh.
CARGO_DEB_VERSION=3.8.0
GECKODRIVER_VERSION=0.37.1
CARGO_FUZZ_VERSION=0.13.2
# cargo_tool NAME VERSION 'VERSION COMMAND' [INSTALL FLAGS…]
cargo_tool() {
  local name=$1 version=$2 check=$3
  shift 3
  # Read whole first: `grep -q` stops at the first match, and a tool that prints more
  # would then fail on the closed pipe (pipefail).
  local have
  have=$($check 2>/dev/null || true)
  if grep -qF "$version" <<<"$have"; then
    echo "$name $version present"
    return 0
  fi
  CARGO_PROFILE_DEV_DEBUG=false cargo install "$name" --version "$version" --locked "$@"
}
cargo_tools() {
  cargo_tool cargo-deb "$CARGO_DEB_VERSION" 'cargo deb --version'
  cargo_tool geckodriver "$GECKODRIVER_VERSION" 'geckodriver --version' --debug
  cargo_tool cargo-fuzz "$CARGO_FUZZ_VERSION" 'cargo fuzz --version'
}

# A step in the background: its output goes to a log, printed when it is waited for.
BG_LOGS=$(mktemp -d "${TMPDIR:-/tmp}/vigil-setup.XXXXXX")
declare -A BG_PID BG_T0
# A step that fails stops the script: what still runs in the background stops with it.
trap 'for p in "${BG_PID[@]}"; do kill "$p" 2>/dev/null || true; done' EXIT
bg_start() {
  local name=$1
  shift
  echo "==> setup: $name (started in the background)"
  "$@" >"$BG_LOGS/$name.log" 2>&1 &
  BG_PID[$name]=$!
  BG_T0[$name]=$SECONDS
}
bg_wait() {
  local name=$1 rc=0
  wait "${BG_PID[$name]}" || rc=$?
  sed 's/^/    /' "$BG_LOGS/$name.log"
  if [ "$rc" != 0 ]; then
    echo "==> setup: $name FAILED (exit $rc)"
    return "$rc"
  fi
  echo "==> setup: $name done in $((SECONDS - BG_T0[$name])) s (in the background)"
}

# The throw-away Debian 12 root that tests/tests/package.rs installs the .deb into: a
# minbase debootstrap from deb.debian.org (with adduser, which the package depends on),
# kept as a tar under target/ so the test only unpacks it.
DEBIAN_ROOT_TAR=target/debootstrap/bookworm-minbase.tar
debian_root() {
  if [ -s "$DEBIAN_ROOT_TAR" ]; then
    echo "$DEBIAN_ROOT_TAR present"
    return 0
  fi
  mkdir -p target/debootstrap
  # What an interrupted run left behind.
  as_root rm -rf --one-file-system target/debootstrap/work.*
  local work
  work=$(mktemp -d target/debootstrap/work.XXXXXX)
  as_root debootstrap --variant=minbase --include=adduser bookworm "$work/root" http://deb.debian.org/debian
  as_root tar -C "$work/root" --numeric-owner -cf "$DEBIAN_ROOT_TAR.part" .
  mv "$DEBIAN_ROOT_TAR.part" "$DEBIAN_ROOT_TAR"
  # --one-file-system: never into anything still mounted inside the root.
  as_root rm -rf --one-file-system "$work"
}

relay_build() {
  cargo build --locked "${PROFILE_FLAG[@]}" -p vigil-relay --bin vigil
}

dist_bundle() {
  cargo xtask dist
}

bg_start "cargo tools" cargo_tools
step "Debian packages" apt_packages
step "Rust target wasm32-unknown-unknown" wasm_target
step "npm ci" npm_packages
step "Python tools (API contract tests)" python_tools
step "Debian 12 root for the package test" debian_root
step "cargo tools" bg_wait "cargo tools"
rm -rf "$BG_LOGS"
step "cargo build ($PROFILE) of the relay" relay_build
step "cargo xtask dist" dist_bundle
echo "==> setup: finished in $((SECONDS - SETUP_T0)) s"
