// Node twin of bench/process/exec.c: child_process.exec('true') through
// /bin/sh, one after the other, N times or until SECS seconds pass.
// Usage: node exec.js N SECS
// Prints: n=DONE secs=ELAPSED rate=EXECS_PER_SEC
'use strict';
const { exec } = require('child_process');

const [want, limit] = process.argv.slice(2).map(Number);
const t0 = process.hrtime.bigint();
const elapsed = () => Number(process.hrtime.bigint() - t0) / 1e9;
let done = 0;

function one() {
  exec('true', (err) => {
    if (err) { console.error(err.message); process.exit(1); }
    if (++done < want && elapsed() < limit) return one();
    const s = elapsed();
    console.log(`n=${done} secs=${s.toFixed(6)} rate=${(done / s).toFixed(1)}`);
  });
}
one();
