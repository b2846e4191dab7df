// The Node.js twin of examples/chat.c: a clustered WebSocket chat server
// (Node's cluster module + ws 8), for bench/chat/run.
//
//   node bench/chat/chat.js PORT [--workers N] [--log FILE] [--history H]
//
// The primary forks N workers (default: os.cpus().length) that share PORT
// on 127.0.0.1 (cluster's default scheduling: round-robin) and hold the
// WebSockets. GET / answers a small HTML page; WebSockets upgrade on /ws.
// The primary is the sequencer: a worker sends each "say" to it over IPC,
// the primary gives it the room's next id, keeps the room's last H
// messages (default 50), writes one JSON line per message to a logging
// child (bench/chat/logger.js: appends to FILE, fsyncs once per batch it
// read) and sends the message to every worker, which sends it to its
// members of the room. Joins go through the primary too (history and the
// room's last id), so a member gets history, "joined", then live messages
// in id order. Prints "listening" once every worker listens.
//
// Protocol (JSON text messages):
//   client: {"t":"join","room":R,"nick":N,"since":ID?}  {"t":"say","text":T}
//   server: {"t":"msg","room":R,"id":I,"nick":N,"text":T,"ts":MS}
//           {"t":"joined","room":R,"last":I}  {"t":"error","text":E}
// Rooms are [A-Za-z0-9_-], at most 32 bytes; nicks at most 32 bytes; texts
// at most 4096 bytes (the limits of examples/chat.c).
'use strict';
const cluster = require('cluster');
const os = require('os');
const path = require('path');

const MAX_TEXT = 4096; // bytes of "text" in a say
const MAX_NAME = 32; // bytes of a room or nick name (as examples/chat.c)

function usage() {
  console.error('usage: node chat.js PORT [--workers N] [--log FILE] [--history H]');
  process.exit(2);
}
const opt = { port: 0, workers: os.cpus().length, log: '', history: 50 };
{
  const a = process.argv.slice(2);
  for (let i = 0; i < a.length; i++) {
    if (a[i] === '--workers') opt.workers = Number(a[++i]);
    else if (a[i] === '--log') opt.log = a[++i];
    else if (a[i] === '--history') opt.history = Number(a[++i]);
    else if (a[i] === '--port') opt.port = Number(a[++i]);
    else if (/^\d+$/.test(a[i])) opt.port = Number(a[i]);
    else usage();
  }
  if (!(opt.port > 0) || !(opt.workers >= 1) || !(opt.history >= 0)) usage();
  if (!opt.log) opt.log = path.join(os.tmpdir(), `chat-${process.pid}.log`);
}

