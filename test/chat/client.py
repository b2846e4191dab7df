#!/usr/bin/env python3
"""Scripted clients of examples/chat for test/e2e/chat.sh (python3-websockets).

  client.py talk URL ROOM CLIENTS MSGS [GAP_MS]
      CLIENTS clients join ROOM, each says MSGS messages GAP_MS apart (a
      client whose connection drops comes back and joins with "since" its
      last id, as the page does); every client must end with every message
      exactly once, ids contiguous from its first. Prints "ok N messages,
      R reconnects". Exit 1 with the reason otherwise.
  client.py history URL ROOM SINCE EXPECT_FIRST EXPECT_LAST
      joins with since=SINCE (0: none) and checks the ids of the history
      it gets before "joined": EXPECT_FIRST..EXPECT_LAST.
  client.py errors URL
      bad input gets an error each, and the connection goes on.
  client.py backlog URL ROOM MSGS
      says MSGS messages and prints "accepted A rejected R" (what came
      back as a message and as an error).
  client.py slow URL ROOM MSGS
      a client that joins and never reads while another says MSGS large
      messages: the reader gets them all, the slow one is closed with 1008.
"""
import asyncio
import json
import sys
import time

import websockets


async def connect(url):
    return await websockets.connect(url, max_size=None, ping_interval=None)


async def recv_json(ws, timeout=10):
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


class Member:
    def __init__(self, url, room, nick):
        self.url, self.room, self.nick = url, room, nick
        self.ids, self.texts, self.last = [], set(), 0
        self.reconnects = 0
        self.unseen = set()
        self.ws = None
        self.joined = asyncio.Event()

    async def open(self):
        self.ws = await connect(self.url)
        msg = {"t": "join", "room": self.room, "nick": self.nick}
        if self.last:
            msg["since"] = self.last
        await self.ws.send(json.dumps(msg))

    async def run(self, total, deadline):
        backoff = 0.05
        while len(self.texts) < total and time.time() < deadline:
            try:
                if self.ws is None:
                    await self.open()
                    backoff = 0.05
                m = await recv_json(self.ws, max(0.1, deadline - time.time()))
            except (OSError, websockets.ConnectionClosed, asyncio.TimeoutError):
                self.ws = None
                self.joined.clear()
                self.reconnects += 1
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 1.0)
                continue
            if m["t"] == "joined":
                # What we said that never came back (said to a worker that
                # died before passing it on) is said again, as the page does.
                for text in list(self.unseen):
                    await self.ws.send(json.dumps({"t": "say", "text": text}))
                self.joined.set()
            elif m["t"] == "msg" and m["room"] == self.room:
                if m["id"] <= self.last:
                    continue  # the page ignores what it has, so do we
                if self.ids and m["id"] != self.last + 1:
                    raise SystemExit("%s: id %d after %d (a gap)" % (self.nick, m["id"], self.last))
                self.last = m["id"]
                self.ids.append(m["id"])
                if m["text"] in self.texts:
                    raise SystemExit("%s: %r twice" % (self.nick, m["text"]))
                self.texts.add(m["text"])
                self.unseen.discard(m["text"])
            elif m["t"] == "error":
                raise SystemExit("%s: error %s" % (self.nick, m["text"]))

    async def say(self, text):
        while True:
            await self.joined.wait()
            try:
                self.unseen.add(text)
                await self.ws.send(json.dumps({"t": "say", "text": text}))
                return
            except (AttributeError, websockets.ConnectionClosed):
                await asyncio.sleep(0.05)


async def talk(url, room, clients, msgs, gap_ms=0):
    members = [Member(url, room, "n%d" % i) for i in range(clients)]
    for m in members:
        await m.open()
    total = clients * msgs
    deadline = time.time() + 60
    readers = [asyncio.create_task(m.run(total, deadline)) for m in members]
    await asyncio.gather(*(m.joined.wait() for m in members))

    async def sender(m):
        for k in range(msgs):
            await m.say("%s-%d \u00e9" % (m.nick, k))
            if gap_ms:
                await asyncio.sleep(gap_ms / 1000)

    await asyncio.gather(*(sender(m) for m in members))
    await asyncio.gather(*readers)
    for m in members:
        if len(m.texts) != total:
            raise SystemExit("%s: %d of %d messages" % (m.nick, len(m.texts), total))
    firsts = {m.ids[0] for m in members}
    print("ok %d messages to %d clients, ids %d..%d, %d reconnects" % (
        total, clients, min(firsts), members[0].last, sum(m.reconnects for m in members)))


