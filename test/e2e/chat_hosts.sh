#!/usr/bin/env bash
# examples/chat across hosts: two chat hosts (h1, h2: --workers 2 --redis)
# behind nginx (round robin, WebSocket proxying), sequenced by one Redis,
# each in its own network namespace on a private bridge, with scripted
# clients (test/chat/hosts_client.py, python3-websockets) in a fifth.
# Every client must see every message of the room once, ids 1..N in order,
# through a Redis outage (killed and restarted on the same address with
# its append-only file: the hosts say they lost it and got it back, what
# was said meanwhile comes after it, in order, none lost) and the SIGKILL
# of a whole host (its clients come back through nginx on the other one
# with "since" their last id: no gap, no duplicate). Needs root (network
# namespaces), nginx, redis-server and python3-websockets: skipped without.
#
# examples/chat listens on 127.0.0.1 only (no option for its address), so
# the balancer on another host would not reach it: each host gets its
# listener on 0.0.0.0:8080 through socket activation (LISTEN_FDS, which
# sluice takes for the 127.0.0.1 listen), passed by hosts_client.py.
# CHAT_HOSTS_BIN=PATH runs another chat binary (a candidate fix);
# CHAT_HOSTS_KEEP=DIR keeps a copy of the scratch directory (outputs, logs,
# nginx's and Redis's files) for a look after the run.
. "$(dirname "$0")/lib.bash"
PY=/usr/bin/python3
HC="$SL_SRC/test/chat/hosts_client.py"
CHAT="${CHAT_HOSTS_BIN:-$EX/chat}"
T_START=$SECONDS

[ "$(id -u)" = 0 ] || skip_all "needs root (network namespaces)"
command -v ip > /dev/null || skip_all "ip (iproute2) is not installed"
command -v nginx > /dev/null || skip_all "nginx is not installed"
command -v redis-server > /dev/null || skip_all "redis-server is not installed"
command -v redis-cli > /dev/null || skip_all "redis-cli is not installed"
[ -x "$PY" ] && "$PY" -c 'import websockets' 2> /dev/null ||
  skip_all "/usr/bin/python3 with python3-websockets is not installed"
[ -x "$CHAT" ] || skip_all "$CHAT is not built (cmake --build build --target ex_chat)"
probe="slc-$$-probe"
ip netns add "$probe" 2> /dev/null && ip netns exec "$probe" true 2> /dev/null ||
  { ip netns del "$probe" 2> /dev/null || true; skip_all "ip netns does not work here"; }
ip netns del "$probe"

