// Node twin of examples/spawn-gzip (manual 4.5): a file through a `gzip`
// child and back to a file, both pipes with backpressure.
// Usage: node spawn_gzip.js SRC DST
'use strict';
const { spawn } = require('child_process');
const fs = require('fs');

const [src, dst] = process.argv.slice(2);
const gzip = spawn('gzip', [], { stdio: ['pipe', 'pipe', 'inherit'] });
gzip.on('error', (e) => { console.error(e.message); process.exitCode = 1; });
gzip.on('close', (code) => { if (code !== 0) process.exitCode = 1; });
fs.createReadStream(src).pipe(gzip.stdin);
gzip.stdout.pipe(fs.createWriteStream(dst));
