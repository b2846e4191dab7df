#!/usr/bin/env bash
# sluice serve --workers N when the address cannot be had (issue 10): a port
# another process listens on (EADDRINUSE), a port below 1024 for a user
# that may not bind it (EACCES, run as nobody), an address not on this
# machine (EADDRNOTAVAIL): in every scheduling mode the primary exits 1
# with the error and never says it serves. A second instance on a port a
# first one serves (SO_REUSEPORT, same user) refuses to start, and the
# first keeps all the traffic.
. "$(dirname "$0")/lib.bash"
SLUICE="$SL_BUILD/sluice"
no_worker_left() { # the workers named on stderr are gone
  for p in $(sed -n 's/^sluice serve: worker \([0-9]*\): .*/\1/p' "$T/err"); do
    alive "$p" && return 1
  done
  return 0
}
# refused NAME ERRNAME ADDR CMD...: CMD (a primary) exits 1 within 10 s,
# names the error and the address, never claims to serve, leaves no worker.
refused() {
  local name=$1 errname=$2 addr=$3; shift 3
  set +e
  timeout 10 "$@" > "$T/out" 2> "$T/err"
  rc=$?
  set -e
  check "$name: exit 1 (rc $rc)" [ "$rc" -eq 1 ]
  check "$name: the worker's error names $errname and $addr" \
    grep -qE "^sluice serve: worker [0-9]+: $errname: .* $addr$" "$T/err"
  check "$name: the primary says it does not serve" \
    grep -qx "sluice serve: not serving: no worker could listen on $addr" "$T/err"
  check "$name: it never claimed to serve" \
    bash -c "! grep -q 'serving' '$T/out'"
  check "$name: no worker left behind" no_worker_left
}

mkdir -p "$T/one" "$T/two"
chmod 755 "$T"
echo one > "$T/one/who.txt"
echo two > "$T/two/who.txt"

# --- a port another program listens on -----------------------------------
PORT=$(free_port)
python3 -c '
import socket, sys, time
s = socket.socket()
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen()
time.sleep(60)' "$PORT" &
HOLDER=$!
PIDS+=("$HOLDER")
for _ in $(seq 1 100); do
  ss -ltn | grep -q "127.0.0.1:$PORT " && break
  sleep 0.05
done
for sched in reuseport rr shared; do
  refused "in use, $sched" EADDRINUSE "127.0.0.1:$PORT" \
    "$SLUICE" serve "$T/one" --port "$PORT" --workers 2 --sched "$sched" --quiet
done
kill "$HOLDER"; wait "$HOLDER" 2>/dev/null || true

# --- a second sluice on a port a first one serves (reuseport) -----------
PORT=$(free_port)
"$SLUICE" serve "$T/one" --port "$PORT" --workers 2 --quiet \
  > "$T/first.out" 2> "$T/first.err" &
FIRST=$!
PIDS+=("$FIRST")
for _ in $(seq 1 200); do
  [ "$(grep -c '^Worker [0-9]* serving' "$T/first.out")" -ge 2 ] && break
  sleep 0.05
done
for p in $(sed -n 's/^Worker \([0-9]*\) serving .*/\1/p' "$T/first.out"); do
  PIDS+=("$p")
done
for sched in reuseport rr shared; do
  refused "second instance, $sched" EADDRINUSE "127.0.0.1:$PORT" \
    "$SLUICE" serve "$T/two" --port "$PORT" --workers 2 --sched "$sched" --quiet
done
set +e
err=$("$SLUICE" serve "$T/two" --port "$PORT" --quiet 2>&1 >/dev/null)
rc=$?
set -e
check "second instance, one process: exit 1 with EADDRINUSE (rc $rc)" \
  bash -c "[ $rc -eq 1 ] && [ \"$err\" = 'sluice serve: EADDRINUSE: address already in use 127.0.0.1:$PORT' ]"
# The refused instance may still be starting in the background; the first
# must keep every connection.
n=0
for _ in $(seq 1 20); do
  [ "$(curl -s -m 5 "http://127.0.0.1:$PORT/who.txt")" = one ] && n=$((n + 1))
done
check "the first instance still gets every request ($n/20)" [ "$n" -eq 20 ]
kill -TERM "$FIRST"
set +e; wait "$FIRST"; rc=$?; set -e
check "the first instance exits 0 on SIGTERM (rc $rc)" [ "$rc" -eq 0 ]

# --- EACCES: a port below 1024 for a user that may not bind it ----------
low=$(cat /proc/sys/net/ipv4/ip_unprivileged_port_start 2>/dev/null || echo 0)
if [ "$(id -u)" -eq 0 ] && [ "$low" -gt 81 ] && command -v setpriv >/dev/null &&
   ! ss -ltn | grep -q '127.0.0.1:81 '; then
  refused "port 81 as nobody" EACCES "127.0.0.1:81" \
    setpriv --reuid=nobody --regid=nogroup --clear-groups \
    "$SLUICE" serve "$T/one" --port 81 --workers 2 --quiet
else
  skip "EACCES: needs root, setpriv and ip_unprivileged_port_start > 81"
fi

# --- an address that is not this machine's -------------------------------
refused "not a local address" EADDRNOTAVAIL "192.0.2.1:$PORT" \
  "$SLUICE" serve "$T/one" --host 192.0.2.1 --port "$PORT" --workers 2 --quiet
done_tests
