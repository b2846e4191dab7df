#!/usr/bin/env bash
# cluster-server (manual 3.4) with real clients: 2 workers on one port
# (each announced by the primary), 20 curl requests, kill -9 of a worker
# (replaced, the port keeps answering), SIGTERM to the primary during a slow
# request (the request still gets its answer, the primary exits 0, no
# process left); then --sched rr --timestamps: strict turns, and SIGHUP (a
# rolling restart under a curl loop: every request answered).
. "$(dirname "$0")/lib.bash"

worker_pids() { sed -n 's/^Worker \([0-9]*\) started$/\1/p' "$T/out"; }
wait_for() { # wait_for N PATTERN: N lines of PATTERN in the output
  for _ in $(seq 1 200); do
    [ "$(grep -c "$2" "$T/out" 2>/dev/null)" -ge "$1" ] && return 0
    sleep 0.05
  done
  return 1
}

PORT=$(free_port)
U="http://127.0.0.1:$PORT/"
"$EX/cluster-server" --port "$PORT" --workers 2 > "$T/out" 2> "$T/err" &
PRIMARY=$!
PIDS+=("$PRIMARY")
check "two workers start" wait_for 2 "^Worker [0-9]* started$"
for p in $(worker_pids); do PIDS+=("$p"); done
check "primary banner" grep -q "^Primary process $PRIMARY running$" "$T/out"
check "forking line" grep -q "^Forking 2 workers\.\.\.$" "$T/out"
check "the primary announces both listeners" \
  wait_for 2 "^Worker [0-9]* listening on port $PORT$"
for p in $(sed -n 's/^Worker \([0-9]*\) listening on port .*/\1/p' "$T/out"); do
  check "listening pid $p is one of the workers" grep -q "^Worker $p started$" "$T/out"
done
check "workers are children of the primary" \
  test "$(pgrep -P "$PRIMARY" | sort | tr '\n' ' ')" = \
       "$(worker_pids | sort | tr '\n' ' ')"

okreq=0
: > "$T/bodies"
for _ in $(seq 1 20); do
  if curl -sf "$U" >> "$T/bodies"; then okreq=$((okreq + 1)); fi
done
check "20 of 20 requests succeed ($okreq)" test "$okreq" -eq 20
check "every answer names a worker" \
  test "$(grep -c '^Worker [0-9]* handled the request$' "$T/bodies")" -eq 20
distinct=$(sort -u "$T/bodies" | wc -l)
echo "spread over workers: $(sort "$T/bodies" | uniq -c | awk '{print $1}' | tr '\n' ' ')"
check "answers come from >= 1 worker ($distinct distinct)" test "$distinct" -ge 1
for p in $(sed -n 's/^Worker \([0-9]*\) handled.*/\1/p' "$T/bodies" | sort -u); do
  check "answering pid $p is one of the workers" grep -q "^Worker $p started$" "$T/out"
done

VICTIM=$(worker_pids | head -1)
kill -9 "$VICTIM"
check "primary logs the death" \
  wait_for 1 "^Worker $VICTIM died (crash)\. Forking a new one\.\.\.$"
check "a replacement starts" wait_for 3 "^Worker [0-9]* started$"
for p in $(worker_pids); do PIDS+=("$p"); done
okreq=0
for _ in $(seq 1 10); do curl -sf "$U" > /dev/null && okreq=$((okreq + 1)); done
check "requests succeed after the kill ($okreq/10)" test "$okreq" -eq 10
check "two live workers after the replacement" test "$(pgrep -P "$PRIMARY" | wc -l)" -eq 2

curl -sf "${U}slow" > "$T/slow" 2>/dev/null &
CURL=$!
PIDS+=("$CURL")
sleep 0.2 # the request is in flight in a worker
kill -TERM "$PRIMARY"
rc=0
for _ in $(seq 1 200); do kill -0 "$PRIMARY" 2>/dev/null || break; sleep 0.05; done
wait "$PRIMARY" || rc=$?
check "primary exits 0 on SIGTERM (rc $rc)" test "$rc" -eq 0
left=0
for p in $(worker_pids); do
  if [ -e "/proc/$p" ] && ! grep -q '^State:.*Z' "/proc/$p/status" 2>/dev/null; then
    left=1
  fi
done
check "no worker left behind" test "$left" -eq 0
crc=0
wait "$CURL" || crc=$?
check "the in-flight request finishes during shutdown (curl rc $crc)" \
  grep -q '^Worker [0-9]* handled the request$' "$T/slow"
check "nothing on stderr" test ! -s "$T/err"
check "the workers' exits are logged" \
  test "$(grep -c '^Worker [0-9]* exited (shutdown)$' "$T/out")" -eq 2

# --sched rr --timestamps: every primary line is stamped; sequential
# requests alternate strictly; SIGHUP replaces both workers, no request
# fails.
TS='^\[[0-9][0-9]*\] '
"$EX/cluster-server" --port "$PORT" --workers 2 --sched rr --timestamps \
  > "$T/out" 2> "$T/err" &
PRIMARY=$!
PIDS+=("$PRIMARY")
check "rr: two workers listen" wait_for 2 "${TS}Worker [0-9]* listening on port $PORT$"
for p in $(worker_pids); do PIDS+=("$p"); done
check "rr: stamped banner" grep -q "${TS}Primary process $PRIMARY running$" "$T/out"
check "rr: stamped forking line" grep -q "${TS}Forking 2 workers\.\.\.$" "$T/out"
: > "$T/bodies"
for _ in $(seq 1 10); do curl -sf "$U" >> "$T/bodies" || true; done
echo "rr spread: $(sort "$T/bodies" | uniq -c | awk '{print $1}' | tr '\n' ' ')"
check "rr: 5 requests to each worker" \
  test "$(sort "$T/bodies" | uniq -c | awk '{print $1}' | tr '\n' ' ')" = "5 5 "
OLD=$(worker_pids | tr '\n' ' ')
( fails=0
  for _ in $(seq 1 2000); do
    curl -sf "$U" > /dev/null || fails=$((fails + 1))
    [ -e "$T/stop" ] && break
  done
  echo "$fails" > "$T/fails" ) &
LOOP=$!
PIDS+=("$LOOP")
sleep 0.2
kill -HUP "$PRIMARY"
check "SIGHUP: the rolling restart ends" wait_for 1 "${TS}Rolling restart done$"
touch "$T/stop"
wait "$LOOP" || true
check "SIGHUP: no request failed during the restart ($(cat "$T/fails"))" \
  test "$(cat "$T/fails")" -eq 0
for p in $(worker_pids); do PIDS+=("$p"); done
for p in $OLD; do
  check "SIGHUP: old worker $p retired" \
    grep -q "${TS}Worker $p exited (restart)$" "$T/out"
done
left=0
for p in $OLD; do alive "$p" && left=1; done
check "SIGHUP: the old workers are gone" test "$left" -eq 0
check "SIGHUP: two live workers" test "$(pgrep -P "$PRIMARY" | wc -l)" -eq 2
check "SIGHUP: the port answers" curl -sf -o /dev/null "$U"
kill -TERM "$PRIMARY"
rc=0
for _ in $(seq 1 200); do kill -0 "$PRIMARY" 2>/dev/null || break; sleep 0.05; done
wait "$PRIMARY" || rc=$?
check "rr: primary exits 0 on SIGTERM (rc $rc)" test "$rc" -eq 0
left=0
for p in $(worker_pids); do alive "$p" && left=1; done
check "rr: no worker left behind" test "$left" -eq 0
check "rr: nothing on stderr" test ! -s "$T/err"
done_tests
