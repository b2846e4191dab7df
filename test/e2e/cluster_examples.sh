#!/usr/bin/env bash
# The manual's chapter 3 cluster programs with real clients (curl):
# cluster-cpu (3.8: the right sum from 2 workers, a killed worker replaced),
# cluster-distribution (exercise 1: 40 requests, the per-worker counts
# printed at shutdown match the per-request log lines; each scheduling),
# cluster-crash (exercise 2: GET /crash, the death is logged and a new pid
# answers), cluster-stats (exercise 3: reports from each worker within 2 s,
# the request counter grows). Each primary exits 0 on SIGTERM and leaves no
# process behind.
. "$(dirname "$0")/lib.bash"

dead() { ! alive "$1"; }
answers() { # answers LINE: GET / gets LINE (retried while refused)
  curl -sf --retry 20 --retry-connrefused --retry-delay 0 "$U/" |
    grep -qx "$1"
}
wait_for() { # wait_for N PATTERN FILE: N lines of PATTERN in FILE (10 s)
  for _ in $(seq 1 200); do
    [ "$(grep -c "$2" "$3" 2>/dev/null)" -ge "$1" ] && return 0
    sleep 0.05
  done
  return 1
}
accepting() { # a TCP connection (no request) within 10 s
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
    sleep 0.05
  done
  return 1
}
start() { # start PROGRAM ARGS...: runs it on a free port, output in $T/out
  PORT=$(free_port)
  U="http://127.0.0.1:$PORT"
  "$EX/$1" --port "$PORT" "${@:2}" > "$T/out" 2> "$T/err" &
  PRIMARY=$!
  PIDS+=("$PRIMARY")
}
children() { # NCHILD; records the primary's children for the last check
  local c
  c=$(pgrep -P "$PRIMARY" || true)
  NCHILD=0
  for p in $c; do SEEN+=("$p"); PIDS+=("$p"); NCHILD=$((NCHILD + 1)); done
}
wait_children() { # wait_children N: N children within 10 s
  for _ in $(seq 1 200); do
    children
    [ "$NCHILD" -eq "$1" ] && return 0
    sleep 0.05
  done
  return 1
}
stop() { # SIGTERM the primary: exits 0, no worker left
  local rc=0 left=0
  children
  kill -TERM "$PRIMARY"
  for _ in $(seq 1 200); do kill -0 "$PRIMARY" 2>/dev/null || break; sleep 0.05; done
  wait "$PRIMARY" || rc=$?
  check "$1: primary exits 0 on SIGTERM (rc $rc)" test "$rc" -eq 0
  for _ in $(seq 1 40); do
    left=0
    for p in "${SEEN[@]}"; do alive "$p" && left=1; done
    [ "$left" -eq 0 ] && break
    sleep 0.05
  done
  check "$1: no worker left behind" test "$left" -eq 0
  check "$1: nothing on stderr" test ! -s "$T/err"
}

# --- cluster-cpu (3.8) ------------------------------------------------------
SEEN=()
SUM=4999999950000000
start cluster-cpu --workers 2
check "cpu: two workers" wait_children 2
check "cpu: master line" grep -qx "Master $PRIMARY starting 2 workers" "$T/out"
ok=0
for _ in $(seq 1 100); do
  curl -sf "$U/" > "$T/body" 2>/dev/null && { ok=1; break; }
  sleep 0.1
done
check "cpu: a request is answered" test "$ok" -eq 1
check "cpu: the answer is the sum 0..1e8-1" \
  grep -qx "Worker [0-9]* computed: $SUM" "$T/body"
: > "$T/bodies"
CURLS=()
for i in 1 2 3 4; do curl -sf "$U/$i" > "$T/b$i" & CURLS+=("$!"); done
PIDS+=("${CURLS[@]}")
wait_curls=0
for c in "${CURLS[@]}"; do wait "$c" || wait_curls=1; done
for i in 1 2 3 4; do cat "$T/b$i"; echo; done >> "$T/bodies"
check "cpu: 4 concurrent requests all answered" test "$wait_curls" -eq 0
check "cpu: each concurrent answer is right" \
  test "$(grep -cx "Worker [0-9]* computed: $SUM" "$T/bodies")" -eq 4
pids_ok=1
for p in $(sed -n 's/^Worker \([0-9]*\) computed.*/\1/p' "$T/bodies" "$T/body"); do
  printf '%s\n' "${SEEN[@]}" | grep -qx "$p" || pids_ok=0
done
check "cpu: answering pids are the primary's workers" test "$pids_ok" -eq 1
VICTIM=$(pgrep -P "$PRIMARY" | head -1)
kill -9 "$VICTIM"
check "cpu: the crash is logged" \
  wait_for 1 "^Worker $VICTIM crashed\. Restarting\.\.\.$" "$T/out"
check "cpu: a replacement is forked" wait_children 2
check "cpu: the victim is not among them" \
  bash -c "! pgrep -P $PRIMARY | grep -qx $VICTIM"
check "cpu: still answering" \
  answers "Worker [0-9]* computed: $SUM"
stop cpu

