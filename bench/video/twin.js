'use strict';
// bench/video/twin.js: the Node 20 twin of the upload endpoint of
// `examples/video` (http + fs streams, no npm packages), for the upload
// path of bench/video/run. Usage:
//   node bench/video/twin.js [--port P] [--data DIR] [--max-upload BYTES]
// Prints "video twin: listening on http://127.0.0.1:PORT/" (port 0, the
// default, is any free port), serves on 127.0.0.1:
//   POST /videos or PUT /videos, the raw video as the body: a fresh id,
//     the body piped (stream.pipeline, so back-pressure holds and an error
//     on either side ends both) into fs.createWriteStream(DIR/videos/ID/
//     source); when the file is closed, 201 {"id", "bytes", "state":
//     "stored"}. A Content-Length over --max-upload (default 8 GiB, as examples/video) is 413
//     at once, and so is a chunked body once it has passed it (the partial
//     file is removed). A body cut short (the client went away) removes
//     the partial file too.
//     Only ?process=0 (store the upload, no ffprobe, no transcode) is
//     twinned: the transcode path of examples/video (ffprobe and ffmpeg
//     children) is not, and without process=0 the answer is 501.
//   GET /api/videos/ID: {"id", "state": "stored", "bytes", "progress": 1,
//     "error": null} for an upload stored here, 404 otherwise.
// Exits on SIGTERM / SIGINT.

const http = require('http');
const fs = require('fs');
const path = require('path');
const crypto = require('crypto');
const { pipeline, Transform } = require('stream');

let port = 0;
let data = 'video-data';
let maxBytes = 8 * 1024 ** 3;
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const v = argv[i + 1];
  if (a === '--port' && v !== undefined) port = Number(argv[++i]);
  else if (a === '--data' && v !== undefined) data = argv[++i];
  else if (a === '--max-upload' && v !== undefined) maxBytes = Number(argv[++i]);
  else {
    console.error('usage: node twin.js [--port P] [--data DIR] [--max-upload BYTES]');
    process.exit(2);
  }
}
const videos = path.join(data, 'videos');
fs.mkdirSync(videos, { recursive: true });
const stored = new Map(); // id -> bytes

function reply(res, status, body) {
  const s = JSON.stringify(body) + '\n';
  res.writeHead(status, {
    'Content-Type': 'application/json',
    'Content-Length': Buffer.byteLength(s),
  });
  res.end(s);
}

// Counts the bytes that pass and fails the pipeline past maxBytes.
class Limit extends Transform {
  constructor(max) {
    super();
    this.max = max;
    this.bytes = 0;
  }
  _transform(chunk, enc, cb) {
    this.bytes += chunk.length;
    if (this.bytes > this.max) {
      const e = new Error('the body is over ' + this.max + ' bytes');
      e.status = 413;
      return cb(e);
    }
    cb(null, chunk);
  }
}

function upload(req, res, query) {
  if (query.get('process') !== '0') {
    req.resume();
    return reply(res, 501, { error: 'the twin only stores uploads: use ?process=0' });
  }
  const len = req.headers['content-length'];
  if (len !== undefined && Number(len) > maxBytes) {
    res.setHeader('Connection', 'close');
    return reply(res, 413, { error: 'the body is over ' + maxBytes + ' bytes' });
  }
  const id = crypto.randomBytes(8).toString('hex');
  const dir = path.join(videos, id);
  const file = path.join(dir, 'source');
  fs.mkdir(dir, { recursive: true }, (err) => {
    if (err) return reply(res, 500, { error: err.message });
    const limit = new Limit(maxBytes);
    pipeline(req, limit, fs.createWriteStream(file), (err) => {
      if (err) {
        fs.rm(dir, { recursive: true, force: true }, () => {});
        if (res.headersSent || (req.destroyed && !err.status)) return;
        res.setHeader('Connection', 'close');
        return reply(res, err.status || 500, { error: err.message });
      }
      stored.set(id, limit.bytes);
      reply(res, 201, { id, bytes: limit.bytes, state: 'stored' });
    });
  });
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x');
  if (url.pathname === '/videos' && (req.method === 'POST' || req.method === 'PUT')) {
    return upload(req, res, url.searchParams);
  }
  const m = /^\/api\/videos\/([0-9a-f]+)$/.exec(url.pathname);
  if (m && req.method === 'GET') {
    if (!stored.has(m[1])) return reply(res, 404, { error: 'no such video' });
    return reply(res, 200, { id: m[1], state: 'stored', bytes: stored.get(m[1]),
      progress: 1, error: null });
  }
  req.resume();
  reply(res, 404, { error: 'not found' });
});
// A 2 GiB upload on a slow link takes long: no request timeout.
server.requestTimeout = 0;
server.listen(port, '127.0.0.1', () => {
  console.log('video twin: listening on http://127.0.0.1:' + server.address().port + '/');
});
for (const s of ['SIGTERM', 'SIGINT']) process.on(s, () => process.exit(0));
