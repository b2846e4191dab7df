#!/usr/bin/env bash
# sluice serve --admin-port (issue 10): /metrics in Prometheus's text
# format 0.0.4 (promtool check metrics passes), per worker (requests by
# status class, bytes, open connections, RSS, event-loop lag, a
# request-duration histogram) alone and from a cluster's primary;
# /healthz 200 while alive; /readyz 200 while serving and 503 from the
# moment a shutdown begins, while a download still drains; bad values.
. "$(dirname "$0")/lib.bash"
SLUICE="$SL_BUILD/sluice"
code() { curl -s -o /dev/null -w '%{http_code}' -m 5 "$@"; }
# metric NAME{LABELS}: the value of that sample in $T/metrics
metric() { awk -v k="$1" '$1 == k {print $2}' "$T/metrics"; }
promcheck() { # promcheck NAME: promtool accepts $T/metrics, silently
  if ! command -v promtool >/dev/null; then
    fail "$1: promtool is missing (scripts/bootstrap installs prometheus)"
    return
  fi
  set +e
  out=$(promtool check metrics < "$T/metrics" 2>&1)
  rc=$?
  set -e
  echo "promtool check metrics ($1): rc $rc${out:+, $out}"
  check "$1: promtool check metrics passes (rc $rc)" \
    bash -c '[ "$1" -eq 0 ] && [ -z "$2" ]' _ "$rc" "$out"
}

mkdir -p "$T/site"
echo "small" > "$T/site/a.txt"
head -c $((40 * 1024 * 1024)) /dev/urandom > "$T/site/big.bin"

# --- one process -----------------------------------------------------------
PORT=$(free_port); APORT=$(free_port)
U="http://127.0.0.1:$PORT"; A="http://127.0.0.1:$APORT"
"$SLUICE" serve "$T/site" --port "$PORT" --admin-port "$APORT" --quiet \
  > "$T/out" 2> "$T/err" &
PID=$!
PIDS+=("$PID")
wait_lines 1 "^Serving " "$T/out" || true
check "single: /healthz 200" [ "$(code "$A/healthz")" = 200 ]
check "single: /readyz 200 while serving" [ "$(code "$A/readyz")" = 200 ]
check "single: another admin path is 404" [ "$(code "$A/other")" = 404 ]
for _ in 1 2 3; do curl -s -o /dev/null "$U/a.txt"; done
curl -s -o /dev/null -r 0-2 "$U/a.txt"
curl -s -o /dev/null "$U/missing"
lm=$(curl -sI "$U/a.txt" | sed -n 's/^Last-Modified: \(.*\)\r$/\1/Ip')
curl -s -o /dev/null -H "If-Modified-Since: $lm" "$U/a.txt"
curl -s -D "$T/mh" -o "$T/metrics" "$A/metrics"
L="worker=\"0\",pid=\"$PID\""
check "single: Content-Type text/plain; version=0.0.4" \
  grep -qi '^Content-Type: text/plain; version=0.0.4' "$T/mh"
