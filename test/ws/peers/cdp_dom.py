#!/usr/bin/env python3
"""Opens URL in Chromium headless and prints the text of the element with
id ID once it no longer reads "running" (at most TIMEOUT seconds), through
the DevTools protocol, in real time: a page that waits on a WebSocket
cannot be read with --dump-dom, whose virtual time does not wait for it.
Usage: cdp_dom.py URL ID [TIMEOUT] (needs python3-websockets)."""
import asyncio, json, os, re, subprocess, sys, tempfile, time
import websockets

async def main(url, eid, timeout):
    prof = tempfile.mkdtemp(prefix="sluice-cdp-")
    p = subprocess.Popen(["chromium", "--headless", "--no-sandbox", "--disable-gpu",
                          "--remote-debugging-port=0", "--user-data-dir=" + prof,
                          "about:blank"], stderr=subprocess.PIPE, text=True)
    try:
        ws_url = None
        t0 = time.time()
        while ws_url is None and time.time() - t0 < 30:
            line = p.stderr.readline()
            m = re.search(r"DevTools listening on (ws://\S+)", line)
            if m:
                ws_url = m.group(1)
        if ws_url is None:
            sys.exit("chromium did not start its DevTools endpoint")
        async with websockets.connect(ws_url, max_size=None) as cdp:
            n = 0
            async def call(method, params=None, session=None):
                nonlocal n
                n += 1
                msg = {"id": n, "method": method, "params": params or {}}
                if session:
                    msg["sessionId"] = session
                await cdp.send(json.dumps(msg))
                while True:
                    r = json.loads(await cdp.recv())
                    if r.get("id") == n:
                        return r.get("result", r)
            tgt = await call("Target.createTarget", {"url": url})
            sess = (await call("Target.attachToTarget",
                               {"targetId": tgt["targetId"], "flatten": True}))["sessionId"]
            deadline = time.time() + timeout
            text = "running"
            while time.time() < deadline:
                r = await call("Runtime.evaluate", {
                    "expression": "(document.getElementById(%s)||{}).textContent" % json.dumps(eid),
                    "returnByValue": True}, sess)
                text = r.get("result", {}).get("value") or "running"
                if text != "running":
                    break
                await asyncio.sleep(0.1)
            print(text)
    finally:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        subprocess.run(["rm", "-rf", prof])

asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 30))
