#!/usr/bin/env bash
# sluice serve --workers 2: a cluster of static file servers sharing one
# port, for each scheduling (reuseport, rr, shared): per-worker startup
# lines, 20 curl requests, kill -9 of a worker (replaced), SIGUSR2 (one
# stats line per worker), SIGHUP (rolling restart: new workers, no failed
# request), SIGTERM and SIGINT to the primary (exits 0, no process left),
# and the command-line errors.
. "$(dirname "$0")/lib.bash"
SLUICE="$SL_BUILD/sluice"
worker_pids() { sed -n 's/^Worker \([0-9]*\) serving .*/\1/p' "$T/out"; }
children() { pgrep -P "$PRIMARY" | sort | tr '\n' ' '; }
wait_for() { # wait_for N PATTERN [TRIES]: N lines of PATTERN in the output
  for _ in $(seq 1 "${3:-100}"); do
    [ "$(grep -c "$2" "$T/out" 2>/dev/null)" -ge "$1" ] && return 0
    sleep 0.05
  done
  return 1
}
requests() { # requests N: how many of N GETs return the file
  local n=0
  for _ in $(seq 1 "$1"); do
    [ "$(curl -sf -m 5 "$U")" = "hello from the cluster" ] && n=$((n + 1))
  done
  echo "$n"
}
# start [ARGS...]: a primary with 2 workers; waits for both.
start() {
  : > "$T/out"
  "$SLUICE" serve "$T/site" --port "$PORT" --workers 2 --quiet "$@" \
    > "$T/out" 2> "$T/err" &
  PRIMARY=$!
  PIDS+=("$PRIMARY")
  wait_for 2 "^Worker [0-9]* serving .* at http://127.0.0.1:$PORT/$" || true
  wait_for 1 "^Primary $PRIMARY serving " || true
  for p in $(worker_pids); do PIDS+=("$p"); done
}
# stop SIG: the signal to the primary; RC its exit status; LEFT 1 when a
# worker it ever had is still alive.
stop() {
  kill "-$1" "$PRIMARY"
  RC=0
  wait "$PRIMARY" || RC=$?
  LEFT=0
  for p in $(worker_pids); do alive "$p" && LEFT=1; done
  return 0
}

mkdir -p "$T/site"
echo "hello from the cluster" > "$T/site/hello.txt"
PORT=$(free_port)
U="http://127.0.0.1:$PORT/hello.txt"

# --- reuseport (the default): crash, stats, rolling restart, SIGTERM -----
start
check "reuseport: two workers start" test "$(worker_pids | wc -l)" -eq 2
check "primary line names the count and the scheduling" \
  grep -q "^Primary $PRIMARY serving .* with 2 workers (reuseport)$" "$T/out"
check "workers are children of the primary" \
  test "$(children)" = "$(worker_pids | sort | tr '\n' ' ')"
n=$(requests 20)
check "reuseport: 20 of 20 requests succeed ($n)" test "$n" -eq 20

VICTIM=$(worker_pids | head -1)
kill -9 "$VICTIM"
check "a replacement starts" wait_for 3 "^Worker [0-9]* serving "
for p in $(worker_pids); do PIDS+=("$p"); done
check "the death is logged with its cause" \
  grep -q "worker $VICTIM died (crash), forking a new one" "$T/err"
n=$(requests 10)
check "requests succeed after the kill ($n/10)" test "$n" -eq 10
check "two live workers after the replacement" \
  test "$(pgrep -P "$PRIMARY" | wc -l)" -eq 2

kill -USR2 "$PRIMARY"
wait_for 1 "^cluster workers" 100 || true
ok_lines=1
for p in $(pgrep -P "$PRIMARY"); do
  grep -qE "^worker [0-9]+ pid $p [a-z]+ requests [0-9-]+ conns [0-9-]+ rss [0-9.-]+ lag [0-9.-]+$" \
    "$T/out" || ok_lines=0
done
check "SIGUSR2: one stats line per live worker, with its pid" \
  test "$ok_lines" -eq 1
check "SIGUSR2: exactly two worker lines" \
  test "$(grep -c '^worker [0-9]* pid ' "$T/out")" -eq 2
check "SIGUSR2: the cluster line counts the crash" \
  grep -qE "^cluster workers 2/2 forked 3 restarts 1 crashes 1 hung 0 retired 0$" \
    "$T/out"