# --- cleanup: whatever happens, nothing of ours is left ---------------------
NSS=()      # namespaces made
HOSTPID=()  # chat primaries, by index 1 and 2
NGINX="" REDIS="" DRIVER="" WATCHDOG=""
# descendants PID: PID and every process under it (from /proc/*/stat: this
# kernel may have no /proc/PID/task/*/children).
descendants() {
  local kids
  if kids=$(cat /proc/"$1"/task/*/children 2> /dev/null) && [ -e "/proc/$1/task/$1/children" ]; then
    echo "$1"
    for k in $kids; do descendants "$k"; done
    return
  fi
  # (cat, not awk, reads the files: a process may be gone by then)
  { cat /proc/[0-9]*/stat 2> /dev/null || true; } | awk -v root="$1" '
    { pid = $1; s = $0; sub(/.*\) /, "", s); split(s, f, " "); ppid[pid] = f[2] }
    END { out[root] = 1; print root; more = 1
          while (more) { more = 0
            for (c in ppid) if (!(c in out) && (ppid[c] in out)) {
              out[c] = 1; print c; more = 1 } } }'
}
# kill_tree PID: SIGSTOP it (no new children), then SIGKILL it and all
# under it at once.
kill_tree() {
  local pids
  kill -STOP "$1" 2> /dev/null || return 0
  pids=$(descendants "$1")
  # shellcheck disable=SC2086
  kill -KILL $pids 2> /dev/null || true
  echo "$pids"
}
cleanup() {
  local rc=$? ns p
  set +e
  exec 2> /dev/null # no job notices ("Killed") for what we kill here
  trap - EXIT INT TERM HUP
  [ -n "$WATCHDOG" ] && kill_tree "$WATCHDOG" > /dev/null
  for p in "${HOSTPID[@]}"; do [ -n "$p" ] && kill_tree "$p" > /dev/null; done
  [ -n "$DRIVER" ] && kill_tree "$DRIVER" > /dev/null
  [ -n "$NGINX" ] && kill -TERM "$NGINX" 2> /dev/null
  [ -n "$REDIS" ] && kill -KILL "$REDIS" 2> /dev/null
  for _ in $(seq 40); do
    [ -n "$NGINX" ] && alive "$NGINX" || break
    sleep 0.05
  done
  # Anything still in our namespaces is ours (their names have our PID).
  for ns in "${NSS[@]}"; do
    for p in $(ip netns pids "$ns" 2> /dev/null); do kill -KILL "$p" 2> /dev/null; done
  done
  for _ in $(seq 40); do
    local left=
    for ns in "${NSS[@]}"; do [ -n "$(ip netns pids "$ns" 2> /dev/null)" ] && left=1; done
    [ -z "$left" ] && break
    sleep 0.05
  done
  wait 2> /dev/null
  for ns in "${NSS[@]}"; do ip netns del "$ns" 2> /dev/null; done
  [ -n "${CHAT_HOSTS_KEEP:-}" ] && cp -r "$T" "$CHAT_HOSTS_KEEP"
  lib_exit
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "FAIL interrupted (or over the 85 s watchdog)"; exit 1' INT TERM HUP
# The whole test is bounded: past 85 s it ends itself (cleaning up).
( sleep 85; kill -TERM $$ ) &
WATCHDOG=$!

# Bounded waits: until COMMAND succeeds, 50 ms a try, SECONDS at most.
until_ok() { # until_ok SECONDS COMMAND...
  local end=$((SECONDS + $1)); shift
  until "$@"; do
    [ "$SECONDS" -ge "$end" ] && return 1
    sleep 0.05
  done
}
has() { grep -q -- "$1" "$2" 2> /dev/null; } # has PATTERN FILE
count() { grep -c -- "$1" "$2" 2> /dev/null || true; }
phase() { echo "$1" > "$T/ctl/phase.tmp" && mv "$T/ctl/phase.tmp" "$T/ctl/phase"; }
dump() { # dump FILE...: the end of each, indented, on a failure
  for f in "$@"; do echo "--- $f"; tail -n 20 "$f" 2> /dev/null | sed 's/^/    /'; done
}
# gone PID SECONDS: waits for PID (a child) to exit, SIGKILL past SECONDS;
# its status in RC.
gone() {
  until_ok "$2" bash -c "! [ -e /proc/$1 ] || grep -qs '^State:.*Z' /proc/$1/status" ||
    kill -KILL "$1" 2> /dev/null || true
  set +e; wait "$1" 2> /dev/null; RC=$?; set -e
}
fatal() { fail "$*"; dump "$T"/*.out "$T"/*.err "$T/nginx/error.log"; done_tests; }

# --- the network: five namespaces on a bridge in a sixth --------------------
NET="10.77.$((RANDOM % 200))"
declare -A ADDR=([lb]=$NET.2 [h1]=$NET.11 [h2]=$NET.12 [rd]=$NET.20 [cl]=$NET.30)
BR="slc-$$-br"
ip netns add "$BR"; NSS+=("$BR")
ip netns exec "$BR" ip link set lo up
ip netns exec "$BR" ip link add br0 type bridge
ip netns exec "$BR" ip link set br0 up
for n in lb h1 h2 rd cl; do
  ns="slc-$$-$n"
  ip netns add "$ns"; NSS+=("$ns")
  ip netns exec "$BR" ip link add "v-$n" type veth peer name eth0 netns "$ns"
  ip netns exec "$BR" ip link set "v-$n" master br0 up
  ip netns exec "$ns" ip link set lo up
  ip netns exec "$ns" ip addr add "${ADDR[$n]}/24" dev eth0
  ip netns exec "$ns" ip link set eth0 up
done
# in_ns NAME CMD...: CMD in namespace NAME (foreground only: a background
# job is started with `ip netns exec "$(ns NAME)"`, so that $! is CMD's PID,
# ip netns exec execs it).
ns() { echo "slc-$$-$1"; }
in_ns() { local n=$1; shift; ip netns exec "slc-$$-$n" "$@"; }
mkdir -p "$T/ctl" "$T/redis" "$T/nginx"

# --- Redis, with an append-only file that outlives a restart ----------------
RADDR="${ADDR[rd]}:6379"
start_redis() { # start_redis TAG
  ip netns exec "$(ns rd)" redis-server --port 6379 --bind "${ADDR[rd]}" --save '' \
    --appendonly yes --appendfsync always --dir "$T/redis" --daemonize no \
    --protected-mode no > "$T/redis-$1.out" 2>&1 &
  REDIS=$!
  until_ok 10 bash -c "[ \"\$(ip netns exec slc-$$-rd redis-cli -h ${ADDR[rd]} ping 2>/dev/null)\" = PONG ]"
}
start_redis 1 || fatal "redis-server did not start"

# --- the chat hosts ----------------------------------------------------------
start_host() { # start_host N
  ip netns exec "$(ns "h$1")" "$CHAT" --host "${ADDR[h$1]}" --port 8080 \
    --workers 2 --log "$T/h$1.log" --redis "$RADDR" --name "h$1" \
    > "$T/h$1.out" 2> "$T/h$1.err" &
  HOSTPID[$1]=$!
}
start_host 1
start_host 2
for n in 1 2; do
  until_ok 15 has listening "$T/h$n.out" || fatal "chat h$n did not say it listens"
  until_ok 10 has "(subscriber): connected" "$T/h$n.out" || fatal "chat h$n did not connect to redis"
done

# --- nginx: the balancer ------------------------------------------------------
cat > "$T/nginx/nginx.conf" << EOF
worker_processes 1;
user root root;
pid $T/nginx/nginx.pid;
error_log $T/nginx/error.log info;
events { worker_connections 1024; }
http {
  log_format up '\$remote_addr "\$request" \$status upstream=\$upstream_addr';
  access_log $T/nginx/access.log up;
  client_body_temp_path $T/nginx/body;
  proxy_temp_path $T/nginx/proxy;
  fastcgi_temp_path $T/nginx/fastcgi;
  uwsgi_temp_path $T/nginx/uwsgi;
  scgi_temp_path $T/nginx/scgi;
  map \$http_upgrade \$connection_upgrade { default upgrade; '' close; }
  upstream chat {
    server ${ADDR[h1]}:8080;
    server ${ADDR[h2]}:8080;
  }
  server {
    listen ${ADDR[lb]}:80;
    location / {
      proxy_pass http://chat;
      proxy_http_version 1.1;
      proxy_set_header Upgrade \$http_upgrade;
      proxy_set_header Connection \$connection_upgrade;
      proxy_set_header Host \$host;
      proxy_connect_timeout 2s;
      proxy_read_timeout 3600s;
      proxy_send_timeout 3600s;
      add_header X-Upstream \$upstream_addr always;
    }
  }
}
EOF
ip netns exec "$(ns lb)" nginx -e "$T/nginx/error.log" -c "$T/nginx/nginx.conf" -p "$T/nginx" \
  -g 'daemon off;' > "$T/nginx.out" 2>&1 &
NGINX=$!
until_ok 10 in_ns cl bash -c "exec 3<>/dev/tcp/${ADDR[lb]}/80" 2> /dev/null ||
  fatal "nginx did not listen on ${ADDR[lb]}:80"
page=$(in_ns cl curl -s -m 5 -o /dev/null -w '%{http_code}' "http://${ADDR[lb]}/" || true)
check "the page through nginx: HTTP $page" [ "$page" = 200 ]

# --- the conversation -----------------------------------------------------------
phase start
ip netns exec "$(ns cl)" timeout 80 "$PY" "$HC" drive "ws://${ADDR[lb]}/ws" "$T/ctl" \
  --clients 6 --senders 4 --interval 0.25 \
  --name "${ADDR[h1]}:8080=h1" --name "${ADDR[h2]}:8080=h2" --killed h1 \
  > "$T/clients.out" 2> "$T/clients.err" &
DRIVER=$!
until_ok 20 has READY "$T/clients.out" || fatal "the clients did not connect"
on_h1=$(count '^up .* h1$' "$T/clients.out")
phase talk
sleep 2

# Redis goes away: SIGTERM (its file has everything), down ~2.3 s, then a
# new redis-server on the same address (the hosts retry 0.1, 0.3, 0.7,
# 1.5, 3.1 s after the loss: they are back together at ~3.1 s).
kill -TERM "$REDIS"
gone "$REDIS" 5
phase redis-down
sleep 2.3
phase redis-restart
start_redis 2 || fatal "redis-server did not start again"
phase redis-up
for n in 1 2; do
  for c in commands subscriber; do
    check "h$n says its redis $c connection was lost" has "($c): .*; reconnecting" "$T/h$n.out"
    check "h$n says its redis $c connection is back" until_ok 10 has "($c): connected again" "$T/h$n.out"
  done
done
sleep 1.5

# SIGKILL host h1, all of it: the primary, its workers and its logger.
phase kill
h1_pids=$(kill_tree "${HOSTPID[1]}" | tr '\n' ' ')
gone "${HOSTPID[1]}" 5 2> /dev/null
HOSTPID[1]=
# none_alive PID...: every one has exited (a zombie has)
none_alive() { local p; for p in "$@"; do alive "$p" && return 1; done; return 0; }
# shellcheck disable=SC2086
check "SIGKILL of h1 took all its processes ($h1_pids)" until_ok 5 none_alive $h1_pids
reconnected() { [ "$(count '^reconnected ' "$T/clients.out")" -ge "$on_h1" ]; }
until_ok 15 reconnected || fail "the $on_h1 clients of h1 did not all reconnect"
phase after-kill
sleep 2
phase stop
set +e; wait "$DRIVER"; drc=$?; set -e
DRIVER=
check "the clients' checks passed (exit $drc)" [ "$drc" = 0 ]
while IFS= read -r line; do
  case "$line" in
    "ok   "*) ok "${line#ok   }" ;;
    "FAIL "*) fail "${line#FAIL }" ;;
  esac
done < "$T/clients.out"

# --- what the hosts wrote ---------------------------------------------------------
N=$(sed -n 's/^messages \([0-9]*\) .*/\1/p' "$T/clients.out")
N=${N:-0}
# ids of a log, in file order
log_ids() { sed -n 's/.*"id":\([0-9]*\).*/\1/p' "$1"; }
logged() { [ "$(log_ids "$T/h2.log" | wc -l)" -ge "$N" ]; }
until_ok 10 logged || true
h2_ids=$(log_ids "$T/h2.log" | tr '\n' ' ')
check "h2's log has ids 1..$N once each, in order" \
  [ "$h2_ids" = "$(seq -s ' ' 1 "$N") " ]
h1_n=$(log_ids "$T/h1.log" | wc -l)
h1_ids=$(log_ids "$T/h1.log" | tr '\n' ' ')
check "h1's log (until its kill) has ids 1..$h1_n once each, in order" \
  [ "$h1_n" -gt 0 -a "$h1_ids" = "$(seq -s ' ' 1 "$h1_n") " ]
# the senders of each host, from where the clients first went
senders_on() { sed -n "s/^client \(c[0-9]*\) sender: .*upstreams $1.*/\1/p" "$T/clients.out"; }
both_logs=1
for log in h1 h2; do
  for host in h1 h2; do
    for nick in $(senders_on "$host"); do
      grep -q "\"nick\":\"$nick\"" "$T/$log.log" || { both_logs=0; echo "no $nick in $log.log"; }
    done
  done
done
check "each host's log has the messages of the senders on both hosts" \
  [ "$both_logs" = 1 -a -n "$(senders_on h1)" -a -n "$(senders_on h2)" ]
# nginx: the upgrades by upstream (written when each connection ends)
kill -TERM "$NGINX"
gone "$NGINX" 5
NGINX=
up1=$(grep -c " 101 upstream=\([^ ]*, \)*${ADDR[h1]}:8080\$" "$T/nginx/access.log" || true)
up2=$(grep -c " 101 upstream=\([^ ]*, \)*${ADDR[h2]}:8080\$" "$T/nginx/access.log" || true)
check "nginx's access log: upgrades to both hosts (h1 $up1, h2 $up2)" [ "$up1" -gt 0 -a "$up2" -gt 0 ]
# h2 stops cleanly, every message in its log
kill -TERM "${HOSTPID[2]}"
gone "${HOSTPID[2]}" 10
h2rc=$RC
HOSTPID[2]=
check "SIGTERM: h2 exits 0 ($h2rc) with every message in its log" \
  [ "$h2rc" = 0 -a -n "$(grep 'stopped; the log has every message' "$T/h2.out")" ]

# --- the transcript -------------------------------------------------------------------
echo
echo "=== transcript (net $NET.0/24: lb ${ADDR[lb]}, h1 ${ADDR[h1]}, h2 ${ADDR[h2]}, redis ${ADDR[rd]}, clients ${ADDR[cl]})"
for n in 1 2; do grep -h 'redis\|listening\|SIGTERM\|stopped' "$T/h$n.out" | sed "s/^/h$n: /"; done
grep -v '^ok \|^FAIL \|^READY' "$T/clients.out" | sed 's/^/clients: /'
echo "nginx: $up1 upgrades to h1, $up2 to h2; $(wc -l < "$T/nginx/access.log") requests logged"
echo "logs: h1.log $h1_n messages (killed), h2.log $(log_ids "$T/h2.log" | wc -l) messages; ids 1..$N"
echo "h1's processes killed: $h1_pids"
echo "took $((SECONDS - T_START)) s"
echo
# shellcheck disable=SC2154 # fails: lib.bash
[ "$fails" -eq 0 ] || dump "$T/clients.err" "$T/h1.err" "$T/h2.err" "$T/nginx/error.log"
done_tests
