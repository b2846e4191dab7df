// Node twin of bench/process/spawn.c: sequential spawn('/bin/true') with
// piped stdio (the default), each waited for until 'close', N times or until
// SECS seconds pass. With HEAP_MIB a Buffer of that size is filled first.
// Usage: node spawn.js N SECS [HEAP_MIB]
// Prints: n=DONE secs=ELAPSED rate=SPAWNS_PER_SEC
'use strict';
const { spawn } = require('child_process');

const [want, limit, mib] = process.argv.slice(2).map(Number);
const heap = mib > 0 ? Buffer.alloc(mib * 1048576, 1) : null;
const t0 = process.hrtime.bigint();
const elapsed = () => Number(process.hrtime.bigint() - t0) / 1e9;
let done = 0;

function one() {
  const c = spawn('/bin/true');
  c.on('error', (e) => { console.error(e.message); process.exit(1); });
  c.on('close', (code) => {
    if (code !== 0) { console.error(`exit ${code}`); process.exit(1); }
    if (++done < want && elapsed() < limit) return one();
    const s = elapsed();
    console.log(`n=${done} secs=${s.toFixed(6)} rate=${(done / s).toFixed(1)}`);
    if (heap) heap[0] = 2; // keep the buffer alive to the end
  });
}
one();
