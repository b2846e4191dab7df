# End-to-end: the HTTP server against clients no one here wrote. curl
# (keep-alive across URLs, uploads, Expect: 100-continue, HTTP/1.0, HEAD)
# and Node's http module (a streaming upload; a pipelined exchange written
# raw over net.Socket) talk to examples/hello-server and to the echo helper
# in test/http/server_e2e.c.
source "$(dirname "$0")/lib.bash"

PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT

# hello-server on a free port.
"$EX/hello-server" --port 0 > "$T/hello.out" &
PIDS+=($!)
for _ in $(seq 100); do grep -q listening "$T/hello.out" 2>/dev/null && break; sleep 0.05; done
HPORT=$(sed -n 's|.*http://127.0.0.1:\([0-9]*\).*|\1|p' "$T/hello.out")
H="http://127.0.0.1:$HPORT"
check "hello-server prints its address" grep -q "^Server listening on http://127.0.0.1:[0-9]*$" "$T/hello.out"

body=$(curl -s "$H/")
check "GET / answers Hello World" [ "$body" = "Hello World" ]

n=$(curl -s --write-out '%{num_connects}\n' -o /dev/null "$H/a" -o /dev/null \
  "$H/b" -o /dev/null "$H/c" | awk '{s += $1} END {print s}')
check "three URLs in one curl use one connection (num_connects=$n)" [ "$n" = 1 ]

curl -s -I "$H/" > "$T/head.txt"
check "HEAD has Content-Length 12" grep -qi "^Content-Length: 12" "$T/head.txt"
check "HEAD has no body" [ "$(curl -s -I "$H/" | wc -c)" = "$(wc -c < "$T/head.txt")" ]

curl -s --http1.0 -i "$H/" > "$T/h10.txt"
check "HTTP/1.0 gets Connection: close" grep -qi "^Connection: close" "$T/h10.txt"
check "HTTP/1.0 body" grep -q "^Hello World" "$T/h10.txt"

rand_file "$T/up.bin" 3
check "upload to hello-server is drained and answered" \
  [ "$(curl -s --data-binary @"$T/up.bin" "$H/")" = "Hello World" ]

# The echo helper.
export SL_HTTP_PORT_FILE="$T/echo.port"
"$SL_BUILD/test/sluice_tests" http_server_echo_helper 2> "$T/access.log" &
PIDS+=($!)
for _ in $(seq 100); do [ -s "$SL_HTTP_PORT_FILE" ] && break; sleep 0.05; done
E="http://127.0.0.1:$(cat "$SL_HTTP_PORT_FILE")"

curl -s --data-binary @"$T/up.bin" "$E/echo" -o "$T/echo.bin"
check "3 MiB upload echoed byte for byte" cmp -s "$T/up.bin" "$T/echo.bin"

curl -s -v -H 'Expect: 100-continue' --data-binary @"$T/up.bin" "$E/echo" \
  -o "$T/echo2.bin" 2> "$T/expect.txt"
check "Expect: 100-continue gets 100 Continue" grep -q "< HTTP/1.1 100 Continue" "$T/expect.txt"
check "... and the body echoed" cmp -s "$T/up.bin" "$T/echo2.bin"

check "chunked upload counted" \
  [ "$(curl -s -H 'Transfer-Encoding: chunked' --data-binary @"$T/up.bin" "$E/len")" = 3145728 ]
check "slow consumer gets everything" \
  [ "$(curl -s --data-binary @"$T/up.bin" "$E/slow")" = 3145728 ]

cat > "$T/client.js" <<'EOF'
const http = require('http');
const net = require('net');
const [port] = process.argv.slice(2);
function streaming() {
  return new Promise((resolve, reject) => {
    const req = http.request({ port, host: '127.0.0.1', method: 'POST', path: '/echo' }, res => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', d => body += d);
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    let i = 0;
    const t = setInterval(() => {
      req.write(`part${i};`);
      if (++i === 5) { clearInterval(t); req.end(); }
    }, 20);
  });
}
function pipelined() {
  return new Promise((resolve, reject) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write('POST /len HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc' +
              'GET /nope HTTP/1.1\r\nHost: x\r\n\r\n' +
              'POST /len HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello');
    });
    let out = '';
    s.setEncoding('latin1');
    s.on('data', d => out += d);
    s.on('end', () => resolve(out));
    s.on('error', reject);
  });
}
(async () => {
  const a = await streaming();
  const b = await pipelined();
  const statuses = b.match(/HTTP\/1\.1 \d+/g).join(',');
  const bodies = b.split('\r\n\r\n').slice(1).map(x => x.split('HTTP/')[0]).join('|');
  console.log(JSON.stringify({ a, statuses, bodies }));
})().catch(e => { console.error(e); process.exit(1); });
EOF
out=$(node "$T/client.js" "$(cat "$SL_HTTP_PORT_FILE")")
check "node streaming upload echoed" grep -q '"a":"part0;part1;part2;part3;part4;"' <<< "$out"
check "node pipelined: three answers in order" \
  grep -q '"statuses":"HTTP/1.1 200,HTTP/1.1 404,HTTP/1.1 200"' <<< "$out"
check "node pipelined: bodies in order" grep -q '"bodies":"3\\n|not found\\n|5\\n"' <<< "$out"

curl -s "$E/quit" > /dev/null
for _ in $(seq 100); do kill -0 "${PIDS[1]}" 2>/dev/null || break; sleep 0.05; done
check "echo helper exits after /quit" bash -c "! kill -0 ${PIDS[1]} 2>/dev/null"
check "access log has a line per request" grep -q '"POST /echo HTTP/1.1" 200 3145728' "$T/access.log"

done_tests
