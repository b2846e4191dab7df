#!/usr/bin/env bash
# gzip-file: output passes gzip -t, gunzip gives the input back.
. "$(dirname "$0")/lib.bash"

# Log-like text plus a random tail: compressible and not.
for i in $(seq 1 2000); do
  echo "2026-11-27T10:00:$((i % 60)) INFO GET /api/items/$i 200 $((i * 7 % 1000))ms"
done > "$T/log.txt"
for i in 1 2 3 4 5 6 7 8; do cat "$T/log.txt"; done > "$T/big.txt"
head -c 3000000 /dev/urandom >> "$T/big.txt"

out=$("$EX/gzip-file" "$T/big.txt")
check "prints File compressed." [ "$out" = "File compressed." ]
check "default destination is SRC.gz" [ -s "$T/big.txt.gz" ]
check "output passes gzip -t" gzip -t "$T/big.txt.gz"
gunzip -c "$T/big.txt.gz" > "$T/back.txt"
check "gunzip gives the input back" cmp -s "$T/big.txt" "$T/back.txt"
check "compressible text got smaller" \
  [ "$(stat -c %s "$T/big.txt.gz")" -lt "$(stat -c %s "$T/big.txt")" ]

"$EX/gzip-file" "$T/log.txt" "$T/explicit.gz" --level 9 >/dev/null
check "explicit destination and level" bash -c "gunzip -c '$T/explicit.gz' | cmp -s - '$T/log.txt'"

: > "$T/empty"
"$EX/gzip-file" "$T/empty" >/dev/null
check "empty input gives a valid empty gzip" bash -c "gzip -t '$T/empty.gz' && [ -z \"\$(gunzip -c '$T/empty.gz')\" ]"

set +e; err=$("$EX/gzip-file" "$T/missing" 2>&1 >/dev/null); rc=$?; set -e
check "missing source: non-zero exit and ENOENT" \
  bash -c '[ '$rc' -ne 0 ] && grep -q "ENOENT.*missing" <<<"$0"' "$err"
set +e; err=$("$EX/gzip-file" "$T/log.txt" /dev/full 2>&1 >/dev/null); rc=$?; set -e
check "full device: ENOSPC naming /dev/full" \
  bash -c '[ '$rc' -ne 0 ] && grep -q "ENOSPC.*/dev/full" <<<"$0"' "$err"
done_tests
