#!/usr/bin/env bash
# The harness reports a skip as a skip (issue 11): a C case that calls SKIP
# makes the runner exit 77, and so does an e2e script that calls skip_all
# or skipped every part; every ctest test carries SKIP_RETURN_CODE 77, so
# ctest shows "Not Run (Skipped)" for them (checked on a copy of the real
# registration, with node hidden from fork_node_child); HELPERs are not
# registered. Exit codes of passing and failing cases stay 0 and 1.
. "$(dirname "$0")/lib.bash"
TESTS="$SL_BUILD/test/sluice_tests"
CTEST=$(command -v ctest)

# --- the runner ------------------------------------------------------------
rc_of() { set +e; "$@" > "$T/out" 2>&1; echo $?; set -e; }
check "runner: a skipping case exits 77" [ "$(rc_of "$TESTS" selftest_skip)" = 77 ]
check "runner: it says SKIP and why" grep -q '^SKIP: on purpose' "$T/out"
check "runner: a passing case exits 0" [ "$(rc_of "$TESTS" selftest_pass)" = 0 ]
check "runner: a failing case exits 1" [ "$(rc_of "$TESTS" selftest_fail)" = 1 ]
"$TESTS" --list > "$T/list"
check "runner: --list leaves the helpers out" \
  bash -c "! grep -q -E '^(selftest_|http_server_echo_helper$)' '$T/list'"

# --- lib.bash --------------------------------------------------------------
lib_rc() { # lib_rc BODY: the exit code of a script sourcing lib.bash
  printf '. %q\n%s\n' "$SL_SRC/test/e2e/lib.bash" "$1" > "$T/s.sh"
  rc_of bash "$T/s.sh"
}
check "lib.bash: skip_all exits 77" [ "$(lib_rc 'skip_all "no peer"; ok x')" = 77 ]
check "lib.bash: only skipped parts exit 77" [ "$(lib_rc 'skip a; done_tests')" = 77 ]
check "lib.bash: a check that ran and a skipped part pass" \
  [ "$(lib_rc 'ok a; skip b; done_tests')" = 0 ]
check "lib.bash: a failure beats a skip" [ "$(lib_rc 'fail a; skip b; done_tests')" = 1 ]

# --- ctest -----------------------------------------------------------------
# A copy of the registration, so the ctest runs here write their logs in $T
# and not in the build directory the outer ctest is writing to.
mkdir -p "$T/ct"
cp "$SL_BUILD/test/CTestTestfile.cmake" "$T/ct/"
"$CTEST" --test-dir "$T/ct" --show-only=json-v1 > "$T/tests.json"
bad=$(python3 - "$T/tests.json" "$T/list" <<'PY'
import json, sys
tests = json.load(open(sys.argv[1]))["tests"]
cases = set(open(sys.argv[2]).read().split())
bad = [t["name"] for t in tests
       if {"name": "SKIP_RETURN_CODE", "value": 77} not in t["properties"]]
names = {t["name"] for t in tests if not t["name"].startswith("e2e_")}
bad += ["not registered: " + n for n in sorted(cases - names)]
bad += ["registered, not a case: " + n for n in sorted(names - cases)]
print(" ".join(bad[:5]) + (" and %d more" % (len(bad) - 5) if len(bad) > 5 else ""))
PY
)
check "ctest: every test has SKIP_RETURN_CODE 77, every case is one${bad:+ ($bad)}" \
  [ -z "$bad" ]
mkdir -p "$T/bin"
ln -s "$(command -v rm)" "$T/bin/rm"
set +e
PATH="$T/bin" "$CTEST" --test-dir "$T/ct" -R '^fork_node_child$' > "$T/ctest.out" 2>&1
rc=$?
set -e
check "ctest: fork_node_child without node is Not Run (Skipped), ctest exits 0 (rc $rc)" \
  bash -c "[ $rc -eq 0 ] && grep -q 'fork_node_child .*Skipped' '$T/ctest.out'"
if command -v node > /dev/null; then
  "$CTEST" --test-dir "$T/ct" -R '^fork_node_child$' > "$T/ctest2.out" 2>&1 || true
  check "ctest: with node it runs and passes" \
    grep -q 'fork_node_child .*Passed' "$T/ctest2.out"
else
  skip "fork_node_child with node: node is not installed"
fi
done_tests
