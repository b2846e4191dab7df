// Node twin of examples/upper-count (manual 2.9, exercise 2): a Transform
// that upper-cases each chunk and counts characters, stdin to stdout; prints
// "characters: N" on stderr at the end. Like the manual's version it calls
// chunk.toString() per chunk, so it assumes no multi-byte character spans
// two chunks (the bench input is ASCII).
'use strict';
const { Transform } = require('stream');

let count = 0;
const upper = new Transform({
  transform(chunk, enc, cb) {
    const s = chunk.toString();
    count += s.length;
    cb(null, s.toUpperCase());
  },
  flush(cb) {
    process.stderr.write(`characters: ${count}\n`);
    cb();
  },
});
process.stdin.pipe(upper).pipe(process.stdout);
