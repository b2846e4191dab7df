#!/usr/bin/env bash
# upper-count: same bytes as tr a-z A-Z, and the UTF-8 character count of
# wc -m, also when multi-byte characters straddle chunk boundaries.
. "$(dirname "$0")/lib.bash"

# ~3 MB of mixed text: ASCII, 2-, 3- and 4-byte characters in odd positions.
python3 - "$T/in.txt" <<'PY'
import sys, random
random.seed(7)
words = ["stream", "héllo", "wörld", "€uro", "𝄞clef", "naïve", "日本語", "x"]
with open(sys.argv[1], "w", encoding="utf-8") as f:
    for i in range(120000):
        f.write(random.choice(words) + (" " if i % 13 else "\n"))
PY
tr a-z A-Z < "$T/in.txt" > "$T/want.txt"
want_chars=$(LC_ALL=C.UTF-8 wc -m < "$T/in.txt")

"$EX/upper-count" < "$T/in.txt" > "$T/out.txt" 2> "$T/err.txt"
check "file on stdin: output equals tr a-z A-Z" cmp -s "$T/want.txt" "$T/out.txt"
check "file on stdin: characters equals wc -m ($want_chars)" \
  grep -qx "characters: $want_chars" "$T/err.txt"

# Through pipes, chunk sizes are whatever the pipe delivers; dd with odd
# block sizes makes boundaries fall inside characters.
dd if="$T/in.txt" bs=4093 status=none | "$EX/upper-count" 2> "$T/err2.txt" | cat > "$T/out2.txt"
check "pipes: output equals tr a-z A-Z" cmp -s "$T/want.txt" "$T/out2.txt"
check "pipes: characters equals wc -m" grep -qx "characters: $want_chars" "$T/err2.txt"

printf '\xe2\x82' > "$T/split1"; printf '\xac' > "$T/split2"
(cat "$T/split1"; sleep 0.2; cat "$T/split2") | "$EX/upper-count" 2> "$T/err3.txt" > "$T/out3.txt"
check "a character split across two writes counts once" grep -qx "characters: 1" "$T/err3.txt"
check "and its bytes pass through" bash -c "printf '\xe2\x82\xac' | cmp -s - '$T/out3.txt'"

"$EX/upper-count" < /dev/null > "$T/out4.txt" 2> "$T/err4.txt"
check "empty input: no output, zero characters" \
  bash -c "[ ! -s '$T/out4.txt' ] && grep -qx 'characters: 0' '$T/err4.txt'"

set +e; "$EX/upper-count" < "$T/in.txt" > /dev/full 2> "$T/err5.txt"; rc=$?; set -e
check "stdout on a full device: non-zero exit and ENOSPC" \
  bash -c "[ $rc -ne 0 ] && grep -q ENOSPC '$T/err5.txt'"
done_tests
