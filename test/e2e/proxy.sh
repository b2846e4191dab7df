#!/usr/bin/env bash
# proxy (manual 2.2): 256 MiB streamed through the proxy both ways, from a
# Node.js server (and from nginx when installed) to curl, byte-identical,
# with the proxy's peak RSS (VmHWM) bounded; keep-alive through the proxy;
# 502 when the target is down.
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
const file = process.argv[2];
const s = http.createServer((req, res) => {
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
node "$T/target.js" "$T/big.bin" > "$T/node.port" & pids+=($!)
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
  echo "     (nginx not installed: skipping the nginx target)"
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
