#!/usr/bin/env bash
# Issue 11: the examples stay as short as the manual's snippets they
# implement, like for like (extras fenced out): the median ratio of C code
# lines to JS code lines is at most 2.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
python3 "$here/tools/exlines.py" --check --max-median 2
# examples/README.md holds the current table.
python3 "$here/tools/exlines.py" --markdown > "${TMPDIR:-/tmp}/exlines.$$.md"
python3 - "$here/examples/README.md" "${TMPDIR:-/tmp}/exlines.$$.md" <<'PY'
import sys
readme, table = (open(p, encoding="utf-8").read() for p in sys.argv[1:])
rm = table.strip() in readme
sys.exit(0 if rm else "examples/README.md: the table is stale (tools/exlines.py --markdown)")
PY
rm -f "${TMPDIR:-/tmp}/exlines.$$.md"
