#!/usr/bin/env bash
# sluice serve under systemd (issue 10), without systemd as PID 1:
# Type=notify against a fake $NOTIFY_SOCKET (a python3 datagram socket, a
# path and an abstract name): READY=1 once serving, RELOADING=1 then
# READY=1 around a SIGHUP, STOPPING=1 on SIGTERM, alone and as a cluster;
# socket activation through systemd-socket-activate: the first request on
# the passed socket gets 200, alone and for every scheduling of a cluster,
# with --port or taking the address from the socket, and no second socket
# is bound; the unit files in share/systemd say what the code does.
. "$(dirname "$0")/lib.bash"
SLUICE="$SL_BUILD/sluice"
mkdir -p "$T/site"
echo "activated" > "$T/site/index.html"

# listener ADDR LOG: a datagram socket at ADDR ("@name": abstract) writing
# each message to LOG on one line, newlines as '|'.
listener() {
  python3 -u -c '
import socket, sys
addr = sys.argv[1]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind("\0" + addr[1:] if addr.startswith("@") else addr)
print("bound", flush=True)
with open(sys.argv[2], "a") as log:
    while True:
        log.write(s.recv(4096).decode().replace("\n", "|") + "\n")
        log.flush()' "$1" "$2" > "$T/listener.out" &
  LISTENER=$!
  PIDS+=("$LISTENER")
  wait_lines 1 bound "$T/listener.out" || true
}
# states LOG: the messages without MONOTONIC_USEC's value, space-separated.
states() { sed 's/|MONOTONIC_USEC=[0-9]*//' "$1" | tr '\n' ' '; }

# notify_run NAME SOCKET ARGS...: sluice serve ARGS with NOTIFY_SOCKET;
# READY, SIGHUP, SIGTERM; checks the sequence.
notify_run() {
  local name=$1 sock=$2; shift 2
  : > "$T/$name.log"
  listener "$sock" "$T/$name.log"
  PORT=$(free_port)
  NOTIFY_SOCKET=$sock "$SLUICE" serve "$T/site" --port "$PORT" --quiet "$@" \
    > "$T/$name.out" 2> "$T/$name.err" &
  PID=$!
  PIDS+=("$PID")
  check "$name: READY=1 once serving" wait_lines 1 '^READY=1$' "$T/$name.log"
  check "$name: and it serves by then" \
    [ "$(curl -s -m 5 "http://127.0.0.1:$PORT/")" = activated ]
  kill -HUP "$PID"
  check "$name: SIGHUP: RELOADING=1 (with MONOTONIC_USEC) then READY=1" \
    wait_lines 2 '^READY=1$' "$T/$name.log" 200
  grep -q '^RELOADING=1|MONOTONIC_USEC=[0-9][0-9]*$' "$T/$name.log" ||
    fail "$name: RELOADING=1 carries MONOTONIC_USEC"
  kill -TERM "$PID"
  set +e; wait "$PID"; rc=$?; set -e
  check "$name: SIGTERM: STOPPING=1, exit 0 (rc $rc)" \
    bash -c "[ $rc -eq 0 ] && tail -1 '$T/$name.log' | grep -qx STOPPING=1"
  check "$name: the sequence ($(states "$T/$name.log"))" \
    [ "$(states "$T/$name.log")" = "READY=1 RELOADING=1 READY=1 STOPPING=1 " ]
  kill "$LISTENER" 2>/dev/null || true
  wait "$LISTENER" 2>/dev/null || true
}
notify_run single "$T/notify.sock"
notify_run cluster "$T/notify2.sock" --workers 2
notify_run abstract "@sluice-test-$$"
check "no NOTIFY_SOCKET: serves as ever" true

# --- socket activation -----------------------------------------------------
# activate NAME ARGS...: systemd-socket-activate on a free port runs
# `sluice serve DIR ARGS` at the first connection; that request must get
# 200, only the passed socket listens, SIGTERM ends it with exit 0.
activate() {
  local name=$1; shift
  PORT=$(free_port)
  local args=("$@")
  args=("${args[@]//@PORT@/$PORT}")
  systemd-socket-activate -l "127.0.0.1:$PORT" --fdname=http \
    "$SLUICE" serve "$T/site" --quiet "${args[@]}" \
    > "$T/$name.out" 2> "$T/$name.err" &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 1 100); do
    ss -ltn | grep -q "127.0.0.1:$PORT " && break
    sleep 0.05
  done
  local got
  got=$(curl -s -m 10 -o "$T/body" -w '%{http_code}' "http://127.0.0.1:$PORT/" || true)
  check "$name: the first request gets 200 ($got)" \
    bash -c "[ '$got' = 200 ] && [ \"\$(cat '$T/body')\" = activated ]"
  check "$name: one listening socket, the passed one" \
    [ "$(ss -ltn | grep -c "127.0.0.1:$PORT ")" -eq 1 ]
  local n=0
  for _ in $(seq 1 10); do
    [ "$(curl -s -m 5 "http://127.0.0.1:$PORT/")" = activated ] && n=$((n + 1))
  done
  check "$name: then 10 of 10 ($n)" [ "$n" -eq 10 ]
  {
    echo "\$ systemd-socket-activate -l 127.0.0.1:$PORT --fdname=http sluice serve DIR --quiet ${args[*]}"
    echo "\$ curl -s -w ' %{http_code}\\n' http://127.0.0.1:$PORT/"
    echo "$(cat "$T/body") $got"
    sed 's/^/  stdout: /' "$T/$name.out"
    sed 's/^/  stderr: /' "$T/$name.err"
  } >> "$T/transcript"
  kill -TERM "$PID"
  set +e; wait "$PID"; rc=$?; set -e
  check "$name: SIGTERM, exit 0 (rc $rc)" [ "$rc" -eq 0 ]
}
if command -v systemd-socket-activate >/dev/null; then
  activate "activated, one process" --port @PORT@
  activate "activated, one process, address from the socket"
  for sched in reuseport rr shared; do
    activate "activated, $sched" --port @PORT@ --workers 2 --sched "$sched"
  done
  activate "activated, reuseport, address from the socket" --workers 2
  echo "--- transcript"
  cat "$T/transcript"
else
  fail "systemd-socket-activate is missing (scripts/bootstrap installs systemd)"
fi

# --- the unit files --------------------------------------------------------
U="$SL_SRC/share/systemd/sluice.service.in"
S="$SL_SRC/share/systemd/sluice.socket"
check "sluice.service is Type=notify" grep -qx 'Type=notify' "$U"
check "sluice.service reloads with SIGHUP" \
  grep -qx 'ExecReload=/bin/kill -HUP $MAINPID' "$U"
check "sluice.service stops past the drain deadline" bash -c '
  d=$(sed -n "s/.*--shutdown-timeout \([0-9]*\).*/\1/p" "$1")
  s=$(sed -n "s/^TimeoutStopSec=\([0-9]*\)$/\1/p" "$1")
  [ -n "$d" ] && [ -n "$s" ] && [ "$s" -gt "$d" ]' _ "$U"
check "sluice.socket has a ListenStream and names the service" \
  bash -c "grep -q '^ListenStream=' '$S' && grep -qx 'Service=sluice.service' '$S'"
check "the service's --user account is the one it says" \
  grep -q -- '--user sluice' "$U"
check "the installed sluice.service names the installed binary" \
  grep -q "^ExecStart=/.*/bin/sluice serve " "$SL_BUILD/sluice.service"
done_tests
