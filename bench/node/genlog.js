// Writes SIZE bytes of deterministic, log-like ASCII text to PATH: one
// request per line with an ISO timestamp, level, client IP, method, path,
// status, duration and user agent. Same SIZE gives the same bytes on every
// machine (fixed-seed xorshift32, no Date.now()), so compression ratios are
// comparable between runs. Usage: node genlog.js PATH SIZE
'use strict';
const fs = require('fs');

const [path, sizeArg] = process.argv.slice(2);
const size = Number(sizeArg);
if (!path || !(size > 0)) {
  console.error('usage: node genlog.js PATH SIZE');
  process.exit(2);
}

let seed = 0x9e3779b9;
function rnd(n) { // xorshift32, uniform enough for picking words
  seed ^= seed << 13; seed >>>= 0;
  seed ^= seed >>> 17;
  seed ^= seed << 5; seed >>>= 0;
  return seed % n;
}
function pick(a) { return a[rnd(a.length)]; }

const levels = ['INFO', 'INFO', 'INFO', 'INFO', 'DEBUG', 'WARN', 'ERROR'];
const methods = ['GET', 'GET', 'GET', 'POST', 'PUT', 'DELETE'];
const statuses = [200, 200, 200, 200, 201, 204, 301, 304, 400, 404, 500, 503];
const roots = ['api/v1/users', 'api/v1/orders', 'api/v2/search', 'static/js',
  'static/css', 'health', 'login', 'api/v1/products', 'admin/reports'];
const leaves = ['profile', 'items', 'settings', 'history', 'app.min.js',
  'main.css', 'export', 'summary', 'checkout', 'avatar.png'];
const agents = ['Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0',
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_2) Safari/605.1.15',
  'curl/7.88.1', 'python-requests/2.31.0', 'Go-http-client/1.1',
  'kube-probe/1.28'];
const msgs = ['request completed', 'cache miss', 'slow query detected',
  'upstream timeout', 'user session refreshed', 'rate limit applied'];

const fd = fs.openSync(path, 'w');
let t = 1700000000000; // 2023-11-14T22:13:20Z
let written = 0;
while (written < size) {
  const lines = [];
  let len = 0;
  while (len < (1 << 20)) {
    t += rnd(50);
    const ip = `10.${rnd(256)}.${rnd(256)}.${1 + rnd(254)}`;
    const path2 = `/${pick(roots)}/${rnd(100000)}/${pick(leaves)}`;
    const q = rnd(4) === 0 ? `?page=${rnd(50)}&sort=desc` : '';
    const ms = (rnd(500000) / 1000).toFixed(3);
    const line = `${new Date(t).toISOString()} ${pick(levels)} ${ip} ` +
      `${pick(methods)} ${path2}${q} ${pick(statuses)} ${ms}ms ` +
      `"${pick(agents)}" ${pick(msgs)} req_id=${rnd(0x7fffffff).toString(16)}\n`;
    lines.push(line);
    len += line.length;
  }
  const buf = Buffer.from(lines.join(''), 'latin1');
  const n = Math.min(buf.length, size - written);
  fs.writeSync(fd, buf, 0, n);
  written += n;
}
fs.closeSync(fd);
