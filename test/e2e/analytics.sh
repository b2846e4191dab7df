#!/usr/bin/env bash
# examples/analytics (issue 14) on a generated log with a planted anomaly
# (tools/loggen, which writes its exact counts beside the log): --replay's
# summary against those counts; a follower with two workers: the anomaly in
# /events and /metrics (promtool), 50 SSE viewers with the same ids, a
# viewer that resumes from Last-Event-ID, rotation by rename and by
# truncation, NDJSON ingest (malformed lines counted, 413 past the limit),
# the Python child killed (restarted) and hanging (killed at its timeout,
# minutes marked as gaps); the dashboard in Chromium shows the anomaly (read
# through its DOM; screenshot in $SL_BUILD/artifacts).
. "$(dirname "$0")/lib.bash"
PY=$(ws_python)
[ -n "$PY" ] || skip_all "python3-websockets is not installed (scripts/bootstrap installs it)"
"$PY" -c 'import numpy' 2> /dev/null || skip_all "python3-numpy is not installed (scripts/bootstrap installs it)"
A="$EX/analytics"
V="$PY $SL_SRC/test/analytics/viewers.py"
LOG=$T/access.log

# --- replay: the summary is the generator's truth ---------------------------
"$SL_BUILD/tools/loggen" "$LOG" 5 --rate 20 --anomaly 10 --latency --seed 3 2> /dev/null
LINES=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["lines"])' "$LOG.json")
"$A" --replay "$LOG" --python "$PY" > "$T/replay.out" 2> "$T/replay.err" || fail "replay exited $?: $(cat "$T/replay.err")"
cat "$T/replay.out"
if "$PY" - "$LOG.json" "$T/replay.out" << 'PYEOF'; then ok "replay's summary matches the generator's counts"; else fail "replay's summary"; fi
import json, re, sys
want = json.load(open(sys.argv[1]))
out = open(sys.argv[2]).read()
bad = []
def expect(what, got, exp):
    if got != exp:
        bad.append("%s: %r, the log has %r" % (what, got, exp))
m = re.search(r"(\d+) lines, (\d+) malformed", out)
expect("lines", int(m.group(1)), want["lines"])
expect("malformed", int(m.group(2)), want["malformed"])
st = dict(re.findall(r"(\dxx)=(\d+)", out))
for k, v in want["status"].items():
    expect(k, int(st.get(k, -1)), v)
top = re.search(r"^top: (.*)$", out, re.M).group(1).split()
expect("top 10", [t.rsplit("=", 1) for t in top[:10]], [[p, str(n)] for p, n in want["top"]])
expect("minutes", int(re.search(r"minutes: (\d+)", out).group(1)), want["minutes"])
expect("anomalies", re.findall(r"^anomaly: (\S+)", out, re.M), [want["anomaly_utc"]])
lat = dict(re.findall(r"(p\d+)=([\d.]+)", out))
for k, v in want["latency_ms"].items():  # log-scale buckets: within 6.25% (+1 ms rounding)
    if abs(float(lat[k]) - v) > v * 0.0625 + 1:
        bad.append("latency %s: %s, the log's %s" % (k, lat[k], v))
for b in bad:
    print("   ", b)
sys.exit(1 if bad else 0)
PYEOF
out=$("$A" --replay "$T/nope.log" 2>&1) && fail "a missing file replays" ||
  check "a missing file: a clear error ($out)" grep -q "nope.log" <<< "$out"
check "a bad option: usage, exit 2" bash -c "'$A' --nope x 2>&1 | grep -q usage; test \${PIPESTATUS[0]} = 2"

# The Python child does not answer: each minute waits its timeout, then is
# a gap; the summary still comes.
printf '#!/bin/sh\nexec sleep 600\n' > "$T/mute.sh"
chmod +x "$T/mute.sh"
timeout 60 "$A" --replay "$LOG" --python "$T/mute.sh" --ml-timeout 200 > "$T/mute.out" 2>&1 || true
check "a mute python child: the replay ends, its minutes are gaps ($(grep -c 'no answer' "$T/mute.out") timeouts)" \
  bash -c "grep -q ' $LINES lines' '$T/mute.out' && grep -q 'no answer in 200 ms' '$T/mute.out' && grep -q 'anomalies: 0' '$T/mute.out'"

