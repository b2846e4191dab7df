#!/usr/bin/env bash
# examples/video (issue 15) with Debian's ffmpeg on generated clips (lavfi
# testsrc + sine, never downloaded): a plain upload (bytes kept exactly), the
# segment-parallel transcode (two children at once, every output checked
# with ffprobe over HTTP: frames, duration, codecs, HLS), Range, SSE
# progress; tus 1.0 with curl (offset, 409, 412, 415, a dropped PATCH
# resumed, termination) and with tus-js-client through a proxy that cuts
# the upload mid-body; bad input (text, a truncated MP4, past the size
# limit); POST /transcode (WebM through a pipe, an MP4 with its index at the
# end spooled first); live fragmented MP4 and its encoder killed when the
# client leaves; cancel and --job-timeout kill every ffmpeg of the job;
# Chromium plays the MP4 rendition and the live stream; SIGTERM leaves no
# process behind.
. "$(dirname "$0")/lib.bash"
command -v ffmpeg > /dev/null && command -v ffprobe > /dev/null ||
  skip_all "ffmpeg is not installed (scripts/bootstrap installs it)"
V="$EX/video"
D=$T/data

gen() { # gen OUT SECONDS SIZE [extra ffmpeg output options]
  local out=$1 s=$2 size=$3; shift 3
  ffmpeg -v error -y -f lavfi -i "testsrc=size=$size:rate=25:duration=$s" \
    -f lavfi -i "sine=frequency=440:duration=$s" -pix_fmt yuv420p "$@" "$out"
}
gen "$T/a.mp4" 12 640x360 -c:v libx264 -preset ultrafast -c:a aac
gen "$T/a.webm" 6 320x240 -c:v libvpx -deadline realtime -b:v 400k -c:a libopus
gen "$T/long.mp4" 60 1280x720 -c:v libx264 -preset ultrafast -c:a aac
head -c 120000 "$T/a.mp4" > "$T/cut.mp4" # its moov (at the end) is gone
printf 'hello, this is not a video\n%.0s' $(seq 1 200) > "$T/text.txt"

jget() { python3 -c 'import json,sys; v=json.loads(sys.argv[1]); [v:=v[int(k)] if isinstance(v,list) else v.get(k) for k in sys.argv[2].split(".")]; print(v)' "$1" "$2"; }
status() { curl -s "$URL/api/videos/$1"; }
# wait_state ID STATE SECONDS: until the job is in STATE (or over).
wait_state() {
  local s
  for _ in $(seq 1 $(($3 * 10))); do
    s=$(jget "$(status "$1")" state)
    [ "$s" = "$2" ] && return 0
    case "$s" in ready | failed | canceled) return 1 ;; esac
    sleep 0.1
  done
  return 1
}
# The ffmpeg processes whose command line names PATTERN (from /proc).
ffmpegs() {
  python3 -c '
import os, sys
n = 0
for p in os.listdir("/proc"):
    try:
        a = open("/proc/%s/cmdline" % p, "rb").read().split(b"\0")
    except OSError:
        continue
    n += a[0] == b"ffmpeg" and sys.argv[1].encode() in b" ".join(a)
print(n)' "$1"
}
gone() { # gone PATTERN: no ffmpeg names it within 3 s
  for _ in $(seq 1 30); do [ "$(ffmpegs "$1")" = 0 ] && return 0; sleep 0.1; done
  return 1
}
# probe FILE-OR-URL SECONDS: "frames duration vcodec height acodec" of an
# output, the duration written "12s" when within 0.2 s of SECONDS (AAC's
# priming makes a fragmented MP4 a few tens of ms longer).
probe() {
  ffprobe -v error -count_frames -show_entries \
    stream=codec_type,codec_name,height,nb_read_frames:format=duration -of json "$1" |
    python3 -c 'import json,sys; j=json.load(sys.stdin); v=[s for s in j["streams"] if s["codec_type"]=="video"][0]; a=[s for s in j["streams"] if s["codec_type"]=="audio"]; d=float(j["format"]["duration"]); w=float(sys.argv[1]); print(v["nb_read_frames"], "%gs" % w if abs(d-w) <= 0.2 else d, v["codec_name"], v["height"], a[0]["codec_name"] if a else "none")' "$2"
}

