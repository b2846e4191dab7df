#!/usr/bin/env bash
# sluice serve's operator flags (issue 10): --help lists each, --no-listing,
# --no-gzip, --index, --access-log PATH|-|off, --log-format
# combined|json|sluice, --trust-proxy, and a combined log of a few hundred
# varied requests that goaccess reads in its COMBINED format with no
# invalid line and the right total.
. "$(dirname "$0")/lib.bash"
SLUICE="$SL_BUILD/sluice"
# start NAME ARGS...: `sluice serve ARGS` on a free port, waits until it
# answers; sets PID, PORT and U.
start() {
  local name=$1; shift
  PORT=$(free_port)
  "$SLUICE" serve "$@" --port "$PORT" > "$T/$name.out" 2> "$T/$name.err" &
  PID=$!
  PIDS+=("$PID")
  U="http://127.0.0.1:$PORT"
  for _ in $(seq 1 200); do
    grep -q "^Serving " "$T/$name.out" 2>/dev/null && return 0
    sleep 0.05
  done
}

mkdir -p "$T/site/empty" "$T/site/home"
for i in $(seq 1 300); do echo "line $i of some text to compress"; done \
  > "$T/site/a.txt"
echo "<p>home</p>" > "$T/site/home/main.html"
echo "<p>index</p>" > "$T/site/home/index.html"

help=$("$SLUICE" serve --help)
# Every flag the parser knows (its tables in cli/sluice.c) is in --help,
# and every flag --help names is in sluice(1).
known=$(sed -n '/static const char\* const valued\[\]/,/};/p' "$SL_SRC/cli/sluice.c" |
        grep -o -- '"--[a-z-]*"' | tr -d '"')
known="$known --quiet --no-listing --no-gzip"
for f in $known; do
  check "--help lists $f" grep -q -- "$f" <<<"$help"
done
for f in $(grep -o -- '--[a-z][a-z-]*' <<<"$help" | sort -u); do
  check "sluice(1) documents $f" grep -q -- "^\\.B.*${f//-/\\\\-}" \
    "$SL_SRC/docs/man/sluice.1"
done

# --- static options ------------------------------------------------------
start plain "$T/site"
check "a directory without index is listed by default" \
  [ "$(code "$U/empty/")" = 200 ]
check "gzip by default" \
  bash -c "curl -s -D - -o /dev/null -H 'Accept-Encoding: gzip' '$U/a.txt' | grep -qi '^Content-Encoding: gzip'"
stop "$PID"
start opts "$T/site" --no-listing --no-gzip --index main.html
check "--no-listing: 404 for a directory without index" \
  [ "$(code "$U/empty/")" = 404 ]
check "--no-gzip: no Content-Encoding" \
  bash -c "! curl -s -D - -o /dev/null -H 'Accept-Encoding: gzip' '$U/a.txt' | grep -qi '^Content-Encoding'"
check "--index main.html: a directory serves it" \
  [ "$(curl -s "$U/home/")" = "<p>home</p>" ]
stop "$PID"

# --- log destinations and formats ---------------------------------------
start file "$T/site" --access-log "$T/access.log"
curl -s -o /dev/null "$U/a.txt?x=1"
stop "$PID"
check "--access-log PATH: the line is in the file" \
  grep -q '"GET /a.txt?x=1 HTTP/1.1" 200 ' "$T/access.log"
check "--access-log PATH: not on stderr" \
  bash -c "! grep -q 'GET /a.txt' '$T/file.err'"
start dash "$T/site" --access-log -
curl -s -o /dev/null "$U/a.txt"
stop "$PID"
check "--access-log -: on stderr" grep -q '"GET /a.txt HTTP/1.1" 200 ' "$T/dash.err"
start off "$T/site" --access-log off
curl -s -o /dev/null "$U/a.txt"
stop "$PID"
check "--access-log off: nothing logged" bash -c "! grep -q 'GET' '$T/off.err'"
start json "$T/site" --log-format json
curl -s -o /dev/null -A 'Agent "quoted"' "$U/a.txt"
stop "$PID"
check "--log-format json: one object with status and user agent" \
  python3 -c '
import json, sys
ls = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
assert len(ls) == 1 and ls[0]["status"] == 200, ls
assert ls[0]["user_agent"] == "Agent \"quoted\"", ls' "$T/json.err"
start old "$T/site" --log-format sluice
curl -s -o /dev/null "$U/a.txt"
stop "$PID"
check "--log-format sluice: client, request, status, bytes, duration" \
  grep -qE '^127\.0\.0\.1:[0-9]+ "GET /a.txt HTTP/1.1" 200 [0-9]+ [0-9.]+ms$' "$T/old.err"

