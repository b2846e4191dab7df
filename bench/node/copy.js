// Node twin of examples/copy-file: copy SRC to DST with the default
// fs streams (64 KiB highWaterMark) joined by pipe().
// Usage: node copy.js SRC DST
'use strict';
const fs = require('fs');

const [src, dst] = process.argv.slice(2);
if (!src || !dst) {
  console.error('usage: node copy.js SRC DST');
  process.exit(2);
}
function die(err) {
  console.error(`copy.js: ${err.message}`);
  process.exit(1);
}
const r = fs.createReadStream(src);
const w = fs.createWriteStream(dst);
r.on('error', die);
w.on('error', die);
r.pipe(w);
