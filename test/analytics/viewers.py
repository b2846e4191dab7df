#!/usr/bin/env python3
"""SSE viewers of examples/analytics for test/e2e/analytics.sh.

  viewers.py same HOST PORT VIEWERS SECONDS
      VIEWERS viewers read /events at once for SECONDS; every one must have
      seen the same ids in the same order (from the latest first id on),
      without a gap. Prints "ok N viewers, ids A..B".
  viewers.py resume HOST PORT
      reads a few events, disconnects, waits, reconnects with
      Last-Event-ID: the first event after it must be the next id, and the
      ids go on without a gap. Prints "ok resumed at N".
"""
import asyncio
import sys
import time


async def read_events(host, port, seconds, last_id=None, count=None):
    r, w = await asyncio.open_connection(host, port)
    head = "GET /events HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n"
    if last_id is not None:
        head += "Last-Event-ID: %d\r\n" % last_id
    w.write((head + "\r\n").encode())
    await w.drain()
    status = await r.readline()
    if b" 200 " not in status:
        raise SystemExit("/events: %r" % status)
    while (await r.readline()) not in (b"\r\n", b"\n", b""):
        pass  # headers
    ids, retry, buf = [], None, b""
    deadline = time.time() + seconds
    while time.time() < deadline and (count is None or len(ids) < count):
        try:
            data = await asyncio.wait_for(r.read(65536), max(0.05, deadline - time.time()))
        except asyncio.TimeoutError:
            break
        if not data:
            break
        buf += data
        # Whole events only (an id line may be split across reads); the
        # chunk-size lines of the chunked body never start with "id: ".
        cut = buf.rfind(b"\n\n")
        if cut < 0:
            continue
        for line in buf[:cut].decode("utf-8", "replace").split("\n"):
            if line.startswith("id: "):
                ids.append(int(line[4:].strip()))
            elif line.startswith("retry: "):
                retry = int(line[7:].strip())
        buf = buf[cut + 2:]
    w.close()
    return ids, retry


def check_gapless(ids, who):
    for a, b in zip(ids, ids[1:]):
        if b != a + 1:
            raise SystemExit("%s: id %d after %d" % (who, b, a))


async def same(host, port, n, seconds):
    res = await asyncio.gather(*(read_events(host, port, seconds) for _ in range(n)))
    start = max(ids[0] for ids, _ in res if ids)
    seqs = [[i for i in ids if i >= start] for ids, _ in res]
    end = min(s[-1] for s in seqs)
    seqs = [[i for i in s if i <= end] for s in seqs]
    for k, s in enumerate(seqs):
        check_gapless(s, "viewer %d" % k)
        if s != seqs[0]:
            raise SystemExit("viewer %d saw %s..., viewer 0 %s..." % (k, s[:5], seqs[0][:5]))
    if any(r != 2000 for _, r in res):
        raise SystemExit("a viewer got no retry: 2000")
    if end - start < 2:
        raise SystemExit("too few events: %d..%d" % (start, end))
    print("ok %d viewers saw the same ids %d..%d, retry 2000" % (n, start, end))


async def resume(host, port):
    first, _ = await read_events(host, port, 5, count=3)
    if not first:
        raise SystemExit("no events")
    last = first[-1]
    await asyncio.sleep(2.5)  # events go on meanwhile
    again, _ = await read_events(host, port, 3, last_id=last, count=4)
    if not again or again[0] != last + 1:
        raise SystemExit("resumed after %d with %s" % (last, again[:3]))
    check_gapless(again, "resumed viewer")
    print("ok resumed after id %d with %d, no gap (%d events)" % (last, again[0], len(again)))


def main():
    cmd, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if cmd == "same":
        asyncio.run(same(host, port, int(sys.argv[4]), float(sys.argv[5])))
    elif cmd == "resume":
        asyncio.run(resume(host, port))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
