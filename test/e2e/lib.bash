# Shared helpers for the end-to-end tests (sourced, not run). Each test runs
# built programs on real files in a scratch directory removed at exit.
set -euo pipefail
: "${SL_BUILD:?SL_BUILD must point at the build directory}"
EX="$SL_BUILD/examples"
T=$(mktemp -d /tmp/sluice-e2e.XXXXXX)
# Background processes a test started (it adds their PIDs): killed at exit,
# with the scratch directory removed.
PIDS=()
lib_exit() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap lib_exit EXIT
# A port free now on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
# start_url NAME CMD...: runs CMD in the background (output in
# $T/NAME.out and .err) and waits for the line with its URL; sets PID and
# PORT (empty when no URL came).
start_url() {
  local name=$1; shift
  "$@" > "$T/$name.out" 2> "$T/$name.err" &
  PID=$!
  PIDS+=("$PID")
  for _ in $(seq 1 200); do
    grep -q "http://" "$T/$name.out" 2>/dev/null && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.05
  done
  PORT=$(sed -n 's|.*http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$T/$name.out")
}
# stop PID: SIGTERM, then its exit status in RC.
stop() {
  kill -TERM "$1"
  set +e; wait "$1"; RC=$?; set -e
}
# code CURL-ARGS...: the HTTP status curl got.
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
# A running process (a zombie is gone).
alive() { [ -e "/proc/$1" ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
# wait_lines N PATTERN FILE [TRIES]: until FILE has N lines matching
# PATTERN, 50 ms a try (100 tries: 5 s); 1 when they never came.
wait_lines() {
  for _ in $(seq 1 "${4:-100}"); do
    [ "$(grep -c -- "$2" "$3" 2>/dev/null)" -ge "$1" ] && return 0
    sleep 0.05
  done
  return 1
}
# What cannot run here (a peer not installed, not root) is skipped, never
# passed: skip_all REASON ends the whole test with 77, which ctest shows as
# "Not Run (Skipped)"; skip REASON marks one part skipped and the test goes
# on, and a test whose every part skipped exits 77 too (done_tests). One
# that ran checks and skipped a part passes, with its "skip" lines printed.
fails=0
passes=0
skips=0
ok() { passes=$((passes + 1)); echo "ok   $*"; }
fail() { fails=$((fails + 1)); echo "FAIL $*"; }
skip() { skips=$((skips + 1)); echo "skip $*"; }
skip_all() { echo "SKIP: $*"; exit 77; }
check() { # check DESCRIPTION COMMAND...
  local d=$1; shift
  if "$@"; then ok "$d"; else fail "$d"; fi
}
# Deterministic random bytes: rand_file PATH MIB
rand_file() { head -c "$(( $2 * 1024 * 1024 ))" /dev/urandom > "$1"; }
done_tests() {
  echo "$passes passed, $fails failed, $skips skipped"
  [ "$fails" -eq 0 ] || exit 1
  [ "$passes" -eq 0 ] && [ "$skips" -gt 0 ] && exit 77
  exit 0
}
# Debian's python3 with python3-websockets (the strict peer of the
# WebSocket tests); empty when it is not installed.
ws_python() {
  local p
  for p in /usr/bin/python3 python3; do
    if "$p" -c 'import websockets' 2>/dev/null; then echo "$p"; return; fi
  done
}
# The npm package `ws` for the Node peers, installed once into the build
# directory (npm's registry is reachable here); prints its node_modules
# directory, or nothing when it cannot be had.
node_ws() {
  local dir="$SL_BUILD/npm"
  if [ ! -f "$dir/node_modules/ws/package.json" ]; then
    mkdir -p "$dir"
    npm install --silent --no-audit --no-fund --prefix "$dir" ws@8 \
      > "$dir/install.log" 2>&1 || true
  fi
  [ -f "$dir/node_modules/ws/package.json" ] && echo "$dir/node_modules"
}