# --- --trust-proxy --------------------------------------------------------
start trust "$T/site" --trust-proxy "10.0.0.0/8, 127.0.0.1"
curl -s -o /dev/null -H 'X-Forwarded-For: 203.0.113.7' "$U/a.txt"
stop "$PID"
check "--trust-proxy 127.0.0.1: the forwarded client is logged" \
  grep -q '^203\.0\.113\.7 - - ' "$T/trust.err"
start notrust "$T/site"
curl -s -o /dev/null -H 'X-Forwarded-For: 203.0.113.7' "$U/a.txt"
stop "$PID"
check "without --trust-proxy: the peer is logged" \
  bash -c "grep -q '^127\.0\.0\.1 - - ' '$T/notrust.err' && ! grep -q 203.0.113.7 '$T/notrust.err'"

# --- bad values -----------------------------------------------------------
bad() { # bad MESSAGE ARGS...: exit 2 and exactly MESSAGE on stderr
  local want=$1; shift
  set +e
  err=$("$SLUICE" serve "$T/site" --port 0 "$@" 2>&1 >/dev/null)
  rc=$?
  set -e
  check "bad $*: exit 2 and '$want' (rc $rc: $err)" \
    bash -c '[ "$1" -eq 2 ] && [ "$2" = "$3" ]' _ "$rc" "$err" "$want"
}
bad "sluice serve: invalid --log-format 'apache' (combined, json or sluice)" \
  --log-format apache
bad "sluice serve: invalid --trust-proxy '10.0.0.0/33' (comma-separated addresses or CIDRs, at most 32)" \
  --trust-proxy 10.0.0.0/33
bad "sluice serve: invalid --trust-proxy 'example.com' (comma-separated addresses or CIDRs, at most 32)" \
  --trust-proxy example.com
bad "sluice serve: invalid --index 'a/b' (a file name)" --index a/b
bad "sluice serve: invalid --access-log '' (a file, - or off)" --access-log ""
bad "sluice serve: --index needs a value" --index

# --- goaccess reads the combined log -------------------------------------
if command -v goaccess >/dev/null; then
  start go "$T/site" --access-log "$T/go.log"
  n=0
  for i in $(seq 1 60); do
    curl -s -o /dev/null "$U/a.txt"; n=$((n + 1))
    curl -s -o /dev/null -r 0-99 "$U/a.txt"; n=$((n + 1))
    curl -s -o /dev/null "$U/missing-$i.html"; n=$((n + 1))
    lm=$(curl -sI "$U/a.txt" | sed -n 's/^Last-Modified: \(.*\)\r$/\1/Ip')
    n=$((n + 1))
    curl -s -o /dev/null -H "If-Modified-Since: $lm" "$U/a.txt"; n=$((n + 1))
    curl -s -o /dev/null -e "http://ref.example/p?$i" \
      -A "Mozilla/5.0 (X11; Linux x86_64) test agent $i" \
      "$U/a.txt?q=%22quoted%22&i=$i"; n=$((n + 1))
    curl -s -o /dev/null --path-as-is "$U/a.txt?q=\"raw\"&i=$i"; n=$((n + 1))
  done
  stop "$PID"
  lines=$(wc -l < "$T/go.log")
  check "the log has one line per request ($lines of $n)" [ "$lines" -eq "$n" ]
  for st in 200 206 304 404; do
    check "the log has $st lines" grep -q "\" $st " "$T/go.log"
  done
  goaccess "$T/go.log" --log-format=COMBINED --no-global-config \
    -o "$T/report.json" > "$T/goaccess.out" 2>&1 || true
  read -r total failed < <(python3 -c '
import json, sys
g = json.load(open(sys.argv[1]))["general"]
print(g["total_requests"], g["failed_requests"])' "$T/report.json" 2>/dev/null || echo "- -")
  echo "goaccess: total_requests $total failed_requests $failed (log lines $lines)"
  check "goaccess COMBINED: zero invalid lines (failed_requests $failed)" \
    [ "$failed" = 0 ]
  check "goaccess COMBINED: total requests $total = $n" [ "$total" = "$n" ]
else
  fail "goaccess is not installed (scripts/bootstrap installs it)"
fi
done_tests
