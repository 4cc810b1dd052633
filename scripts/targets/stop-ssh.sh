#!/usr/bin/env bash
# Stops the sshd started by start-ssh.sh from the same VIGIL_TARGETS_DIR (by its pid,
# and only if that pid is still our sshd). Keeps the state directory (keys, users).
set -euo pipefail
DIR=${VIGIL_TARGETS_DIR:-/tmp/vigil-targets}/ssh
PIDFILE="$DIR/sshd.pid.launcher"
[ -f "$PIDFILE" ] || { echo "no sshd recorded in $DIR"; exit 0; }
pid=$(cat "$PIDFILE")
if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$DIR/sshd_config"; then
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
  kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null || true
  echo "sshd $pid stopped"
fi
rm -f "$PIDFILE"
