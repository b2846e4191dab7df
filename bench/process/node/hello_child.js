// Child of fork_first.js: one message as soon as it runs; with no 'message'
// listener the channel does not hold the process, so it exits once sent.
'use strict';
process.send({ hello: 1 });
