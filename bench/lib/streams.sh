# shellcheck shell=bash disable=SC2034,SC2086
# The Streams suite (issue 2), sourced by bench/run: file copy, gzip and an
# upper-casing Transform, each run by sluice's example program, the classic
# Unix tool and the Node.js twin in bench/node/. Generates its inputs in
# SCRATCH, runs every tool once to warm up and then RUNS times round-robin,
# verifies the outputs once (outside the timing) and prints a Markdown report.

# Per case/tool results, keyed "case/tool".
declare -A R_SECS R_RSS R_FAIL R_CHECK R_OUT R_BAD

# tool_cmd CASE TOOL: the command line a row runs (shown in the table).
tool_label() {
  case "$1/$2" in
    copy/sluice) echo 'examples/copy-file SRC DST' ;;
    copy/cp) echo 'cp SRC DST' ;;
    copy/node) echo 'node copy.js SRC DST (pipe)' ;;
    gzip/sluice) echo 'examples/gzip-file SRC DST --level 6' ;;
    gzip/gzip) echo 'gzip -6 -c SRC > DST' ;;
    gzip/node) echo 'node gzip.js SRC DST 6 (createGzip)' ;;
    upper/sluice) echo 'examples/upper-count < SRC > DST' ;;
    upper/tr) echo 'tr a-z A-Z < SRC > DST' ;;
    upper/node) echo 'node upper.js < SRC > DST (Transform)' ;;
  esac
}

# run_tool CASE TOOL OUT ERR: one measured run (sets M_* from measure()).
run_tool() {
  local c=$1 t=$2 out=$3 err=$4 ex="$BUILD_DIR/examples"
  case "$c/$t" in
    copy/sluice) measure /dev/null /dev/null "$err" "$ex/copy-file" "$S_BIG" "$out" ;;
    copy/cp) measure /dev/null /dev/null "$err" cp "$S_BIG" "$out" ;;
    copy/node) measure /dev/null /dev/null "$err" node "$BENCH/node/copy.js" "$S_BIG" "$out" ;;
    gzip/sluice) measure /dev/null /dev/null "$err" "$ex/gzip-file" "$S_LOG" "$out" --level 6 ;;
    gzip/gzip) measure "$S_LOG" "$out" "$err" gzip -6 -c ;;
    gzip/node) measure /dev/null /dev/null "$err" node "$BENCH/node/gzip.js" "$S_LOG" "$out" 6 ;;
    upper/sluice) measure "$S_LOG" "$out" "$err" "$ex/upper-count" ;;
    upper/tr) measure "$S_LOG" "$out" "$err" tr a-z A-Z ;;
    upper/node) measure "$S_LOG" "$out" "$err" node "$BENCH/node/upper.js" ;;
  esac
}

# verify_tool CASE TOOL OUT ERR: checks one output; sets V_MSG, returns 1 if
# the output is wrong.
verify_tool() {
  local c=$1 t=$2 out=$3 err=$4 n
  case "$c" in
    copy)
      if cmp -s "$S_BIG" "$out"; then V_MSG='cmp: identical'
      else V_MSG='cmp: DIFFERS'; return 1; fi ;;
    gzip)
      if ! gzip -t "$out" 2>/dev/null; then V_MSG='gzip -t: FAILED'; return 1; fi
      if ! gunzip -c "$out" | cmp -s - "$S_LOG"; then
        V_MSG='gzip -t ok, gunzip: DIFFERS'; return 1; fi
      # One member, as HTTP clients need: one decompressobj(31) reads it all.
      n=$(python3 -c 'import sys, zlib
d = zlib.decompressobj(31)
with open(sys.argv[1], "rb") as f:
    while not d.eof and (b := f.read(1 << 20)):
        d.decompress(b, 1 << 20)
        while d.unconsumed_tail and not d.eof:
            d.decompress(d.unconsumed_tail, 1 << 20)
    rest = d.unused_data + f.read()
print(len(rest) if d.eof else "no end")' "$out" 2>/dev/null || echo '?')
      if [ "$n" = 0 ]; then V_MSG='gzip -t ok, gunzip = input, one member'
      else V_MSG="gzip -t ok, gunzip = input, NOT one member ($n bytes after the first)"; return 1; fi ;;
    upper)
      if ! cmp -s "$S_UPPER_REF" "$out"; then V_MSG="cmp vs tr: DIFFERS"; return 1; fi
      V_MSG='cmp vs tr: identical'
      [ "$t" = tr ] && return 0
      n=$(sed -n 's/^characters: \([0-9]*\)$/\1/p' "$err" | tail -n 1)
      if [ "$n" = "$S_LOG_BYTES" ]; then V_MSG="$V_MSG, characters: $n"
      else V_MSG="$V_MSG, characters: ${n:-missing} (want $S_LOG_BYTES)"; return 1; fi ;;
  esac
}

