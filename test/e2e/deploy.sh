#!/usr/bin/env bash
# The deployment artifacts in share/deploy (issue 10), checked without a
# container engine: the Dockerfile is multi-stage on Debian 12 and runs as
# a non-root user, builds with packages scripts/bootstrap knows and ships
# the libraries the binary links; the Kubernetes Deployment probes
# /readyz and /healthz on the admin port its args open, reachable from the
# kubelet (--admin-host 0.0.0.0), with a grace period above the drain
# deadline; and the very arguments of both, run here, give a server whose
# probe paths answer 200.
. "$(dirname "$0")/lib.bash"
SLUICE="$SL_BUILD/sluice"
D="$SL_SRC/share/deploy/Dockerfile"
K="$SL_SRC/share/deploy/kubernetes.yaml"
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null || true; done; rm -rf "$T"' EXIT
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# --- Dockerfile ------------------------------------------------------------
froms=$(grep -c '^FROM ' "$D")
check "Dockerfile: multi-stage ($froms FROM lines)" [ "$froms" -ge 2 ]
check "Dockerfile: the build stage is Debian 12" grep -qx 'FROM debian:12 AS build' "$D"
check "Dockerfile: the runtime stage is Debian 12 slim" \
  [ "$(grep '^FROM ' "$D" | tail -1)" = "FROM debian:12-slim" ]
check "Dockerfile: the runtime copies from the build stage" grep -q '^COPY --from=build ' "$D"
user=$(sed -n 's/^USER \([^:]*\).*/\1/p' "$D" | tail -1)
check "Dockerfile: runs as a non-root USER ($user)" \
  bash -c "[ -n '$user' ] && [ '$user' != 0 ] && [ '$user' != root ]"
check "Dockerfile: the user is created in the runtime stage" \
  grep -q "useradd .*--uid $user " "$D"
# Build packages: each one scripts/bootstrap installs for CI.
boot=$(sed -n '/^pkgs=(/,/)/p' "$SL_SRC/scripts/bootstrap" | tr -d '()' | sed 's/pkgs=//')
build_pkgs=$(awk '/^FROM debian:12 AS build/,/^FROM debian:12-slim/' "$D" |
  sed -n '/install -y/,/rm -rf/p' | tr ' \\' '\n\n' |
  grep -E '^[a-z0-9][a-z0-9.+-]+$' | grep -vE '^(apt-get|install|rm|rf|y|no|recommends|update|DEBIAN_FRONTEND)$' || true)
missing=""
for p in $build_pkgs; do
  grep -qw -- "$p" <<<"$boot" || missing="$missing $p"
done
check "Dockerfile: build packages are scripts/bootstrap's (missing:${missing:- none})" [ -z "$missing" ]
# Runtime packages: the ones providing what the binary links.
owner() { # owner PATH: the Debian package of a library (merged /usr too)
  local f=$1
  for c in "$f" "/usr$f" "$(readlink -f "$f")" "/usr$(readlink -f "$f")"; do
    dpkg -S "$c" 2>/dev/null | head -1 | cut -d: -f1 && return 0
  done
  return 0
}
for lib in $(ldd "$SLUICE" | awk '/=>/ {print $1}' | grep -v '^libc\.so'); do
  pkg=$(owner "$(ldd "$SLUICE" | awk -v l="$lib" '$1 == l {print $3}')")
  # The base image has the C and C++ runtimes; a sanitizer build's own
  # runtimes are not what the image ships.
  case "$pkg" in
    libc6|libgcc-s1|libstdc++6|libasan*|libubsan*|liblsan*|libtsan*) continue ;;
  esac
  check "Dockerfile: the runtime image installs $pkg (for $lib)" \
    bash -c "[ -n '$pkg' ] && awk '/^FROM debian:12-slim/,0' '$D' | grep -qw -- '$pkg'"
done

# The image's ENTRYPOINT + CMD, run here with the site and ports mapped.
mapfile -t dargs < <(python3 - "$D" <<'EOF'
import json, re, sys
text = open(sys.argv[1]).read().replace("\\\n", "")
ep = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", text, re.M).group(1))
cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, re.M).group(1))
for a in ep[1:] + cmd:
    print(a)
EOF
)
check "Dockerfile: ENTRYPOINT is sluice serve" [ "${dargs[0]}" = serve ]

