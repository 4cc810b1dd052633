#!/usr/bin/env bash
# Stop what start-xrdp.sh started, by PID, with their process trees: xrdp forks a child per
# connection, sesman one per X session (Xorg, chansrv, the .xsession apps).
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/rdp-common.sh"
DIR=$VIGIL_TARGETS_DIR/xrdp
kill_pidfile "$DIR/xrdp.pid"
kill_pidfile "$DIR/sesman.pid"
true
