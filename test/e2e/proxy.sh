#!/usr/bin/env bash
# proxy (manual 2.2): 256 MiB streamed through the proxy both ways, from a
# Node.js server (and from nginx when installed) to curl, byte-identical,
# with the proxy's peak RSS (VmHWM) bounded; keep-alive through the proxy;
# requests the server refuses (RFC 9112) are refused at the proxy and never
# reach the target, and a response with header lines the client refuses is
# a 502, its headers not passed on; 502 when the target is down.
. "$(dirname "$0")/lib.bash"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT

# Waits for FILE's first line and prints the first port in it: a bare
# number (node) or "http://127.0.0.1:PORT" (the proxy).
port_of() {
  for _ in $(seq 100); do
    if [ -s "$1" ]; then
      head -1 "$1" | sed -E 's|^[^0-9]*127\.0\.0\.1:||; s|^([0-9]+).*|\1|'
      return
    fi
    sleep 0.05
  done
  echo 0
}

MIB=256
# Under ASan, freed chunks wait in a 256 MiB quarantine that would count as
# resident memory; a small one keeps VmHWM about the program (no effect on
# a normal build).
QUARANTINE=quarantine_size_mb=4:thread_local_quarantine_size_kb=256
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}$QUARANTINE"
rand_file "$T/big.bin" "$MIB"
SIZE=$(stat -c %s "$T/big.bin")

# The target: Node's http module serving the file and hashing uploads.
cat > "$T/target.js" <<'EOF'
const http = require('http'), fs = require('fs'), crypto = require('crypto');
const file = process.argv[2], seen = process.argv[3];
const s = http.createServer((req, res) => {
  fs.appendFileSync(seen, req.method + ' ' + req.url + '\n');
  if (req.url === '/big.bin') {
    res.setHeader('Content-Length', fs.statSync(file).size);
    fs.createReadStream(file).pipe(res);
  } else if (req.url === '/upload') {
    const h = crypto.createHash('sha256'); let n = 0;
    req.on('data', (d) => { h.update(d); n += d.length; });
    req.on('end', () => res.end(n + ' ' + h.digest('hex') + '\n'));
  } else if (req.url.startsWith('/conn')) {
    res.end(String(req.socket.remotePort) + '\n');
  } else { res.statusCode = 404; res.end('no\n'); }
});
s.listen(0, '127.0.0.1', () => console.log(s.address().port));
EOF
node "$T/target.js" "$T/big.bin" "$T/seen" > "$T/node.port" & pids+=($!)
NODE_PORT=$(port_of "$T/node.port")
check "node target listening" [ "$NODE_PORT" -gt 0 ]

"$EX/proxy" --port 0 --target "http://127.0.0.1:$NODE_PORT" \
  > "$T/proxy.out" 2> "$T/proxy.err" & PROXY=$!; pids+=($PROXY)
P=$(port_of "$T/proxy.out" | head -1)
check "proxy prints where it listens" \
  grep -q "^Proxy listening on http://127.0.0.1:$P -> http://127.0.0.1:$NODE_PORT$" "$T/proxy.out"

# Download: node -> proxy -> curl.
start=$(date +%s%N)
curl -sS -o "$T/down.bin" "http://127.0.0.1:$P/big.bin"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "256 MiB download through the proxy is byte-identical" \
  cmp -s "$T/big.bin" "$T/down.bin"
rate() { echo "$(( MIB * 1000 / ($1 > 0 ? $1 : 1) ))"; }
echo "     download: $MIB MiB in $ms ms ($(rate "$ms") MiB/s)"
rm -f "$T/down.bin"

# Upload: curl -> proxy -> node (chunked both hops; node hashes it).
want="$SIZE $(sha256sum "$T/big.bin" | cut -d' ' -f1)"
start=$(date +%s%N)
got=$(curl -sS -H 'Transfer-Encoding: chunked' --data-binary @"$T/big.bin" \
  "http://127.0.0.1:$P/upload")
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "256 MiB chunked upload through the proxy arrives intact" \
  [ "$got" = "$want" ]
echo "     upload: $MIB MiB in $ms ms ($(rate "$ms") MiB/s)"
got=$(curl -sS --data-binary @"$T/big.bin" "http://127.0.0.1:$P/upload")
check "256 MiB Content-Length upload through the proxy arrives intact" \
  [ "$got" = "$want" ]

# Keep-alive: two requests on one client connection reuse one target socket.
curl -sS "http://127.0.0.1:$P/conn1" "http://127.0.0.1:$P/conn2" > "$T/conns"
check "the proxy reuses its socket to the target" \
  [ "$(sort -u "$T/conns" | wc -l)" -eq 1 ]
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$P/nothing")
check "status codes pass through (404)" [ "$code" = 404 ]

# Requests the server refuses are refused at the proxy (status line, then
# the connection closes) and never reach the target.
cat > "$T/raw.py" <<'EOF'
import socket, sys
port = int(sys.argv[1])
bad = [
    b"GET /bad1 HTTP/1.1\r\nHost: x\r\nFoo Bar: y\r\n\r\n",
    b"GET /bad2 HTTP/1.1\r\nHost: x\r\n: y\r\n\r\n",
    b"GET /bad3 HTTP/1.1\r\nHost: x\r\nX-A:\r\n folded\r\n\r\n",
    b"GET /bad4 HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tfolded\r\n\r\n",
    b"GET /bad5\tx HTTP/1.1\r\nHost: x\r\n\r\n",
    b"GET /bad6 HTTP/1.1\r\n\r\n",
    b"GET /bad7 HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
    b"GET /bad8 HTTP/1.1\r\nHost: a b\r\n\r\n",
    b"GET /bad9 HTTP/2.0\r\nHost: x\r\n\r\n",
]
for req in bad:
    s = socket.create_connection(("127.0.0.1", port))
    s.settimeout(2)
    s.sendall(req)
    out, state = b"", "closed"
    try:
        while True:
            k = s.recv(65536)
            if not k:
                break
            out += k
    except socket.timeout:
        state = "still open"
    s.close()
    print(out.split(b"\r\n")[0].decode("latin1"), state)
