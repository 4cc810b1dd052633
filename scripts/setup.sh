#!/usr/bin/env bash
# Prepares this machine to build, run and test Vigil. Idempotent: every step checks
# what is already there and does only what is missing.
#
#   VIGIL_PROFILE=release|dev   profile of the relay build (default: release)
#
# Steps: Debian packages (Chromium and its driver, OpenSSH server and client, sshpass,
# and the RDP targets': xrdp with xorgxrdp, FreeRDP's shadow server, Xvfb and the X
# clients the target desktops show; rsyslog, debootstrap and python3-venv for the operations
# tests), the wasm32 Rust target, the npm packages (xterm.js, binaryen's wasm-opt), the API
# contract's Python tools, cargo-deb, the Debian 12 root of the package test, the relay
# binary, and the browser bundle in dist/ (`cargo xtask dist`).
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

APT_PACKAGES=(chromium chromium-driver openssh-server openssh-client sshpass)
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

# cargo-deb builds the Debian package (scripts/package.sh).
CARGO_DEB_VERSION=3.8.0
cargo_tools() {
  if cargo deb --version 2>/dev/null | grep -qF "$CARGO_DEB_VERSION"; then
    echo "cargo-deb $CARGO_DEB_VERSION present"
    return 0
  fi
  cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked
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

step "Debian packages" apt_packages
step "Rust target wasm32-unknown-unknown" wasm_target
step "npm ci" npm_packages
step "Python tools (API contract tests)" python_tools
step "cargo-deb" cargo_tools
step "Debian 12 root for the package test" debian_root
step "cargo build ($PROFILE) of the relay" relay_build
step "cargo xtask dist" dist_bundle
echo "==> setup: finished in $((SECONDS - SETUP_T0)) s"
