#!/usr/bin/env bash
# sluice serve against what an adversarial review found (issue 9): gzipped
# small files fetched again and again (a shared descriptor offset once made
# the second body empty), alone and in a cluster; dotfiles; symlinks out of
# the root never opened; 412 preconditions; how a HEAD of a gzip-able file
# says the body is framed; Upgrade and CONNECT answered with a close.
. "$(dirname "$0")/lib.bash"
SLUICE="$SL_BUILD/sluice"

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

# --- dotfiles ----------------------------------------------------------------
mkdir -p "$T/site/.git" "$T/site/sub/.hidden" "$T/site/.well-known/acme-challenge"
echo "[core]" > "$T/site/.git/config"
echo "SECRET=1" > "$T/site/.env"
echo "x" > "$T/site/sub/.hidden/x.txt"
echo "token" > "$T/site/.well-known/acme-challenge/t"
start dots "$T/site"
check "dotfile .env: 404" [ "$(code "$U/.env")" = 404 ]
check "dot-directory .git/config: 404" [ "$(code "$U/.git/config")" = 404 ]
check "dot-directory deeper (sub/.hidden/x.txt): 404" [ "$(code "$U/sub/.hidden/x.txt")" = 404 ]
check "dot-directory .git/ listing: 404" [ "$(code "$U/.git/")" = 404 ]
check "encoded dot (%2egit/config): 404" [ "$(code --path-as-is "$U/%2egit/config")" = 404 ]
check "listing leaves dotfiles out" \
  bash -c "! curl -s '$U/' | grep -qE '\.env|\.git'"
check ".well-known is served" [ "$(curl -s "$U/.well-known/acme-challenge/t")" = token ]
stop "$PID"
start dots_allow "$T/site" --dotfiles allow
check "--dotfiles allow: .env served" [ "$(curl -s "$U/.env")" = "SECRET=1" ]
check "--dotfiles allow: listed" bash -c "curl -s '$U/' | grep -q '\.env'"
stop "$PID"
start dots_deny "$T/site" --dotfiles deny
check "--dotfiles deny: 403" [ "$(code "$U/.env")" = 403 ]
stop "$PID"

# --- symlinks out of the root are refused before their target is opened ---
mkdir -p "$T/outside"
echo "top secret" > "$T/outside/secret.txt"
mkfifo "$T/outside/fifo"
ln -s "$T/outside/secret.txt" "$T/site/leak.txt"
ln -s "$T/outside/fifo" "$T/site/fifo.txt"
ln -s /dev/zero "$T/site/zero.txt"
start links "$T/site"
# inotify says whether anything opened the targets while the requests ran.
opened=$(python3 - "$U" "$T/outside/secret.txt" "$T/outside/fifo" <<'PY'
import ctypes, os, struct, sys, urllib.request, urllib.error
libc = ctypes.CDLL(None, use_errno=True)
fd = libc.inotify_init1(os.O_NONBLOCK)
IN_OPEN = 0x20
for path in sys.argv[2:]:
    assert libc.inotify_add_watch(fd, path.encode(), IN_OPEN) >= 0
codes = []
for name in ("leak.txt", "fifo.txt", "zero.txt"):
    try:
        codes.append(urllib.request.urlopen(sys.argv[1] + "/" + name, timeout=5).status)
    except urllib.error.HTTPError as e:
        codes.append(e.code)
try:
    events = len(os.read(fd, 4096)) // 16
except BlockingIOError:
    events = 0
print(" ".join(map(str, codes)), "opens=%d" % events)
PY
)
check "symlinks out of the root (file, FIFO, /dev/zero): 403 each" \
  grep -q "^403 403 403 " <<<"$opened"
check "their targets were never opened (inotify saw no open)" \
  grep -q "opens=0$" <<<"$opened"
ln -s "small.css" "$T/site/alias.css"
check "a symlink inside the root still works" [ "$(code "$U/alias.css")" = 200 ]
ln -s "$T/site/small.css" "$T/site/abs.css"
check "an absolute symlink that stays inside works" \
  bash -c "curl -s '$U/abs.css' | cmp -s - '$T/site/small.css'"

# --- preconditions: 412 ---------------------------------------------------------
etag=$(curl -sI "$U/small.css" | sed -n 's/^ETag: \(.*\)\r$/\1/Ip')
lm=$(curl -sI "$U/small.css" | sed -n 's/^Last-Modified: \(.*\)\r$/\1/Ip')
check "If-Match: another tag: 412" [ "$(code -H 'If-Match: "nope"' "$U/small.css")" = 412 ]
check "If-Match: its own tag: 200" [ "$(code -H "If-Match: $etag" "$U/small.css")" = 200 ]
check "If-Match: *: 200" [ "$(code -H 'If-Match: *' "$U/small.css")" = 200 ]
check "If-Unmodified-Since before the file: 412" \
  [ "$(code -H 'If-Unmodified-Since: Thu, 01 Jan 1998 00:00:00 GMT' "$U/small.css")" = 412 ]
check "If-Unmodified-Since its Last-Modified: 200" \
  [ "$(code -H "If-Unmodified-Since: $lm" "$U/small.css")" = 200 ]

# --- HEAD of a gzip-able file says how the GET is framed -------------------
curl -s -I -H 'Accept-Encoding: gzip' "$U/small.css" > "$T/hh"
curl -s -D "$T/gh" -o /dev/null -H 'Accept-Encoding: gzip' "$U/small.css"
check "HEAD with gzip: Content-Encoding and Transfer-Encoding: chunked" \
  bash -c "grep -qi '^Content-Encoding: gzip' '$T/hh' && grep -qi '^Transfer-Encoding: chunked' '$T/hh'"
check "HEAD with gzip: no Content-Length (the GET has none either)" \
  bash -c "! grep -qi '^Content-Length' '$T/hh' && ! grep -qi '^Content-Length' '$T/gh' && grep -qi '^Transfer-Encoding: chunked' '$T/gh'"

check "HEAD with gzip sends no body, not even a last chunk (keep-alive goes on)" \
  python3 - "$PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1]))); s.settimeout(5)
s.sendall(b"HEAD /small.css HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n\r\n"
          b"GET /small.css HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
out = b""
while True:
    d = s.recv(65536)
    if not d: break
    out += d
first, rest = out.split(b"\r\n\r\n", 1)
assert rest.startswith(b"HTTP/1.1 200 "), rest[:40]
PY

# --- Upgrade and CONNECT: answered, then closed, and the answer says so ----
check "Upgrade and CONNECT answers carry Connection: close and close" \
  python3 - "$PORT" <<'PY'
import socket, sys
port = int(sys.argv[1])
reqs = [b"GET /small.css HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
        b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"]
for r in reqs:
    s = socket.create_connection(("127.0.0.1", port)); s.settimeout(5)
    s.sendall(r); out = b""
    while True:
        d = s.recv(65536)
        if not d: break
        out += d
    head = out.split(b"\r\n\r\n")[0].lower()
    assert b"connection: close" in head, head
sys.exit(0)
PY
stop "$PID"

done_tests