# SIGHUP under a light request loop: new workers, none of the requests fail.
OLD=$(children)
( while [ ! -e "$T/stop-load" ]; do
    if [ "$(curl -sf -m 5 "$U")" = "hello from the cluster" ]; then
      echo ok; else echo fail; fi
  done > "$T/load" ) &
LOADER=$!
sleep 0.2
kill -HUP "$PRIMARY"
check "SIGHUP: the primary says \"Rolling restart done (2 workers)\"" \
  wait_for 1 "^Rolling restart done (2 workers)$" 200
touch "$T/stop-load"
wait "$LOADER" || true
grep -q "^Rolling restart failed" "$T/out" && \
  echo "     ($(grep "^Rolling restart" "$T/out"))"
for p in $(worker_pids); do PIDS+=("$p"); done
NEW=$(children)
still=0
for p in $OLD; do alive "$p" && still=1; done
check "SIGHUP: two new worker pids ($OLD -> $NEW)" \
  bash -c "[ '$still' -eq 0 ] && [ \$(wc -w <<<'$NEW') -eq 2 ]"
okn=$(grep -c '^ok$' "$T/load" || true)
failn=$(grep -c '^fail$' "$T/load" || true)
check "SIGHUP: no failed request during the restart ($okn ok, $failn failed)" \
  bash -c "[ '$failn' -eq 0 ] && [ '$okn' -gt 0 ]"
n=$(requests 10)
check "requests succeed after the restart ($n/10)" test "$n" -eq 10

stop TERM
check "primary exits 0 on SIGTERM (rc $RC)" test "$RC" -eq 0
check "no worker left behind" test "$LEFT" -eq 0

# --- rr and shared: 20 requests each, SIGINT ------------------------------
for sched in rr shared; do
  start --sched "$sched"
  check "$sched: two workers start" test "$(worker_pids | wc -l)" -eq 2
  check "$sched: the primary line names it" \
    grep -q "^Primary $PRIMARY serving .* with 2 workers ($sched)$" "$T/out"
  n=$(requests 20)
  check "$sched: 20 of 20 requests succeed ($n)" test "$n" -eq 20
  if [ "$sched" = rr ]; then
    # strictly in turn: 10 each, seen in the load reports (heartbeat 1 s)
    spread=""
    for _ in $(seq 1 20); do
      kill -USR2 "$PRIMARY"
      sleep 0.2
      spread=$(grep '^worker ' "$T/out" | tail -2 | awk '{print $7}' | tr '\n' ' ')
      [ "$spread" = "10 10 " ] && break
    done
    check "rr: 10 requests per worker (SIGUSR2: $spread)" \
      test "$spread" = "10 10 "
  fi
  stop INT
  check "$sched: primary exits 0 on SIGINT (rc $RC)" test "$RC" -eq 0
  check "$sched: no worker left behind" test "$LEFT" -eq 0
done

# --- the command line ------------------------------------------------------
set +e
err=$("$SLUICE" serve "$T/site" --port "$PORT" --workers 2 --sched fifo 2>&1 >/dev/null)
rc=$?
set -e
check "bad --sched: exit 2 ($rc)" test "$rc" -eq 2
check "bad --sched: the message names the value" \
  test "$err" = "sluice serve: invalid --sched 'fifo' (reuseport, rr or shared)"
set +e
"$SLUICE" serve "$T/site" --port "$PORT" --workers many >/dev/null 2>&1
rc=$?
set -e
check "bad --workers: exit 2 ($rc)" test "$rc" -eq 2
check "--workers without --port is refused" \
  test "$("$SLUICE" serve "$T/site" --port 0 --workers 2 2>&1 >/dev/null)" = \
       "sluice serve: --workers needs a fixed --port"
# --workers 0 is one process, as without the option.
"$SLUICE" serve "$T/site" --port "$PORT" --workers 0 --quiet \
  > "$T/out" 2> "$T/err" &
PRIMARY=$!
PIDS+=("$PRIMARY")
wait_for 1 "^Serving " || true
check "--workers 0: one process serving" \
  bash -c "grep -q '^Serving $T/site at' '$T/out' && [ -z \"\$(pgrep -P $PRIMARY)\" ]"
n=$(requests 5)
check "--workers 0: requests succeed ($n/5)" test "$n" -eq 5
stop TERM
check "--workers 0: exits 0 on SIGTERM" test "$RC" -eq 0
done_tests