# run_case CASE TOOL...: warm-up, RUNS measured rounds, verification.
run_case() {
  local c=$1 t round out err first
  shift
  log "$c: warm-up"
  for t in "$@"; do
    out="$SCRATCH/out.$c.$t" err="$SCRATCH/err.$c.$t"
    rm -f "$out"
    run_tool "$c" "$t" "$out" "$err"
    if [ "$M_RC" -ne 0 ]; then
      first=$(head -c 200 "$err" | head -n 1)
      [ "$M_RC" -eq 124 ] && first="timed out after ${RUN_LIMIT}s"
      [ "$M_RC" -eq 127 ] && first="not found (not built?)"
      R_FAIL[$c/$t]="exit $M_RC: ${first:-no message}"
      log "$c/$t failed: ${R_FAIL[$c/$t]}"
    fi
    rm -f "$out"
  done
  for ((round = 1; round <= RUNS; round++)); do
    log "$c: round $round/$RUNS"
    for t in "$@"; do
      [ -n "${R_FAIL[$c/$t]-}" ] && continue
      out="$SCRATCH/out.$c.$t" err="$SCRATCH/err.$c.$t"
      rm -f "$out"
      sync  # flush the previous run's dirty pages outside the timing
      run_tool "$c" "$t" "$out" "$err"
      if [ "$M_RC" -ne 0 ]; then
        R_FAIL[$c/$t]="exit $M_RC in round $round"
        continue
      fi
      R_SECS[$c/$t]+="$M_SECS "
      R_RSS[$c/$t]+="$M_RSS_KB "
      if [ "$round" -eq "$RUNS" ]; then
        R_OUT[$c/$t]=$(stat -c %s "$out")
        verify_tool "$c" "$t" "$out" "$err" || R_BAD[$c/$t]=1
        R_CHECK[$c/$t]=$V_MSG
        rm -f "$out"
      fi
    done
  done
}

# Derived numbers for a row; empty when the tool failed.
secs_of() { [ -n "${R_SECS[$1]-}" ] && median ${R_SECS[$1]}; }
rss_kb_of() { [ -n "${R_RSS[$1]-}" ] && maxof ${R_RSS[$1]}; }
# thr_ratio CASE/A CASE/B -> throughput of A over B ("1.23"), or empty
thr_ratio() {
  local a b
  a=$(secs_of "$1") b=$(secs_of "$2")
  [ -n "$a" ] && [ -n "$b" ] && calc "$b / $a"
}

# print_row CASE TOOL INPUT_BYTES
print_row() {
  local k="$1/$2" bytes=$3 s rss ratio='' chk runs
  if [ -n "${R_FAIL[$k]-}" ]; then
    printf '| %s | %s | `%s` | – | – | – | – | – | FAILED: %s |\n' \
      "$1" "$2" "$(tool_label "$1" "$2")" "${R_FAIL[$k]//|/\\|}"
    return
  fi
  s=$(secs_of "$k") rss=$(rss_kb_of "$k")
  [ "$1" = gzip ] && ratio=$(calc "${R_OUT[$k]} / $bytes" %.4f)
  chk=${R_CHECK[$k]-}
  [ -n "${R_BAD[$k]-}" ] && chk="**$chk**"
  runs=$(printf '%s\n' ${R_SECS[$k]} | awk '{ printf "%s%.2f", (NR > 1 ? " " : ""), $1 }')
  printf '| %s | %s | `%s` | %.3f | %s | %.0f | %.1f | %s | %s |\n' \
    "$1" "$2" "$(tool_label "$1" "$2")" "$s" "$runs" \
    "$(calc "$bytes / 1e6 / $s")" "$(calc "$rss / 1024" %.2f)" \
    "${ratio:-–}" "$chk"
}

# frac BYTES -> BYTES / input size, or "?" when unknown
frac() { if [ -n "$1" ]; then calc "$1 / $S_LOG_BYTES" %.4f; else echo '?'; fi; }

# target_row LABEL RATIO TARGET_TEXT MET(0|1|'')
target_row() {
  local v=${2:+${2}x} st c=${1%%:*}
  case "$4" in 1) st=met ;; 0) st=missed ;; *) st='–' ;; esac
  [ -n "${R_BAD[$c/sluice]-}" ] && [ -n "$4" ] && st="$st (but sluice's output is wrong)"
  [ -n "$2" ] || { v='–'; [ -n "$3" ] && st='n/a (a run failed)'; }
  printf '| %s | %s | %s | %s |\n' "$1" "${v}" "${3:-–}" "$st"
}

# ge A B -> 1 if A >= B else 0 (floats); empty if A is empty
ge() { [ -n "$1" ] && awk -v a="$1" -v b="$2" 'BEGIN { print (a >= b) ? 1 : 0 }'; }

