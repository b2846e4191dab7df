#!/usr/bin/env bash
# fork-compute / compute-worker (also under a real Node.js parent, and with
# a Node.js child), two-way, parallel-sum and load-balancer: their real
# output, and that no worker process outlives them.
. "$(dirname "$0")/lib.bash"

out=$("$EX/fork-compute" 1000000)
check "fork-compute prints the start line" grep -qx "Main process starting" <<<"$out"
check "fork-compute prints N(N-1)/2" grep -qx "Result from worker: 499999500000" <<<"$out"
out=$("$EX/fork-compute")
check "fork-compute default N = 50,000,000" \
  grep -qx "Result from worker: 1249999975000000" <<<"$out"

set +e; err=$("$EX/compute-worker" 2>&1); rc=$?; set -e
check "compute-worker without a channel exits non-zero and says why" \
  bash -c "[ $rc -ne 0 ] && grep -q 'no IPC channel' <<<'$err'"

if command -v node >/dev/null; then
  # The manual's compute.js, verbatim.
  cat > "$T/compute.js" <<'JS'
process.on('message', ({ n }) => {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += i;
  process.send({ result: sum });
  process.exit();
});
JS
  out=$("$EX/fork-compute" --node-child "$T/compute.js" 1000000)
  check "fork-compute --node-child: a Node child answers" \
    grep -qx "Result from worker: 499999500000" <<<"$out"

  # The manual's main.js, with compute-worker as the child's execPath.
  cat > "$T/main.js" <<'JS'
const { fork } = require('child_process');
console.log('Main process starting');
const worker = fork(__dirname + '/compute.js', ['--some-arg'],
                    { execPath: process.argv[2] });
worker.on('message', msg => {
  console.log('Result from worker:', msg.result);
});
worker.on('exit', code => console.log('worker exit', code));
worker.send({ n: 50_000_000 });
JS
  out=$(node "$T/main.js" "$EX/compute-worker")
  check "Node parent: compute-worker replies over Node's channel" \
    grep -qx "Result from worker: 1249999975000000" <<<"$out"
  check "Node parent: compute-worker exits 0" grep -qx "worker exit 0" <<<"$out"
else
  skip "Node interop checks: node is not installed"
fi

out=$("$EX/two-way")
check "two-way: the child prints the parent's message" \
  grep -qx 'Message from parent: {"command":"hello"}' <<<"$out"
check "two-way: the parent prints the worker's reply" \
  grep -qx 'Message from worker: {"reply":"world"}' <<<"$out"

out=$("$EX/parallel-sum" 100000000)
check "parallel-sum: total is N(N-1)/2" grep -qx "Total: 4999999950000000" <<<"$out"
check "parallel-sum: four workers by default" [ "$(grep -c '^Worker ' <<<"$out")" -eq 4 ]
out=$("$EX/parallel-sum" 1000 --workers 7)
check "parallel-sum --workers 7" \
  bash -c "grep -qx 'Total: 499500' <<<'$out' && [ \$(grep -c '^Worker ' <<<'$out') -eq 7 ]"

out=$("$EX/load-balancer" --workers 3 --tasks 60)
check "load-balancer: every task is done" grep -qx "Total: 60 tasks" <<<"$out"
sum=$(grep '^Worker ' <<<"$out" | awk '{s += $3} END {print s}')
check "load-balancer: per-worker counts add up" [ "$sum" = 60 ]
check "load-balancer: at most 3 workers" [ "$(grep -c '^Worker ' <<<"$out")" -le 3 ]

sleep 0.2
check "no worker left running" \
  bash -c "! pgrep -f '$EX/(compute-worker|two-way|parallel-sum|load-balancer)' >/dev/null"
done_tests
