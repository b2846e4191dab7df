#!/usr/bin/env python3
"""python3-websockets (Debian's, a strict client) against an echo server:
messages of many sizes, text and binary, a fragmented one, a ping; every
echo is compared byte for byte. Usage: py_client.py URL [deflate]"""
import asyncio, os, random, sys
import websockets

async def main(url, deflate):
    comp = "deflate" if deflate else None
    async with websockets.connect(url, compression=comp, max_size=None) as ws:
        ext = ws.response_headers.get("Sec-WebSocket-Extensions")
        if deflate and not (ext or "").startswith("permessage-deflate"):
            sys.exit("permessage-deflate not negotiated: %r" % ext)
        rnd = random.Random(12)
        sizes = [0, 1, 125, 126, 65535, 65536, 1 << 20] + [rnd.randint(0, 5000) for _ in range(200)]
        total = 0
        for i, n in enumerate(sizes):
            if i % 2:
                msg = os.urandom(n)
            else:
                msg = "".join(rnd.choice("aé€😀 x") for _ in range(n // 3))
            await ws.send(msg)
            got = await ws.recv()
            if got != msg:
                sys.exit("message %d (%d) differs" % (i, n))
            total += len(msg)
        async def parts():
            for p in ("frag", "ment", "ed ☃"):
                yield p
        await ws.send(parts())
        if await ws.recv() != "fragmented ☃":
            sys.exit("fragmented message differs")
        await (await ws.ping(b"are you there"))
        await ws.close(1000, "done")
        print("ok %d messages %d units, close %d" % (len(sizes) + 1, total, ws.close_code))

asyncio.run(main(sys.argv[1], len(sys.argv) > 2))
