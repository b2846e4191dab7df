#!/usr/bin/env bash
# The manual's streaming HTTP programs against curl: stream-video (2.6
# example 4: video/mp4, seekable with Range) and log-server (2.9 exercise
# 3: the log, gzipped when the client accepts it).
. "$(dirname "$0")/lib.bash"

# --- stream-video ----------------------------------------------------------
VIDEO="$SL_SRC/share/site/video.mp4"
VSIZE=$(stat -c %s "$VIDEO")
start_url video "$EX/stream-video" "$VIDEO" --port 0
check "stream-video: prints its URL" grep -q "^Streaming .*video.mp4 at http://127.0.0.1:$PORT/" "$T/video.out"
U="http://127.0.0.1:$PORT"
curl -s -D "$T/h" -o "$T/v" "$U/"
check "stream-video: the whole file" cmp -s "$T/v" "$VIDEO"
check "stream-video: Content-Type: video/mp4" grep -qi "^Content-Type: video/mp4" "$T/h"
check "stream-video: Accept-Ranges: bytes" grep -qi "^Accept-Ranges: bytes" "$T/h"
check "stream-video: Content-Length" grep -qi "^Content-Length: $VSIZE" "$T/h"
curl -s -r 0-99 -D "$T/h" -o "$T/v" "$U/"
check "stream-video -r 0-99: 206" grep -qi "^HTTP/1.1 206" "$T/h"
check "stream-video -r 0-99: Content-Range" grep -qi "^Content-Range: bytes 0-99/$VSIZE" "$T/h"
check "stream-video -r 0-99: the bytes" cmp -s "$T/v" <(head -c 100 "$VIDEO")
curl -s -r -100 -o "$T/v" "$U/"
check "stream-video -r -100: the last bytes" cmp -s "$T/v" <(tail -c 100 "$VIDEO")
curl -s -r 30000- -o "$T/v" "$U/"
check "stream-video -r 30000-: a seek" cmp -s "$T/v" <(tail -c +30001 "$VIDEO")
curl -s -r "$VSIZE-" -D "$T/h" -o /dev/null "$U/"
check "stream-video: unsatisfiable range: 416 bytes */SIZE" \
  bash -c "grep -qi '^HTTP/1.1 416' '$T/h' && grep -qi '^Content-Range: bytes \*/$VSIZE' '$T/h'"
curl -s -r 0-9,20-29 -D "$T/h" -o "$T/v" "$U/"
check "stream-video: several ranges: the whole file, 200 (as sluice serve)" \
  bash -c "grep -qi '^HTTP/1.1 200' '$T/h' && ! grep -qi '^Content-Range' '$T/h' && cmp -s '$T/v' '$VIDEO'"
curl -s -H 'Range: bytes=x-y' -D "$T/h" -o "$T/v" "$U/"
check "stream-video: a malformed range: the whole file, 200" \
  bash -c "grep -qi '^HTTP/1.1 200' '$T/h' && cmp -s '$T/v' '$VIDEO'"
# A viewer that goes away mid-file (here: reset while the bytes leave with
# sendfile) is no error of the server: nothing on stderr (it once said
# "EBADF ... read 'FILE'", libuv's name for POLLERR), and it keeps serving.
kill "$PID"
head -c 64000000 /dev/zero > "$T/big.mp4"
start_url big "$EX/stream-video" "$T/big.mp4" --port 0
python3 - "$PORT" <<'PY'
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
s.recv(4096)
s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
s.close()  # RST, with most of the file still to send
PY
curl -s -r 0-9 -o "$T/v" "http://127.0.0.1:$PORT/"
check "stream-video: serves on after a viewer reset mid-file" [ "$(stat -c %s "$T/v")" -eq 10 ]
sleep 0.2
check "stream-video: a viewer that left is not an error (stderr empty)" \
  bash -c "[ ! -s '$T/big.err' ]"
[ ! -s "$T/big.err" ] || sed "s/^/  stderr: /" "$T/big.err"
set +e; "$EX/stream-video" "$T/none.mp4" --port 0 >/dev/null 2>&1; rc=$?; set -e
check "stream-video: missing file exits 1" [ "$rc" -eq 1 ]
kill "$PID"

# --- log-server ---------------------------------------------------------------
LOG="$SL_SRC/share/site/access.log"
start_url log "$EX/log-server" "$LOG" --port 0
U="http://127.0.0.1:$PORT"
check "log-server: prints its URL" grep -q "at http://127.0.0.1:$PORT/" "$T/log.out"
curl -s -D "$T/h" -o "$T/l" "$U/"
check "log-server: plain log without Accept-Encoding" cmp -s "$T/l" "$LOG"
check "log-server: no Content-Encoding then" bash -c "! grep -qi '^Content-Encoding' '$T/h'"
check "log-server: Vary: Accept-Encoding" grep -qi "^Vary: Accept-Encoding" "$T/h"
curl -s --compressed -D "$T/h" -o "$T/l" "$U/"
check "log-server --compressed: Content-Encoding: gzip" grep -qi "^Content-Encoding: gzip" "$T/h"
check "log-server --compressed: decompresses to the log" cmp -s "$T/l" "$LOG"
curl -s -H 'Accept-Encoding: gzip' -o "$T/l.gz" "$U/"
check "log-server: raw body passes gzip -t and is smaller" \
  bash -c "gzip -t '$T/l.gz' && [ \$(stat -c %s '$T/l.gz') -lt \$(stat -c %s '$LOG') ]"
curl -s -H 'Accept-Encoding: gzip;q=0, identity' -D "$T/h" -o "$T/l" "$U/"
check "log-server: gzip;q=0 means plain" \
  bash -c "! grep -qi '^Content-Encoding' '$T/h' && cmp -s '$T/l' '$LOG'"
curl -s --compressed -o "$T/a" -o "$T/b" "$U/one" "$U/two"
check "log-server: two requests on one connection" \
  bash -c "cmp -s '$T/a' '$LOG' && cmp -s '$T/b' '$LOG'"
set +e; "$EX/log-server" >/dev/null 2>&1; rc=$?; set -e
check "log-server: usage exits 2" [ "$rc" -eq 2 ]
kill "$PID"
done_tests
