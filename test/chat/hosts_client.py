#!/usr/bin/python3
"""Helpers of test/e2e/chat_hosts.sh (examples/chat on two hosts behind
nginx, sequenced by Redis). Debian's python3 with python3-websockets.

  hosts_client.py drive URL CTL_DIR [--clients N] [--senders S]
                        [--interval SEC] [--name ADDR=NAME]... [--killed NAME]
      N clients connect one after another to URL (ws://LB/ws), each notes
      which upstream served it (nginx's X-Upstream header), joins room "r"
      and prints "up NICK UPSTREAM"; then "READY". The first S of them say
      a message every SEC seconds (jittered) until CTL_DIR/phase reads
      "stop"; every message is tagged with the phase it was sent in (the
      test writes CTL_DIR/phase as it kills things). A client whose
      connection drops reconnects at once (through the balancer) and joins
      with "since" its last id: "reconnected NICK FROM -> TO since ID".
      At "stop" the senders stop, every client waits for the others to
      catch up, and the checks are printed as "ok ..." / "FAIL ..." lines
      (exit 1 when one failed):
        - every client got ids 1..N once each, in order, the same
          message under each id;
        - no message text got two ids (the at-most-once key of a resent
          EVAL);
        - every message is delivered except what was said less than a
          second before its connection broke (the kill), counted;
        - what was said during the Redis outage came after it, all of it;
        - the clients were on both hosts; those on --killed moved to the
          other host, with since their last id.
"""
import asyncio
import json
import os
import random
import sys
import time


# --- drive -----------------------------------------------------------------

websockets = None  # imported by drive
T0 = time.monotonic()


def now():
    return time.monotonic() - T0


def out(line):
    print(line, flush=True)


class Phase:
    """What the test says it is doing, from CTL_DIR/phase."""

    def __init__(self, ctl):
        self.path = os.path.join(ctl, "phase")
        self.name = "start"
        self.changes = [(0.0, "start")]

    def poll(self):
        try:
            with open(self.path) as f:
                name = f.read().strip()
        except OSError:
            return self.name
        if name and name != self.name:
            self.name = name
            self.changes.append((now(), name))
        return self.name


class Client:
    def __init__(self, d, i, sender):
        self.d = d
        self.nick = "c%d" % i
        self.sender = sender
        self.ws = None
        self.conn = 0  # connections made
        self.upstreams = []  # (conn, name)
        self.got = []  # (id, nick, text, phase at receipt, conn)
        self.last = 0
        self.sent = []  # dicts: text, phase, conn, id
        self.by_text = {}
        self.errors = []
        self.moves = []  # (from, to, since, seconds)
        self.lost_at = {}  # connection -> when it broke
        self.joined = asyncio.Event()
        self.up = asyncio.Event()
        self.pending = None  # (upstream, since, when): a reconnect

    async def connect(self):
        ws = await websockets.connect(
            self.d.url, ping_interval=None, open_timeout=5, close_timeout=1,
            max_size=None)
        self.conn += 1
        up = ws.response_headers.get("X-Upstream", "?").split(",")[-1].strip()
        self.upstreams.append((self.conn, self.d.names.get(up, up)))
        self.joined.clear()
        join = {"t": "join", "room": "r", "nick": self.nick}
        if self.last:
            join["since"] = self.last
        self.ws = ws
        await ws.send(json.dumps(join))
        return ws

    async def reader(self):
        while True:
            ws = self.ws
            try:
                async for raw in ws:
                    m = json.loads(raw)
                    t = m.get("t")
                    if t == "msg":
                        self.got.append((m["id"], m["nick"], m["text"],
                                         self.d.phase.name, self.conn))
                        self.last = max(self.last, m["id"])
                        if m["nick"] == self.nick and m["text"] in self.by_text:
                            s = self.by_text[m["text"]]
                            if s["id"] is None:
                                s["id"] = m["id"]
                    elif t == "joined":
                        self.joined.set()
                        self.up.set()
                        if self.pending is not None:
                            was, since, t_lost = self.pending
                            self.pending = None
                            self.moves.append((was, self.upstreams[-1][1],
                                               since, now() - t_lost))
                            out("reconnected %s %s -> %s since %d in %.2fs" %
                                (self.nick, was, self.upstreams[-1][1], since,
                                 now() - t_lost))
                    elif t == "error":
                        self.errors.append(m.get("text"))
                        out("error %s: %s" % (self.nick, m.get("text")))
            except websockets.ConnectionClosed:
                pass
            if self.d.closing:
                return
            # The connection broke: back through the balancer, since last.
            self.up.clear()
            self.joined.clear()
            was = self.upstreams[-1][1]
            t_lost = now()
            self.lost_at[self.conn] = t_lost
            out("lost %s %s at %.2fs (last %d)" % (self.nick, was, t_lost,
                                                  self.last))
            while True:
                if now() - t_lost > 15:
                    out("FAIL %s could not reconnect in 15 s" % self.nick)
                    return
                try:
                    await self.connect()
                    break
                except (OSError, asyncio.TimeoutError,
                        websockets.WebSocketException):
                    await asyncio.sleep(0.05)
            self.pending = (was, self.last, t_lost)

    async def wait_joined(self):
        # joined comes through the reader of the new connection
        while not self.joined.is_set():
            await asyncio.sleep(0.005)

    async def sender_loop(self):
        seq = 0
        while not self.d.stopping:
            await asyncio.sleep(self.d.interval * random.uniform(0.7, 1.3))
            if self.d.stopping:
                break
            if not self.up.is_set():
                continue
            seq += 1
            text = "%s-%d" % (self.nick, seq)
            s = {"text": text, "phase": self.d.phase.name, "conn": self.conn,
                 "id": None, "at": now()}
            self.sent.append(s)
            self.by_text[text] = s
            try:
                await self.ws.send(json.dumps({"t": "say", "text": text}))
            except websockets.ConnectionClosed:
                pass  # counted as said on a broken connection


