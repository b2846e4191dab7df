'use strict';
// bench/analytics/twin.js: the Node 20 twin of `examples/analytics --replay
// FILE`, no npm packages. Usage: node bench/analytics/twin.js FILE
//
// fs.createReadStream(FILE) -> Lines (a Transform: bytes in, arrays of
// lines out) -> Parse (a Transform: arrays of lines in, arrays of records
// out; a line that is not nginx "combined", with or without $request_time
// after the user agent, counts as malformed) -> Aggregate (a Writable:
// status classes, per-minute requests and 5xx, paths, latencies). Each
// minute, once a line of a later minute arrived (or at the end), goes to a
// Python child (child_process.spawn of examples/analytics.py, the ML step
// sluice runs too: one JSON line in, one out); the summary is printed when every minute was
// answered. Lines are split at "\n" (a "\r" before it is dropped, a last
// line without "\n" still counts) and read as latin1, one char per byte,
// so garbage bytes never merge or split lines. Batches instead of one
// stream object per line: that is how a Node program of this kind is
// written when it has to be fast (one object per line costs ~2x).
//
// Output (the bench compares the first two lines with sluice's):
//   analytics: replay FILE: N lines, M malformed, T.TT s, R lines/s
//   status: 2xx=A 3xx=B 4xx=C 5xx=D
//   top: /a=123 /b=100 ...        (10 paths, count descending, then path)
//   latency_ms: p50=X p90=Y p99=Z (exact, nearest rank; when present)
//   minutes: K, anomalies: L
//   anomaly: 2026-12-01T10:42Z requests=NNN score=12.3   (one per anomaly)
// The minute of a line is its timestamp in UTC truncated to the minute; a
// line of a minute already closed (sent to Python) still counts in every
// total but not in its minute (examples/analytics calls those "late").
// ANALYTICS_PYTHON overrides /usr/bin/python3.

const fs = require('fs');
const path = require('path');
const { Transform, Writable, pipeline } = require('stream');
const { spawn } = require('child_process');
const readline = require('readline');

const file = process.argv[2];
if (!file || process.argv.length > 3) {
  console.error('usage: node twin.js FILE');
  process.exit(2);
}
const t0 = process.hrtime.bigint();

class Lines extends Transform {
  constructor() {
    super({ readableObjectMode: true });
    this.carry = '';
  }
  _transform(chunk, enc, cb) {
    const s = this.carry + chunk.toString('latin1');
    const parts = s.split('\n');
    this.carry = parts.pop();
    if (parts.length) this.push(parts);
    cb();
  }
  _flush(cb) {
    if (this.carry.length) this.push([this.carry]);
    cb();
  }
}

// remote ident user [dd/Mon/yyyy:hh:mm:ss +zzzz] "METHOD target[ HTTP/x]"
// status bytes "referer" "user agent"[ request_time]
const QS = '"((?:[^"\\\\]|\\\\.)*)"';
const COMBINED = new RegExp(
  '^\\S+ \\S+ \\S+ \\[(\\d{2}/[A-Z][a-z]{2}/\\d{4}:\\d{2}:\\d{2}):\\d{2} ' +
    '([+-])(\\d{2})(\\d{2})\\] "[^" ]+ ([^" ]+)(?: [^"]*)?" (\\d{3}) (?:\\d+|-) ' +
    QS + ' ' + QS + '(?: (\\d+(?:\\.\\d+)?))?$');
const MONTHS = { Jan: 0, Feb: 1, Mar: 2, Apr: 3, May: 4, Jun: 5, Jul: 6,
  Aug: 7, Sep: 8, Oct: 9, Nov: 10, Dec: 11 };

let lastKey = '';
let lastMinute = -1;
// "01/Dec/2026:10:00" and the offset -> minutes since the epoch (UTC), -1
// when it is no date.
function minuteOf(hm, sign, oh, om) {
  const key = hm + sign + oh + om;
  if (key === lastKey) return lastMinute;
  const mon = MONTHS[hm.slice(3, 6)];
  let m = -1;
  if (mon !== undefined) {
    const ms = Date.UTC(+hm.slice(7, 11), mon, +hm.slice(0, 2),
      +hm.slice(12, 14), +hm.slice(15, 17));
    const off = (+oh * 60 + +om) * (sign === '-' ? -1 : 1);
    if (!Number.isNaN(ms)) m = ms / 60000 - off;
  }
  lastKey = key;
  lastMinute = m;
  return m;
}

const agg = {
  lines: 0, malformed: 0, cls: [0, 0, 0, 0, 0, 0], late: 0,
  paths: new Map(), lat: new Map(), nlat: 0,
  minutes: new Map(), // minute -> [requests, 5xx], open minutes
  maxMinute: -1, nextClose: -1,
};

class Parse extends Transform {
  constructor() {
    super({ objectMode: true });
  }
  _transform(lines, enc, cb) {
    const recs = [];
    let bad = 0;
    for (let i = 0; i < lines.length; i++) {
      let l = lines[i];
      if (l.length && l.charCodeAt(l.length - 1) === 13) l = l.slice(0, -1);
      const m = COMBINED.exec(l);
      const minute = m ? minuteOf(m[1], m[2], m[3], m[4]) : -1;
      if (minute < 0) {
        bad++;
        continue;
      }
      const target = m[5];
      const q = target.indexOf('?');
      recs.push({
        minute,
        status: +m[6],
        path: q < 0 ? target : target.slice(0, q),
        ms: m[9] === undefined ? -1 : Math.round(+m[9] * 1000),
      });
    }
    this.push({ lines: lines.length, malformed: bad, recs });
    cb();
  }
}