function primary() {
  const { spawn } = require('child_process');
  const logger = spawn(process.execPath, [path.join(__dirname, 'logger.js'), opt.log],
                       { stdio: ['pipe', 'inherit', 'inherit'] });
  logger.on('exit', (code, sig) => {
    if (!stopping) console.error(`chat: logger exited (${sig || code})`);
  });
  // name -> { last: highest id so far, hist: [{ id, s }] (the last H, s is
  // the message's JSON text) }
  const rooms = new Map();
  const workers = new Set();
  let listening = 0;
  let stopping = false;

  function onMessage(w, m) {
    if (m.t === 'say') {
      let r = rooms.get(m.room);
      if (r === undefined) rooms.set(m.room, (r = { last: 0, hist: [] }));
      const id = ++r.last;
      const s = JSON.stringify({ t: 'msg', room: m.room, id, nick: m.nick,
                                 text: m.text, ts: Date.now() });
      if (opt.history > 0) {
        r.hist.push({ id, s });
        if (r.hist.length > opt.history) r.hist.shift();
      }
      logger.stdin.write(s + '\n');
      const out = { t: 'm', room: m.room, s };
      for (const x of workers) x.send(out);
    } else if (m.t === 'join') {
      const r = rooms.get(m.room);
      let h = [];
      if (r !== undefined) {
        h = m.since > 0 ? r.hist.filter((e) => e.id > m.since) : r.hist;
        h = h.map((e) => e.s);
      }
      w.send({ t: 'hist', c: m.c, q: m.q, room: m.room, h, last: r ? r.last : 0 });
    }
  }
  function fork() {
    const w = cluster.fork({ CHAT_PORT: String(opt.port) });
    workers.add(w);
    w.on('message', (m) => onMessage(w, m));
    w.on('listening', () => {
      if (++listening === opt.workers) process.stdout.write('listening\n');
    });
    w.on('exit', (code, sig) => {
      workers.delete(w);
      if (stopping) return;
      console.error(`chat: worker ${w.process.pid} exited (${sig || code}); forking another`);
      listening--;
      fork();
    });
  }
  const stop = () => {
    if (stopping) return;
    stopping = true;
    for (const w of workers) w.process.kill('SIGTERM');
    logger.stdin.end();
    logger.on('exit', () => process.exit(0));
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
  logger.stdin.on('error', (e) => console.error(`chat: logger pipe: ${e.message}`));
  for (let i = 0; i < opt.workers; i++) fork();
}

function worker() {
  const http = require('http');
  const { WebSocketServer } = require('ws');
  const port = Number(process.env.CHAT_PORT);
  const conns = new Map(); // cid -> ws
  const rooms = new Map(); // room -> Set of ws (members whose join completed)
  let nextCid = 1;

  const server = http.createServer((req, res) => {
    if (req.method === 'GET' && (req.url === '/' || req.url === '/index.html')) {
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8',
                           'content-length': Buffer.byteLength(PAGE) });
      res.end(PAGE);
    } else {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
    }
  });
  const wss = new WebSocketServer({ noServer: true, clientTracking: false,
                                    maxPayload: 64 * 1024 });
  server.on('upgrade', (req, sock, head) => {
    if (req.url.split('?')[0] !== '/ws') {
      sock.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      return;
    }
    wss.handleUpgrade(req, sock, head, (ws) => open(ws));
  });
  server.listen({ port, host: '127.0.0.1', backlog: 4096 });

  const error = (ws, text) => ws.send(JSON.stringify({ t: 'error', text }));
  const leave = (ws) => {
    if (!ws.member) return;
    const set = rooms.get(ws.room);
    set.delete(ws);
    if (set.size === 0) rooms.delete(ws.room);
    ws.member = false;
  };
  const nickOk = (v) => typeof v === 'string' && v.length > 0 &&
    Buffer.byteLength(v) <= MAX_NAME;
  const roomOk = (v) => typeof v === 'string' && v.length <= MAX_NAME &&
    /^[A-Za-z0-9_-]+$/.test(v);

  function open(ws) {
    ws.cid = nextCid++;
    ws.room = null; // set at join; ws.member once the primary answered it
    ws.member = false;
    ws.nick = '';
    ws.q = 0; // join count: an answer to an older join is dropped
    conns.set(ws.cid, ws);
    ws.on('message', (data, isBinary) => {
      let m;
      try {
        m = JSON.parse(data);
      } catch {
        return error(ws, 'bad JSON');
      }
      if (m === null || typeof m !== 'object') return error(ws, 'not an object');
      if (m.t === 'join') {
        if (!roomOk(m.room) || !nickOk(m.nick)) {
          return error(ws, 'join needs a room ([A-Za-z0-9_-], at most 32) and a nick (at most 32 bytes)');
        }
        const since = Number(m.since) || 0;
        leave(ws);
        ws.room = m.room;
        ws.nick = m.nick;
        ws.q++;
        process.send({ t: 'join', c: ws.cid, q: ws.q, room: m.room, since });
      } else if (m.t === 'say') {
        if (ws.room === null) return error(ws, 'not joined');
        if (typeof m.text !== 'string') return error(ws, 'say needs a text');
        if (Buffer.byteLength(m.text) > MAX_TEXT) return error(ws, 'text too long');
        // Sent after the join: the primary answers the join first, so the
        // member sees its own message even when it says before "joined".
        process.send({ t: 'say', room: ws.room, nick: ws.nick, text: m.text });
      } else {
        error(ws, 'unknown type');
      }
    });
    ws.on('close', () => {
      leave(ws);
      conns.delete(ws.cid);
    });
    ws.on('error', () => {});
  }

  process.on('message', (m) => {
    if (m.t === 'm') {
      const set = rooms.get(m.room);
      if (set === undefined) return;
      const b = Buffer.from(m.s);
      for (const ws of set) ws.send(b, { binary: false });
    } else if (m.t === 'hist') {
      const ws = conns.get(m.c);
      if (ws === undefined || ws.q !== m.q) return;
      for (const s of m.h) ws.send(s);
      ws.send(JSON.stringify({ t: 'joined', room: m.room, last: m.last }));
      let set = rooms.get(m.room);
      if (set === undefined) rooms.set(m.room, (set = new Set()));
      set.add(ws);
      ws.member = true;
    }
  });
  process.on('SIGTERM', () => process.exit(0));
}

const PAGE = `<!doctype html>
<meta charset="utf-8"><title>chat</title>
<p><input id="room" value="lobby"> <input id="nick" value="guest">
<button id="join">join</button></p>
<pre id="log" style="height:20em;overflow:auto;border:1px solid #ccc"></pre>
<form id="f"><input id="text" size="60"> <button>say</button></form>
<script>
const $ = (id) => document.getElementById(id);
const ws = new WebSocket('ws://' + location.host + '/ws');
ws.onmessage = (e) => {
  const m = JSON.parse(e.data);
  const line = m.t === 'msg' ? m.id + ' <' + m.nick + '> ' + m.text
             : m.t === 'joined' ? '-- joined ' + m.room + ' (last ' + m.last + ')'
             : '-- ' + m.t + ': ' + m.text;
  $('log').textContent += line + '\\n';
  $('log').scrollTop = 1e9;
};
$('join').onclick = () => {
  $('log').textContent = '';
  ws.send(JSON.stringify({ t: 'join', room: $('room').value, nick: $('nick').value }));
};
$('f').onsubmit = (e) => {
  e.preventDefault();
  ws.send(JSON.stringify({ t: 'say', text: $('text').value }));
  $('text').value = '';
};
</script>
`;

if (cluster.isPrimary) primary();
else worker();