class Driver:
    def __init__(self, args):
        self.url, ctl = args[0], args[1]
        self.nclients, self.nsenders, self.interval = 6, 4, 0.25
        self.names, self.killed = {}, None
        i = 2
        while i < len(args):
            k, v = args[i], args[i + 1]
            i += 2
            if k == "--clients":
                self.nclients = int(v)
            elif k == "--senders":
                self.nsenders = int(v)
            elif k == "--interval":
                self.interval = float(v)
            elif k == "--name":
                a, n = v.split("=", 1)
                self.names[a] = n
            elif k == "--killed":
                self.killed = v
            else:
                sys.exit("unknown option " + k)
        self.phase = Phase(ctl)
        self.stopping = self.closing = False
        self.fails = 0

    def check(self, good, what):
        if good:
            out("ok   " + what)
        else:
            self.fails += 1
            out("FAIL " + what)

    async def phases(self):
        while not self.closing:
            if self.phase.poll() == "stop":
                self.stopping = True
            await asyncio.sleep(0.01)

    async def run(self):
        ph = asyncio.ensure_future(self.phases())
        cs = [Client(self, i, i < self.nsenders) for i in range(self.nclients)]
        readers = []
        for c in cs:
            await c.connect()
            readers.append(asyncio.ensure_future(c.reader()))
            await asyncio.wait_for(c.wait_joined(), 10)
            out("up %s %s" % (c.nick, c.upstreams[-1][1]))
        out("READY")
        senders = [asyncio.ensure_future(c.sender_loop()) for c in cs
                   if c.sender]
        while not self.stopping:
            await asyncio.sleep(0.02)
        await asyncio.gather(*senders)
        t_stop = now()
        # Everyone catches up: the same last id everywhere and every message
        # of a connection still open delivered back to its sender.
        while now() - t_stop < 15:
            top = max(c.last for c in cs)
            if all(c.up.is_set() and c.last == top for c in cs) and all(
                    s["id"] is not None for c in cs for s in c.sent
                    if s["conn"] == c.conn):
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # a late duplicate would show here
        self.closing = True
        for c in cs:
            await c.ws.close()
        for r in readers:
            r.cancel()
        ph.cancel()
        self.verify(cs, now() - t_stop)
        return 1 if self.fails else 0

    def verify(self, cs, drain):
        n = max(c.last for c in cs)
        for c in cs:
            ups = " -> ".join(u for _, u in c.upstreams)
            lost = [s for s in c.sent if s["id"] is None]
            out("client %s %s: %d messages received, %d said, %d of them "
                "never came back, upstreams %s" %
                (c.nick, "sender" if c.sender else "listener", len(c.got),
                 len(c.sent), len(lost), ups))
        out("phases " + ", ".join("%s@%.2fs" % (p, t)
                                 for t, p in self.phase.changes))
        out("messages %d (ids 1..%d), drained %.2fs after stop" %
            (n, n, drain))
        bad = []
        for c in cs:
            ids = [g[0] for g in c.got]
            if ids != list(range(1, n + 1)):
                dup = sorted({i for i in ids if ids.count(i) > 1})
                gap = sorted(set(range(1, n + 1)) - set(ids))
                order = [ids[k] for k in range(1, len(ids))
                         if ids[k] != ids[k - 1] + 1][:10]
                bad.append("%s: %d ids, duplicates %s, missing %s, out of "
                           "step at %s" % (c.nick, len(ids), dup[:20],
                                           gap[:20], order))
        self.check(n > 0 and not bad,
                   "every client got ids 1..%d exactly once, in order%s" %
                   (n, "" if not bad else ": " + "; ".join(bad)))
        content = {}
        clash = []
        for c in cs:
            for i, nick, text, _, _ in c.got:
                if content.setdefault(i, (nick, text)) != (nick, text):
                    clash.append(i)
        self.check(not clash, "every client has the same message under each "
                   "id%s" % ("" if not clash else ": differs at %s" %
                             sorted(set(clash))[:20]))
        texts = {}
        for i, (nick, text) in content.items():
            texts.setdefault(text, []).append(i)
        twice = {t: v for t, v in texts.items() if len(v) > 1}
        self.check(not twice, "no message was sequenced twice%s" %
                   ("" if not twice else ": %s" % list(twice.items())[:10]))
        said = [s for c in cs for s in c.sent]
        # Excused: said less than a second before its connection broke (to
        # a worker, a primary killed before passing it on).
        def excused(c, s):
            return s["at"] >= c.lost_at.get(s["conn"], 1e9) - 1.0
        lost_ok = [s for c in cs for s in c.sent
                   if s["id"] is None and excused(c, s)]
        lost_bad = [s["text"] for c in cs for s in c.sent
                    if s["id"] is None and not excused(c, s)]
        self.check(said and not lost_bad,
                   "every message said was delivered (%d said; %d excused: "
                   "said in the last second before the kill broke its "
                   "connection)%s" %
                   (len(said), len(lost_ok),
                    "" if not lost_bad else ": missing %s" % lost_bad[:20]))
        # The outage: what was said then came after it, every message.
        outage = [s for s in said if s["phase"] == "redis-down"]
        early = [s["text"] for s in outage
                 if s["id"] is not None and
                 any(g[0] == s["id"] and g[3] == "redis-down"
                     for c in cs for g in c.got)]
        self.check(outage and all(s["id"] is not None for s in outage)
                   and not early,
                   "the %d messages said while Redis was down were all "
                   "delivered after it came back%s" %
                   (len(outage), "" if not early else
                    " (delivered during it: %s)" % early[:10]))
        ids_out = [s["id"] for s in outage if s["id"] is not None]
        before = [g[0] for c in cs for g in c.got if g[3] == "redis-down"]
        self.check(not ids_out or not before or min(ids_out) > max(before),
                   "the outage's messages got ids after everything "
                   "delivered before it")
        first = {c.upstreams[0][1] for c in cs}
        self.check(len(first) >= 2, "the balancer spread the clients over "
                   "the hosts (%s)" % ", ".join(sorted(first)))
        if self.killed:
            moved = [c for c in cs if c.upstreams[0][1] == self.killed]
            stayed = [c for c in cs if c.upstreams[0][1] != self.killed]
            good = moved and all(
                len(c.moves) == 1 and c.moves[0][1] != self.killed
                for c in moved) and all(not c.moves for c in stayed)
            self.check(good, "the %d clients of %s came back through the "
                       "balancer on the other host, the others stayed (%s)" %
                       (len(moved), self.killed, "; ".join(
                           "%s %s->%s since %d in %.2fs" % ((c.nick,) + m)
                           for c in cs for m in c.moves)))
        errs = [(c.nick, e) for c in cs for e in c.errors]
        self.check(not errs, "no client got an error%s" %
                   ("" if not errs else ": %s" % errs[:5]))


def main():
    if len(sys.argv) >= 4 and sys.argv[1] == "drive":
        global websockets
        import websockets
        d = Driver(sys.argv[2:])
        sys.exit(asyncio.run(d.run()))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