start_url video "$V" --port 0 --workers 2 --data "$D" --jobs 2 --segment 4 --renditions 240,360
URL=http://127.0.0.1:$PORT
SRV=$PID
[ -n "$PORT" ] || { cat "$T/video.err"; skip_all "video did not start"; }
check "GET / is the page" sh -c "curl -s '$URL/' | grep -q 'sluice video'"
curl -sN "$URL/events" > "$T/sse.txt" &
PIDS+=($!)

# --- a plain upload, the parallel transcode, the outputs -------------------
R=$(curl -s -w '\n%{http_code}' -T "$T/a.mp4" -X POST "$URL/videos")
check "POST /videos: 201 ($(echo "$R" | tail -1))" [ "$(echo "$R" | tail -1)" = 201 ]
ID=$(jget "$(echo "$R" | head -1)" id)
check "the upload's probe: 640x360, 12 s, 300 frames, audio" \
  [ "$(jget "$(echo "$R" | head -1)" width)x$(jget "$(echo "$R" | head -1)" height)/$(jget "$(echo "$R" | head -1)" frames)/$(jget "$(echo "$R" | head -1)" audio)" = "640x360/300/1" ]
curl -s -o "$T/back.mp4" "$URL/videos/$ID/source"
check "the stored upload is the file, byte for byte" cmp -s "$T/a.mp4" "$T/back.mp4"
if wait_state "$ID" ready 60; then ok "the job is ready"; else fail "the job: $(status "$ID")"; fi
S=$(status "$ID")
check "two ffmpeg children ran at once (--jobs 2): parallel=$(jget "$S" parallel)" [ "$(jget "$S" parallel)" = 2 ]
check "3 segments of 4 s, each one child for both renditions" [ "$(jget "$S" segments)" = 3 ]
for r in 0 1; do
  H=$(jget "$S" "renditions.$r.height")
  P=$(probe "$URL/videos/$ID/${H}p.mp4" 12)
  check "${H}p.mp4 over HTTP: 300 frames, 12 s, h264 ${H}p, aac ($P)" [ "$P" = "300 12s h264 $H aac" ]
  P=$(probe "$URL/videos/$ID/hls/${H}p/index.m3u8" 12)
  check "${H}p HLS over HTTP: 300 frames, h264, aac ($P)" [ "${P%% *}" = 300 ] && [[ "$P" == *"h264 $H aac" ]]
  EXT=$(curl -s "$URL/videos/$ID/hls/${H}p/index.m3u8" | python3 -c 'import re,sys; print(round(sum(map(float, re.findall(r"#EXTINF:([0-9.]+)", sys.stdin.read()))), 3))')
  check "${H}p playlist's segments add up to 12 s ($EXT)" python3 -c "import sys; sys.exit(abs($EXT - 12) > 0.1)"
done
check "master playlist names both renditions" sh -c "curl -s '$URL/videos/$ID/hls/master.m3u8' | grep -c 'RESOLUTION=' | grep -qx 2"
curl -s -r 1000-1999 -o "$T/range.bin" -w '%{http_code}' "$URL/videos/$ID/360p.mp4" > "$T/range.code"
dd if="$D/videos/$ID/360p.mp4" bs=1000 skip=1 count=1 2> /dev/null > "$T/range.want"
check "Range on 360p.mp4: 206 and the file's bytes 1000-1999" sh -c "[ \"\$(cat '$T/range.code')\" = 206 ] && cmp -s '$T/range.bin' '$T/range.want'"
curl -s -o "$T/seg.ts" "$URL/videos/$ID/hls/360p/s0001.ts"
check "an HLS segment over HTTP is the file" cmp -s "$T/seg.ts" "$D/videos/$ID/hls/360p/s0001.ts"
check "the thumbnail is a JPEG" sh -c "curl -s '$URL/videos/$ID/thumb.jpg' | head -c 3 | od -An -tx1 | grep -q 'ff d8 ff'"
check "the work files are gone" [ ! -e "$D/videos/$ID/work" ]
check "/work is not served" [ "$(code "$URL/videos/$ID/work/240p.txt")" = 404 ]
sleep 0.3
check "SSE /events: the job went queued/transcoding -> verifying -> ready" \
  sh -c "grep '$ID' '$T/sse.txt' | grep -q '\"transcoding\"' && grep '$ID' '$T/sse.txt' | grep -q '\"verifying\"' && grep '$ID' '$T/sse.txt' | grep -q '\"ready\"'"
