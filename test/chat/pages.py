#!/usr/bin/env python3
"""Two Chromium pages of examples/chat (test/e2e/chat.sh), read back through
their DOM. Ann and Bob open the page in room "web"; Ann types a message
into the form and Bob's page shows it. Then CMD runs (the test kills the
workers), a scripted client says MISSED messages while the pages are away,
and both pages must come back by themselves (the page reconnects with
backoff and joins with "since" its last id) and show every message once,
ids contiguous. Prints "ok ..." or exits 1 with the reason.
Usage: pages.py HTTP_URL MISSED CMD (needs python3-websockets)."""
import asyncio, json, os, subprocess, sys
import websockets

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "ws", "peers"))
from cdp_dom import Chromium  # noqa: E402

IDS = "Array.from(document.querySelectorAll('#log li[data-id]')).map(l => +l.dataset.id)"


async def main(url, missed, cmd):
    async with Chromium() as b:
        ann = await b.open(url + "/?room=web&nick=ann")
        bob = await b.open(url + "/?room=web&nick=bob")
        for p, who in ((ann, "ann"), (bob, "bob")):
            if not await p.wait("window.chat && window.chat.joined === 'web'", 30):
                sys.exit("%s's page did not join (state %r)" % (
                    who, await p.eval("document.getElementById('state').textContent")))
        await ann.eval("document.querySelector('#say input').value = 'hello from ann \u00e9';"
                       "document.getElementById('say').requestSubmit(); 1")
        seen = await bob.wait("Array.from(document.querySelectorAll('#log li'))"
                              ".map(l => l.textContent).find(t => t === 'annhello from ann \u00e9')", 10)
        if not seen:
            sys.exit("bob's page did not show ann's message: %r" % await bob.eval(
                "document.getElementById('log').textContent"))
        subprocess.run(cmd, shell=True, check=True)
        ws_url = url.replace("http://", "ws://") + "/ws"
        for _ in range(100):  # the replacement workers, as soon as they listen
            try:
                async with websockets.connect(ws_url) as c:
                    await c.send(json.dumps({"t": "join", "room": "web", "nick": "carl"}))
                    while json.loads(await c.recv())["t"] != "joined":
                        pass
                    for k in range(missed):
                        await c.send(json.dumps({"t": "say", "text": "while away %d" % k}))
                    n = 0
                    while n < missed:
                        if json.loads(await c.recv())["t"] == "msg":
                            n += 1
                break
            except (OSError, websockets.ConnectionClosed, websockets.InvalidHandshake):
                # a worker that was dying as it took the connection
                await asyncio.sleep(0.1)
        want = list(range(1, missed + 2))
        for p, who in ((ann, "ann"), (bob, "bob")):
            ids = await p.wait("(%s).length >= %d && %s" % (IDS, missed + 1, IDS), 30)
            opens = await p.eval("window.chat.opens")
            if ids != want or opens < 2:
                sys.exit("%s's page: ids %r after %r opens; want %d..%d after a reconnect"
                         % (who, ids, opens, want[0], want[-1]))
        print("ok two pages: ann's message shown on bob's page; after the workers died "
              "both pages reconnected and show ids 1..%d once each" % want[-1])


asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3]))
