// Node twin of bench/process/fork_first.c: time from fork() of
// hello_child.js (which calls process.send at start, then exits as its
// channel has no listener) to its first message; the next run starts at
// 'close'.
// Usage: node fork_first.js N
// Prints: n=RUNS mean_ms=.. p50_ms=.. min_ms=.. max_ms=..
'use strict';
const { fork } = require('child_process');
const path = require('path');

const want = Number(process.argv[2]) || 50;
const child = path.join(__dirname, 'hello_child.js');
const ms = [];

function one() {
  const t0 = process.hrtime.bigint();
  const c = fork(child);
  c.on('error', (e) => { console.error(e.message); process.exit(1); });
  c.once('message', () => {
    ms.push(Number(process.hrtime.bigint() - t0) / 1e6);
  });
  c.on('close', (code) => {
    if (code !== 0) { console.error(`exit ${code}`); process.exit(1); }
    if (ms.length < want) return one();
    ms.sort((a, b) => a - b);
    const mean = ms.reduce((a, b) => a + b, 0) / ms.length;
    const f = (x) => x.toFixed(3);
    console.log(`n=${ms.length} mean_ms=${f(mean)} ` +
      `p50_ms=${f(ms[(ms.length - 1) >> 1])} min_ms=${f(ms[0])} ` +
      `max_ms=${f(ms[ms.length - 1])}`);
  });
}
one();
