#!/usr/bin/env bash
# FreeRDP shadow server sharing a private Xvfb display, on 127.0.0.1:$SHADOW_PORT, NLA/CredSSP
# (NTLM, SAM file) for $RDP_USER / $RDP_PW. The display shows an xclock, `top` and a
# "typing-target" xterm whose input is appended to $VIGIL_TARGETS_DIR/shadow/typed.txt.
# The display is $SHADOW_GEOMETRY (WIDTHxHEIGHT, default 1024x768): the shadow server shares
# its own screen, so every client gets this size whatever it asks for.
# Needs root (package install). Idempotent: exits 0 if already running at that geometry.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/rdp-common.sh"
DIR=$VIGIL_TARGETS_DIR/shadow
PORT=${SHADOW_PORT:-3391}
GEOMETRY=${SHADOW_GEOMETRY:-1024x768}
if ! [[ $GEOMETRY =~ ^[0-9]+x[0-9]+$ ]]; then
  echo "SHADOW_GEOMETRY must be WIDTHxHEIGHT (e.g. 1920x1080), not '$GEOMETRY'" >&2; exit 2
fi

ensure_packages freerdp2-shadow-x11 winpr-utils xvfb xterm x11-apps x11-xserver-utils x11-utils procps
mkdir -p "$DIR"

if pid_alive "$DIR/shadow.pid" && listening "$PORT" \
   && [ "$(cat "$DIR/geometry" 2>/dev/null)" = "$GEOMETRY" ]; then
  echo "freerdp-shadow already up on 127.0.0.1:$PORT at $GEOMETRY (pid $(cat "$DIR/shadow.pid"))"; exit 0
fi
# A half-started previous run, or one at another geometry: clear it first.
for f in shadow app1 app2 app3 xvfb; do kill_pidfile "$DIR/$f.pid"; done

# Xvfb picks a free display itself (-displayfd), so parallel runs do not collide. -noreset:
# otherwise the server resets when its last client leaves (xdpyinfo, then xsetroot), which
# throws the background away and leaves the desktop black.
rm -f "$DIR/display"
Xvfb -displayfd 3 -screen 0 "${GEOMETRY}x24" -noreset -nolisten tcp 3>"$DIR/display" >"$DIR/xvfb.log" 2>&1 &
echo $! > "$DIR/xvfb.pid"
echo "$GEOMETRY" > "$DIR/geometry"
for _ in $(seq 1 100); do [ -s "$DIR/display" ] && break; sleep 0.05; done
DPY=":$(head -n1 "$DIR/display")"
# The socket may exist before the server answers: wait for xdpyinfo.
for _ in $(seq 1 100); do xdpyinfo -display "$DPY" >/dev/null 2>&1 && break; sleep 0.05; done
export DISPLAY=$DPY
touch "$DIR/typed.txt"
xsetroot -solid '#402060'
xclock -digital -update 1 -strftime '%H:%M:%S' -geometry 260x40+10+10 -bg yellow >/dev/null 2>&1 & echo $! > "$DIR/app1.pid"
xterm -geometry 90x18+10+420 -T top-window -e top -d 1 >/dev/null 2>&1 & echo $! > "$DIR/app2.pid"
# `cat` in a loop: a single cat once vanished (cause unknown); the loop also survives Ctrl-D.
xterm -geometry 90x20+10+70 -T typing-target -e sh -c "echo TYPE HERE; while :; do cat >> '$DIR/typed.txt'; done" >"$DIR/xterm3.log" 2>&1 & echo $! > "$DIR/app3.pid"

winpr-hash -u "$RDP_USER" -p "$RDP_PW" -f sam > "$DIR/sam"
# The server keeps its TLS certificate in ~/.config/freerdp/server/ (made on first start), so
# the pin stays stable across restarts.
freerdp-shadow-cli /bind-address:127.0.0.1 "/port:$PORT" /sec:nla "/sam-file:$DIR/sam" >"$DIR/shadow.log" 2>&1 &
echo $! > "$DIR/shadow.pid"
for _ in $(seq 1 200); do
  if listening "$PORT"; then
    echo "freerdp-shadow up on 127.0.0.1:$PORT display $DPY ($GEOMETRY, pid $(cat "$DIR/shadow.pid")), typed file $DIR/typed.txt"; exit 0
  fi
  sleep 0.05
done
echo "shadow did not come up" >&2; tail -n 20 "$DIR/shadow.log" >&2 || true; exit 1
