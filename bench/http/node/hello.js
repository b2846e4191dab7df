// The Node.js twin of examples/hello-server: the manual's one-process
// hello-world server. Usage: node hello.js PORT. Prints the port once it
// listens on 127.0.0.1.
'use strict';
const http = require('http');

const port = Number(process.argv[2] || 3000);
http.createServer((req, res) => res.end('Hello World\n'))
  .listen(port, '127.0.0.1', function () {
    console.log(`listening on http://127.0.0.1:${this.address().port}`);
  });
