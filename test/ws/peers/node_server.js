// Node's `ws` as a server for sluice's echo client: sends messages, checks
// each echo, closes with 4000. Port to PORTFILE, a line per connection.
// Usage: [DEFL=1] node node_server.js PORTFILE
const { WebSocketServer } = require('ws');
const fs = require('fs');
const crypto = require('crypto');
const [pf] = process.argv.slice(2);
const deflate = process.env.DEFL === '1';
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: !!deflate, maxPayload: 0 });
wss.on('listening', () => {
  fs.writeFileSync(pf + '.tmp', wss.address().port + '\n');
  fs.renameSync(pf + '.tmp', pf);
});
wss.on('connection', (ws) => {
  let i = 0, sent;
  const next = () => {
    const n = [0, 1, 200, 70000, 300000][i % 5];
    sent = i % 2 ? crypto.randomBytes(n) : Buffer.from('ü'.repeat(n));
    ws.send(i % 2 ? sent : sent.toString());
  };
  ws.on('message', (data, isBinary) => {
    if (!data.equals(sent) || isBinary !== !!(i % 2)) {
      console.log('FAIL echo', i); ws.terminate(); return;
    }
    if (++i === 100) { console.log('ok 100 echoes'); ws.close(4000, 'done'); return; }
    next();
  });
  next();
});
