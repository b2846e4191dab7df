// Child of ipc.js: `pingpong` echoes every message; `oneway` counts
// messages until {end: 1} and answers {count: N}.
'use strict';
const oneway = process.argv[2] === 'oneway';
let count = 0;
process.on('message', (m) => {
  if (!oneway) process.send(m);
  else if (m.end === 1) process.send({ count });
  else count++;
});
