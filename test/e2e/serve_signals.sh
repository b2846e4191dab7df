#!/usr/bin/env bash
# sluice serve and the signals an operator sends (issue 10), in one process
# and as a cluster: SIGHUP, SIGUSR1, SIGUSR2 and SIGPIPE do not kill it;
# logrotate's way (rename the log, SIGUSR1) puts the next lines in a new
# file, in both modes (the primary passes SIGUSR1 to its workers); SIGHUP
# in one process reopens the log and makes the file server afresh (DIR, a
# symlink, is resolved again); SIGUSR2 prints the stats.
. "$(dirname "$0")/lib.bash"
SLUICE="$SL_BUILD/sluice"
get() { curl -s -m 5 "$U/$1"; }
# start ARGS...: `sluice serve` on a free port; waits for its banner.
start() {
  PORT=$(free_port)
  U="http://127.0.0.1:$PORT"
  : > "$T/out"
  : > "$T/err"
  "$SLUICE" serve "$@" --port "$PORT" > "$T/out" 2> "$T/err" &
  PID=$!
  PIDS+=("$PID")
  wait_lines 1 "serving\|Serving" "$T/out" || true
}

mkdir -p "$T/v1" "$T/v2"
echo "release one" > "$T/v1/who.txt"
echo "release two" > "$T/v2/who.txt"
ln -s v1 "$T/current"

# --- one process -----------------------------------------------------------
start "$T/current" --access-log "$T/access.log"
for sig in HUP USR1 USR2 PIPE; do
  kill "-$sig" "$PID"
  sleep 0.2
  check "single: alive after SIG$sig" alive "$PID"
  check "single: serves after SIG$sig" [ "$(get who.txt)" = "release one" ]
done
check "single: SIGUSR2 prints the stats on stdout" \
  grep -qE '^requests [0-9]+ in flight [0-9]+ peak rss [0-9.]+$' "$T/out"
check "single: SIGHUP says it reloaded" \
  grep -q '^sluice serve: SIGHUP, reloaded (log files reopened, open-file cache dropped)$' "$T/err"

# logrotate: rename, a line still lands in the renamed file, SIGUSR1,
# the next line in a new file of the old name.
mv "$T/access.log" "$T/access.log.1"
get who.txt?before > /dev/null
n=$(grep -c 'sluice serve: SIGUSR1, log files reopened' "$T/err" || true)
kill -USR1 "$PID"
wait_lines $((n + 1)) 'sluice serve: SIGUSR1, log files reopened' "$T/err" || true
get who.txt?after > /dev/null
wait_lines 1 'GET /who.txt?after ' "$T/access.log" || true
check "single: before SIGUSR1 the line goes to the renamed file" \
  grep -q 'GET /who.txt?before ' "$T/access.log.1"
check "single: after SIGUSR1 the line is in a new access.log" \
  grep -q 'GET /who.txt?after ' "$T/access.log"
check "single: and not in the renamed one" \
  bash -c "! grep -q 'who.txt?after' '$T/access.log.1'"

# SIGHUP: a new release behind the symlink, the log renamed again.
ln -sfn v2 "$T/current"
mv "$T/access.log" "$T/access.log.2"
check "single: before SIGHUP DIR is the one resolved at start" \
  [ "$(get who.txt)" = "release one" ]
kill -HUP "$PID"
wait_lines 2 '^sluice serve: SIGHUP, reloaded' "$T/err" || true
check "single: after SIGHUP the symlink is followed again" \
  [ "$(get who.txt?hup)" = "release two" ]
wait_lines 1 'GET /who.txt?hup ' "$T/access.log" || true
check "single: after SIGHUP the log is a new file" \
  grep -q 'GET /who.txt?hup ' "$T/access.log"
kill -TERM "$PID"
set +e; wait "$PID"; rc=$?; set -e
check "single: SIGTERM still closes it gracefully, exit 0 (rc $rc)" [ "$rc" -eq 0 ]

# --- a cluster -------------------------------------------------------------
ln -sfn v1 "$T/current"
rm -f "$T"/access.log*
start "$T/current" --workers 2 --access-log "$T/access.log"
wait_lines 2 '^Worker [0-9]* serving' "$T/out" || true
WORKERS=$(sed -n 's/^Worker \([0-9]*\) serving .*/\1/p' "$T/out")
for p in $WORKERS; do PIDS+=("$p"); done
for sig in USR1 USR2 PIPE; do
  kill "-$sig" "$PID"
  sleep 0.2
  check "cluster: primary alive after SIG$sig" alive "$PID"
  for p in $WORKERS; do
    check "cluster: worker $p alive after SIG$sig" alive "$p"
  done
  check "cluster: serves after SIG$sig" [ "$(get who.txt)" = "release one" ]
done
check "cluster: SIGUSR2 prints one stats line per worker" \
  [ "$(grep -cE '^worker [0-9]+ pid [0-9]+ ' "$T/out")" -eq 2 ]
check "cluster: SIGUSR1 no longer prints stats" \
  bash -c "[ \$(grep -c '^cluster workers' '$T/out') -eq 1 ]"
for p in $WORKERS; do
  kill -USR2 "$p"
done
sleep 0.2
for p in $WORKERS; do
  check "cluster: worker $p alive after its own SIGUSR2" alive "$p"
done

mv "$T/access.log" "$T/access.log.1"
n=$(grep -c ': log files reopened' "$T/err" || true)
kill -USR1 "$PID"
check "cluster: both workers reopen their log files" \
  wait_lines $((n + 2)) ': log files reopened' "$T/err"
for i in $(seq 1 20); do get "who.txt?after=$i" > /dev/null; done
wait_lines 20 'GET /who.txt?after=' "$T/access.log" || true
check "cluster: after SIGUSR1 all 20 new lines are in a new access.log" \
  [ "$(grep -c 'GET /who.txt?after=' "$T/access.log" 2>/dev/null)" -eq 20 ]
check "cluster: none in the renamed file" \
  bash -c "! grep -q 'who.txt?after' '$T/access.log.1'"
kill -TERM "$PID"
set +e; wait "$PID"; rc=$?; set -e
check "cluster: SIGTERM, exit 0 (rc $rc)" [ "$rc" -eq 0 ]
for p in $WORKERS; do
  check "cluster: worker $p gone" bash -c "! [ -e /proc/$p ] || grep -q '^State:.*Z' /proc/$p/status"
done
done_tests
