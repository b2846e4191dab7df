#!/usr/bin/env python3
"""python3-websockets as a strict server for sluice's echo client: sends
messages, checks each echo, then closes with 4000. Writes its port to
PORTFILE and a result line per connection to stdout.
Usage: [DEFL=1] py_server.py PORTFILE"""
import asyncio, os, random, sys
import websockets

async def handler(ws, path=None):
    rnd = random.Random(5)
    try:
        for i in range(100):
            n = rnd.choice([0, 1, 200, 70000, 300000])
            msg = os.urandom(n) if i % 2 else "ü" * n
            await ws.send(msg)
            if await ws.recv() != msg:
                print("FAIL echo %d" % i, flush=True)
                return
        await ws.close(4000, "done")
        print("ok 100 echoes", flush=True)
    except Exception as e:
        print("FAIL %r" % e, flush=True)

async def main(pf, deflate):
    comp = "deflate" if deflate else None
    async with websockets.serve(handler, "127.0.0.1", 0, compression=comp,
                                max_size=None) as srv:
        port = srv.sockets[0].getsockname()[1]
        open(pf + ".tmp", "w").write("%d\n" % port)
        os.rename(pf + ".tmp", pf)
        await asyncio.sleep(60)

asyncio.run(main(sys.argv[1], os.environ.get("DEFL") == "1"))