# run_args NAME ARGS...: `sluice` with ARGS (the site and the two ports
# replaced by local ones); /readyz and /healthz must answer 200 on the
# admin port, then SIGTERM ends it with exit 0.
run_args() {
  local name=$1; shift
  local port aport i out=("$@")
  port=$(free_port); aport=$(free_port)
  for ((i = 1; i < ${#out[@]}; i++)); do
    case "${out[i-1]}" in
      --port) out[i]=$port ;;
      --admin-port) out[i]=$aport ;;
      --host|--admin-host) out[i]=127.0.0.1 ;;
    esac
    [ "${out[i]}" = /usr/share/sluice/site ] && out[i]=$SL_SRC/share/site
  done
  "$SLUICE" "${out[@]}" > "$T/$name.out" 2> "$T/$name.err" &
  local pid=$!
  PIDS+=("$pid")
  local ok=0
  for _ in $(seq 1 100); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$aport/readyz")" = 200 ] && ok=1 && break
    sleep 0.05
  done
  check "$name: /readyz 200 with these arguments" [ "$ok" -eq 1 ]
  check "$name: /healthz 200" \
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$aport/healthz")" = 200 ]
  check "$name: the site is served" \
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/")" = 200 ]
  kill -TERM "$pid"
  set +e; wait "$pid"; rc=$?; set -e
  check "$name: SIGTERM, exit 0 (rc $rc)" [ "$rc" -eq 0 ]
}
run_args "Dockerfile's arguments" "${dargs[@]}"

# --- Kubernetes ------------------------------------------------------------
python3 - "$K" "$user" > "$T/k8s" <<'EOF'
import sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
dep = next(d for d in docs if d["kind"] == "Deployment")
pod = dep["spec"]["template"]["spec"]
c = pod["containers"][0]
args = [str(a) for a in c["args"]]
def arg(name):
    return args[args.index(name) + 1] if name in args else ""
ports = {p["name"]: p["containerPort"] for p in c["ports"]}
def port_of(probe):
    p = c[probe]["httpGet"]["port"]
    return ports.get(p, p)
print("grace", pod["terminationGracePeriodSeconds"])
print("drain", arg("--shutdown-timeout"))
print("readiness", c["readinessProbe"]["httpGet"]["path"], port_of("readinessProbe"))
print("liveness", c["livenessProbe"]["httpGet"]["path"], port_of("livenessProbe"))
print("admin", arg("--admin-port"), arg("--admin-host"))
print("http", arg("--port"), ports.get("http", ""))
print("user", pod["securityContext"].get("runAsUser", ""),
      pod["securityContext"].get("runAsNonRoot", False))
print("args", " ".join(args))
EOF
k() { sed -n "s/^$1 //p" "$T/k8s"; }
read -r grace <<<"$(k grace)"; read -r drain <<<"$(k drain)"
check "k8s: terminationGracePeriodSeconds $grace > --shutdown-timeout $drain" \
  bash -c "[ -n '$drain' ] && [ '$grace' -gt '$drain' ]"
read -r rpath rport <<<"$(k readiness)"
read -r lpath lport <<<"$(k liveness)"
read -r aport ahost <<<"$(k admin)"
read -r hport hcport <<<"$(k http)"
read -r kuid knonroot <<<"$(k user)"
check "k8s: readiness is /readyz ($rpath)" [ "$rpath" = /readyz ]
check "k8s: liveness is /healthz ($lpath)" [ "$lpath" = /healthz ]
check "k8s: both probe the --admin-port ($aport: $rport, $lport)" \
  bash -c "[ '$rport' = '$aport' ] && [ '$lport' = '$aport' ]"
check "k8s: the admin server listens for the kubelet (--admin-host $ahost)" [ "$ahost" = 0.0.0.0 ]
check "k8s: containerPort http is --port ($hcport = $hport)" [ "$hcport" = "$hport" ]
check "k8s: runAsNonRoot, as the Dockerfile's USER ($kuid = $user)" \
  bash -c "[ '$knonroot' = True ] && [ '$kuid' = '$user' ]"
read -r -a kargs <<<"$(k args)"
run_args "the Deployment's arguments" serve "${kargs[@]}"
done_tests
