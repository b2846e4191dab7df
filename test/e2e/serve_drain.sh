#!/usr/bin/env bash
# sluice serve --workers 2 and long downloads (issue 9, item 4): a rolling
# restart (SIGHUP) or a shutdown (SIGTERM) during a rate-limited download
# lets it finish byte for byte, even past a short --shutdown-timeout in the
# restart's case (the worker is still sending); a shutdown deadline that
# does cut a download says so and exits 1; a restart that had to kill a
# worker whose client stopped reading does not claim to be done cleanly;
# bad --shutdown-timeout values are refused; one process (no --workers)
# has the same deadline, report and exit code.
. "$(dirname "$0")/lib.bash"
SLUICE="$SL_BUILD/sluice"

worker_pids() { sed -n 's/^Worker \([0-9]*\) serving .*/\1/p' "$T/out"; }
wait_for() { # wait_for N PATTERN [TRIES] [FILE]
  for _ in $(seq 1 "${3:-100}"); do
    [ "$(grep -c "$2" "${4:-$T/out}" 2>/dev/null)" -ge "$1" ] && return 0
    sleep 0.05
  done
  return 1
}
start() { # start [ARGS...]: a primary with 2 workers; waits for both.
  : > "$T/out"
  : > "$T/err"
  "$SLUICE" serve "$T/site" --port "$PORT" --workers 2 --quiet "$@" \
    > "$T/out" 2> "$T/err" &
  PRIMARY=$!
  PIDS+=("$PRIMARY")
  wait_for 2 "^Worker [0-9]* serving .* at http://127.0.0.1:$PORT/$" || true
  for p in $(worker_pids); do PIDS+=("$p"); done
}
# wait_primary SECONDS: RC its exit status (124: still running, killed).
wait_primary() {
  RC=124
  for _ in $(seq 1 $(( $1 * 20 ))); do
    if ! alive "$PRIMARY"; then RC=0; wait "$PRIMARY" || RC=$?; return 0; fi
    sleep 0.05
  done
  kill -9 "$PRIMARY" 2>/dev/null || true
  wait "$PRIMARY" 2>/dev/null || true
}
no_worker_left() {
  for p in $(worker_pids); do alive "$p" && return 1; done
  return 0
}
# download NAME RATE: curl in the background, rate-limited; the body goes
# to $T/NAME, curl's exit status to $T/NAME.rc.
download() {
  ( rc=0
    curl -s -m 30 --limit-rate "$2" -o "$T/$1" "$U" || rc=$?
    echo "$rc" > "$T/$1.rc" ) &
  CURL=$!
  # started: the first bytes arrived
  for _ in $(seq 1 100); do
    [ -s "$T/$1" ] && break
    sleep 0.02
  done
}
same_body() { # same_body NAME: curl succeeded and the bytes are the file's
  [ "$(cat "$T/$1.rc")" = 0 ] && cmp -s "$T/$1" "$T/site/big.bin"
}

mkdir -p "$T/site"
# 160 MiB with data throughout (a sparse file would compare as zeros
# only): 4 s at 40 MB/s.
head -c $((4 * 1024 * 1024)) /dev/urandom > "$T/chunk"
for _ in $(seq 1 40); do cat "$T/chunk"; done > "$T/site/big.bin"
PORT=$(free_port)
U="http://127.0.0.1:$PORT/big.bin"

# --- SIGHUP past a 1 s deadline: the download is whole, the restart clean
start --shutdown-timeout 1
check "hup: two workers" test "$(worker_pids | wc -l)" -eq 2
download hup 40M
kill -HUP "$PRIMARY"
wait "$CURL" || true
check "hup: the download is complete and byte-identical ($(stat -c %s "$T/hup") bytes)" \
  same_body hup
check "hup: \"Rolling restart done (2 workers)\"" \
  wait_for 1 "^Rolling restart done (2 workers)$" 200
check "hup: no worker was killed" bash -c "! grep -q 'killed' '$T/err'"
kill -TERM "$PRIMARY"
wait_primary 10
check "hup: the primary then exits 0 on SIGTERM (rc $RC)" test "$RC" -eq 0
check "hup: no worker left behind" no_worker_left

# --- SIGTERM with the default deadline: the download finishes, then exit
start
download term 40M
kill -TERM "$PRIMARY"
wait "$CURL" || true
check "term: the download is complete and byte-identical" same_body term
wait_primary 10
check "term: the primary exits 0 once it is done (rc $RC)" test "$RC" -eq 0
check "term: no worker left behind" no_worker_left