streams_report() {
  local r met rss_mib so no
  echo "## sluice Streams bench ($MODE)"
  echo
  echo "$(date '+%Y-%m-%d %H:%M %Z'), $(hostname), ${HOST_CPU}, $(nproc) CPUs," \
       "$((HOST_MEM_KB >> 20)) GiB RAM, Linux $(uname -r)"
  echo
  echo "Load average before/after: ${LOAD_START} / $(cut -d' ' -f1-3 /proc/loadavg)" \
       "(1, 5, 15 min; a first number above ~0.5 means other work shared the 2 cores; treat ratios as rough)."
  echo
  echo "sluice ${GIT_REV} (${BUILD_TYPE} build in \`${BUILD_DIR}\`), node $(node --version)," \
       "$(gzip --version | head -n 1), $(cp --version | head -n 1)"
  echo
  echo "Inputs: copy $((S_BIG_BYTES >> 20)) MiB, gzip/upper $((S_LOG_BYTES >> 20)) MiB" \
       "of generated log text. Page cache warm (one warm-up run each);" \
       "median of $RUNS runs; peak RSS is the max over the runs;" \
       "MB = 10^6 bytes of input."
  echo
  echo '| Case | Tool | Command | Median s | Runs s | MB/s | Peak RSS MiB | Out/in | Check |'
  echo '|---|---|---|--:|---|--:|--:|--:|---|'
  for r in copy/sluice copy/cp copy/node; do print_row copy "${r#*/}" "$S_BIG_BYTES"; done
  for r in gzip/sluice gzip/gzip gzip/node; do print_row gzip "${r#*/}" "$S_LOG_BYTES"; done
  for r in upper/sluice upper/tr upper/node; do print_row upper "${r#*/}" "$S_LOG_BYTES"; done
  echo
  echo '| Throughput ratio | Value | Target | Status |'
  echo '|---|--:|---|---|'

  r=$(thr_ratio copy/sluice copy/cp)
  rss_mib=$(rss_kb_of copy/sluice); rss_mib=${rss_mib:+$(calc "$rss_mib / 1024" %.1f)}
  met=''
  if [ -n "$r" ] && [ -n "$rss_mib" ]; then
    met=$(awk -v a="$r" -v m="$rss_mib" 'BEGIN { print (a >= 0.9 && m < 16) ? 1 : 0 }')
  fi
  target_row 'copy: sluice / cp' "$r" ">= 0.9x and sluice RSS < 16 MiB (${rss_mib:-?} MiB)" "$met"
  target_row 'copy: sluice / node' "$(thr_ratio copy/sluice copy/node)" '' ''

  target_row 'gzip: sluice / gzip' "$(thr_ratio gzip/sluice gzip/gzip)" '' ''
  r=$(thr_ratio gzip/sluice gzip/node)
  so=${R_OUT[gzip/sluice]-} no=${R_OUT[gzip/node]-}
  met=''
  if [ -n "$r" ] && [ -n "$so" ] && [ -n "$no" ]; then
    met=$(awk -v a="$r" -v s="$so" -v n="$no" 'BEGIN { print (a >= 1.5 && s <= 1.01 * n) ? 1 : 0 }')
  fi
  target_row 'gzip: sluice / node' "$r" \
    ">= 1.5x and out/in <= 1.01x node's ($(frac "$so") vs $(frac "$no"))" "$met"

  r=$(thr_ratio upper/sluice upper/node)
  target_row 'upper: sluice / node' "$r" '>= 3x' "$(ge "$r" 3)"
  r=$(thr_ratio upper/sluice upper/tr)
  target_row 'upper: sluice / tr' "$r" '>= 0.8x' "$(ge "$r" 0.8)"
}

suite_streams() {
  local mib need i
  if [ "$QUICK" = 1 ]; then
    mib=64; S_BIG_BYTES=$((64 << 20)); MODE='quick, 64 MiB inputs'
  else
    mib=256; S_BIG_BYTES=$((1 << 30)); MODE='full'
  fi
  S_LOG_BYTES=$((mib << 20))
  # log + big source + one copy output + upper reference + one upper output
  need=$((S_LOG_BYTES * 3 + S_BIG_BYTES * 2 + (256 << 20)))
  need_disk "$SCRATCH" "$need" || return 3

  LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
  awk -v l="${LOAD_START%% *}" 'BEGIN { exit !(l > 0.5) }' &&
    log "warning: load average $LOAD_START; other work will skew the numbers"
  S_LOG="$SCRATCH/log.txt" S_UPPER_REF="$SCRATCH/log.upper.ref"
  log "generating $mib MiB of log text"
  node "$BENCH/node/genlog.js" "$S_LOG" "$S_LOG_BYTES" || return 1
  if [ "$S_BIG_BYTES" -eq "$S_LOG_BYTES" ]; then
    S_BIG=$S_LOG
  else
    S_BIG="$SCRATCH/big.bin"
    log "building the $((S_BIG_BYTES >> 20)) MiB copy source"
    for ((i = 0; i < S_BIG_BYTES / S_LOG_BYTES; i++)); do cat "$S_LOG"; done >"$S_BIG" || return 1
  fi
  tr a-z A-Z <"$S_LOG" >"$S_UPPER_REF" || return 1
  sync

  run_case copy sluice cp node
  [ "$S_BIG" = "$S_LOG" ] || rm -f "$S_BIG"
  run_case gzip sluice gzip node
  run_case upper sluice tr node

  streams_report >"$SCRATCH/report.md"
  REPORT="$SCRATCH/report.md"
  local k
  for k in "${!R_BAD[@]}"; do BAD=1; done
  for k in "${!R_FAIL[@]}"; do BAD=1; done
  return 0
}
