#!/usr/bin/env bash
# Issue 9, item 2: gzip output is ONE member, so every real client reads all
# of it. A 24 MiB log served by `sluice serve` with Content-Encoding: gzip is
# fetched by curl --compressed, Chromium headless (fetch() and SHA-256 with
# crypto.subtle, read back through the DOM), python3 http.client with one
# zlib.decompressobj(31), and Node 20 fetch; each must give the source's
# sha256. gzip-file's output is one member too, and a bad --level is a usage
# error (item 14).
. "$(dirname "$0")/lib.bash"
SLUICE="$SL_BUILD/sluice"
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$T"' EXIT

mkdir -p "$T/site"
node "$ROOT/bench/node/genlog.js" "$T/site/log.txt" $((24 << 20))
WANT=$(sha256sum < "$T/site/log.txt" | cut -d' ' -f1)
SIZE=$(stat -c %s "$T/site/log.txt")

# The page Chromium loads: same origin, so fetch() needs no CORS.
cat > "$T/site/sha.html" <<'EOF'
<!doctype html><meta charset="utf-8"><title>sha</title>
<pre id="r">pending</pre>
<script>
const out = s => { document.getElementById('r').textContent = s; };
fetch('/log.txt').then(async r => {
  const t = await r.text();
  const d = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(t));
  const hex = [...new Uint8Array(d)]
    .map(b => b.toString(16).padStart(2, '0')).join('');
  out('result status=' + r.status + ' enc=' + r.headers.get('content-encoding') +
      ' len=' + t.length + ' sha256=' + hex);
}).catch(e => out('result error=' + e));
</script>
EOF

"$SLUICE" serve "$T/site" --port 0 --quiet > "$T/serve.out" 2> "$T/serve.err" &
PIDS+=($!)
for _ in $(seq 1 200); do
  grep -q "http://" "$T/serve.out" 2>/dev/null && break
  sleep 0.05
done
PORT=$(sed -n 's|.*http://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$T/serve.out")
U="http://127.0.0.1:$PORT"
[ -n "$PORT" ] || { fail "sluice serve did not start: $(cat "$T/serve.err")"; done_tests; }

# curl: exits 23 on the second member of a multi-member body.
set +e
curl -s --compressed -D "$T/curl.h" -o "$T/curl.out" "$U/log.txt"; rc=$?
set -e
check "curl --compressed exits 0 (got $rc)" [ "$rc" -eq 0 ]
check "curl: the response was gzipped" grep -qi '^content-encoding: gzip' "$T/curl.h"
check "curl: sha256 of the body is the source's" \
  [ "$(sha256sum < "$T/curl.out" | cut -d' ' -f1)" = "$WANT" ]

# python3: http.client (undoes chunked) and ONE decompressobj(31), which
# stops at the end of the first member.
py=$(python3 - "$PORT" <<'EOF'
import hashlib, http.client, sys, zlib
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=60)
c.request("GET", "/log.txt", headers={"Accept-Encoding": "gzip"})
r = c.getresponse()
body = r.read()
d = zlib.decompressobj(31)
data = d.decompress(body) + d.flush()
print(r.getheader("Content-Encoding"), d.eof, len(d.unused_data), len(data),
      hashlib.sha256(data).hexdigest())
EOF
)
check "python http.client + one decompressobj(31): whole body, one member ($py)" \
  [ "$py" = "gzip True 0 $SIZE $WANT" ]

# Node 20 fetch (undici) decodes gzip itself.
nd=$(node -e '
const crypto = require("crypto");
fetch(process.argv[1], { headers: { "accept-encoding": "gzip" } })
  .then(async r => {
    const b = Buffer.from(await r.arrayBuffer());
    console.log(r.headers.get("content-encoding"), b.length,
                crypto.createHash("sha256").update(b).digest("hex"));
  }).catch(e => { console.log("error", e.message); });
' "$U/log.txt")
check "node fetch: the whole body ($nd)" [ "$nd" = "gzip $SIZE $WANT" ]

# Chromium headless: --dump-dom prints the DOM once the page settled; the
# virtual time budget lets the fetch and the digest finish first.
if ! command -v chromium > /dev/null; then
  fail "chromium is not installed (scripts/bootstrap installs it)"
else
  set +e
  timeout 120 chromium --headless --no-sandbox --disable-gpu --disable-quic \
    --no-first-run --disable-background-networking \
    --disable-component-update --disable-sync \
    --user-data-dir="$T/chromium" --virtual-time-budget=60000 \
    --dump-dom "$U/sha.html" > "$T/dom.html" 2> "$T/chromium.err"
  rc=$?
  set -e
  got=$(sed -n 's|.*<pre id="r">\([^<]*\)</pre>.*|\1|p' "$T/dom.html")
  if [ "$rc" -eq 124 ]; then
    fail "chromium headless did not finish within 120 s (stderr: $T/chromium.err)"
  else
    check "chromium fetch(): whole body, SHA-256 matches (${got:-no result, exit $rc})" \
      [ "$got" = "result status=200 enc=gzip len=$SIZE sha256=$WANT" ]
  fi
fi

# gzip-file: one member as well.
"$EX/gzip-file" "$T/site/log.txt" "$T/log.gz" > /dev/null
py=$(python3 - "$T/log.gz" <<'EOF'
import hashlib, sys, zlib
d = zlib.decompressobj(31)
data = d.decompress(open(sys.argv[1], "rb").read()) + d.flush()
print(d.eof, len(d.unused_data), hashlib.sha256(data).hexdigest())
EOF
)
check "gzip-file output is exactly one member ($py)" [ "$py" = "True 0 $WANT" ]

# Item 14: a bad level is a usage error naming the option, not an assert.
for bad in 12 0 x ""; do
  set +e
  err=$("$EX/gzip-file" "$T/site/log.txt" "$T/bad.gz" --level $bad 2>&1 > /dev/null)
  rc=$?
  set -e
  check "gzip-file --level '$bad': exit 2 naming --level and 1-9" \
    bash -c '[ "$1" -eq 2 ] && grep -q -- "--level must be an integer from 1 to 9" <<<"$2" && grep -q "^usage: gzip-file" <<<"$2"' _ "$rc" "$err"
done
done_tests
