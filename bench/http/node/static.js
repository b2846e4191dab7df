// A tiny static file server, the Node.js reference for the large-file
// row: fs.createReadStream(file).pipe(res) with a Content-Length. No
// ranges, no caching headers, no compression. Usage: node static.js DIR
// PORT. Only plain names inside DIR are served (no '..').
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');

const root = path.resolve(process.argv[2] || '.');
const port = Number(process.argv[3] || 3000);

http.createServer((req, res) => {
  const name = decodeURIComponent(req.url.split('?')[0]);
  const file = path.join(root, name);
  if (!file.startsWith(root + path.sep)) {
    res.statusCode = 403;
    return res.end();
  }
  fs.stat(file, (err, st) => {
    if (err || !st.isFile()) {
      res.statusCode = 404;
      return res.end('Not Found\n');
    }
    res.setHeader('Content-Type', 'application/octet-stream');
    res.setHeader('Content-Length', st.size);
    if (req.method === 'HEAD') return res.end();
    fs.createReadStream(file).on('error', () => res.destroy()).pipe(res);
  });
}).listen(port, '127.0.0.1', function () {
  console.log(`listening on http://127.0.0.1:${this.address().port}`);
});
