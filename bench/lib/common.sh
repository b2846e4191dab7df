# shellcheck shell=bash disable=SC2034,SC2086
# Helpers shared by the bench suites (sourced by bench/run): running one
# command under a time limit while measuring wall time and peak RSS, the
# median of a few numbers, float formatting, and the disk-space check.
# Nothing here asserts on timing; numbers are only reported.

# Set by bench/run: SCRATCH (scratch dir), LIB (this dir), RUN_LIMIT (s).
TIME_BIN=
[ -x /usr/bin/time ] && /usr/bin/time -f %M -o /dev/null true 2>/dev/null \
  && TIME_BIN=/usr/bin/time

log() { printf '[bench] %s\n' "$*" >&2; }

# measure IN OUT ERR CMD [ARGS...]
# Runs CMD with stdin from IN, stdout to OUT, stderr to ERR, killed after
# RUN_LIMIT seconds. Sets M_SECS (wall seconds), M_RSS_KB (peak RSS of CMD
# in KiB) and M_RC (exit status; 124 means it hit the time limit).
measure() {
  local in=$1 out=$2 err=$3 rssf="$SCRATCH/.rss" t0 t1
  shift 3
  rm -f "$rssf"
  M_RC=0
  if [ -n "$TIME_BIN" ]; then
    t0=$EPOCHREALTIME
    timeout -k 5 "$RUN_LIMIT" "$TIME_BIN" -f %M -o "$rssf" "$@" \
      <"$in" >"$out" 2>"$err" || M_RC=$?
    t1=$EPOCHREALTIME
    M_SECS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f", b - a }')
    M_RSS_KB=$(tail -n 1 "$rssf" 2>/dev/null)
  else
    timeout -k 5 "$RUN_LIMIT" python3 "$LIB/maxrss.py" "$rssf" "$@" \
      <"$in" >"$out" 2>"$err" || M_RC=$?
    read -r M_RSS_KB M_SECS <"$rssf" 2>/dev/null || true
  fi
  case "$M_RSS_KB" in ''|*[!0-9]*) M_RSS_KB=0 ;; esac
  [ -n "$M_SECS" ] || M_SECS=0
}

# median X Y Z ... -> the middle value (lower middle for an even count)
median() {
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 }
    END { print v[int((NR + 1) / 2)] }'
}

# max X Y Z ... -> the largest value
maxof() { printf '%s\n' "$@" | sort -g | tail -n 1; }

# calc EXPR [FORMAT] -> evaluates an awk expression, prints it with FORMAT
calc() { awk "BEGIN { printf \"${2:-%.2f}\", $1 }"; }

# need_disk DIR BYTES: fails with a message when DIR's filesystem has less.
need_disk() {
  local dir=$1 want=$2 have
  mkdir -p "$dir" || return 1
  have=$(df -P -B1 "$dir" | awk 'NR == 2 { print $4 }')
  if [ "$have" -lt "$want" ]; then
    log "not enough disk in $dir: $((have >> 20)) MiB free," \
        "need $((want >> 20)) MiB (set SCRATCH=dir elsewhere, or use --quick)"
    return 1
  fi
  log "disk: $((have >> 20)) MiB free in $dir, need $((want >> 20)) MiB"
}
