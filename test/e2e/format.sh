#!/usr/bin/env bash
# Issue 11: every C source and header is in the house format (.clang-format).
# Fix with: git ls-files '*.c' '*.h' | xargs clang-format -i
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
command -v clang-format >/dev/null || { echo "SKIP: clang-format is not installed"; exit 77; }
cd "$here"
bad=0
while IFS= read -r f; do
  clang-format --dry-run -Werror "$f" 2>/dev/null || { echo "FAIL not formatted: $f"; bad=1; }
done < <(git ls-files '*.c' '*.h' 2>/dev/null || find src include test examples cli bench tools -name '*.[ch]')
exit $bad
