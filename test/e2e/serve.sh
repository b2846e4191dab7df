#!/usr/bin/env bash
# sluice serve: a real client (curl) against the static file server: files,
# ranges, gzip, keep-alive, 304, traversal attempts written as-is, symlinks
# out of the root, directories, the access log, the bundled demo site,
# startup errors and a graceful exit on SIGTERM/SIGINT.
. "$(dirname "$0")/lib.bash"
SLUICE="$SL_BUILD/sluice"

# The site: text, binary, a directory with and without index, a secret
# outside the root and symlinks.
mkdir -p "$T/site/sub" "$T/site/docs" "$T/outside"
for i in $(seq 1 4000); do
  echo "10.0.0.$((i % 250)) - - [27/Nov/2026:10:00:$((i % 60))] \"GET /api/items/$i HTTP/1.1\" 200 $((i * 7 % 1000))"
done > "$T/site/app.log"
head -c 200000 /dev/urandom > "$T/site/blob.bin"
echo "<p>sub</p>" > "$T/site/sub/index.html"
echo "notes" > "$T/site/docs/a&b.txt"
echo "top secret" > "$T/outside/secret.txt"
echo "top secret" > "$T/secret.txt"
ln -s "$T/outside/secret.txt" "$T/site/leak.txt"
ln -s "$T/outside" "$T/site/leakdir"
ln -s app.log "$T/site/alias.log"
SIZE=$(stat -c %s "$T/site/app.log")

out=$("$SLUICE" serve --help)
check "serve --help exits 0 with usage" grep -q "usage: sluice serve" <<<"$out"

start_url main "$SLUICE" serve "$T/site" --port 0
check "prints Serving DIR at http://127.0.0.1:PORT/" \
  grep -qx "Serving $T/site at http://127.0.0.1:$PORT/" "$T/main.out"
U="http://127.0.0.1:$PORT"

curl -s -o "$T/got.log" "$U/app.log"
check "GET returns the file" cmp -s "$T/got.log" "$T/site/app.log"
curl -s -o "$T/got.bin" "$U/blob.bin"
check "GET of binary data" cmp -s "$T/got.bin" "$T/site/blob.bin"
check "Content-Type from the extension" \
  bash -c "curl -sI '$U/app.log' | grep -qi '^Content-Type: text/plain; charset=utf-8'"

# Ranges.
curl -s -r 0-99 -D "$T/h" -o "$T/r" "$U/app.log"
check "-r 0-99: 206 with Content-Range" grep -qi "^HTTP/1.1 206" "$T/h"
check "-r 0-99: Content-Range bytes 0-99/SIZE" grep -qi "^Content-Range: bytes 0-99/$SIZE" "$T/h"
check "-r 0-99: the first 100 bytes" cmp -s "$T/r" <(head -c 100 "$T/site/app.log")
curl -s -r -100 -o "$T/r" "$U/app.log"
check "-r -100: the last 100 bytes" cmp -s "$T/r" <(tail -c 100 "$T/site/app.log")
curl -s -r 1000- -o "$T/r" "$U/blob.bin"
check "-r 1000-: from offset 1000 to the end" cmp -s "$T/r" <(tail -c +1001 "$T/site/blob.bin")
curl -s -r "$SIZE-" -D "$T/h" -o /dev/null "$U/app.log"
check "unsatisfiable range: 416" grep -qi "^HTTP/1.1 416" "$T/h"
check "416 carries Content-Range: bytes */SIZE" grep -qi "^Content-Range: bytes \*/$SIZE" "$T/h"
curl -s -r 0-9,20-29 -D "$T/h" -o "$T/r" "$U/app.log"
check "several ranges: the whole file, 200" \
  bash -c "grep -qi '^HTTP/1.1 200' '$T/h' && cmp -s '$T/r' '$T/site/app.log'"

# gzip on the fly.
curl -s --compressed -D "$T/h" -o "$T/z" "$U/app.log"
check "--compressed: Content-Encoding: gzip" grep -qi "^Content-Encoding: gzip" "$T/h"
check "--compressed: Vary: Accept-Encoding" grep -qi "^Vary: Accept-Encoding" "$T/h"
check "--compressed: decompresses to the file" cmp -s "$T/z" "$T/site/app.log"
curl -s -H 'Accept-Encoding: gzip' -o "$T/raw.gz" "$U/app.log"
check "the raw body is gzip, smaller than the file" \
  bash -c "gunzip -c '$T/raw.gz' | cmp -s - '$T/site/app.log' && [ \$(stat -c %s '$T/raw.gz') -lt $SIZE ]"
curl -s --compressed -D "$T/h" -o "$T/r" "$U/blob.bin"
check "binary types are not compressed" \
  bash -c "! grep -qi '^Content-Encoding' '$T/h' && cmp -s '$T/r' '$T/site/blob.bin'"

# Keep-alive: three URLs, one curl, one connection.
before=$(wc -l < "$T/main.err")
curl -sv -o /dev/null -o /dev/null -o /dev/null "$U/app.log" "$U/blob.bin" "$U/sub/" 2> "$T/kv"
check "keep-alive: curl re-used the connection" grep -q "Re-using existing connection" "$T/kv"
sleep 0.1
peers=$(tail -n +$((before + 1)) "$T/main.err" | awk '{print $1}' | sort -u | wc -l)
check "keep-alive: three requests from one client port" [ "$peers" -eq 1 ]

