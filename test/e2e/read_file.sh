#!/usr/bin/env bash
# read-file: chunks are whole UTF-8 characters, the text comes back intact,
# errors name the file.
. "$(dirname "$0")/lib.bash"

printf 'hello stream\n' > "$T/small.txt"
out=$("$EX/read-file" "$T/small.txt")
check "small file prints its chunk then the end line" \
  [ "$out" = "$(printf 'Received chunk: hello stream\n\nFinished reading file.')" ]

# 300 KB of multi-byte text without newlines: chunk boundaries (64 KiB) fall
# inside characters unless the decoder holds them back.
node -e 'process.stdout.write("héllo wörld € 𝄞 ".repeat(15000))' > "$T/utf8.txt" 2>/dev/null \
  || python3 -c 'import sys; sys.stdout.write("héllo wörld € 𝄞 " * 15000)' > "$T/utf8.txt"
"$EX/read-file" "$T/utf8.txt" > "$T/out.txt"
grep '^Received chunk: ' "$T/out.txt" | sed 's/^Received chunk: //' | tr -d '\n' > "$T/back.txt"
check "multi-byte text comes back byte-identical" cmp -s "$T/utf8.txt" "$T/back.txt"
check "more than one chunk was delivered" [ "$(grep -c '^Received chunk: ' "$T/out.txt")" -gt 1 ]
check "every chunk is valid UTF-8" iconv -f UTF-8 -t UTF-8 "$T/out.txt" -o /dev/null
check "ends with the end line" [ "$(tail -n 1 "$T/out.txt")" = "Finished reading file." ]

set +e
err=$("$EX/read-file" "$T/missing.txt" 2>&1 >/dev/null); rc=$?
set -e
check "missing file exits non-zero" [ $rc -ne 0 ]
check "missing file error names ENOENT and the path" \
  grep -q "ENOENT: no such file or directory, open '$T/missing.txt'" <<<"$err"
set +e
err=$("$EX/read-file" "$T" 2>&1 >/dev/null); rc=$?
set -e
check "directory given as a file fails with EISDIR" \
  bash -c '[ '$rc' -ne 0 ] && grep -q EISDIR <<<"$0"' "$err"
done_tests
