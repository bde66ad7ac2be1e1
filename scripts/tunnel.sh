#!/usr/bin/env bash
# SSH tunnel to a Jupyter server (or the Gluon Lab hub) behind a firewall: forwards a local
# port over ssh, checks that something answers on the remote side, prints the URL to open
# and keeps running until Ctrl-C. Plain OpenSSH underneath; this adds port picking, keepalive
# defaults and error messages that say what to fix.
set -euo pipefail

# Exit codes (documented in --help; the tests rely on them).
readonly EXIT_USAGE=2 EXIT_AUTH=3 EXIT_UNREACHABLE=4 EXIT_REMOTE_PORT=5 EXIT_LOCAL_PORT=6 EXIT_SSH=1

TARGET=""
LOCAL_PORT=8888
LOCAL_PORT_GIVEN=0
REMOTE_PORT=8888
REMOTE_HOST="127.0.0.1"
SSH_PORT=""
JUMP=""
IDENTITY=""
SSH_CONFIG=""
URL_PATH="/lab"
ALIVE=30
CONNECT_TIMEOUT=15
BATCH=0
CHECK_REMOTE=1
SSH_OPTS=()
MAX_TRIES=20

SSH_PID=""
LOG=""

usage() {
  cat <<'TXT'
Usage: scripts/tunnel.sh [user@]host [options]

Forwards 127.0.0.1:<local port> on this computer to <remote host>:<remote port> as seen
from the ssh server, e.g. a JupyterLab on a GPU server that only allows ssh:
  scripts/tunnel.sh alice@gpu01                        # Jupyter on gpu01:8888 -> http://127.0.0.1:8888/lab
  scripts/tunnel.sh alice@gpu01 -r 8000 --path /hub/   # the Gluon Lab hub
  scripts/tunnel.sh alice@gpu01 -J alice@bastion -i ~/.ssh/id_ed25519

Options:
  -l, --local-port N    local port (default 8888); when it is taken the next free one is used
  -r, --remote-port N   port of Jupyter/the hub on the remote side (default 8888; hub: 8000)
      --remote-host H   host the ssh server connects to (default 127.0.0.1, i.e. the server itself)
  -p, --port N          ssh port of the server (default: ssh's default, 22)
  -J, --jump HOST       jump host ([user@]bastion[:port]), passed to ssh -J
  -i, --identity FILE   private key to log in with
  -o, --ssh-opt OPT     extra ssh option (repeatable), e.g. -o StrictHostKeyChecking=accept-new
                        (applies to the server only; options for a jump host go in a config file)
  -F, --ssh-config FILE ssh config file to use instead of ~/.ssh/config (also used for the jump host)
      --path PATH       URL path printed for the browser (default /lab)
      --alive SEC       ServerAliveInterval: keepalive every SEC seconds (default 30)
      --timeout SEC     ssh ConnectTimeout, and with --batch how long to wait for the tunnel (default 15)
      --batch           never prompt (ssh BatchMode=yes): fail instead of asking for a password
      --no-check        do not check that something answers on the remote port
  -h, --help            this help

It always uses ExitOnForwardFailure=yes (fail instead of a half-working tunnel) and
ServerAliveInterval/ServerAliveCountMax=3 (notice a dead connection). Stop with Ctrl-C
(SIGINT) or SIGTERM: the ssh process is stopped and the local port freed.

Exit status: 0 stopped by Ctrl-C/SIGTERM, 1 other ssh failure or connection lost,
2 bad usage, 3 authentication failed, 4 server unreachable or unknown host,
5 nothing answers on the remote port, 6 no free local port.
TXT
}

say() { printf 'tunnel: %s\n' "$*" >&2; }

die() {
  local code="$1"
  shift
  say "$@"
  exit "$code"
}

need_value() {
  [[ $# -ge 2 && -n "$2" ]] || die "$EXIT_USAGE" "option $1 needs a value (see --help)"
}

check_port_number() {
  local name="$1" value="$2"
  if ! [[ "$value" =~ ^[0-9]+$ ]] || ((value < 1 || value > 65535)); then
    die "$EXIT_USAGE" "$name must be a port number 1-65535, got '$value'"
  fi
}

parse_args() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      -h | --help) usage; exit 0 ;;
      -l | --local-port) need_value "$@"; LOCAL_PORT="$2"; LOCAL_PORT_GIVEN=1; shift 2 ;;
      -r | --remote-port) need_value "$@"; REMOTE_PORT="$2"; shift 2 ;;
      --remote-host) need_value "$@"; REMOTE_HOST="$2"; shift 2 ;;
      -p | --port) need_value "$@"; SSH_PORT="$2"; shift 2 ;;
      -J | --jump) need_value "$@"; JUMP="$2"; shift 2 ;;
      -i | --identity) need_value "$@"; IDENTITY="$2"; shift 2 ;;
      -o | --ssh-opt) need_value "$@"; SSH_OPTS+=(-o "$2"); shift 2 ;;
      -F | --ssh-config) need_value "$@"; SSH_CONFIG="$2"; shift 2 ;;
      --path) need_value "$@"; URL_PATH="$2"; shift 2 ;;
      --alive) need_value "$@"; ALIVE="$2"; shift 2 ;;
      --timeout) need_value "$@"; CONNECT_TIMEOUT="$2"; shift 2 ;;
      --batch) BATCH=1; shift ;;
      --no-check) CHECK_REMOTE=0; shift ;;
      -*) die "$EXIT_USAGE" "unknown option '$1' (see --help)" ;;
      *)
        [[ -z "$TARGET" ]] || die "$EXIT_USAGE" "only one [user@]host please (got '$TARGET' and '$1')"
        TARGET="$1"
        shift
        ;;
    esac
  done
  [[ -n "$TARGET" ]] || die "$EXIT_USAGE" "which server? usage: scripts/tunnel.sh [user@]host [options] (see --help)"
  check_port_number "--local-port" "$LOCAL_PORT"
  check_port_number "--remote-port" "$REMOTE_PORT"
  [[ -z "$SSH_PORT" ]] || check_port_number "--port" "$SSH_PORT"
  [[ "$ALIVE" =~ ^[0-9]+$ && "$ALIVE" -ge 1 ]] || die "$EXIT_USAGE" "--alive must be a whole number of seconds >= 1, got '$ALIVE'"
  [[ "$CONNECT_TIMEOUT" =~ ^[0-9]+$ && "$CONNECT_TIMEOUT" -ge 1 ]] || die "$EXIT_USAGE" "--timeout must be a whole number of seconds >= 1, got '$CONNECT_TIMEOUT'"
  [[ "$URL_PATH" == /* ]] || URL_PATH="/$URL_PATH"
  if [[ -n "$IDENTITY" && ! -r "$IDENTITY" ]]; then
    die "$EXIT_USAGE" "identity file '$IDENTITY' does not exist or is not readable; create one with: ssh-keygen -t ed25519"
  fi
  if [[ -n "$SSH_CONFIG" && ! -r "$SSH_CONFIG" ]]; then
    die "$EXIT_USAGE" "ssh config file '$SSH_CONFIG' does not exist or is not readable"
  fi
  command -v ssh >/dev/null 2>&1 || die "$EXIT_SSH" "ssh is not installed; install OpenSSH (Debian/Ubuntu: sudo apt-get install openssh-client)"
}

port_in_use() {
  # Something listening on the port accepts a connection; a free port refuses it.
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

next_free_port() {
  local port="$1" tries=0
  while port_in_use "$port"; do
    tries=$((tries + 1))
    ((tries < MAX_TRIES && port < 65535)) || return 1
    port=$((port + 1))
  done
  printf '%s\n' "$port"
}

ssh_command() {
  local lport="$1"
  SSH_CMD=(ssh -N -T
    -L "127.0.0.1:${lport}:${REMOTE_HOST}:${REMOTE_PORT}"
    -o ExitOnForwardFailure=yes
    -o "ServerAliveInterval=${ALIVE}"
    -o ServerAliveCountMax=3
    -o "ConnectTimeout=${CONNECT_TIMEOUT}")
  ((BATCH)) && SSH_CMD+=(-o BatchMode=yes)
  [[ -z "$SSH_CONFIG" ]] || SSH_CMD+=(-F "$SSH_CONFIG")
  [[ -z "$SSH_PORT" ]] || SSH_CMD+=(-p "$SSH_PORT")
  [[ -z "$JUMP" ]] || SSH_CMD+=(-J "$JUMP")
  [[ -z "$IDENTITY" ]] || SSH_CMD+=(-i "$IDENTITY" -o IdentitiesOnly=yes)
  # ${a[@]+...}: an empty array is "unbound" under set -u in bash < 4.4 (macOS ships 3.2).
  SSH_CMD+=(${SSH_OPTS[@]+"${SSH_OPTS[@]}"} "$TARGET")
}

explain_ssh_failure() {
  # ssh exited before the tunnel was up: turn its stderr into what to do.
  local log_text
  log_text="$(cat "$LOG")"
  say "ssh said: $(grep -v '^Warning: Permanently added' "$LOG" | tail -n 3 | tr '\n' ' ')"
  case "$log_text" in
    *"Permission denied"* | *"Too many authentication failures"*)
      die "$EXIT_AUTH" "authentication failed for '$TARGET': the server refused the key/password. Check the user name, pass the right key with -i ~/.ssh/id_ed25519, and install it on the server with: ssh-copy-id ${SSH_PORT:+-p $SSH_PORT }$TARGET" ;;
    *"Host key verification failed"* | *"REMOTE HOST IDENTIFICATION HAS CHANGED"*)
      die "$EXIT_AUTH" "the server's host key is unknown or changed. If the server was reinstalled, remove the old key: ssh-keygen -R <host>; then connect once with plain ssh to accept the new one" ;;
    *"Could not resolve hostname"*)
      die "$EXIT_UNREACHABLE" "unknown host in '$TARGET': check the spelling, or use the IP address" ;;
    *"Connection refused"* | *"Connection timed out"* | *"No route to host"* | *"Network is unreachable"* | *"Connection closed by"* | *"port 65535"*)
      die "$EXIT_UNREACHABLE" "cannot reach the ssh server of '$TARGET'${SSH_PORT:+ on port $SSH_PORT}: is it up, is the port right (-p), does a firewall block it? Behind a bastion use -J user@bastion" ;;
    *)
      die "$EXIT_SSH" "ssh failed (see its message above); try it by hand: ${SSH_CMD[*]} -v" ;;
  esac
}

remote_port_answers() {
  # Open a connection through the tunnel and send a request: a closed remote port makes the
  # ssh server refuse the channel ("open failed: connect failed") and we read nothing back.
  local lport="$1" reply="" i
  reply="$(
    exec 3<>"/dev/tcp/127.0.0.1/$lport" || exit 0
    printf 'HEAD / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3 || exit 0
    # bash's read -t, not coreutils timeout: macOS has no `timeout` command.
    IFS= read -r -t 5 line <&3 2>/dev/null || true
    printf '%s' "${line:-}"
  )" 2>/dev/null || true
  for i in 1 2 3 4 5 6 7 8 9 10; do
    grep -q "open failed" "$LOG" && return 1
    [[ -n "$reply" ]] && return 0
    sleep 0.2
    : "$i"
  done
  [[ -n "$reply" ]]
}

stop_tunnel() {
  if [[ -n "$SSH_PID" ]] && kill -0 "$SSH_PID" 2>/dev/null; then
    kill -TERM "$SSH_PID" 2>/dev/null || true
    wait "$SSH_PID" 2>/dev/null || true
  fi
  SSH_PID=""
}

# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
  stop_tunnel
  [[ -z "$LOG" ]] || rm -f "$LOG"
}

# shellcheck disable=SC2317  # called from the INT/TERM trap
on_signal() {
  say "stopping the tunnel"
  cleanup
  trap - EXIT
  exit 0
}

start_tunnel() {
  local lport="$1" waited=0 limit
  # Without --batch ssh may be waiting for a password or passphrase typed at the terminal.
  limit=$(( BATCH ? CONNECT_TIMEOUT * 10 + 50 : 1200 ))
  : >"$LOG"
  ssh_command "$lport"
  "${SSH_CMD[@]}" 2>"$LOG" </dev/null &
  SSH_PID=$!
  # Up = the local port accepts connections; down = ssh exited. Poll both.
  while ((waited < limit)); do
    if ! kill -0 "$SSH_PID" 2>/dev/null; then
      wait "$SSH_PID" 2>/dev/null || true
      SSH_PID=""
      return 1
    fi
    if port_in_use "$lport"; then
      return 0
    fi
    sleep 0.1
    waited=$((waited + 1))
  done
  stop_tunnel
  die "$EXIT_UNREACHABLE" "the tunnel did not come up within $((limit / 10))s (slow network, or nobody typed the password?); use --batch to fail fast"
}

main() {
  parse_args "$@"
  LOG="$(mktemp "${TMPDIR:-/tmp}/tunnel-ssh.XXXXXX")"
  trap cleanup EXIT
  trap on_signal INT TERM

  local lport tries=0
  while :; do
    if ! lport="$(next_free_port "$LOCAL_PORT")"; then
      die "$EXIT_LOCAL_PORT" "no free local port among ${LOCAL_PORT}-$((LOCAL_PORT + MAX_TRIES - 1)); pick another with -l 18888"
    fi
    if [[ "$lport" != "$LOCAL_PORT" ]]; then
      say "local port ${LOCAL_PORT} is taken$( ((LOCAL_PORT_GIVEN)) && echo " (you asked for it)"), using ${lport}"
    fi
    if start_tunnel "$lport"; then
      break
    fi
    if grep -qE "Address already in use|cannot listen to port" "$LOG" && ((tries < MAX_TRIES)); then
      # Lost a race for the port (or it is bound without listening): try the next one.
      tries=$((tries + 1))
      LOCAL_PORT=$((lport + 1))
      continue
    fi
    explain_ssh_failure
  done

  if ((CHECK_REMOTE)) && ! remote_port_answers "$lport"; then
    stop_tunnel
    die "$EXIT_REMOTE_PORT" "the tunnel works, but nothing answers on ${REMOTE_HOST}:${REMOTE_PORT} on the server. Start Jupyter there (jupyter lab --no-browser --port ${REMOTE_PORT}), check the port with: ssh $TARGET 'ss -ltn', or for the hub run: docker compose ps"
  fi

  printf 'Tunnel up: open http://127.0.0.1:%s%s  (-> %s:%s via %s%s)\n' \
    "$lport" "$URL_PATH" "$REMOTE_HOST" "$REMOTE_PORT" "$TARGET" "${JUMP:+ through $JUMP}"
  printf 'Jupyter asks for a token? On the server run: jupyter server list\n'
  printf 'Press Ctrl-C to close the tunnel.\n'

  # `wait` returns early when a trapped signal arrives, so the trap runs at once.
  local rc=0
  wait "$SSH_PID" || rc=$?
  SSH_PID=""
  say "the ssh connection ended (exit $rc): $(tail -n 2 "$LOG" | tr '\n' ' ')"
  exit "$EXIT_SSH"
}

main "$@"