timeout 2 curl -sN "$URL/events" > "$T/sse2.txt" || true
check "a new /events viewer gets each job's status first" \
  sh -c "grep '^data: ' '$T/sse2.txt' | grep '\"id\":\"$ID\"' | grep -q '\"ready\"'"
check "GET /api/videos lists the job" sh -c "curl -s '$URL/api/videos' | python3 -c 'import json,sys; sys.exit(\"$ID\" not in [j[\"id\"] for j in json.load(sys.stdin)])'"
check "SSE progress rose through the encode (more than 3 distinct values)" \
  [ "$(grep "$ID" "$T/sse.txt" | grep -o '"progress":[0-9.]*' | sort -u | wc -l)" -gt 3 ]

# --- tus 1.0 with curl --------------------------------------------------------
SIZE=$(stat -c %s "$T/a.mp4")
TUS=(-H "Tus-Resumable: 1.0.0")
PATCHH=("${TUS[@]}" -H "Content-Type: application/offset+octet-stream")
hdr() { grep -i "^$1:" | tr -d '\r' | sed 's/^[^:]*: *//'; }
curl -s -D "$T/opt.h" -o /dev/null -X OPTIONS "$URL/files"
check "OPTIONS /files: Tus-Version 1.0.0, creation and termination" \
  sh -c "grep -qi '^Tus-Version: 1.0.0' '$T/opt.h' && grep -qi '^Tus-Extension: creation,termination' '$T/opt.h'"
LOC=$(curl -s -D - -o /dev/null -X POST "${TUS[@]}" -H "Upload-Length: $SIZE" -H "Upload-Metadata: filename YS5tcDQ=" "$URL/files" | hdr location)
check "POST /files: 201 with a Location ($LOC)" [ -n "$LOC" ]
OFF=$(curl -s -I "${TUS[@]}" "$URL$LOC" | hdr upload-offset)
check "HEAD: Upload-Offset 0" [ "$OFF" = 0 ]
head -c 100000 "$T/a.mp4" > "$T/part1"
tail -c +100001 "$T/a.mp4" > "$T/rest"
R=$(curl -s -D - -o /dev/null -X PATCH "${PATCHH[@]}" -H "Upload-Offset: 0" --data-binary @"$T/part1" "$URL$LOC")
check "PATCH 100000 bytes: 204, Upload-Offset 100000" sh -c "echo '$R' | grep -q '^HTTP/1.1 204' && [ \"\$(echo '$R' | grep -i '^upload-offset' | tr -d '\r' | cut -d' ' -f2)\" = 100000 ]"
check "PATCH at a wrong offset: 409" [ "$(code -X PATCH "${PATCHH[@]}" -H "Upload-Offset: 5" --data-binary @"$T/rest" "$URL$LOC")" = 409 ]
check "PATCH without Tus-Resumable: 412" [ "$(code -X PATCH -H "Content-Type: application/offset+octet-stream" -H "Upload-Offset: 100000" --data-binary @"$T/rest" "$URL$LOC")" = 412 ]
check "PATCH with another Content-Type: 415" [ "$(code -X PATCH "${TUS[@]}" -H "Content-Type: video/mp4" -H "Upload-Offset: 100000" --data-binary @"$T/rest" "$URL$LOC")" = 415 ]
# The rest at 20 KB/s, cut after a second: the server keeps what it wrote.
curl -s -o /dev/null -X PATCH "${PATCHH[@]}" -H "Upload-Offset: 100000" --limit-rate 20k --data-binary @"$T/rest" "$URL$LOC" &
CP=$!
sleep 1.2
kill -9 $CP 2> /dev/null || true
wait $CP 2> /dev/null || true
OFF=
for _ in $(seq 1 30); do # the server sees the reset and lets go of its lock
  OFF=$(curl -s -I "${TUS[@]}" "$URL$LOC" | hdr upload-offset)
  C=$(code -X PATCH "${PATCHH[@]}" -H "Upload-Offset: 1" --data-binary x "$URL$LOC")
  [ "$C" = 409 ] && break
  sleep 0.1
