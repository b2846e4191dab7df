#!/usr/bin/env bash
# How cluster-server spreads connections over 4 workers (issue 5): 10,000
# Connection: close requests from 8 clients (tools/hammer --tally counts the
# bodies, which name the worker). --sched rr hands connections out strictly
# in turn, so each worker gets 25% +- 2 points; reuseport and shared leave it
# to the kernel, so their spread is only printed (every request must
# succeed).
. "$(dirname "$0")/lib.bash"
HAMMER="$SL_BUILD/tools/hammer"

N=10000
wait_for() { # wait_for N PATTERN: N lines of PATTERN in $OUT
  for _ in $(seq 1 200); do
    [ "$(grep -c "$2" "$OUT" 2>/dev/null)" -ge "$1" ] && return 0
    sleep 0.05
  done
  return 1
}
worker_pids() {
  sed -n "s/^Worker \([0-9]*\) listening on port $PORT\$/\1/p" "$OUT"
}
field() { # a count from hammer's summary line (0 when there is none)
  local v
  v=$(grep '^ok=' "$2" | tail -1 | tr ' ' '\n' | sed -n "s/^$1=//p")
  echo "${v:-0}"
}

# distribution SCHED: 4 workers, N requests; leaves the tally in $T/SCHED.
distribution() {
  local s=$1
  PORT=$(free_port)
  OUT="$T/$s.out"
  "$EX/cluster-server" --port "$PORT" --workers 4 --sched "$s" \
    > "$OUT" 2> "$T/$s.err" &
  local primary=$!
  PIDS+=("$primary")
  local up=0
  wait_for 4 "^Worker [0-9]* listening on port $PORT\$" && up=1
  for p in $(worker_pids); do PIDS+=("$p"); done
  check "$s: 4 workers listening" test "$up" -eq 1
  if [ "$up" -eq 1 ]; then
    "$HAMMER" --url "http://127.0.0.1:$PORT/" --close --requests "$N" -c 8 \
      --tally > "$T/$s" 2>&1 || true
    echo "   $s: $(grep -E '^(stats|ok=)' "$T/$s" | tr '\n' ' ')"
    echo "   $s: requests per worker (% of $N):"
    awk -v n="$N" '/^tally / { printf "     %6d %5.2f%%  %s %s\n", $2,
                   100 * $2 / n, $3, $4 }' "$T/$s"
    check "$s: all $N requests ok ($(field ok "$T/$s"))" \
      test "$(field ok "$T/$s")" -eq "$N"
    check "$s: every answer comes from one of the 4 workers" \
      answers_from_workers "$s"
  else
    cat "$OUT" "$T/$s.err"
  fi
  kill -TERM "$primary" 2>/dev/null || true
  local rc=0
  wait "$primary" || rc=$?
  check "$s: primary exits 0 on SIGTERM (rc $rc)" test "$rc" -eq 0
  local left=""
  for p in $(worker_pids); do alive "$p" && left="$left $p"; done
  check "$s: no worker left ($left)" test -z "$left"
  check "$s: nothing on stderr" test ! -s "$T/$s.err"
}
answers_from_workers() {
  local pids
  pids=" $(worker_pids | tr '\n' ' ')"
  local answered
  answered=$(sed -n 's/^tally [0-9]* Worker \([0-9]*\) handled.*/\1/p' "$T/$1")
  for p in $answered; do
    [ "${pids/ $p /}" != "$pids" ] || return 1
  done
  [ "$(grep -c '^tally ' "$T/$1")" -eq \
    "$(grep -c '^tally [0-9]* Worker [0-9]* handled the request$' "$T/$1")" ]
}
# within_2_points SCHED: 4 workers each got 25% +- 2 points of N.
within_2_points() {
  [ "$(grep -c '^tally ' "$T/$1")" -eq 4 ] &&
    awk -v n="$N" '/^tally / { p = 100 * $2 / n; if (p < 23 || p > 27) bad = 1 }
                   END { exit bad }' "$T/$1"
}

distribution rr
check "rr: each of the 4 workers got 25% +- 2 points" within_2_points rr
distribution reuseport
distribution shared
done_tests
