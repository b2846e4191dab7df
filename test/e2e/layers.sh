#!/usr/bin/env bash
# Layer check (issue 11): no NEW include or call from a lower layer of src/
# to a higher one; the edges still in tools/layers.known are known violations.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
python3 "$here/tools/layers.py" --known "$here/tools/layers.known"
