#!/usr/bin/env python3
"""Opens URL in Chromium headless and prints the text of the element with
id ID once it no longer reads "running" (at most TIMEOUT seconds), through
the DevTools protocol, in real time: a page that waits on a WebSocket
cannot be read with --dump-dom, whose virtual time does not wait for it.
Usage: cdp_dom.py URL ID [TIMEOUT] (needs python3-websockets).

As a module: `async with Chromium() as b: page = await b.open(url);
await page.eval(js)` (test/chat/pages.py drives two pages with it)."""
import asyncio, json, re, subprocess, sys, tempfile, time
import websockets


class Page:
    def __init__(self, browser, session):
        self.b, self.session = browser, session

    async def eval(self, expression):
        """The value of a JS expression in the page (JSON-able)."""
        r = await self.b.call("Runtime.evaluate", {"expression": expression,
                                                   "returnByValue": True}, self.session)
        return r.get("result", {}).get("value")

    async def wait(self, expression, timeout):
        """Until the expression is truthy (100 ms a try); its value, or None."""
        deadline = time.time() + timeout
        while time.time() < deadline:
            v = await self.eval(expression)
            if v:
                return v
            await asyncio.sleep(0.1)
        return None


class Chromium:
    """Chromium headless with a DevTools connection, a fresh profile, and
    nothing left behind at exit."""

    async def __aenter__(self):
        self.prof = tempfile.mkdtemp(prefix="sluice-cdp-")
        self.p = subprocess.Popen(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                                   "--remote-debugging-port=0", "--user-data-dir=" + self.prof,
                                   "about:blank"], stderr=subprocess.PIPE, text=True)
        ws_url = None
        t0 = time.time()
        while ws_url is None and time.time() - t0 < 30:
            line = self.p.stderr.readline()
            m = re.search(r"DevTools listening on (ws://\S+)", line)
            if m:
                ws_url = m.group(1)
        if ws_url is None:
            await self.__aexit__()
            sys.exit("chromium did not start its DevTools endpoint")
        self.cdp = await websockets.connect(ws_url, max_size=None)
        self.n = 0
        self.lock = asyncio.Lock()
        return self

    async def call(self, method, params=None, session=None):
        async with self.lock:
            self.n += 1
            msg = {"id": self.n, "method": method, "params": params or {}}
            if session:
                msg["sessionId"] = session
            await self.cdp.send(json.dumps(msg))
            while True:
                r = json.loads(await self.cdp.recv())
                if r.get("id") == self.n:
                    return r.get("result", r)

    async def open(self, url):
        tgt = await self.call("Target.createTarget", {"url": url})
        sess = (await self.call("Target.attachToTarget",
                                {"targetId": tgt["targetId"], "flatten": True}))["sessionId"]
        return Page(self, sess)

    async def __aexit__(self, *exc):
        if getattr(self, "cdp", None) is not None:
            await self.cdp.close()
        self.p.terminate()
        try:
            self.p.wait(10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()
        subprocess.run(["rm", "-rf", self.prof])


async def main(url, eid, timeout):
    async with Chromium() as b:
        page = await b.open(url)
        expr = "(document.getElementById(%s)||{}).textContent" % json.dumps(eid)
        text = await page.wait("(%s) !== 'running' && (%s)" % (expr, expr), timeout)
        print(text or "running")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 30))
