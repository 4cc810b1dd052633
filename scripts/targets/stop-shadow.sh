#!/usr/bin/env bash
# Stop what start-shadow.sh started, by PID.
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/rdp-common.sh"
DIR=$VIGIL_TARGETS_DIR/shadow
for f in shadow app1 app2 app3 xvfb; do kill_pidfile "$DIR/$f.pid"; done
true