EOF
python3 "$T/raw.py" "$P" > "$T/raw.out"
check "malformed requests are refused at the proxy (400) and closed" \
  [ "$(grep -c '^HTTP/1.1 400 Bad Request closed$' "$T/raw.out")" = 8 ]
check "HTTP/2.0 is refused at the proxy (505) and closed" \
  grep -q '^HTTP/1.1 505 HTTP Version Not Supported closed$' "$T/raw.out"
curl -sS -o /dev/null "http://127.0.0.1:$P/after-bad"
check "... and none of them reaches the target" \
  bash -c "grep -q '^GET /after-bad$' '$T/seen' && ! grep -q /bad '$T/seen'"

# A target whose responses have header lines the client parser refuses (a
# fold, an empty name): the proxy answers 502 and passes none of them on.
cat > "$T/badtarget.py" <<'EOF'
import socket
replies = [
    b"HTTP/1.1 200 OK\r\nX-Folded:\r\n folded\r\nContent-Length: 2\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nX-Before: 1\r\n: empty\r\nContent-Length: 2\r\n\r\nok",
]
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(8)
print(ls.getsockname()[1], flush=True)
n = 0
while True:
    c, _ = ls.accept()
    head = b""
    while b"\r\n\r\n" not in head:
        k = c.recv(65536)
        if not k:
            break
        head += k
    c.sendall(replies[n % len(replies)])
    n += 1
    c.close()
EOF
python3 "$T/badtarget.py" > "$T/bad.port" & pids+=($!)
BAD_PORT=$(port_of "$T/bad.port")
"$EX/proxy" --port 0 --target "http://127.0.0.1:$BAD_PORT" \
  > "$T/proxy3.out" 2> "$T/proxy3.err" & pids+=($!)
P3=$(port_of "$T/proxy3.out" | head -1)
for i in 1 2; do
  code=$(curl -s -D "$T/h$i" -o /dev/null -w '%{http_code}' \
    "http://127.0.0.1:$P3/r$i")
  check "a response with a refused header line ($i): 502" [ "$code" = 502 ]
  check "... none of its headers passed on ($i)" \
    bash -c "! grep -qi -E '^(x-folded|x-before|:)' '$T/h$i'"
done

# nginx as the target, when installed.
if command -v nginx >/dev/null; then
  mkdir -p "$T/nginx/logs" "$T/nginx/tmp"
  NGINX_PORT=$(python3 -c 'import socket; s = socket.socket()
s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cat > "$T/nginx/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
pid $T/nginx/nginx.pid;
error_log $T/nginx/logs/error.log;
events { worker_connections 64; }
http {
  access_log off;
  sendfile on;
  client_body_temp_path $T/nginx/tmp;
  proxy_temp_path $T/nginx/tmp;
  fastcgi_temp_path $T/nginx/tmp;
  uwsgi_temp_path $T/nginx/tmp;
  scgi_temp_path $T/nginx/tmp;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    root $T;
  }
}
EOF
  nginx -p "$T/nginx" -c "$T/nginx/nginx.conf" 2> "$T/nginx/stderr" & pids+=($!)
  for _ in $(seq 50); do
    curl -s -o /dev/null "http://127.0.0.1:$NGINX_PORT/" && break; sleep 0.05
  done
  "$EX/proxy" --port 0 --target "http://127.0.0.1:$NGINX_PORT" \
    > "$T/proxy2.out" 2>&1 & PROXY2=$!; pids+=($PROXY2)
  P2=$(port_of "$T/proxy2.out" | head -1)
  start=$(date +%s%N)
  curl -sS -o "$T/down.bin" "http://127.0.0.1:$P2/big.bin"
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  check "256 MiB from nginx through the proxy is byte-identical" \
    cmp -s "$T/big.bin" "$T/down.bin"
  echo "     nginx download: $MIB MiB in $ms ms ($(rate "$ms") MiB/s)"
  rm -f "$T/down.bin"
  hwm2=$(awk '/VmHWM/ {print $2}' "/proc/$PROXY2/status")
  echo "     proxy (nginx target) VmHWM: $hwm2 kB"
  check "proxy (nginx target) peak RSS under 64 MiB" [ "$hwm2" -lt 65536 ]
else
  skip "the nginx target: nginx is not installed"
fi

# Peak RSS of the proxy after 3 x 256 MiB went through it.
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$PROXY/status")
echo "     proxy VmHWM: $hwm kB"
check "proxy peak RSS under 64 MiB" [ "$hwm" -lt 65536 ]

# Target down: 502.
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true
code=$(curl -s -o "$T/502" -w '%{http_code}' "http://127.0.0.1:$P/big.bin")
check "target down: 502 Bad Gateway" [ "$code" = 502 ]
check "the proxy logs the failure" grep -q "connection refused" "$T/proxy.err"
check "the proxy is still running" kill -0 "$PROXY"
done_tests
