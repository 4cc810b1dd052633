# Shared helpers for Vigil's RDP target scripts (sourced, not executed).
# State lives under $VIGIL_TARGETS_DIR (default /tmp/vigil-targets); nothing here needs systemd.

VIGIL_TARGETS_DIR=${VIGIL_TARGETS_DIR:-${TMPDIR:-/tmp}/vigil-targets}
RDP_USER=${RDP_USER:-gwrdp}
RDP_PW=${RDP_PW:-gwrdp-Secret1}

# Install the packages that are missing. The lock timeout matters: other sessions on the same
# machine may be running apt at the same moment.
ensure_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing: ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || { apt-get -o DPkg::Lock::Timeout=600 update -qq >/dev/null \
         && apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; }
}

# True when the PID in file $1 is a live, non-zombie process.
pid_alive() {
  [ -f "$1" ] || return 1
  local p state
  p=$(cat "$1" 2>/dev/null) || return 1
  state=$(ps -o stat= -p "$p" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "${state#Z}" = "$state" ]
}

# Is something listening on 127.0.0.1:$1? (ss, not a connect: a bare TCP probe makes xrdp log
# X.224 errors.)
listening() {
  ss -ltnH "sport = :$1" 2>/dev/null | grep -q .
}

# All descendants of PID $1 (depth first), collected before anything is killed so none of
# them gets re-parented out of reach.
descendants() {
  local c
  for c in $(ps -o pid= --ppid "$1" 2>/dev/null); do
    echo "$c"
    descendants "$c"
  done
}

# Gone or a zombie (PID 1 here may not reap orphans)?
gone() {
  case "$(ps -o stat= -p "$1" 2>/dev/null)" in Z*|"") return 0 ;; *) return 1 ;; esac
}

# kill_pidfile FILE: SIGTERM the PID and its whole process tree, SIGKILL whatever lingers.
# xrdp's per-connection children and sesman's X sessions are all in these trees.
kill_pidfile() {
  [ -f "$1" ] || return 0
  local p all q
  p=$(cat "$1" 2>/dev/null)
  rm -f "$1"
  [ -n "$p" ] || return 0
  all="$p $(descendants "$p")"
  for q in $all; do kill "$q" 2>/dev/null || true; done
  for _ in $(seq 1 20); do
    local left=0
    for q in $all; do gone "$q" || left=1; done
    [ $left -eq 0 ] && return 0
    sleep 0.1
  done
  # A forked xrdp child stuck in a half-open connection ignores SIGTERM.
  for q in $all; do gone "$q" || kill -9 "$q" 2>/dev/null || true; done
}
