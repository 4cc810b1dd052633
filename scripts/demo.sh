#!/usr/bin/env bash
# Runs a Vigil demo on this machine: sets it up (release build), starts the demo targets
# on loopback (a real OpenSSH server, xrdp and a FreeRDP shadow server with NLA), seeds
# users, assets and Smart Rules through the CLI, then serves Vigil in the foreground
# (Ctrl-C stops it and the demo targets).
#
#   VIGIL_DEMO_DIR    where the demo keeps its state (default ./data/demo)
#   VIGIL_DEMO_RESET=1  forget the previous demo's data (users, recordings) first
#   VIGIL_BIND        address to serve on (default 127.0.0.1:8080)
#   SSH_PORT          port of the demo sshd on 127.0.0.1 (default 2222)
#   XRDP_PORT         port of the demo xrdp on 127.0.0.1 (default 3389)
#   SHADOW_PORT       port of the demo freerdp-shadow (NLA) on 127.0.0.1 (default 3391)
#
# Re-running it is safe: the seeded data (and the printed passwords) are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

VIGIL_PROFILE=release bash scripts/setup.sh

DEMO_DIR=${VIGIL_DEMO_DIR:-$ROOT/data/demo}
mkdir -p "$DEMO_DIR"
DEMO_DIR=$(cd "$DEMO_DIR" && pwd)
DATA_DIR=$DEMO_DIR/vigil
LOGINS=$DEMO_DIR/logins.txt
STAMP=$DATA_DIR/.demo-seeded
export SSH_PORT=${SSH_PORT:-2222}
export XRDP_PORT=${XRDP_PORT:-3389}
export SHADOW_PORT=${SHADOW_PORT:-3391}
# The RDP targets' account (the scripts' defaults, made explicit for the seeding below).
export RDP_USER=${RDP_USER:-gwrdp}
export RDP_PW=${RDP_PW:-gwrdp-Secret1}
export VIGIL_TARGETS_DIR=$DEMO_DIR/targets
export VIGIL_BIND=${VIGIL_BIND:-127.0.0.1:8080}
export VIGIL_DATA_DIR=$DATA_DIR
export VIGIL_DIST_DIR=$ROOT/dist
# The audit key lives beside the data directory, never inside it (the relay refuses that).
export VIGIL_AUDIT_KEY_FILE=$DEMO_DIR/audit.key
TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
case "$TARGET_DIR" in /*) ;; *) TARGET_DIR=$ROOT/$TARGET_DIR ;; esac
VIGIL=$TARGET_DIR/release/vigil
if [ ! -f "$VIGIL_AUDIT_KEY_FILE" ]; then
  "$VIGIL" audit keygen --out "$VIGIL_AUDIT_KEY_FILE"
fi

echo "==> demo: starting the demo SSH target on 127.0.0.1:$SSH_PORT"
bash scripts/targets/start-ssh.sh
# shellcheck disable=SC1091
. "$VIGIL_TARGETS_DIR/ssh/env"
stop_targets() {
  echo
  echo "==> demo: stopping the demo targets"
  bash scripts/targets/stop-ssh.sh || true
  bash scripts/targets/stop-xrdp.sh || true
  bash scripts/targets/stop-shadow.sh || true
}
trap stop_targets EXIT
echo "==> demo: starting the demo RDP targets: xrdp on 127.0.0.1:$XRDP_PORT, freerdp-shadow (NLA) on 127.0.0.1:$SHADOW_PORT"
bash scripts/targets/start-xrdp.sh
bash scripts/targets/start-shadow.sh

want_stamp="ssh=127.0.0.1:$SSH_PORT pass=$SSH_PASS_USER key=$SSH_KEY_USER xrdp=$XRDP_PORT shadow=$SHADOW_PORT rdp=$RDP_USER"
if [ "${VIGIL_DEMO_RESET:-0}" = 1 ] || [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$want_stamp" ] || [ ! -f "$LOGINS" ]; then
  echo "==> demo: seeding $DATA_DIR"
  rm -rf "$DATA_DIR"
  mkdir -p "$DATA_DIR"
  new_password() { printf '%s-%s' "$1" "$(head -c 9 /dev/urandom | base64 | tr -d '/+=')"; }
  : >"$LOGINS"
  chmod 600 "$LOGINS"
  add_user() {
    local name=$1 what=$2
    shift 2
    local pw
    pw=$(new_password "$name")
    VIGIL_DEMO_PASSWORD=$pw "$VIGIL" user add "$name" --password-env VIGIL_DEMO_PASSWORD "$@"
    printf '%-9s %-22s %s\n' "$name" "$pw" "$what" >>"$LOGINS"
  }
  add_user admin "administrator: sees and controls every session" --admin
  add_user isa "ISA (group ops): launches directly, watches and controls the linux assets" --group ops
  add_user reviewer "Active Session Reviewer (group auditors) on the linux assets" --group auditors
  add_user alice "regular user (group staff): requests access, auto-approved" --group staff
  add_user bob "regular user (group staff): requests access, auto-approved" --group staff

  VIGIL_DEMO_TARGET_PASSWORD=$SSH_PASS_PW "$VIGIL" asset add web-01 --protocol ssh --host 127.0.0.1 \
    --port "$SSH_PORT" --account "$SSH_PASS_USER" --password-env VIGIL_DEMO_TARGET_PASSWORD --tag linux
  "$VIGIL" asset add db-01 --protocol ssh --host 127.0.0.1 --port "$SSH_PORT" \
    --account "$SSH_KEY_USER" --private-key-file "$SSH_CLIENT_KEY" --tag linux
  # Desktops (RDP), tagged linux too so the same Smart Rules cover them.
  VIGIL_DEMO_TARGET_PASSWORD=$RDP_PW "$VIGIL" asset add win-desk-01 --protocol rdp --host 127.0.0.1 \
    --port "$XRDP_PORT" --account "$RDP_USER" --password-env VIGIL_DEMO_TARGET_PASSWORD \
    --rdp-codec remotefx --tag linux --tag desktop
  VIGIL_DEMO_TARGET_PASSWORD=$RDP_PW "$VIGIL" asset add nla-desk-01 --protocol rdp --host 127.0.0.1 \
    --port "$SHADOW_PORT" --account "$RDP_USER" --password-env VIGIL_DEMO_TARGET_PASSWORD \
    --rdp-codec remotefx --tag linux --tag desktop

  "$VIGIL" rule add ops-isa --group ops --role isa --tag linux
  "$VIGIL" rule add auditors-review --group auditors --role active_session_reviewer --tag linux
  "$VIGIL" rule add staff-request --group staff --role requestor --tag linux --auto-approve
  echo "$want_stamp" >"$STAMP"
else
  echo "==> demo: keeping the seeded data in $DATA_DIR (VIGIL_DEMO_RESET=1 starts afresh)"
fi

case "$VIGIL_BIND" in
  0.0.0.0:*) URL="http://$(hostname -I 2>/dev/null | awk '{print $1}'):${VIGIL_BIND##*:}/" ;;
  *) URL="http://$VIGIL_BIND/" ;;
esac
cat <<EOF

==> demo: Vigil is starting at $URL
    Assets, all tagged linux (the Smart Rules below cover them all):
      web-01       SSH, $SSH_PASS_USER with a password, demo sshd at 127.0.0.1:$SSH_PORT
      db-01        SSH, $SSH_KEY_USER with a private key, same sshd
      win-desk-01  RDP desktop (xrdp, TLS, RemoteFX), $RDP_USER, at 127.0.0.1:$XRDP_PORT
      nla-desk-01  RDP desktop (FreeRDP shadow server, NLA), $RDP_USER, at 127.0.0.1:$SHADOW_PORT
    Smart Rules: ops → ISA, auditors → Active Session Reviewer, staff → requestor
    with auto-approve, all on tag linux.
    Logins (also in $LOGINS):
EOF
sed 's/^/      /' "$LOGINS"
cat <<EOF
    Try: alice requests access to web-01 (or to the desktop win-desk-01) and connects;
    isa or admin watches it in Active Sessions, opens the player, reads Keystrokes,
    locks and terminates it, then replays it. On a desktop, click the canvas and type
    into the "TYPE HERE" terminal.
    Ctrl-C stops Vigil and the demo targets.

EOF
"$VIGIL" serve
