// The Node twin of bench/ws/server.c: echo, and "!bcast COUNT SIZE" sends
// COUNT binary messages of SIZE bytes to every client. Usage:
//   node server.js PORT [deflate]
const { WebSocketServer } = require('ws');
const port = +process.argv[2];
const deflate = process.argv[3] === 'deflate';
const wss = new WebSocketServer({ host: '127.0.0.1', port, backlog: 4096,
                                  perMessageDeflate: deflate, maxPayload: 0 });
wss.on('listening', () => console.log('listening'));
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    if (!isBinary && data.length > 7 && data.toString('latin1', 0, 7) === '!bcast ') {
      const [count, size] = data.toString().slice(7).split(' ').map(Number);
      const m = Buffer.alloc(size, 'b');
      for (let k = 0; k < count; k++) for (const c of wss.clients) c.send(m);
      return;
    }
    ws.send(data, { binary: isBinary });
  });
});