# --- a follower: dashboard, events, metrics ---------------------------------
cp "$LOG" "$T/live.log"
start_url an "$A" --port 0 --workers 2 --follow "$T/live.log" --from-start --python "$PY"
[ -n "$PORT" ] || { cat "$T/an.out" "$T/an.err"; fail "analytics did not start"; done_tests; }
AN=$PID
U=http://127.0.0.1:$PORT
metric() { curl -s "$U/metrics" | awk -v m="$1" '$1 == m { print $2 }'; }
until_metric() { # until_metric NAME VALUE: at most 10 s
  for _ in $(seq 1 100); do [ "$(metric "$1")" = "$2" ] && return 0; sleep 0.1; done
  return 1
}
check "the follower read the whole log ($LINES lines)" until_metric analytics_lines_total "$LINES"
check "the anomaly is counted in /metrics" until_metric analytics_anomalies_total 1
check "the page is served" bash -c "curl -sf '$U/' | grep -q EventSource"
check "other paths are 404" test "$(code "$U/nope")" = 404
if command -v promtool > /dev/null; then
  curl -s "$U/metrics" > "$T/metrics.txt"
  check "promtool check metrics: $(promtool check metrics < "$T/metrics.txt" 2>&1 | head -3 | tr '\n' ' ')" \
    bash -c "promtool check metrics < '$T/metrics.txt'"
else
  skip "promtool is not installed"
fi
# /events from the start, until a "top" event (one each 5 s) is in.
"$PY" - "$PORT" "$T/events.txt" << 'PYEOF' || true
import http.client, sys, time
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
c.request("GET", "/events")
r, out, deadline, top = c.getresponse(), open(sys.argv[2], "w"), time.time() + 10, False
while time.time() < deadline:
    line = r.readline().decode()
    out.write(line)
    if top and line.startswith("data: "):
        break
    top = line.startswith("event: top")
PYEOF
check "/events has the anomaly's minute" bash -c \
  "grep -q '\"minute\":\"2026-12-01T10:10Z\".*\"anomaly\":true' '$T/events.txt'"

check "/events: every data line is JSON, the top paths too" "$PY" -c '
import json, sys
ev, top = None, None
for line in open(sys.argv[1]):
    if line.startswith("event: "):
        ev = line[7:].strip()
    elif line.startswith("data: "):
        d = json.loads(line[6:])
        if ev == "top":
            top = d["top"]
want = json.load(open(sys.argv[2]))["top"][0]
sys.exit(0 if top and top[0][0] == want[0] and 0 < top[0][1] <= want[1] else "top: %r" % top)' "$T/events.txt" "$LOG.json"

# Live lines (now), a few a second, for what follows.
live() {
  while :; do
    printf '10.0.0.9 - - [%s] "GET /live HTTP/1.1" 200 12 "-" "t" 0.004\n' \
      "$(date -u '+%d/%b/%Y:%H:%M:%S +0000')" >> "$T/live.log"
    sleep 0.1
  done
}
live &
LIVE=$!
PIDS+=("$LIVE")
out=$(timeout 30 $V same 127.0.0.1 "$PORT" 50 4 2>&1) && ok "$out" || fail "50 viewers: $out"
out=$(timeout 30 $V resume 127.0.0.1 "$PORT" 2>&1) && ok "$out" || fail "resume: $out"
kill "$LIVE"
wait "$LIVE" 2> /dev/null || true

# Rotation: by rename (a new file under the name), then by truncation.
settle() { # until /metrics's line count stays put for 1.5 s
  local a="" b
  b=$(metric analytics_lines_total)
  while [ "$a" != "$b" ]; do a=$b; sleep 1.5; b=$(metric analytics_lines_total); done
}
settle
n0=$(metric analytics_lines_total)
mv "$T/live.log" "$T/live.log.1"
for i in $(seq 1 30); do echo "10.0.0.8 - - [$(date -u '+%d/%b/%Y:%H:%M:%S +0000')] \"GET /rot HTTP/1.1\" 200 1 \"-\" \"t\""; done > "$T/live.log"
check "rotation by rename: the new file is read (30 lines)" until_metric analytics_lines_total $((n0 + 30))
: > "$T/live.log"
sleep 0.5
for i in $(seq 1 7); do echo "10.0.0.8 - - [$(date -u '+%d/%b/%Y:%H:%M:%S +0000')] \"GET /trunc HTTP/1.1\" 404 1 \"-\" \"t\""; done >> "$T/live.log"
check "rotation by truncation: read again from the start (7 lines)" until_metric analytics_lines_total $((n0 + 37))