done
check "after the dropped PATCH the offset moved on ($OFF of $SIZE)" [ "$OFF" -gt 100000 ] && [ "$OFF" -lt "$SIZE" ]
tail -c +$((OFF + 1)) "$T/a.mp4" > "$T/rest2"
R=$(curl -s -D - -o /dev/null -X PATCH "${PATCHH[@]}" -H "Upload-Offset: $OFF" --data-binary @"$T/rest2" "$URL$LOC")
check "the resumed PATCH completes: 204, Upload-Offset $SIZE" sh -c "echo '$R' | grep -q '^HTTP/1.1 204' && echo '$R' | grep -qi '^upload-offset: $SIZE'"
TID=${LOC##*/}
curl -s -o "$T/tus.mp4" "$URL/videos/$TID/source"
check "the resumed upload is the file, byte for byte" cmp -s "$T/a.mp4" "$T/tus.mp4"
check "HEAD after completion: Upload-Offset $SIZE" [ "$(curl -s -I "${TUS[@]}" "$URL$LOC" | hdr upload-offset)" = "$SIZE" ]
LOC2=$(curl -s -D - -o /dev/null -X POST "${TUS[@]}" -H "Upload-Length: 5000" "$URL/files" | hdr location)
check "DELETE (termination): 204, then HEAD 404" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -X DELETE -H 'Tus-Resumable: 1.0.0' '$URL$LOC2')\" = 204 ] && [ \"\$(curl -s -o /dev/null -w '%{http_code}' -I '$URL$LOC2')\" = 404 ]"
LOC3=$(curl -s -D - -o /dev/null -X POST "${TUS[@]}" -H "Upload-Length: 1000" "$URL/files" | hdr location)
check "PATCH past Upload-Length: 413, nothing written" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' -X PATCH -H 'Tus-Resumable: 1.0.0' -H 'Content-Type: application/offset+octet-stream' -H 'Upload-Offset: 0' --data-binary @'$T/part1' '$URL$LOC3')\" = 413 ] && [ \"\$(curl -s -I -H 'Tus-Resumable: 1.0.0' '$URL$LOC3' | grep -i '^upload-offset' | tr -d '\r' | cut -d' ' -f2)\" = 0 ]"
check "POST /files without Upload-Length: 400" [ "$(code -X POST "${TUS[@]}" "$URL/files")" = 400 ]

# --- tus-js-client through a proxy that cuts the upload ---------------------
NPM=$SL_BUILD/npm
if [ -d "$NPM/node_modules/tus-js-client" ] ||
  npm install --silent --no-audit --no-fund --prefix "$NPM" tus-js-client@4 > /dev/null 2>&1; then
  python3 "$SL_SRC/test/video/cutproxy.py" "$PORT" 200000 60 > "$T/proxy.out" &
  PROXY=$!
  PIDS+=($PROXY)
  for _ in $(seq 1 50); do [ -s "$T/proxy.out" ] && break; sleep 0.1; done
  PP=$(head -1 "$T/proxy.out")
  NODE_PATH=$NPM/node_modules timeout 60 node "$SL_SRC/test/video/tus_upload.js" "http://127.0.0.1:$PP/files" "$T/a.mp4" > "$T/tusjs.out" 2>&1 || true
  kill "$PROXY"
  wait "$PROXY" 2> /dev/null || true
  cat "$T/tusjs.out" "$T/proxy.out" | sed 's/^/  | /'
  check "the proxy cut tus-js-client's upload mid-body" grep -q '^cut' "$T/proxy.out"
  check "tus-js-client retried and finished" sh -c "grep -q '^retry' '$T/tusjs.out' && grep -q '^done $SIZE' '$T/tusjs.out'"
  JID=$(sed -n 's|^url .*/files/||p' "$T/tusjs.out")
  AT=$(sed -n "s/.*upload $JID: PATCH cut off at \([0-9]*\) of.*/\1/p" "$T/video.err")
  # 200000 bytes passed the proxy, the request's head (~300 bytes) among them.
  check "the server wrote every body byte that came before the cut (${AT:-none} of ~199700)" \
    [ "${AT:-0}" -gt 199000 ]
  curl -s -o "$T/tusjs.mp4" "$URL/videos/$JID/source"
  check "tus-js-client's upload is the file, byte for byte" cmp -s "$T/a.mp4" "$T/tusjs.mp4"
  if wait_state "$JID" ready 60; then ok "its job is ready"; else fail "its job: $(status "$JID")"; fi