# --- cluster-distribution (3.12 exercise 1) ---------------------------------
distribution() { # distribution SCHED
  SEEN=()
  start cluster-distribution --workers 2 --sched "$1"
  check "dist $1: two workers" wait_children 2
  check "dist $1: primary line" \
    grep -qx "Primary process $PRIMARY running ($1)" "$T/out"
  check "dist $1: the port accepts" accepting
  ok=0
  for i in $(seq 1 40); do curl -sf "$U/r$i" > /dev/null && ok=$((ok + 1)); done
  check "dist $1: 40 of 40 requests answered ($ok)" test "$ok" -eq 40
  stop "dist $1"
  grep '^worker [0-9]* pid [0-9]*: ' "$T/out" > "$T/dist" || true
  cat "$T/dist"
  check "dist $1: one request line per request" \
    test "$(grep -c '^worker [0-9]* pid [0-9]* GET /r[0-9]*$' "$T/out")" -eq 40
  check "dist $1: every URL logged once" \
    test "$(sed -n 's/^worker [0-9]* pid [0-9]* GET //p' "$T/out" |
            sort -u | wc -l)" -eq 40
  check "dist $1: the counts sum to 40" \
    test "$(awk '{s += $5} END {print s + 0}' "$T/dist")" -eq 40
  check "dist $1: the total line" grep -qx "total: 40 requests" "$T/out"
  check "dist $1: a line per worker" test "$(wc -l < "$T/dist")" -eq 2
  match=1
  while read -r _ id _ pid n _; do
    logged=$(grep -c "^worker $id pid ${pid%:} GET " "$T/out" || true)
    [ "$logged" -eq "$n" ] || match=0
    printf '%s\n' "${SEEN[@]}" | grep -qx "${pid%:}" || match=0
  done < "$T/dist"
  check "dist $1: each count matches that worker's log lines" test "$match" -eq 1
  pct=$(awk '{gsub(/[(%)]/, "", $7); s += $7} END {printf "%.0f", s}' "$T/dist")
  check "dist $1: percentages add up to 100 ($pct)" test "$pct" -eq 100
}
distribution reuseport
distribution shared
distribution rr
check "dist rr: both workers served" \
  test "$(awk '$5 > 0' "$T/dist" | wc -l)" -eq 2
rc=0
"$EX/cluster-distribution" --sched nosuch 2> /dev/null || rc=$?
check "dist: an unknown --sched is a usage error (rc $rc)" test "$rc" -eq 2

# --- cluster-crash (3.12 exercise 2) ----------------------------------------
SEEN=()
start cluster-crash --workers 1
check "crash: the worker starts" wait_for 1 "^Worker [0-9]* started$" "$T/out"
children
FIRST=$(sed -n 's/^Worker \([0-9]*\) started$/\1/p' "$T/out" | head -1)
check "crash: the first worker answers" \
  answers "Worker $FIRST handled the request"
check "crash: GET /crash answers before dying" \
  test "$(curl -sf "$U/crash")" = "crashing"
check "crash: the primary logs the death" \
  wait_for 1 "^Worker $FIRST died (crash), forking a replacement (restart 1)$" \
    "$T/out"
check "crash: a replacement starts" wait_for 2 "^Worker [0-9]* started$" "$T/out"
children
SECOND=$(sed -n 's/^Worker \([0-9]*\) started$/\1/p' "$T/out" | tail -1)
check "crash: the replacement has a new pid" test "$SECOND" != "$FIRST"
check "crash: the crashed worker is gone" dead "$FIRST"
check "crash: the replacement answers" \
  answers "Worker $SECOND handled the request"
check "crash: the replacement is the primary's child" \
  bash -c "pgrep -P $PRIMARY | grep -qx $SECOND"
stop crash
check "crash: the restart count is shown" \
  grep -qx "restarts: 1, crashes: 1" "$T/out"

# --- cluster-stats (3.12 exercise 3) ----------------------------------------
SEEN=()
start cluster-stats --workers 2 --interval-ms 200
RE='^worker [0-9]* pid [0-9]*: [0-9]* requests, rss [0-9]* KiB, up [0-9]* ms'
reporters() { grep "$RE" "$T/out" | awk '{print $4}' | sort -u | wc -l; }
ok=0
for _ in $(seq 1 40); do
  [ "$(reporters)" -ge 2 ] && { ok=1; break; }
  sleep 0.05
done
check "stats: reports from both workers within 2 s" test "$ok" -eq 1
children
pids_ok=1
for p in $(grep "$RE" "$T/out" | awk '{sub(":", "", $4); print $4}' | sort -u); do
  printf '%s\n' "${SEEN[@]}" | grep -qx "$p" || pids_ok=0
done
check "stats: the reporting pids are the workers" test "$pids_ok" -eq 1
check "stats: the port accepts" accepting
ok=0
for _ in $(seq 1 6); do curl -sf "$U/" > /dev/null && ok=$((ok + 1)); done
check "stats: 6 requests answered" test "$ok" -eq 6
latest_sum() { # the sum of each worker's latest request counter
  grep "$RE" "$T/out" | awk '{c[$4] = $5} END {for (p in c) s += c[p]; print s + 0}'
}
ok=0
for _ in $(seq 1 40); do
  [ "$(latest_sum)" -eq 6 ] && { ok=1; break; }
  sleep 0.05
done
check "stats: the counters grow to 6 ($(latest_sum))" test "$ok" -eq 1
stop stats
check "stats: the latest reports are kept" \
  test "$(awk '/^latest: / {s += $6} END {print s + 0}' "$T/out")" -eq 6
done_tests