# Ingest: NDJSON, a malformed line counted, not fatal; a body past the limit.
n0=$(metric analytics_lines_total)
m0=$(metric analytics_malformed_total)
now=$(date +%s%3N)
body=$(printf '{"time":%s,"path":"/in","status":200,"ms":3}\n{"time":%s,"url":"/in?x=1","status":503,"ms":40}\nnot json\n' "$now" "$now")
r=$(curl -s -w ' %{http_code}' --data-binary "$body" "$U/ingest")
check "ingest of 3 lines: 202 ($r)" test "$r" = '{"lines":3}
 202'
check "ingest: 3 lines read, 1 malformed" bash -c \
  "for _ in \$(seq 1 50); do [ \"\$(curl -s $U/metrics | awk '\$1==\"analytics_lines_total\"{print \$2}')\" = $((n0 + 3)) ] && break; sleep 0.1; done
   curl -s $U/metrics | grep -qx 'analytics_malformed_total $((m0 + 1))'"
head -c $((17 << 20)) /dev/zero | tr '\0' 'x' > "$T/big.ndjson"
r=$(curl -s -w ' %{http_code}' --data-binary @"$T/big.ndjson" "$U/ingest" || true)
check "a 17 MiB body: 413 naming the limit (${r:0:60}...)" bash -c "grep -q '413$' <<< '$r' && grep -q 16777216 <<< '$r'"
check "the follower lives on after bad input" alive "$AN"

# The Python child killed: restarted; the pipeline goes on.
pychild=$(for c in $(cat /proc/"$AN"/task/*/children); do grep -qa -- '-c' /proc/"$c"/cmdline && grep -qa python /proc/"$c"/cmdline && echo "$c"; done | head -1 || true)
if [ -n "$pychild" ]; then
  kill -9 "$pychild"
  check "the python child killed: said and restarted" wait_lines 1 "python child" "$T/an.out" 100
  check "... /metrics says it is up again" until_metric analytics_ml_up 1
else
  fail "no python child under the primary $AN"
fi

# --- the dashboard in Chromium ----------------------------------------------
if command -v chromium > /dev/null; then
  mkdir -p "$SL_BUILD/artifacts"
  SHOT=$SL_BUILD/artifacts/analytics-dashboard.png
  rm -f "$SHOT"
  out=$(timeout 60 "$PY" - "$U/" "$SHOT" "$SL_SRC/test/ws/peers" 2>&1 << 'PYEOF'
import asyncio, base64, json, sys
sys.path.insert(0, sys.argv[3])
from cdp_dom import Chromium
async def main(url, shot):
    async with Chromium() as b:
        page = await b.open(url)
        await b.call("Emulation.setDeviceMetricsOverride", {"width": 1280, "height": 1000,
                     "deviceScaleFactor": 1, "mobile": False}, page.session)
        li = await page.wait("(document.querySelector('#anomalies li[data-minute]')||{dataset: {}}).dataset.minute", 20)
        await page.wait("document.querySelectorAll('#top tr').length", 10)
        state = await page.eval("JSON.stringify({a: dash.anomalies, m: dash.minutes.length, id: dash.lastId,"
                                " top: (document.querySelector('#top tr') || {}).textContent})")
        png = await b.call("Page.captureScreenshot", {"format": "png"}, page.session)
        open(shot, "wb").write(base64.b64decode(png["data"]))
        print(json.dumps({"li": li, "state": json.loads(state)}))
asyncio.run(main(sys.argv[1], sys.argv[2]))
PYEOF
  ) || true
  check "Chromium: the dashboard lists the anomaly's minute ($out)" grep -q '"li": "2026-12-01T10:10Z"' <<< "$out"
  check "Chromium: window.dash has it ($(stat -c %s "$SHOT" 2> /dev/null) byte screenshot in $SHOT)" \
    bash -c "grep -q '\"a\": \[\"2026-12-01T10:10Z\"\]' <<< '$out' && grep -q '\"top\": \"/api/items' <<< '$out' && [ \$(stat -c %s '$SHOT') -gt 10000 ]"
else
  skip "chromium is not installed"
fi

stop "$AN"
check "SIGTERM: exit 0 ($RC)" test "$RC" = 0
done_tests
