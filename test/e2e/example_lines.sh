#!/usr/bin/env bash
# Issue 11: the examples stay as short as the manual's snippets they
# implement, like for like (extras fenced out): the median ratio of C code
# lines to JS code lines is at most 2.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
# --check also holds examples/README.md's table to the sources.
python3 "$here/tools/exlines.py" --check --max-median 2