async def history(url, room, since, first, last):
    ws = await connect(url)
    msg = {"t": "join", "room": room, "nick": "h"}
    if since:
        msg["since"] = since
    await ws.send(json.dumps(msg))
    ids = []
    while True:
        m = await recv_json(ws)
        if m["t"] == "joined":
            break
        ids.append(m["id"])
    await ws.close()
    want = list(range(first, last + 1))
    if ids != want:
        raise SystemExit("history since %d: got %s, want %d..%d" % (since, ids[:5] + ["..."] + ids[-3:], first, last))
    print("ok history since %d: %d..%d" % (since, first, last))


async def errors(url):
    ws = await connect(url)
    cases = [("not json", "JSON objects"), ('{"t":"say","text":"x"}', "join a room first"),
             ('{"t":"nope"}', "unknown message type"),
             ('{"t":"join","room":"bad room!","nick":"x"}', "join needs a room"),
             ('{"t":"join","room":"ok","nick":"' + "x" * 40 + '"}', "join needs a room")]
    for text, want in cases:
        await ws.send(text)
        m = await recv_json(ws)
        if m["t"] != "error" or want not in m["text"]:
            raise SystemExit("%r: got %r, want an error with %r" % (text, m, want))
    await ws.send(json.dumps({"t": "join", "room": "ok", "nick": "x"}))
    while (await recv_json(ws))["t"] != "joined":
        pass
    await ws.send(json.dumps({"t": "say", "text": "y" * 4097}))
    m = await recv_json(ws)
    if m["t"] != "error" or "4096" not in m["text"]:
        raise SystemExit("a 4097-byte text: got %r" % m)
    await ws.send(json.dumps({"t": "say", "text": "still here"}))
    while True:
        m = await recv_json(ws)
        if m["t"] == "msg" and m["text"] == "still here":
            break
    await ws.close()
    print("ok %d bad inputs answered with errors, the connection went on" % (len(cases) + 1))


async def slow(url, room, msgs):
    lazy = await connect(url)
    await lazy.send(json.dumps({"t": "join", "room": room, "nick": "lazy"}))
    # The lazy one stops reading: python-websockets reads into its own
    # queue, so pause its transport to let the kernel buffers fill.
    await asyncio.sleep(0.2)
    lazy.transport.pause_reading()
    talker = await connect(url)
    await talker.send(json.dumps({"t": "join", "room": room, "nick": "talker"}))
    while (await recv_json(talker))["t"] != "joined":
        pass
    big = "z" * 4000
    t0 = time.time()
    got = 0

    async def reader():
        nonlocal got
        while got < msgs:
            m = await recv_json(talker, 30)
            if m["t"] == "msg":
                got += 1

    r = asyncio.create_task(reader())
    for k in range(msgs):  # a window of 8, so that the talker reads
        while k - got >= 8:
            await asyncio.sleep(0.001)
        await talker.send(json.dumps({"t": "say", "text": "%d %s" % (k, big)}))
    await r
    took = time.time() - t0
    lazy.transport.resume_reading()
    code = None
    try:
        while True:
            await asyncio.wait_for(lazy.recv(), 5)
    except websockets.ConnectionClosed as e:
        code = e.rcvd.code if e.rcvd else None
    except asyncio.TimeoutError:
        code = "none: it read everything (the kernel buffers held it all)"
    if code != 1008:
        raise SystemExit("the slow client was not closed with 1008 (got %r)" % code)
    print("ok the reader got %d messages in %.1f s; the slow one was closed with 1008" % (got, took))


async def backlog(url, room, msgs):
    ws = await connect(url)
    await ws.send(json.dumps({"t": "join", "room": room, "nick": "b"}))
    while (await recv_json(ws))["t"] != "joined":
        pass
    for k in range(msgs):
        await ws.send(json.dumps({"t": "say", "text": "b%d" % k}))
    acc = rej = 0
    while acc + rej < msgs:
        m = await recv_json(ws)
        if m["t"] == "msg":
            acc += 1
        elif m["t"] == "error":
            if "not accepted" not in m["text"]:
                raise SystemExit("unexpected error %r" % m)
            rej += 1
    await ws.close()
    print("accepted %d rejected %d" % (acc, rej))


def main():
    cmd, url = sys.argv[1], sys.argv[2]
    a = sys.argv[3:]
    if cmd == "talk":
        coro = talk(url, a[0], int(a[1]), int(a[2]), int(a[3]) if len(a) > 3 else 0)
    elif cmd == "history":
        coro = history(url, a[0], int(a[1]), int(a[2]), int(a[3]))
    elif cmd == "errors":
        coro = errors(url)
    elif cmd == "backlog":
        coro = backlog(url, a[0], int(a[1]))
    elif cmd == "slow":
        coro = slow(url, a[0], int(a[1]))
    else:
        sys.exit(__doc__)
    asyncio.run(coro)


if __name__ == "__main__":
    main()
