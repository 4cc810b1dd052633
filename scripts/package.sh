#!/usr/bin/env bash
# Builds Vigil's Debian package, target/debian/vigil_<version>_amd64.deb, and prints its
# path on the last line.
#
#   bash scripts/package.sh            release build of the relay and the app bundle
#
#   VIGIL_PACKAGE_PROFILE=dev          package the debug binary already in target/debug
#                                      (no build; for the package test, since a release
#                                      build takes a long time)
#   VIGIL_PACKAGE_DIST=DIR             package this already-built app bundle instead of
#                                      building dist/ with `cargo xtask dist`
#
# Needs cargo-deb (scripts/setup.sh installs it). What the package holds:
# [package.metadata.deb] in relay/Cargo.toml and packaging/debian/.
set -euo pipefail
cd "$(dirname "$0")/.."

PROFILE=${VIGIL_PACKAGE_PROFILE:-release}
if ! cargo deb --version >/dev/null 2>&1; then
  echo "package.sh: cargo-deb is missing; run scripts/setup.sh" >&2
  exit 1
fi

DEB_ARGS=(-p vigil-relay)
case "$PROFILE" in
  release)
    cargo build --locked --release -p vigil-relay --bin vigil
    ;;
  dev)
    if [ ! -x target/debug/vigil ]; then
      echo "package.sh: target/debug/vigil is missing; run cargo build -p vigil-relay --bin vigil" >&2
      exit 1
    fi
    # Fast compression: the debug binary is large and the package is thrown away.
    DEB_ARGS+=(--profile dev --fast)
    ;;
  *)
    echo "package.sh: VIGIL_PACKAGE_PROFILE must be release or dev, not '$PROFILE'" >&2
    exit 2
    ;;
esac

DIST=${VIGIL_PACKAGE_DIST:-}
if [ -z "$DIST" ]; then
  cargo xtask dist
  DIST=dist
fi
if [ ! -f "$DIST/index.html" ]; then
  echo "package.sh: $DIST/index.html is missing; the app bundle is not built" >&2
  exit 1
fi
# The package's assets take the bundle from here (relay/Cargo.toml).
rm -rf target/package/dist
mkdir -p target/package
cp -a "$DIST" target/package/dist

# The binary was built above (or before, for dev): cargo-deb only strips and packs it.
OUT=$(cargo deb "${DEB_ARGS[@]}" --no-build)
DEB=$(printf '%s\n' "$OUT" | tail -n 1)
[ -f "$DEB" ] || { echo "package.sh: cargo deb printed no package: $OUT" >&2; exit 1; }
echo "$DEB"
