#!/usr/bin/env bash
# sluice serve --workers 2: a cluster of static file servers on one
# SO_REUSEPORT port: per-worker startup lines, 20 curl requests, kill -9 of
# a worker (replaced), SIGTERM and SIGINT to the primary (exits 0, no
# process left).
. "$(dirname "$0")/lib.bash"
SLUICE="$SL_BUILD/sluice"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
worker_pids() { sed -n 's/^Worker \([0-9]*\) serving .*/\1/p' "$T/out"; }
wait_for() { # wait_for N PATTERN: N lines of PATTERN in the output
  for _ in $(seq 1 200); do
    [ "$(grep -c "$2" "$T/out" 2>/dev/null)" -ge "$1" ] && return 0
    sleep 0.05
  done
  return 1
}
alive() { [ -e "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }

mkdir -p "$T/site"
echo "hello from the cluster" > "$T/site/hello.txt"
PORT=$(free_port)
U="http://127.0.0.1:$PORT/hello.txt"
"$SLUICE" serve "$T/site" --port "$PORT" --workers 2 --quiet \
  > "$T/out" 2> "$T/err" &
PRIMARY=$!
PIDS+=("$PRIMARY")
check "two workers start" wait_for 2 "^Worker [0-9]* serving .* at http://127.0.0.1:$PORT/$"
for p in $(worker_pids); do PIDS+=("$p"); done
check "primary line" grep -q "^Primary $PRIMARY serving .* with 2 workers$" "$T/out"
check "workers are children of the primary" \
  test "$(pgrep -P "$PRIMARY" | sort | tr '\n' ' ')" = \
       "$(worker_pids | sort | tr '\n' ' ')"

okreq=0
for _ in $(seq 1 20); do
  [ "$(curl -sf "$U")" = "hello from the cluster" ] && okreq=$((okreq + 1))
done
check "20 of 20 requests succeed ($okreq)" test "$okreq" -eq 20

VICTIM=$(worker_pids | head -1)
kill -9 "$VICTIM"
check "a replacement starts" wait_for 3 "^Worker [0-9]* serving "
for p in $(worker_pids); do PIDS+=("$p"); done
check "the death is logged" grep -q "worker $VICTIM died, forking a new one" "$T/err"
okreq=0
for _ in $(seq 1 10); do
  [ "$(curl -sf "$U")" = "hello from the cluster" ] && okreq=$((okreq + 1))
done
check "requests succeed after the kill ($okreq/10)" test "$okreq" -eq 10
check "two live workers after the replacement" test "$(pgrep -P "$PRIMARY" | wc -l)" -eq 2

kill -TERM "$PRIMARY"
rc=0
for _ in $(seq 1 200); do kill -0 "$PRIMARY" 2>/dev/null || break; sleep 0.05; done
wait "$PRIMARY" || rc=$?
check "primary exits 0 on SIGTERM (rc $rc)" test "$rc" -eq 0
left=0
for p in $(worker_pids); do alive "$p" && left=1; done
check "no worker left behind" test "$left" -eq 0
# SIGINT to the primary: the same graceful exit.
: > "$T/out"
"$SLUICE" serve "$T/site" --port "$PORT" --workers 2 --quiet \
  > "$T/out" 2> "$T/err" &
PRIMARY=$!
PIDS+=("$PRIMARY")
check "two workers start again" wait_for 2 "^Worker [0-9]* serving "
for p in $(worker_pids); do PIDS+=("$p"); done
check "a request succeeds" test "$(curl -sf "$U")" = "hello from the cluster"
kill -INT "$PRIMARY"
rc=0
wait "$PRIMARY" || rc=$?
check "primary exits 0 on SIGINT (rc $rc)" test "$rc" -eq 0
left=0
for p in $(worker_pids); do alive "$p" && left=1; done
check "no worker left behind after SIGINT" test "$left" -eq 0
check "--workers without --port is refused" \
  test "$("$SLUICE" serve "$T/site" --port 0 --workers 2 2>&1 >/dev/null)" = \
       "sluice serve: --workers needs a fixed --port"
done_tests
