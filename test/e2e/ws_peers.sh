#!/usr/bin/env bash
# WebSocket interop (issue 12) with the peers users have: Debian's
# python3-websockets and Node's `ws` as clients of examples/ws-echo (with
# and without permessage-deflate) and as servers for sluice's client
# (test/ws/peer.c in client mode), and Chromium headless as a browser
# client whose page reports through its DOM. Every echo is compared byte
# for byte by the peer.
. "$(dirname "$0")/lib.bash"
P="$SL_SRC/test/ws/peers"
PEER="$SL_BUILD/test/sluice_tests"
PY=$(ws_python)
NODE_PATH=$(node_ws)
export NODE_PATH

# port_file FILE: waits for a port written to FILE.
port_file() {
  for _ in $(seq 200); do [ -s "$1" ] && { cat "$1"; return; }; sleep 0.05; done
  echo 0
}

for mode in plain deflate; do
  flag=; arg=
  [ "$mode" = deflate ] && { flag=--deflate; arg=deflate; }
  port=$(free_port)
  "$EX/ws-echo" --port "$port" $flag > "$T/echo-$mode.out" 2>&1 &
  PIDS+=($!)
  wait_lines 1 Listening "$T/echo-$mode.out"
  if [ -n "$PY" ]; then
    if out=$(timeout 60 "$PY" "$P/py_client.py" "ws://127.0.0.1:$port/" $arg 2>&1); then
      ok "python3-websockets client -> ws-echo ($mode): $out"
    else
      fail "python3-websockets client -> ws-echo ($mode): $out"
    fi
  else
    skip "python3-websockets is not installed (scripts/bootstrap installs it)"
  fi
  if [ -n "$NODE_PATH" ]; then
    if out=$(timeout 60 node "$P/node_client.js" "ws://127.0.0.1:$port/" $arg 2>&1); then
      ok "node ws client -> ws-echo ($mode): $out"
    else
      fail "node ws client -> ws-echo ($mode): $out"
    fi
  else
    skip "npm could not install ws"
  fi
done

# examples/proxy forwards the upgrade and then the bytes both ways: the
# same clients through it, to ws-echo (deflate negotiated end to end).
port=$(free_port)
"$EX/ws-echo" --port "$port" --deflate > "$T/echo-proxied.out" 2>&1 &
PIDS+=($!)
wait_lines 1 Listening "$T/echo-proxied.out"
pport=$(free_port)
"$EX/proxy" --port "$pport" --target "http://127.0.0.1:$port" > "$T/proxy.out" 2>&1 &
PIDS+=($!)
wait_lines 1 "Proxy listening" "$T/proxy.out"
if [ -n "$PY" ]; then
  if out=$(timeout 60 "$PY" "$P/py_client.py" "ws://127.0.0.1:$pport/" deflate 2>&1); then
    ok "python3-websockets client -> proxy -> ws-echo: $out"
  else
    fail "python3-websockets client -> proxy -> ws-echo: $out"
  fi
fi
if [ -n "$NODE_PATH" ]; then
  if out=$(timeout 60 node "$P/node_client.js" "ws://127.0.0.1:$pport/" deflate 2>&1); then
    ok "node ws client -> proxy -> ws-echo: $out"
  else
    fail "node ws client -> proxy -> ws-echo: $out"
  fi
fi
# The target gone: the upgrade gets a 502.
dead=$(free_port)
upgrade_status() {
  curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Connection: Upgrade' \
    -H 'Upgrade: websocket' -H 'Sec-WebSocket-Version: 13' \
    -H 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==' "$1" || true
}
dport=$(free_port)
"$EX/proxy" --port "$dport" --target "http://127.0.0.1:$dead" > "$T/proxy-dead.out" 2>&1 &
PIDS+=($!)
wait_lines 1 "Proxy listening" "$T/proxy-dead.out"
st=$(upgrade_status "http://127.0.0.1:$dport/")
check "an upgrade through the proxy to a dead target is a 502 (got $st)" [ "$st" = 502 ]

# sluice's client against each peer's server.
client_against() { # NAME CMD...
  local name=$1; shift
  local pf="$T/$name.port"
  DEFL="${DEFL:-}" "$@" "$pf" > "$T/$name.out" 2>&1 &
  local pid=$!
  PIDS+=($pid)
  local port
  port=$(port_file "$pf")
  if WS_MODE=client WS_URL="ws://127.0.0.1:$port/" WS_DEFLATE="${DEFL:-}" \
      timeout 60 "$PEER" ws_peer > "$T/$name.client" 2>&1 &&
      grep -q 'code=4000 reason=done' "$T/$name.client" &&
      wait_lines 1 '^ok 100 echoes' "$T/$name.out"; then
    ok "sluice client <- $name: $(head -1 "$T/$name.out")"
  else
    fail "sluice client <- $name: $(cat "$T/$name.out" "$T/$name.client" | head -5)"
  fi
  kill "$pid" 2>/dev/null || true
}
if [ -n "$PY" ]; then
  client_against python-server "$PY" "$P/py_server.py"
  DEFL=1 client_against python-server-deflate "$PY" "$P/py_server.py"
fi
if [ -n "$NODE_PATH" ]; then
  client_against node-server node "$P/node_server.js"
  DEFL=1 client_against node-server-deflate node "$P/node_server.js"
fi

# Chromium: a page served by the WebSocket server itself, 1000 messages
# at once, read back from the page's DOM through the DevTools protocol.
if ! command -v chromium > /dev/null; then
  skip "chromium is not installed (scripts/bootstrap installs it)"
elif [ -z "$PY" ]; then
  skip "python3-websockets (the DevTools client) is not installed"
else
  pf="$T/page.port"
  WS_PORT_FILE="$pf" WS_PAGE="$P/page.html" WS_PROTOCOLS=chat WS_DEFLATE=2 \
    "$PEER" ws_peer > "$T/page-server.out" 2>&1 &
  PIDS+=($!)
  port=$(port_file "$pf")
  res=$(timeout 120 "$PY" "$P/cdp_dom.py" \
    "http://127.0.0.1:$port/page.html?n=1000" result 60 2> "$T/cdp.err" || true)
  if [[ "$res" == "PASS 1000/1000 close 1000 protocol chat ext permessage-deflate"* ]] &&
      grep -q 'code=1000 reason=page done' "$T/page-server.out"; then
    ok "chromium page: $res"
  else
    fail "chromium page: '${res:-no result}' ($(tail -3 "$T/cdp.err"))"
  fi
fi
done_tests
