#!/usr/bin/env bash
# copy-file: a 64 MiB random file copies byte-identically; failures name the
# file and exit non-zero.
. "$(dirname "$0")/lib.bash"

rand_file "$T/src.bin" 64
out=$("$EX/copy-file" "$T/src.bin" "$T/dst.bin")
check "prints File copied." [ "$out" = "File copied." ]
check "64 MiB copy is byte-identical" cmp -s "$T/src.bin" "$T/dst.bin"

: > "$T/empty"
"$EX/copy-file" "$T/empty" "$T/empty.out" >/dev/null
check "empty file copies to an empty file" [ -f "$T/empty.out" ] && [ ! -s "$T/empty.out" ]

run_err() { set +e; err=$("$@" 2>&1 >/dev/null); rc=$?; set -e; }
run_err "$EX/copy-file" "$T/nope" "$T/x"
check "missing source: non-zero exit and ENOENT naming it" \
  bash -c '[ '$rc' -ne 0 ] && grep -q "ENOENT.*'"$T"'/nope" <<<"$0"' "$err"
run_err "$EX/copy-file" "$T/src.bin" /dev/full
check "full device: non-zero exit and ENOSPC naming /dev/full" \
  bash -c '[ '$rc' -ne 0 ] && grep -q "ENOSPC.*/dev/full" <<<"$0"' "$err"
run_err "$EX/copy-file" "$T/src.bin" "$T/no/such/dir/out"
check "destination in a missing directory: ENOENT" \
  bash -c '[ '$rc' -ne 0 ] && grep -q "ENOENT" <<<"$0"' "$err"
done_tests