else
  skip "npm could not install tus-js-client"
fi
wait_state "$TID" ready 60 || fail "the curl tus job: $(status "$TID")"

# --- bad input --------------------------------------------------------------
R=$(curl -s -w '\n%{http_code}' -T "$T/text.txt" -X POST "$URL/videos")
check "text: 422 ($(echo "$R" | head -1))" sh -c "[ '$(echo "$R" | tail -1)' = 422 ] && echo '$(echo "$R" | head -1)' | grep -q 'ffprobe'"
R=$(curl -s -w '\n%{http_code}' -T "$T/cut.mp4" -X POST "$URL/videos")
check "an MP4 cut short: 422 ($(echo "$R" | head -1))" sh -c "[ '$(echo "$R" | tail -1)' = 422 ] && echo '$(echo "$R" | head -1)' | grep -q 'moov atom not found'"
check "nothing refused is kept" [ -z "$(ls "$D/uploads" | grep '\.plain$' || true)" ]

# --- POST /transcode: pipe or spool, fragmented MP4 back --------------------
curl -s -D "$T/tw.h" -o "$T/tw.mp4" -T "$T/a.webm" -X POST "$URL/transcode?h=240"
P=$(probe "$T/tw.mp4" 6)
check "WebM through a pipe (X-Video-Input: $(hdr x-video-input < "$T/tw.h")): 150 frames, 6 s, 240p ($P)" \
  sh -c "grep -qi '^X-Video-Input: pipe' '$T/tw.h' && [ '$P' = '150 6s h264 240 aac' ]"
check "the answer is fragmented MP4 (moof boxes)" grep -q moof "$T/tw.mp4"
curl -s -D "$T/tm.h" -o "$T/tm.mp4" -T "$T/a.mp4" -X POST "$URL/transcode"
P=$(probe "$T/tm.mp4" 12)
check "an MP4 with its moov at the end is spooled (X-Video-Input: $(hdr x-video-input < "$T/tm.h")): 300 frames, 12 s ($P)" \
  sh -c "grep -qi '^X-Video-Input: spool' '$T/tm.h' && [ '$P' = '300 12s h264 360 aac' ]"
check "the spool file is gone" [ -z "$(ls "$D/uploads" | grep transcode || true)" ]
gen "$T/fast.mp4" 4 320x240 -c:v libx264 -preset ultrafast -c:a aac -movflags +faststart
curl -s -D "$T/tf.h" -o "$T/tf.mp4" -T "$T/fast.mp4" -X POST "$URL/transcode?h=240"
P=$(probe "$T/tf.mp4" 4)
check "an MP4 with its moov first (faststart) goes through a pipe ($(hdr x-video-input < "$T/tf.h")): 100 frames ($P)" \
  sh -c "grep -qi '^X-Video-Input: pipe' '$T/tf.h' && [ '$P' = '100 4s h264 240 aac' ]"
C=$(curl -s -o "$T/tx.out" -w '%{http_code}' -T "$T/text.txt" -X POST "$URL/transcode")
check "POST /transcode of text: 422 with ffmpeg's reason, not an empty 200 ($C $(cat "$T/tx.out"))" \
  sh -c "[ '$C' = 422 ] && grep -q 'Invalid data' '$T/tx.out' && ! grep -q '$T' '$T/tx.out'"
curl -s -o "$T/live.mp4" "$URL/videos/$ID/live.mp4?h=240"
P=$(probe "$T/live.mp4" 12)
check "live.mp4: the whole video, 240p ($P)" [ "$P" = "300 12s h264 240 aac" ]

