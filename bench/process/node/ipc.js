// Node twin of bench/process/ipc.c, over child_process.fork() to
// ipc_child.js with `json` (Node's default) or `advanced` serialization.
//   pingpong: send {i}, the child echoes it, send the next on each reply.
//   oneway:   send N messages of SIZE bytes ({p: 'aaa...'} whose JSON text
//             is SIZE bytes; a Buffer of SIZE bytes in advanced mode), then
//             {end: 1}; the child answers {count}, which stops the clock.
//             Node has no 'drain' for IPC: at most WINDOW messages are in
//             flight, tracked by a send callback on every 64th message.
// Usage: node ipc.js pingpong|oneway json|advanced N SIZE SECS
// Prints: n=DONE secs=ELAPSED rate=PER_SEC
'use strict';
const { fork } = require('child_process');
const path = require('path');

const [mode, ser] = process.argv.slice(2, 4);
const [want, size, limit] = process.argv.slice(4).map(Number);
const WINDOW = 1024;
const c = fork(path.join(__dirname, 'ipc_child.js'), [mode],
  { serialization: ser === 'advanced' ? 'advanced' : 'json' });
const t0 = process.hrtime.bigint();
const elapsed = () => Number(process.hrtime.bigint() - t0) / 1e9;
let done = 0;
let sent = 0;
let acked = 0;
let ended = false;

function report(n) {
  const s = elapsed();
  console.log(`n=${n} secs=${s.toFixed(6)} rate=${(n / s).toFixed(1)}`);
  c.disconnect();
}

const payload = mode !== 'oneway' ? null
  : ser === 'advanced' ? Buffer.alloc(size, 'a')
  : { p: 'a'.repeat(size - 8) }; // {"p":"..."} is SIZE bytes of JSON
function pump() {
  while (!ended && sent - acked < WINDOW) {
    if (sent === want || elapsed() >= limit) {
      ended = true;
      c.send({ end: 1 });
      return;
    }
    const i = ++sent;
    if (i % 64 === 0) c.send(payload, () => { acked = i; pump(); });
    else c.send(payload);
  }
}

c.on('error', (e) => { console.error(e.message); process.exit(1); });
c.on('exit', (code) => { if (code !== 0) process.exitCode = 1; });
c.on('message', (m) => {
  if (mode === 'oneway') {
    if (m.count !== sent) {
      console.error(`child counted ${m.count}, ${sent} sent`);
      process.exitCode = 1;
    }
    return report(sent);
  }
  if (++done < want && elapsed() < limit) c.send({ i: done });
  else report(done);
});
if (mode === 'oneway') pump();
else c.send({ i: 0 });