// --- the Python child ---------------------------------------------------
const py = spawn(process.env.ANALYTICS_PYTHON || '/usr/bin/python3',
  [path.join(__dirname, '..', '..', 'examples', 'analytics.py')], { stdio: ['pipe', 'pipe', 'inherit'] });
const pending = []; // minutes sent, not answered: {name, requests}
const found = [];
let closedMinutes = 0;
let finished = false;
py.on('error', (err) => {
  console.error(`twin: python: ${err.message}`);
  process.exit(1);
});
py.on('exit', (code, sig) => {
  if (pending.length || !finished) {
    console.error(`twin: python exited (${sig || code}) with ${pending.length} minutes unanswered`);
    process.exit(1);
  }
});
readline.createInterface({ input: py.stdout }).on('line', (line) => {
  const w = pending.shift();
  let a;
  try {
    a = JSON.parse(line);
  } catch (e) {
    a = {};
  }
  if (!w || a.minute !== w.name) {
    console.error(`twin: python answered ${line} for ${w && w.name}`);
    process.exit(1);
  }
  if (a.anomaly === true) found.push({ name: w.name, requests: w.requests, score: a.score });
  if (finished && pending.length === 0) summary();
});

function minuteName(m) {
  return new Date(m * 60000).toISOString().slice(0, 16) + 'Z';
}
// Closes (sends to Python) every minute before `upTo`, empty ones too.
function closeMinutes(upTo) {
  if (agg.nextClose < 0) return;
  for (; agg.nextClose < upTo; agg.nextClose++) {
    const c = agg.minutes.get(agg.nextClose) || [0, 0];
    agg.minutes.delete(agg.nextClose);
    const name = minuteName(agg.nextClose);
    pending.push({ name, requests: c[0] });
    closedMinutes++;
    py.stdin.write(JSON.stringify({ minute: name, requests: c[0], errors: c[1] }) + '\n');
  }
}

const aggregate = new Writable({
  objectMode: true,
  write(batch, enc, cb) {
    agg.lines += batch.lines;
    agg.malformed += batch.malformed;
    const recs = batch.recs;
    for (let i = 0; i < recs.length; i++) {
      const r = recs[i];
      const k = (r.status / 100) | 0;
      if (k >= 1 && k <= 5) agg.cls[k]++;
      agg.paths.set(r.path, (agg.paths.get(r.path) || 0) + 1);
      if (r.ms >= 0) {
        agg.lat.set(r.ms, (agg.lat.get(r.ms) || 0) + 1);
        agg.nlat++;
      }
      if (agg.nextClose < 0) agg.nextClose = r.minute;
      if (r.minute < agg.nextClose) {
        agg.late++;
        continue;
      }
      if (r.minute > agg.maxMinute) {
        closeMinutes(r.minute);
        agg.maxMinute = r.minute;
      }
      let c = agg.minutes.get(r.minute);
      if (!c) agg.minutes.set(r.minute, (c = [0, 0]));
      c[0]++;
      if (r.status >= 500) c[1]++;
    }
    // Python keeps up (a few hundred minutes), so no wait on its drain.
    cb();
  },
});

function quantile(p) {
  const keys = [...agg.lat.keys()].sort((a, b) => a - b);
  const want = Math.max(1, Math.ceil(p * agg.nlat));
  let seen = 0;
  for (const k of keys) {
    seen += agg.lat.get(k);
    if (seen >= want) return k;
  }
  return keys[keys.length - 1];
}

function summary() {
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const out = [];
  out.push(`analytics: replay ${file}: ${agg.lines} lines, ${agg.malformed} malformed, ` +
    `${s.toFixed(2)} s, ${(s > 0 ? agg.lines / s : 0).toFixed(0)} lines/s`);
  const c = agg.cls;
  out.push(`status: 2xx=${c[2]} 3xx=${c[3]} 4xx=${c[4]} 5xx=${c[5]}`);
  const top = [...agg.paths].sort((a, b) =>
    b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).slice(0, 10);
  out.push('top:' + top.map(([p, n]) => ` ${p}=${n}`).join(''));
  if (agg.nlat > 0) {
    out.push(`latency_ms: p50=${quantile(0.5).toFixed(1)} p90=${quantile(0.9).toFixed(1)} ` +
      `p99=${quantile(0.99).toFixed(1)}`);
  }
  out.push(`minutes: ${closedMinutes}, anomalies: ${found.length}`);
  for (const f of found) {
    out.push(`anomaly: ${f.name} requests=${f.requests} score=${Number(f.score).toFixed(1)}`);
  }
  process.stdout.write(out.join('\n') + '\n');
  py.stdin.end();
}

pipeline(fs.createReadStream(file, { highWaterMark: 1 << 20 }), new Lines(), new Parse(),
  aggregate, (err) => {
    if (err) {
      console.error(`twin: ${file}: ${err.message}`);
      process.exit(1);
    }
    if (agg.nextClose >= 0) closeMinutes(agg.maxMinute + 1);
    finished = true;
    if (pending.length === 0) summary();
  });
