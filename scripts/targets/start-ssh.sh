#!/usr/bin/env bash
# Starts a throw-away OpenSSH server on 127.0.0.1:$SSH_PORT for Vigil's tests, without
# systemd. Needs root (it creates local users and /run/sshd). Idempotent: an instance
# already running from this state directory on the same port is left alone; on
# another port it is restarted.
#
# Environment:
#   VIGIL_TARGETS_DIR  state directory (default /tmp/vigil-targets); this script uses <dir>/ssh
#   SSH_PORT           loopback port (default 2222)
#   SSH_PASS_USER / SSH_PASS_PW   password user (default gwpass / gwpass-Secret1)
#   SSH_KEY_USER       key-only user (default gwkey)
#
# Writes <dir>/ssh/env (shell syntax: SSH_HOST, SSH_PORT, users, key paths, host key)
# and prints where the client private key is.
set -euo pipefail

DIR=${VIGIL_TARGETS_DIR:-/tmp/vigil-targets}/ssh
PORT=${SSH_PORT:-2222}
PASS_USER=${SSH_PASS_USER:-gwpass}
PASS_PW=${SSH_PASS_PW:-gwpass-Secret1}
KEY_USER=${SSH_KEY_USER:-gwkey}
SSHD=/usr/sbin/sshd

if [ "$(id -u)" != 0 ]; then
  echo "start-ssh.sh: needs root (creates users and /run/sshd)" >&2
  exit 1
fi

if [ ! -x "$SSHD" ] || ! command -v ssh-keygen >/dev/null || ! command -v sshpass >/dev/null; then
  echo "installing openssh-server, openssh-client, sshpass" >&2
  # Another apt may hold the lock (parallel sessions): wait for it instead of failing.
  apt_get() { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 "$@"; }
  apt_get install -y -qq --no-install-recommends openssh-server openssh-client sshpass >/dev/null \
    || { apt_get update -qq && apt_get install -y -qq --no-install-recommends openssh-server openssh-client sshpass >/dev/null; }
fi

mkdir -p "$DIR/authorized_keys"
chmod 0755 "$DIR" "$DIR/authorized_keys"

# Is our instance (started from this directory's config) already running?
running_pid() {
  local pid
  pid=$(cat "$DIR/sshd.pid.launcher" 2>/dev/null) || return 1
  [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$DIR/sshd_config" && echo "$pid"
}

print_env() {
  echo "sshd up on 127.0.0.1:$PORT pid=$(cat "$DIR/sshd.pid.launcher")"
  echo "password user: $PASS_USER / $PASS_PW"
  echo "key-only user: $KEY_USER, client private key: $DIR/client_ed25519"
}

if pid=$(running_pid); then
  if grep -qx "Port $PORT" "$DIR/sshd_config" 2>/dev/null; then
    print_env
    exit 0
  fi
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
fi

# Privilege-separation directory, normally made by systemd; sshd refuses to start without it.
install -d -m 0755 -o root -g root /run/sshd

# Host keys private to this instance.
[ -f "$DIR/hk_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C vigil-test-host -f "$DIR/hk_ed25519"
[ -f "$DIR/hk_rsa" ] || ssh-keygen -q -t rsa -b 3072 -N '' -C vigil-test-host -f "$DIR/hk_rsa"
[ -f "$DIR/client_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C vigil-test-client -f "$DIR/client_ed25519"

# Users. `|| id` tolerates a parallel run creating the same user first.
id "$PASS_USER" >/dev/null 2>&1 || useradd -m -s /bin/bash "$PASS_USER" || id "$PASS_USER" >/dev/null
echo "$PASS_USER:$PASS_PW" | chpasswd
id "$KEY_USER" >/dev/null 2>&1 || useradd -m -s /bin/bash "$KEY_USER" || id "$KEY_USER" >/dev/null
# '*' (not '!'): no password can match, yet the account is not locked for public keys.
usermod -p '*' "$KEY_USER"
# Authorized keys live in this directory, not in the user's home, so that instances
# with other state directories do not overwrite each other's keys.
install -m 0644 "$DIR/client_ed25519.pub" "$DIR/authorized_keys/$KEY_USER"
: >"$DIR/authorized_keys/$PASS_USER"

cat >"$DIR/sshd_config" <<CONF
Port $PORT
ListenAddress 127.0.0.1
HostKey $DIR/hk_ed25519
HostKey $DIR/hk_rsa
PidFile $DIR/sshd.pid
AuthorizedKeysFile $DIR/authorized_keys/%u
# The state directory sits under /tmp (world-writable), which StrictModes rejects.
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication yes
KbdInteractiveAuthentication yes
UsePAM yes
PermitRootLogin no
AllowUsers $PASS_USER $KEY_USER
X11Forwarding no
PrintMotd no
PrintLastLog no
MaxStartups 100:30:200
MaxSessions 50
LoginGraceTime 30
Subsystem sftp /usr/lib/openssh/sftp-server
LogLevel VERBOSE
CONF
"$SSHD" -t -f "$DIR/sshd_config"

# -D: stay in the foreground (we background it, and know its pid); -e: log to stderr.
# setsid: not in the caller's process group, so a test harness's Ctrl-C or group kill
# does not take it down mid-test of another run.
setsid "$SSHD" -D -e -f "$DIR/sshd_config" >"$DIR/sshd.log" 2>&1 </dev/null &
echo $! >"$DIR/sshd.pid.launcher"

cat >"$DIR/env" <<ENV
SSH_HOST=127.0.0.1
SSH_PORT=$PORT
SSH_PASS_USER=$PASS_USER
SSH_PASS_PW=$PASS_PW
SSH_KEY_USER=$KEY_USER
SSH_CLIENT_KEY=$DIR/client_ed25519
SSH_HOST_KEY_ED25519=$DIR/hk_ed25519.pub
ENV

# Ready when it sends its banner.
for _ in $(seq 1 200); do
  if { exec 3<>"/dev/tcp/127.0.0.1/$PORT"; } 2>/dev/null; then
    banner=
    read -t 2 -r banner <&3 || true
    exec 3<&- 3>&-
    case "$banner" in SSH-2.0-*) print_env; exit 0 ;; esac
  fi
  sleep 0.05
done
echo "sshd did not come up on 127.0.0.1:$PORT" >&2
cat "$DIR/sshd.log" >&2
exit 1
