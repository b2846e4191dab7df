#!/usr/bin/env bash
# sluice serve against what an adversarial review found (issue 9): gzipped
# small files fetched again and again (a shared descriptor offset once made
# the second body empty), alone and in a cluster.
. "$(dirname "$0")/lib.bash"
SLUICE="$SL_BUILD/sluice"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$T"' EXIT

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# start NAME ARGS...: `sluice serve ARGS` in the background on a free port,
# waits until it answers; sets PID, PORT and U.
start() {
  local name=$1; shift
  PORT=$(free_port)
  "$SLUICE" serve "$@" --port "$PORT" > "$T/$name.out" 2> "$T/$name.err" &
  PID=$!
  PIDS+=("$PID")
  U="http://127.0.0.1:$PORT"
  for _ in $(seq 1 200); do
    curl -s -o /dev/null "$U/" && return 0
    sleep 0.05
  done
}
stop() { kill -TERM "$1"; set +e; wait "$1"; RC=$?; set -e; }

mkdir -p "$T/site"
for i in $(seq 1 300); do echo "line $i: the quick brown fox"; done > "$T/site/small.css"
SMALL=$(stat -c %s "$T/site/small.css")
[ "$SMALL" -gt 256 ] && [ "$SMALL" -lt 32768 ] || { echo "bad fixture size $SMALL"; exit 1; }

# fetches MODE: 10 sequential then 10 parallel --compressed fetches of the
# small file; prints how many decoded byte-identical.
fetches() {
  local n=0
  for i in $(seq 1 10); do
    curl -s --compressed -o "$T/seq$i" "$U/small.css"
  done
  for i in $(seq 1 10); do
    curl -s --compressed -o "$T/par$i" "$U/small.css" &
  done
  wait
  for f in "$T"/seq* "$T"/par*; do cmp -s "$f" "$T/site/small.css" && n=$((n + 1)); done
  rm -f "$T"/seq* "$T"/par*
  echo "$n"
}

start one "$T/site"
check "small gzip file: 20 fetches within a second all identical" \
  [ "$(fetches)" = 20 ]
check "small gzip file: it was gzipped" \
  bash -c "curl -s -D - -o /dev/null --compressed '$U/small.css' | grep -qi '^Content-Encoding: gzip'"
stop "$PID"

start cluster "$T/site" --workers 2 --quiet
check "cluster: 20 gzipped fetches all identical" [ "$(fetches)" = 20 ]
stop "$PID"
check "cluster: exits 0" [ "$RC" -eq 0 ]

done_tests
