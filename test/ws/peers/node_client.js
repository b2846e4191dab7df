// Node's `ws` as a client of an echo server: sizes, text and binary, a
// fragmented message, a ping; echoes compared byte for byte.
// Usage: node node_client.js URL [deflate]
const WebSocket = require('ws');
const crypto = require('crypto');
const [url, deflate] = process.argv.slice(2);
const ws = new WebSocket(url, { perMessageDeflate: !!deflate, maxPayload: 0 });
const sizes = [0, 1, 125, 126, 65535, 65536, 1 << 20];
for (let i = 0; i < 300; i++) sizes.push((i * 7919) % 6000);
let i = 0, sent = null, total = 0;
function next() {
  if (i === sizes.length) {
    ws.send('fragmented', { fin: false });
    ws.send(' ☃', { fin: true });
    sent = 'fragmented ☃';
    return;
  }
  const n = sizes[i];
  sent = i % 2 ? crypto.randomBytes(n) : 'é'.repeat(n >> 1);
  ws.send(sent);
}
ws.on('open', () => {
  if (deflate && !/permessage-deflate/.test(ws.extensions)) {
    console.error('no permessage-deflate:', ws.extensions);
    process.exit(1);
  }
  next();
});
ws.on('message', (data, isBinary) => {
  const want = Buffer.isBuffer(sent) ? sent : Buffer.from(sent);
  if (isBinary !== Buffer.isBuffer(sent) || !data.equals(want)) {
    console.error('message', i, 'differs');
    process.exit(1);
  }
  total += data.length;
  if (i++ === sizes.length) { ws.ping('x'); return; }
  next();
});
ws.on('pong', () => ws.close(1000, 'done'));
ws.on('close', (code) => {
  console.log(`ok ${i} messages ${total} bytes, close ${code}`);
  process.exit(code === 1000 ? 0 : 1);
});
ws.on('error', (e) => { console.error(e.message); process.exit(1); });
