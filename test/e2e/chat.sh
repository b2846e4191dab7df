#!/usr/bin/env bash
# examples/chat on one host (issue 13): two workers and the logging child.
# Scripted clients (test/chat/client.py, python3-websockets) check that a
# room reaches every member on every worker once, in id order; history and
# resume by id; bad input; a worker killed mid-conversation (its clients
# come back with "since" and lose nothing); the logger killed (restarted,
# every message in the log once); a full backlog (senders told); a client
# that does not read (closed with 1008, the room not slowed); a restart
# that reads the history back from the log, a bad log line reported.
. "$(dirname "$0")/lib.bash"
PY=$(ws_python)
[ -n "$PY" ] || skip_all "python3-websockets is not installed (scripts/bootstrap installs it)"
C="$PY $SL_SRC/test/chat/client.py"
LOG=$T/chat.log

# children PID: the direct children of PID.
children() { cat /proc/"$1"/task/*/children 2>/dev/null | tr ' ' '\n' | grep .; }
# logger_of PID / workers_of PID: the primary's logging child / workers.
logger_of() { for c in $(children "$1"); do grep -qa -- --logger /proc/"$c"/cmdline && echo "$c"; done; true; }
workers_of() { for c in $(children "$1"); do grep -qa -- --logger /proc/"$c"/cmdline || echo "$c"; done; true; }
# log_ok N: the log has N messages, LSNs 1..N once each, (room, id) once each.
log_ok() {
  "$PY" - "$LOG" "$1" <<'PYEOF'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1]) if l.startswith('{"lsn"')]
n = int(sys.argv[2])
lsns = [l["lsn"] for l in lines]
keys = {(l["room"], l["id"]) for l in lines}
if lsns != list(range(1, n + 1)) or len(keys) != n:
    import collections
    dup = [k for k, v in collections.Counter(lsns).items() if v > 1]
    sys.exit("log: %d lines, lsns %s..%s (twice: %s), %d distinct ids; want %d"
             % (len(lines), lsns[:1], lsns[-1:], dup[:10], len(keys), n))
PYEOF
}

# The logger on its own: lines it already has (a resend after it died
# between its write and its ack) are skipped, and acknowledged.
for i in 1 2 3; do echo "{\"lsn\":$i,\"t\":\"msg\",\"room\":\"a\",\"id\":$i}"; done > "$T/own.log"
acks=$(for i in 2 3 4 5; do echo "{\"lsn\":$i,\"t\":\"msg\",\"room\":\"a\",\"id\":$i}"; done |
  "$EX/chat" --logger "$T/own.log")
check "the logger skips LSNs it has and acknowledges them ($acks)" \
  test "$(grep -o '"lsn":[0-9]*' "$T/own.log" | tr '\n' ' ')" = '"lsn":1 "lsn":2 "lsn":3 "lsn":4 "lsn":5 '
check "the logger acknowledges the last LSN of a batch" test "$(echo "$acks" | tail -1)" = "ack 5"

port=$(free_port)
start_url chat "$EX/chat" --port "$port" --workers 2 --log "$LOG"
wait_lines 1 listening "$T/chat.out" 100 || { cat "$T/chat.out" "$T/chat.err"; skip_all "chat did not start"; }
CHAT=$PID
URL=ws://127.0.0.1:$port/ws
check "the page is served" bash -c "curl -sf http://127.0.0.1:$port/ | grep -q 'new WebSocket'"
check "/ws without an upgrade is refused (426)" test "$(code "http://127.0.0.1:$port/ws")" = 426
check "other paths are 404" test "$(code "http://127.0.0.1:$port/nope")" = 404

out=$(timeout 60 $C talk "$URL" lobby 6 20 2>&1) && ok "6 clients x 20 messages: $out" || fail "talk: $out"
out=$(timeout 20 $C history "$URL" lobby 0 71 120 2>&1) && ok "$out (the last 50)" || fail "$out"
out=$(timeout 20 $C history "$URL" lobby 100 101 120 2>&1) && ok "$out" || fail "$out"
out=$(timeout 20 $C errors "$URL" 2>&1) && ok "$out" || fail "errors: $out"

# A worker killed mid-conversation: its clients come back, nothing lost.
$C talk "$URL" w 6 40 20 > "$T/talk-w.out" 2>&1 &
tp=$!
sleep 0.4
victim=$(workers_of "$CHAT" | sed -n 1p)
kill -9 "$victim"
if wait "$tp"; then ok "a worker killed mid-conversation: $(cat "$T/talk-w.out")"; else fail "worker kill: $(cat "$T/talk-w.out")"; fi
check "the primary says the worker died and replaces it" wait_lines 1 "worker $victim died" "$T/chat.out"
wait_lines 2 listening "$T/chat.out" 100 || true

# The logger killed mid-conversation: restarted, every message once in the log.
$C talk "$URL" l 4 40 10 > "$T/talk-l.out" 2>&1 &
tp=$!
sleep 0.3
kill -9 "$(logger_of "$CHAT")"
if wait "$tp"; then ok "the logger killed mid-conversation: $(cat "$T/talk-l.out")"; else fail "logger kill: $(cat "$T/talk-l.out")"; fi
check "the primary says the logger died and restarts it" wait_lines 1 "logger: exited (signal 9)" "$T/chat.out"
total=$((120 + 1 + 240 + 160))
for _ in $(seq 100); do log_ok "$total" 2>/dev/null && break; sleep 0.05; done
out=$(log_ok "$total" 2>&1) && ok "the log has all $total messages once each, LSNs in order" ||
  { fail "$out"; cp "$LOG" /tmp/chat-dup.log; grep logger "$T/chat.out"; }

if command -v chromium > /dev/null; then
  kill_workers="kill -9 $(workers_of "$CHAT" | tr '\n' ' ')"
  out=$(timeout 120 "$PY" "$SL_SRC/test/chat/pages.py" "http://127.0.0.1:$port" 5 "$kill_workers" 2>&1) &&
    ok "$out" || fail "chromium pages: $out"
  wait_lines 4 listening "$T/chat.out" 100 || true
else
  skip "chromium is not installed (scripts/bootstrap installs it)"
fi

out=$(timeout 30 $C slow "$URL" slow 2500 2>&1) && ok "$out" || fail "slow client: $out"

# A graceful stop, then a start that reads the log back.
stop "$CHAT"
check "SIGTERM: exit 0" test "$RC" = 0
check "SIGTERM: the log has every message" grep -q "stopped; the log has every message" "$T/chat.out"
echo 'not json' >> "$LOG"
n_before=$(grep -c '"lsn"' "$LOG")
start_url chat2 "$EX/chat" --port "$port" --workers 2 --log "$LOG"
wait_lines 1 listening "$T/chat2.out" 100 || true
check "a bad log line is reported with its file and line" grep -q "chat.log:$((n_before + 1)): not a chat message, skipped" "$T/chat2.out"
out=$(timeout 20 $C history "$URL" lobby 0 71 120 2>&1) && ok "after a restart, $out" || fail "restart: $out"
out=$(timeout 20 $C history "$URL" w 200 201 240 2>&1) && ok "after a restart, room w $out" || fail "restart: $out"
stop "$PID"

# A full backlog: the logger stopped, the sixth message is not accepted.
start_url chat3 "$EX/chat" --port "$port" --workers 1 --log "$T/b.log" --backlog 5
wait_lines 1 listening "$T/chat3.out" 100 || true
lp=$(logger_of "$PID")
kill -STOP "$lp"
out=$(timeout 20 $C backlog "$URL" b 8 2>&1)
check "a stopped logger: 5 accepted, 3 refused ($out)" test "$out" = "accepted 5 rejected 3"
kill -CONT "$lp"
sleep 0.3
out=$(timeout 20 $C backlog "$URL" b 2 2>&1)
check "the logger back: accepted again ($out)" test "$out" = "accepted 2 rejected 0"
stop "$PID"
check "no process left behind" bash -c "! ps -eo args | grep -q '^[^ ]*examples/chat --port $port'"
done_tests