# --- SIGTERM with --shutdown-timeout 1 cuts a download, and says so ------
start --shutdown-timeout 1
download cut 20M
kill -TERM "$PRIMARY"
wait "$CURL" || true
wait_primary 10
got=$(stat -c %s "$T/cut")
check "cut: the download was cut ($got bytes, curl $(cat "$T/cut.rc"))" \
  bash -c "[ '$got' -lt $(stat -c %s "$T/site/big.bin") ] && [ \"\$(cat '$T/cut.rc')\" != 0 ]"
check "cut: the worker's kill is reported with its connection" \
  grep -qE "^sluice: worker [0-9]+ \(pid [0-9]+\) still busy 1\.0 s after it was told to stop \(shutdown\): killed, 1 connection cut$" "$T/err"
check "cut: the primary's summary says 1 connection was cut" \
  grep -q "^sluice serve: the 1 s shutdown deadline cut 1 connection (1 worker killed)$" "$T/err"
check "cut: the primary exits 1 (rc $RC)" test "$RC" -eq 1
check "cut: no worker left behind" no_worker_left

# --- SIGHUP with a client that stopped reading: cut, and not "done" -----
start --shutdown-timeout 1
python3 - "$PORT" > "$T/stall.out" 2>&1 <<'EOF' &
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
s.sendall(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
print("read", len(s.recv(65536)), flush=True)
time.sleep(20)  # never reads again; the test kills it
EOF
STALL=$!
PIDS+=("$STALL")
wait_for 1 "^read " 100 "$T/stall.out" || true
kill -HUP "$PRIMARY"
check "stall: the restart reports the cut" \
  wait_for 1 "^Rolling restart finished with cuts (2 workers replaced; 1 killed at the 1 s drain deadline, 1 connection cut)$" 200
check "stall: it does not say \"Rolling restart done\"" \
  bash -c "! grep -q '^Rolling restart done' '$T/out'"
check "stall: the worker's kill is reported" \
  grep -qE "^sluice: worker [0-9]+ \(pid [0-9]+\) still busy [0-9.]+ s after it was told to stop \(restart\): killed, 1 connection cut$" "$T/err"
kill "$STALL" 2>/dev/null || true
wait "$STALL" 2>/dev/null || true
kill -TERM "$PRIMARY"
wait_primary 10
check "stall: the primary exits 0 on SIGTERM (rc $RC)" test "$RC" -eq 0
check "stall: no worker left behind" no_worker_left

# --- the command line -----------------------------------------------------
for bad in -1 abc 1e99 ""; do
  set +e
  err=$("$SLUICE" serve "$T/site" --port "$PORT" --workers 2 \
        --shutdown-timeout "$bad" 2>&1 >/dev/null)
  rc=$?
  set -e
  check "bad --shutdown-timeout '$bad': exit 2 and a message naming it" \
    bash -c "[ $rc -eq 2 ] && [ \"$err\" = \"sluice serve: invalid --shutdown-timeout '$bad' (seconds, 0 for none)\" ]"
done

# --- one process: the same deadline, and the same report -----------------
single() { # single ARGS...: `sluice serve` alone, waits for its URL.
  : > "$T/out"
  : > "$T/err"
  "$SLUICE" serve "$T/site" --port "$PORT" --quiet "$@" \
    > "$T/out" 2> "$T/err" &
  PRIMARY=$!
  PIDS+=("$PRIMARY")
  wait_for 1 "^Serving .* at http://127.0.0.1:$PORT/$" || true
}
single --shutdown-timeout 1
download one 20M
kill -TERM "$PRIMARY"
wait "$CURL" || true
wait_primary 10
got=$(stat -c %s "$T/one")
check "single: the deadline cut the download ($got bytes, curl $(cat "$T/one.rc"))" \
  bash -c "[ '$got' -lt $(stat -c %s "$T/site/big.bin") ] && [ \"\$(cat '$T/one.rc')\" != 0 ]"
check "single: the cut is reported with its connection" \
  grep -qx "sluice serve: the 1 s shutdown deadline cut 1 connection" "$T/err"
check "single: exit 1 after a cut, as the cluster (rc $RC)" test "$RC" -eq 1
single --shutdown-timeout 30
download whole 40M
kill -TERM "$PRIMARY"
wait "$CURL" || true
wait_primary 10
check "single: within the deadline the download is whole" same_body whole
check "single: and the exit is 0 (rc $RC)" test "$RC" -eq 0
done_tests
