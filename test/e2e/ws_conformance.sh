#!/usr/bin/env bash
# WebSocket conformance (issue 12): test/ws/conformance.py's cases, grouped
# as the Autobahn TestSuite groups them (framing, pings, reserved bits,
# opcodes, fragmentation, UTF-8, close handling, limits,
# permessage-deflate), against sluice's server and against sluice's
# client, on crafted bytes. The pass counts per group go to
# $SL_BUILD/ws-conformance-{server,client}.tsv for docs/websocket.md.
. "$(dirname "$0")/lib.bash"
PEER="$SL_BUILD/test/sluice_tests ws_peer"
for side in server client; do
  if python3 "$SL_SRC/test/ws/conformance.py" "$side" "$PEER" \
      --table "$SL_BUILD/ws-conformance-$side.tsv" > "$T/$side.txt" 2>&1; then
    ok "$side: $(tail -1 "$T/$side.txt")"
  else
    grep -v '^ok' "$T/$side.txt" | head -40
    fail "$side: conformance cases failed"
  fi
done
done_tests
