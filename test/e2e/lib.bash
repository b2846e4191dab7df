# Shared helpers for the end-to-end tests (sourced, not run). Each test runs
# built programs on real files in a scratch directory removed at exit.
set -euo pipefail
: "${SL_BUILD:?SL_BUILD must point at the build directory}"
EX="$SL_BUILD/examples"
T=$(mktemp -d /tmp/sluice-e2e.XXXXXX)
trap 'rm -rf "$T"' EXIT
fails=0
passes=0
ok() { passes=$((passes + 1)); echo "ok   $*"; }
fail() { fails=$((fails + 1)); echo "FAIL $*"; }
check() { # check DESCRIPTION COMMAND...
  local d=$1; shift
  if "$@"; then ok "$d"; else fail "$d"; fi
}
# Deterministic random bytes: rand_file PATH MIB
rand_file() { head -c "$(( $2 * 1024 * 1024 ))" /dev/urandom > "$1"; }
done_tests() {
  echo "$passes passed, $fails failed"
  [ "$fails" -eq 0 ]
}