check "single: 2xx: the 200s, the 206, the HEAD, not the admin port's" \
  [ "$(metric "sluice_http_responses_total{$L,class=\"2xx\"}")" = 5 ]
check "single: 3xx counts the 304" \
  [ "$(metric "sluice_http_responses_total{$L,class=\"3xx\"}")" = 1 ]
check "single: 4xx counts the 404" \
  [ "$(metric "sluice_http_responses_total{$L,class=\"4xx\"}")" = 1 ]
check "single: the histogram's count is every exchange (7)" \
  [ "$(metric "sluice_http_request_duration_seconds_count{$L}")" = 7 ]
check "single: its +Inf bucket equals its count" \
  [ "$(metric "sluice_http_request_duration_seconds_bucket{$L,le=\"+Inf\"}")" = 7 ]
check "single: bytes, RSS, connections and lag are there" bash -c "
  grep -q '^sluice_http_response_bytes_total{$L} [1-9]' '$T/metrics' &&
  grep -q '^sluice_resident_memory_bytes{$L} [1-9]' '$T/metrics' &&
  grep -q '^sluice_open_connections{$L} [0-9]' '$T/metrics' &&
  grep -q '^sluice_event_loop_lag_seconds{$L} [0-9.]*$' '$T/metrics'"
promcheck single
cp "$T/metrics" "$T/metrics.single"

# /readyz fails as soon as the shutdown begins, while a download drains.
rm -f "$T/dl"
curl -s -m 30 --limit-rate 10M -o "$T/dl" "$U/big.bin" &
CURL=$!
for _ in $(seq 1 100); do [ -s "$T/dl" ] && break; sleep 0.02; done
kill -TERM "$PID"
wait_lines 1 "SIGTERM, closing" "$T/err" || true
check "single: /readyz 503 once SIGTERM came" [ "$(code "$A/readyz")" = 503 ]
check "single: /healthz still 200 while it drains" [ "$(code "$A/healthz")" = 200 ]
wait "$CURL" || true
check "single: the download finished whole" cmp -s "$T/dl" "$T/site/big.bin"
set +e; wait "$PID"; rc=$?; set -e
check "single: then exit 0 (rc $rc)" [ "$rc" -eq 0 ]

# --- a cluster: the primary serves the admin port ------------------------
PORT=$(free_port); APORT=$(free_port)
U="http://127.0.0.1:$PORT"; A="http://127.0.0.1:$APORT"
"$SLUICE" serve "$T/site" --port "$PORT" --workers 2 --admin-port "$APORT" \
  --quiet > "$T/out" 2> "$T/err" &
PID=$!
PIDS+=("$PID")
wait_lines 2 "^Worker [0-9]* serving" "$T/out" || true
WORKERS=$(sed -n 's/^Worker \([0-9]*\) serving .*/\1/p' "$T/out")
for p in $WORKERS; do PIDS+=("$p"); done
check "cluster: /readyz 200 once serving" [ "$(code "$A/readyz")" = 200 ]
for _ in $(seq 1 20); do curl -s -o /dev/null "$U/a.txt"; done
for _ in $(seq 1 4); do curl -s -o /dev/null "$U/missing"; done
# The load reports come with the heartbeat (1 s): wait for all 24.
for _ in $(seq 1 60); do
  curl -s -o "$T/metrics" "$A/metrics"
  sum=$(awk '/^sluice_http_request_duration_seconds_count/ {s += $2} END {print s + 0}' "$T/metrics")
  [ "$sum" -ge 24 ] && break
  sleep 0.1
done
check "cluster: the workers' histograms count the 24 exchanges ($sum)" [ "$sum" -eq 24 ]
for p in $WORKERS; do
  check "cluster: a label set for worker pid $p" \
    grep -q "^sluice_http_requests_total{worker=\"[0-9]*\",pid=\"$p\"} " "$T/metrics"
done
check "cluster: 4xx over the workers is 4" [ "$(awk '/^sluice_http_responses_total.*class="4xx"/ {s += $2} END {print s}' "$T/metrics")" = 4 ]
check "cluster: sluice_workers 2" grep -qx 'sluice_workers 2' "$T/metrics"
check "cluster: restarts counted" grep -q '^sluice_worker_restarts_total 0$' "$T/metrics"
promcheck cluster
cp "$T/metrics" "$T/metrics.cluster"
rm -f "$T/dl"
curl -s -m 30 --limit-rate 10M -o "$T/dl" "$U/big.bin" &
CURL=$!
for _ in $(seq 1 100); do [ -s "$T/dl" ] && break; sleep 0.02; done
kill -TERM "$PID"
wait_lines 1 "SIGTERM, stopping the workers" "$T/err" || true
check "cluster: /readyz 503 once SIGTERM came" [ "$(code "$A/readyz")" = 503 ]
check "cluster: /healthz still 200 while it drains" [ "$(code "$A/healthz")" = 200 ]
wait "$CURL" || true
check "cluster: the download finished whole" cmp -s "$T/dl" "$T/site/big.bin"
set +e; wait "$PID"; rc=$?; set -e
check "cluster: then exit 0 (rc $rc)" [ "$rc" -eq 0 ]

# --- bad values ------------------------------------------------------------
bad() { # bad WANT-RC WANT-MESSAGE ARGS...
  local want_rc=$1 want=$2; shift 2
  set +e
  err=$("$SLUICE" serve "$T/site" "$@" 2>&1 >/dev/null)
  rc=$?
  set -e
  check "bad $*: exit $want_rc and '$want' (rc $rc: $err)" \
    bash -c '[ "$1" -eq "$2" ] && [ "$3" = "$4" ]' _ "$rc" "$want_rc" "$err" "$want"
}
bad 2 "sluice serve: invalid --admin-port 'abc' (a port, 1 to 65535)" --port 0 --admin-port abc
bad 2 "sluice serve: invalid --admin-port '0' (a port, 1 to 65535)" --port 0 --admin-port 0
bad 2 "sluice serve: --admin-port $PORT is the serving port" --port "$PORT" --admin-port "$PORT"
python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen()
time.sleep(30)' "$APORT" &
HOLD=$!
PIDS+=("$HOLD")
for _ in $(seq 1 100); do ss -ltn | grep -q "127.0.0.1:$APORT " && break; sleep 0.05; done
bad 1 "sluice serve: --admin-port: EADDRINUSE: address already in use 127.0.0.1:$APORT" --port 0 --admin-port "$APORT"
kill "$HOLD"
echo "--- /metrics, one process"
cat "$T/metrics.single"
done_tests