# --- cancel, timeout, a client that leaves --------------------------------------
SID=$(jget "$(curl -s -T "$T/long.mp4" -X POST "$URL/videos?process=0")" id)
check "?process=0 stores the upload only" [ "$(jget "$(status "$SID")" state)" = stored ]
curl -s --max-time 1 -o /dev/null "$URL/videos/$SID/live.mp4" || true
check "a live.mp4 client that left: its encoder is killed" gone "videos/$SID/source"
LID=$(jget "$(curl -s -T "$T/long.mp4" -X POST "$URL/videos")" id)
for _ in $(seq 1 100); do
  [ "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["progress"] > 0)' "$(status "$LID")")" = True ] && break
  sleep 0.1
done
N=$(for _ in $(seq 1 20); do ffmpegs "videos/$LID/"; sleep 0.05; done | sort -n | uniq | paste -sd' ')
check "the long job runs ffmpeg children, never more than 2 (seen: $N)" [ "${N##* }" -ge 1 ] && [ "${N##* }" -le 2 ]
check "and says 2 ran at once (parallel $(jget "$(status "$LID")" parallel))" [ "$(jget "$(status "$LID")" parallel)" = 2 ]
check "DELETE /api/videos/ID: 202" [ "$(code -X DELETE "$URL/api/videos/$LID")" = 202 ]
check "then the job is canceled" wait_state "$LID" canceled 3
check "and none of its ffmpeg children is left" gone "videos/$LID/"
check "its work files are gone" [ ! -e "$D/videos/$LID/work" ]
check "DELETE of a job that is over: 409" [ "$(code -X DELETE "$URL/api/videos/$LID")" = 409 ]

# --- Chromium plays it ----------------------------------------------------------
if command -v chromium > /dev/null && PY=$(ws_python) && [ -n "$PY" ]; then
  "$PY" - "$URL" "$ID" "$SL_SRC/test/ws/peers" > "$T/chromium.out" 2>&1 << 'PYEOF' || true
import asyncio, sys
url, vid, helpers = sys.argv[1:4]
sys.path.insert(0, helpers)
from cdp_dom import Chromium
async def main():
    async with Chromium() as b:
        for src in ("/videos/%s/360p.mp4" % vid, "/videos/%s/live.mp4" % vid):
            page = await b.open("%s/?watch=%s&src=%s" % (url, vid, src))
            got = await page.wait("document.getElementById('status').textContent.startsWith('playing') || document.getElementById('status').textContent.startsWith('error') ? document.getElementById('status').textContent : ''", 30)
            print(src.rsplit("/", 1)[1], got)
asyncio.run(main())
PYEOF
  cat "$T/chromium.out" | sed 's/^/  | /'
  check "Chromium plays 360p.mp4 (640x360)" grep -q '^360p.mp4 playing 640x360' "$T/chromium.out"
  check "Chromium plays the live fragmented MP4 (640x360)" grep -q '^live.mp4 playing 640x360' "$T/chromium.out"
else
  skip "chromium or python3-websockets is not installed"
fi
stop "$SRV"
check "SIGTERM: exit 0 ($RC)" [ "$RC" = 0 ]

start_url video2 "$V" --port 0 --workers 1 --data "$T/d2" --jobs 1 --job-timeout 1 --max-upload 3500000
URL=http://127.0.0.1:$PORT
LID=$(jget "$(curl -s -T "$T/long.mp4" -X POST "$URL/videos")" id)
wait_state "$LID" failed 5 || true
S=$(status "$LID")
check "--job-timeout 1: the job failed ($(jget "$S" error))" sh -c "[ '$(jget "$S" state)' = failed ] && echo '$(jget "$S" error)' | grep -q 'timed out after 1 s'"
check "and its ffmpeg children are gone" gone "d2/videos/$LID/"
rand_file "$T/big.bin" 4
check "past --max-upload: POST /videos 413" [ "$(code -T "$T/big.bin" -X POST "$URL/videos")" = 413 ]
check "past --max-upload: tus creation 413" [ "$(code -X POST "${TUS[@]}" -H "Upload-Length: 3500001" "$URL/files")" = 413 ]

stop "$PID"
check "SIGTERM: exit 0 ($RC)" [ "$RC" = 0 ]
check "no ffmpeg of this test is left" gone "$T/"
done_tests
