#!/usr/bin/env bash
# Chapter 4 examples on real input: exec-ls, execfile-version, spawn-ping
# (with a stand-in ping on PATH, and without any), spawn-gzip, run-timeout
# (the whole tree dies at the deadline) and spawn-grep.
. "$(dirname "$0")/lib.bash"

# exec-ls: "Output: " and the listing of the directory, as ls -la gives it.
mkdir -p "$T/dir" && touch "$T/dir/alpha" "$T/dir/beta"
out=$("$EX/exec-ls" "$T/dir")
want=$(cd "$T/dir" && ls -la)
check "exec-ls prints Output: and ls -la" [ "$out" = "Output: $want" ]
set +e; err=$("$EX/exec-ls" "$T/missing-dir" 2>&1 >/dev/null); rc=$?; set -e
check "exec-ls: bad directory is an error, exit 1" \
  bash -c '[ '$rc' -eq 1 ] && grep -q "ENOENT" <<<"$0"' "$err"

# execfile-version: PROGRAM --version without a shell.
out=$("$EX/execfile-version" gzip | head -1)
check "execfile-version gzip" [ "$out" = "gzip version: $(gzip --version | head -1)" ]
if command -v node >/dev/null; then
  out=$("$EX/execfile-version")
  check "execfile-version defaults to node" [ "$out" = "node version: $(node --version)" ]
else
  skip "execfile-version defaults to node: node is not installed"
fi
set +e; err=$("$EX/execfile-version" sluice-nosuch 2>&1); rc=$?; set -e
check "execfile-version: missing program is ENOENT, exit 1" \
  bash -c '[ '$rc' -eq 1 ] && grep -q "spawn sluice-nosuch ENOENT" <<<"$0"' "$err"

# spawn-ping: a stand-in ping that behaves like the real one (lines on
# stdout, one on stderr, exit 0), then no ping at all.
mkdir -p "$T/bin"
cat > "$T/bin/ping" <<'SH'
#!/bin/sh
echo "PING $3 ($3) 56(84) bytes of data."
i=1; while [ $i -le $2 ]; do echo "64 bytes from $3: icmp_seq=$i ttl=64 time=0.0$i ms"; i=$((i+1)); done
echo "warning: stand-in ping" >&2
SH
chmod +x "$T/bin/ping"
out=$(PATH="$T/bin:$PATH" "$EX/spawn-ping" 2>&1)
check "spawn-ping streams lines as stdout: ..." \
  grep -qx "stdout: 64 bytes from 127.0.0.1: icmp_seq=4 ttl=64 time=0.04 ms" <<<"$out"
check "spawn-ping: 5 stdout lines, default host 127.0.0.1" \
  [ "$(grep -c '^stdout: ' <<<"$out")" -eq 5 ]
check "spawn-ping: stderr lines as stderr: ..." grep -qx "stderr: warning: stand-in ping" <<<"$out"
check "spawn-ping: ends with Process exited: 0" [ "$(tail -1 <<<"$out")" = "Process exited: 0" ]
mkdir -p "$T/empty-bin"
set +e; err=$(PATH="$T/empty-bin" "$EX/spawn-ping" 2>&1); rc=$?; set -e
check "spawn-ping without ping: ENOENT and non-zero exit" \
  bash -c '[ '$rc' -ne 0 ] && grep -q "spawn ping ENOENT" <<<"$0"' "$err"
if command -v ping >/dev/null; then
  set +e; out=$("$EX/spawn-ping" 127.0.0.1 2>&1); set -e
  check "spawn-ping with the real ping ends with Process exited" grep -q "^Process exited: " <<<"$out"
else
  skip "spawn-ping with the real ping: ping is not installed"
fi

# spawn-gzip: 20 MiB of mixed data through a gzip child.
for i in $(seq 1 3000); do echo "line $i of a log that compresses well"; done > "$T/text"
{ for i in 1 2 3 4 5 6; do cat "$T/text"; done; head -c 20000000 /dev/urandom; } > "$T/big"
"$EX/spawn-gzip" "$T/big" "$T/big.gz"
check "spawn-gzip output passes gzip -t" gzip -t "$T/big.gz"
check "spawn-gzip output unzips to the input" bash -c "gunzip -c '$T/big.gz' | cmp -s - '$T/big'"
set +e; err=$("$EX/spawn-gzip" "$T/nope" "$T/nope.gz" 2>&1); rc=$?; set -e
check "spawn-gzip: missing source is an error naming it" \
  bash -c '[ '$rc' -ne 0 ] && grep -q "ENOENT.*nope" <<<"$0"' "$err"

# run-timeout: exit codes pass through; at the deadline the whole tree dies.
out=$("$EX/run-timeout" --timeout-ms 5000 -- sh -c 'echo hi; exit 0')
check "run-timeout: exited with code 0" [ "$out" = "$(printf 'hi\nexited with code 0')" ]
set +e; out=$("$EX/run-timeout" --timeout-ms 5000 -- sh -c 'exit 3'); rc=$?; set -e
check "run-timeout: exit code 3 mirrored" [ "$out" = "exited with code 3" -a $rc -eq 3 ]
set +e
out=$("$EX/run-timeout" --timeout-ms 300 -- sh -c 'sleep 100 & echo $! > "$0"; sleep 100' "$T/bg.pid")
rc=$?
set -e
check "run-timeout: killed by SIGTERM (timeout), exit 143" \
  [ "$out" = "killed by SIGTERM (timeout)" -a $rc -eq 143 ]
bg=$(cat "$T/bg.pid")
gone() { # gone PID: not running (or a zombie left to init)
  for _ in $(seq 1 100); do
    st=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || echo X)
    case "$st" in X|Z) return 0 ;; esac
    sleep 0.02
  done
  return 1
}
check "run-timeout: the background grandchild died too" gone "$bg"
set +e
out=$("$EX/run-timeout" --timeout-ms 200 --grace-ms 200 -- sh -c 'trap "" TERM; sleep 100 & echo $! > "$0"; sleep 100' "$T/bg2.pid")
rc=$?
set -e
check "run-timeout: SIGTERM ignored, SIGKILL after the grace period" \
  [ "$out" = "killed by SIGKILL (timeout)" -a $rc -eq 137 ]
check "run-timeout: the grandchild ignoring SIGTERM died too" gone "$(cat "$T/bg2.pid")"

# spawn-grep: the matches grep finds, in order; exit 1 without matches.
seq 1 200000 > "$T/numbers"
out=$("$EX/spawn-grep" '^1234' "$T/numbers")
check "spawn-grep prints grep's matches" [ "$out" = "$(grep '^1234' "$T/numbers")" ]
set +e; "$EX/spawn-grep" 'nomatch' "$T/numbers" > "$T/none"; rc=$?; set -e
check "spawn-grep: no match, no output, exit 1" [ $rc -eq 1 -a ! -s "$T/none" ]
set +e; err=$("$EX/spawn-grep" x "$T/missing" 2>&1); rc=$?; set -e
check "spawn-grep: missing file is an error" \
  bash -c '[ '$rc' -ne 0 ] && grep -q "ENOENT.*missing" <<<"$0"' "$err"
done_tests
