#!/usr/bin/env bash
# Start xrdp + xrdp-sesman (Xorg/xorgxrdp backend) on 127.0.0.1:$XRDP_PORT without systemd.
# Needs root. User $RDP_USER / $RDP_PW (default gwrdp / gwrdp-Secret1). Each connection gets
# its own X session (Policy=UBDC) showing a ticking xclock, `top`, and a "typing-target" xterm
# whose input is appended to $VIGIL_TARGETS_DIR/xrdp/typed.txt (a symlink into the user's home).
# xrdp 0.9 has no NLA: the server selects TLS. Idempotent: exits 0 if already running.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
. "$HERE/rdp-common.sh"
DIR=$VIGIL_TARGETS_DIR/xrdp
PORT=${XRDP_PORT:-3389}

if ! command -v xrdp >/dev/null || [ ! -e /usr/lib/xorg/modules/drivers/xrdpdev_drv.so ]; then
  ensure_packages xrdp xorgxrdp xterm x11-apps x11-xserver-utils x11-utils dbus-x11 procps openssl
else
  ensure_packages xterm x11-apps x11-xserver-utils x11-utils dbus-x11 procps
fi
mkdir -p "$DIR"

if pid_alive "$DIR/xrdp.pid" && listening "$PORT"; then
  echo "xrdp already up on 127.0.0.1:$PORT (pid $(cat "$DIR/xrdp.pid"))"; exit 0
fi

# What systemd's RuntimeDirectory + ExecStartPre would do.
sh /usr/share/xrdp/socksetup

if [ ! -f "$DIR/key.pem" ]; then
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=vigil-xrdp-test" \
    -keyout "$DIR/key.pem" -out "$DIR/cert.pem" 2>/dev/null
fi

id "$RDP_USER" >/dev/null 2>&1 || useradd -m -s /bin/bash "$RDP_USER"
echo "$RDP_USER:$RDP_PW" | chpasswd
H=$(getent passwd "$RDP_USER" | cut -d: -f6)
touch "$H/typed.txt"; chown "$RDP_USER:$RDP_USER" "$H/typed.txt"
ln -sfn "$H/typed.txt" "$DIR/typed.txt"
cat > "$H/.xsession" <<'XS'
#!/bin/sh
xsetroot -solid '#204060' 2>/dev/null
xclock -digital -update 1 -strftime '%H:%M:%S' -geometry 260x40+10+10 -bg yellow &
xterm -geometry 90x18+10+420 -T top-window -e top -d 1 &
# No window manager: focus follows the pointer, so a client moves the mouse over this xterm
# before typing. The loop survives an accidental EOF (Ctrl-D).
exec xterm -geometry 90x20+10+70 -T typing-target -e sh -c 'echo "TYPE HERE ($DISPLAY)"; while :; do cat >> "$HOME/typed.txt"; done'
XS
chmod +x "$H/.xsession"; chown "$RDP_USER:$RDP_USER" "$H/.xsession"

# Copies of the packaged configs. Only the FIRST port= line ([Globals]): the [Xorg]/[Xvnc]
# sections need their port=-1, or libxup connects to xrdp itself and sessions hang.
sed -e "0,/^port=/s|^port=.*|port=tcp://127.0.0.1:$PORT|" \
    -e "s|^security_layer=.*|security_layer=negotiate|" \
    -e "s|^certificate=.*|certificate=$DIR/cert.pem|" \
    -e "s|^key_file=.*|key_file=$DIR/key.pem|" \
    -e "s|^LogFile=.*|LogFile=$DIR/xrdp.log|" \
    -e "s|^EnableSyslog=.*|EnableSyslog=false|" \
    -e "s|^autorun=.*|autorun=Xorg|" \
    /etc/xrdp/xrdp.ini > "$DIR/xrdp.ini"
sed -e "s|^LogFile=.*|LogFile=$DIR/xrdp-sesman.log|" \
    -e "s|^EnableSyslog=.*|EnableSyslog=false|" \
    -e "s|^KillDisconnected=.*|KillDisconnected=true|" \
    -e "s|^DisconnectedTimeLimit=.*|DisconnectedTimeLimit=0|" \
    -e "s|^Policy=.*|Policy=UBDC|" \
    /etc/xrdp/sesman.ini > "$DIR/sesman.ini"

# xrdp finds sesman through /etc/xrdp/sesman.ini (port 3350), so there is one sesman per machine.
if pid_alive "$DIR/sesman.pid"; then :
elif listening 3350; then
  echo "note: a sesman not started by this script already listens on 3350; using it" >&2
else
  xrdp-sesman --nodaemon --config "$DIR/sesman.ini" >"$DIR/sesman.out" 2>&1 &
  echo $! > "$DIR/sesman.pid"
fi
kill_pidfile "$DIR/xrdp.pid"
xrdp --nodaemon --config "$DIR/xrdp.ini" >"$DIR/xrdp.out" 2>&1 &
echo $! > "$DIR/xrdp.pid"

for _ in $(seq 1 200); do
  if listening "$PORT" && listening 3350; then
    echo "xrdp up on 127.0.0.1:$PORT (pid $(cat "$DIR/xrdp.pid")), typed file $DIR/typed.txt"; exit 0
  fi
  sleep 0.05
done
echo "xrdp did not come up" >&2; tail -n 20 "$DIR"/*.out "$DIR"/*.log >&2 || true; exit 1
