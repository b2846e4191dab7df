#!/usr/bin/env bash
# sluice serve --user NAME (issue 10): as root, bind (a port below 1024
# too), then serve as `nobody`, alone and as a cluster whose workers run as
# nobody while the primary keeps root to bind for them; a world-readable
# file is served, a root-only one is not; an unknown user and a non-root
# caller are refused on the command line.
. "$(dirname "$0")/lib.bash"
SLUICE="$SL_BUILD/sluice"
if [ "$(id -u)" -ne 0 ] || ! id nobody >/dev/null 2>&1; then
  skip_all "needs root and a nobody account"
fi
NOBODY=$(id -u nobody)
NOGROUP=$(id -g nobody)
# A free port below 1024: only root may bind it.
PORT=$(python3 -c '
import socket
for p in range(990, 900, -1):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass
    finally:
        s.close()')
U="http://127.0.0.1:$PORT"
ids() { # ids PID: "uid gid groups" of PID, e.g. "65534 65534 65534"
  echo "$(awk '/^Uid:/ {print $2}' "/proc/$1/status")" \
       "$(awk '/^Gid:/ {print $2}' "/proc/$1/status")" \
       "$(sed -n 's/^Groups:[[:space:]]*//p' "/proc/$1/status" | xargs)"
}
all_ids() { # all_ids PID: real, effective, saved and fs uids agree
  awk '/^Uid:/ {print ($2 == $3 && $3 == $4 && $4 == $5)}' "/proc/$1/status"
}
code() { curl -s -o /dev/null -w '%{http_code}' -m 5 "$@"; }

mkdir -p "$T/site"
chmod 755 "$T" "$T/site"
echo "for everyone" > "$T/site/public.txt"
chmod 644 "$T/site/public.txt"
echo "for root" > "$T/site/private.txt"
chmod 600 "$T/site/private.txt"

# --- one process ----------------------------------------------------------
"$SLUICE" serve "$T/site" --port "$PORT" --user nobody --quiet \
  > "$T/out" 2> "$T/err" &
PID=$!
PIDS+=("$PID")
wait_lines 1 "^Serving " "$T/out" || true
check "single: serves on port $PORT (< 1024) as nobody" \
  [ "$(curl -s -m 5 "$U/public.txt")" = "for everyone" ]
check "single: uid, gid and groups are nobody's ($(ids "$PID"))" \
  [ "$(ids "$PID")" = "$NOBODY $NOGROUP $NOGROUP" ]
check "single: real, effective, saved and fs uid all dropped" \
  [ "$(all_ids "$PID")" = 1 ]
check "single: a root-only file is not served ($(code "$U/private.txt"))" \
  [ "$(code "$U/private.txt")" != 200 ]
kill -TERM "$PID"
set +e; wait "$PID"; rc=$?; set -e
check "single: SIGTERM, exit 0 (rc $rc)" [ "$rc" -eq 0 ]

# --- a cluster ------------------------------------------------------------
"$SLUICE" serve "$T/site" --port "$PORT" --workers 2 --user nobody --quiet \
  > "$T/out" 2> "$T/err" &
PID=$!
PIDS+=("$PID")
wait_lines 2 "^Worker [0-9]* serving" "$T/out" || true
WORKERS=$(sed -n 's/^Worker \([0-9]*\) serving .*/\1/p' "$T/out")
for p in $WORKERS; do PIDS+=("$p"); done
check "cluster: two workers" [ "$(echo "$WORKERS" | wc -w)" -eq 2 ]
for p in $WORKERS; do
  check "cluster: worker $p runs as nobody ($(ids "$p"))" \
    [ "$(ids "$p")" = "$NOBODY $NOGROUP $NOGROUP" ]
done
check "cluster: the primary keeps root to bind ($(ids "$PID"))" \
  [ "$(awk '/^Uid:/ {print $2}' "/proc/$PID/status")" = 0 ]
n=0
for _ in $(seq 1 10); do
  [ "$(curl -s -m 5 "$U/public.txt")" = "for everyone" ] && n=$((n + 1))
done
check "cluster: the world-readable file is served ($n/10)" [ "$n" -eq 10 ]
check "cluster: a root-only file is not" [ "$(code "$U/private.txt")" != 200 ]
# A rolling restart's new workers drop too.
kill -HUP "$PID"
wait_lines 1 "^Rolling restart done (2 workers)$" "$T/out" || true
NEW=$(sed -n 's/^Worker \([0-9]*\) serving .*/\1/p' "$T/out" | tail -2)
for p in $NEW; do PIDS+=("$p"); done
for p in $NEW; do
  check "cluster: restarted worker $p runs as nobody" \
    [ "$(ids "$p")" = "$NOBODY $NOGROUP $NOGROUP" ]
done
kill -TERM "$PID"
set +e; wait "$PID"; rc=$?; set -e
check "cluster: SIGTERM, exit 0 (rc $rc)" [ "$rc" -eq 0 ]

# --- refused on the command line -----------------------------------------
set +e
err=$("$SLUICE" serve "$T/site" --port 0 --user no-such-user 2>&1 >/dev/null)
rc=$?
set -e
check "unknown --user: exit 2 and a message naming it (rc $rc: $err)" \
  bash -c '[ "$1" -eq 2 ] && [ "$2" = "sluice serve: unknown --user '"'"'no-such-user'"'"'" ]' _ "$rc" "$err"
if command -v setpriv >/dev/null; then
  set +e
  err=$(setpriv --reuid=nobody --regid=nogroup --clear-groups \
        "$SLUICE" serve "$T/site" --port 0 --user root 2>&1 >/dev/null)
  rc=$?
  set -e
  check "--user root from nobody: exit 2, needs root (rc $rc: $err)" \
    bash -c '[ "$1" -eq 2 ] && [ "$2" = "sluice serve: --user root needs root (running as uid '"$NOBODY"')" ]' _ "$rc" "$err"
fi
done_tests
