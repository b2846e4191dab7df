#!/usr/bin/env bash
# slow-reader: one chunk per interval, the buffer never exceeds the mark.
. "$(dirname "$0")/lib.bash"

rand_file "$T/in.bin" 1
"$EX/slow-reader" "$T/in.bin" --interval-ms 2 --hwm 16384 > "$T/out.txt"
n=$(grep -c '^chunk ' "$T/out.txt")
check "1 MiB in 16 KiB chunks gives 64 chunks" [ "$n" -eq 64 ]
check "every chunk reports buffered <= 16384" \
  bash -c "! grep '^chunk ' '$T/out.txt' | awk '{ if (\$6 > 16384) bad=1 } END { exit !bad }'"
check "the reader did buffer ahead while paused" \
  bash -c "grep '^chunk ' '$T/out.txt' | awk '{ if (\$6 > 0) seen=1 } END { exit !seen }'"
check "summary line counts every byte" \
  grep -q "^Finished: 64 chunks, 1048576 bytes; max buffered [0-9]* <= highWaterMark 16384$" "$T/out.txt"

start=$(date +%s%N)
"$EX/slow-reader" "$T/in.bin" --interval-ms 20 --hwm 262144 >/dev/null
el=$(( ($(date +%s%N) - start) / 1000000 ))
check "one chunk per interval: 4 chunks at 20 ms take at least 60 ms" [ "$el" -ge 60 ]

set +e; "$EX/slow-reader" "$T/missing" 2>"$T/err"; rc=$?; set -e
check "missing file: non-zero exit and ENOENT" bash -c "[ $rc -ne 0 ] && grep -q ENOENT '$T/err'"
done_tests