# Conditional requests.
etag=$(curl -sI "$U/app.log" | sed -n 's/^ETag: \(.*\)\r$/\1/Ip')
lm=$(curl -sI "$U/app.log" | sed -n 's/^Last-Modified: \(.*\)\r$/\1/Ip')
check "ETag is weak" grep -q '^W/"' <<<"$etag"
check "If-None-Match: 304" [ "$(code -H "If-None-Match: $etag" "$U/app.log")" = 304 ]
check "If-None-Match another tag: 200" [ "$(code -H 'If-None-Match: "x"' "$U/app.log")" = 200 ]
check "If-Modified-Since Last-Modified: 304" [ "$(code -H "If-Modified-Since: $lm" "$U/app.log")" = 304 ]

# HEAD and directories.
check "HEAD: Content-Length, no body" \
  bash -c "curl -sI '$U/app.log' | grep -qi '^Content-Length: $SIZE'"
check "directory without slash: 301 to the slash form" \
  [ "$(curl -s -o /dev/null -w '%{http_code} %{redirect_url}' "$U/sub")" = "301 $U/sub/" ]
check "directory index" [ "$(curl -s "$U/sub/")" = "<p>sub</p>" ]
check "listing escapes names" \
  bash -c "curl -s '$U/docs/' | grep -q 'href=\"a%26b.txt\">a&amp;b.txt<'"
check "missing file: 404" [ "$(code "$U/nope.txt")" = 404 ]

# Traversal written as-is (curl would normalise it otherwise).
for p in "/../secret.txt" "/sub/../../secret.txt" "/%2e%2e/secret.txt" \
         "/%2E%2E/%2e%2e/secret.txt" "/sub%2F..%2F..%2Fsecret.txt" \
         "/..%2fsecret.txt"; do
  c=$(curl -s --path-as-is -o "$T/t" -w '%{http_code}' "$U$p")
  check "traversal $p: 403" [ "$c" = 403 ]
  check "traversal $p: no secret" bash -c "! grep -q secret '$T/t'"
done
check "NUL (%00): 400" [ "$(code --path-as-is "$U/app.log%00.txt")" = 400 ]
long=$(head -c 5000 /dev/zero | tr '\0' a)
check "over-long path: 414" [ "$(code "$U/$long")" = 414 ]
check "symlink out of the root: 403" [ "$(code "$U/leak.txt")" = 403 ]
check "symlinked directory out of the root: 403" [ "$(code "$U/leakdir/secret.txt")" = 403 ]
check "symlink inside the root: 200" [ "$(code "$U/alias.log")" = 200 ]

# Access log, combined by default: client, time, request, status, bytes,
# referer, user agent.
check "access log line: combined, GET /app.log 200 SIZE" \
  grep -qE "^127\.0\.0\.1 - - \[[0-9]{2}/[A-Z][a-z]{2}/[0-9]{4}:[0-9:]{8} \+0000\] \"GET /app.log HTTP/1.1\" 200 $SIZE \"-\" \"curl/[^\"]*\"$" "$T/main.err"
check "access log line for a 206" \
  grep -qE "\"GET /app.log HTTP/1.1\" 206 100 \"-\" \"curl/" "$T/main.err"

# Startup errors.
set +e
err=$("$SLUICE" serve "$T/site" --port "$PORT" 2>&1 >/dev/null); rc=$?
set -e
check "port in use: non-zero exit" [ "$rc" -ne 0 ]
check "port in use: EADDRINUSE message" \
  grep -qx "sluice serve: EADDRINUSE: address already in use 127.0.0.1:$PORT" <<<"$err"
set +e
err=$("$SLUICE" serve "$T/missing-dir" --port 0 2>&1 >/dev/null); rc=$?
set -e
check "missing directory: non-zero exit naming it" \
  bash -c '[ '$rc' -ne 0 ] && grep -q "ENOENT.*missing-dir" <<<"$0"' "$err"
set +e
"$SLUICE" serve "$T/site" --bogus >/dev/null 2>&1; rc=$?
set -e
check "unknown option: exit 2" [ "$rc" -eq 2 ]

stop "$PID"
check "SIGTERM: graceful exit 0" [ "$RC" -eq 0 ]
check "SIGTERM: says it closed" grep -q "closed" "$T/main.err"

# The bundled demo site, found without help, and through SLUICE_SITE.
start_url demo "$SLUICE" serve --port 0
U="http://127.0.0.1:$PORT"
check "demo site: index links the video" bash -c "curl -s '$U/' | grep -q '<video'"
check "demo site: the log" \
  bash -c "curl -s --compressed '$U/access.log' | cmp -s - '$SL_SRC/share/site/access.log'"
curl -s -r 0-99 -D "$T/h" -o "$T/r" "$U/video.mp4"
check "demo site: the video seeks (206, video/mp4, 100 bytes)" \
  bash -c "grep -qi '^HTTP/1.1 206' '$T/h' && grep -qi '^Content-Type: video/mp4' '$T/h' && [ \$(stat -c %s '$T/r') -eq 100 ]"
kill -INT "$PID"; set +e; wait "$PID"; RC=$?; set -e
check "SIGINT: graceful exit 0" [ "$RC" -eq 0 ]
start_url env env SLUICE_SITE="$T/site/sub" "$SLUICE" serve --port 0
check "SLUICE_SITE chooses the default site" \
  [ "$(curl -s "http://127.0.0.1:$PORT/")" = "<p>sub</p>" ]
stop "$PID"
check "demo site stays under 1 MiB" [ "$(du -sb "$SL_SRC/share/site" | cut -f1)" -lt 1048576 ]
done_tests
