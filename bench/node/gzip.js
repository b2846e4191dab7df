// Node twin of examples/gzip-file: gzip SRC into DST through
// zlib.createGzip({ level }) between two fs streams joined by pipe().
// Usage: node gzip.js SRC DST [LEVEL]   (LEVEL defaults to 6)
'use strict';
const fs = require('fs');
const zlib = require('zlib');

const [src, dst, level = '6'] = process.argv.slice(2);
if (!src || !dst) {
  console.error('usage: node gzip.js SRC DST [LEVEL]');
  process.exit(2);
}
function die(err) {
  console.error(`gzip.js: ${err.message}`);
  process.exit(1);
}
const r = fs.createReadStream(src);
const z = zlib.createGzip({ level: Number(level) });
const w = fs.createWriteStream(dst);
r.on('error', die);
z.on('error', die);
w.on('error', die);
r.pipe(z).pipe(w);
