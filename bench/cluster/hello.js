// The Node.js twin of bench/cluster/hello.c: a clustered hello-world with
// Node's cluster module, default scheduling (round-robin on Linux).
// Usage: node hello.js [--port P] [--workers N] (3000; 2). The primary
// prints "listening <pid> <ms>" on each 'listening' event and "exit <pid>
// <ms>" on each 'exit' (ms: performance.timeOrigin + performance.now()),
// then forks a replacement, as the manual's 3.4 does. SIGINT/SIGTERM: the
// primary disconnects the workers and exits.
'use strict';
const cluster = require('cluster');
const http = require('http');
const { performance } = require('perf_hooks');

let port = 3000;
let workers = 2;
for (let i = 2; i < process.argv.length; i++) {
  const a = process.argv[i];
  if (a === '--port') port = Number(process.argv[++i]);
  else if (a === '--workers') workers = Number(process.argv[++i]);
  else {
    console.error('usage: node hello.js [--port P] [--workers N]');
    process.exit(2);
  }
}

const now = () => (performance.timeOrigin + performance.now()).toFixed(3);

if (cluster.isPrimary) {
  let stopping = false;
  cluster.on('listening', (w) => {
    process.stdout.write(`listening ${w.process.pid} ${now()}\n`);
  });
  cluster.on('exit', (w) => {
    process.stdout.write(`exit ${w.process.pid} ${now()}\n`);
    if (!stopping) cluster.fork();
  });
  const stop = () => {
    stopping = true;
    cluster.disconnect(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  for (let i = 0; i < workers; i++) cluster.fork();
} else {
  http.createServer((req, res) => res.end('hello world\n'))
    .listen(port, '127.0.0.1');
}
