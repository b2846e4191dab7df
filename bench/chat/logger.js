// The logging child of bench/chat/chat.js: appends what it reads on stdin
// (one JSON line per message) to FILE and fsyncs once per batch it read.
//   node logger.js FILE
'use strict';
const fs = require('fs');
const fd = fs.openSync(process.argv[2], 'a');
process.stdin.on('readable', () => {
  const parts = [];
  let c;
  while ((c = process.stdin.read()) !== null) parts.push(c);
  if (parts.length === 0) return;
  const b = parts.length === 1 ? parts[0] : Buffer.concat(parts);
  for (let off = 0; off < b.length;) off += fs.writeSync(fd, b, off);
  fs.fsyncSync(fd);
});
process.stdin.on('end', () => fs.closeSync(fd));
