#!/usr/bin/env python3
"""WebSocket conformance suite for sluice, organised like the Autobahn
TestSuite's case groups (which cannot run here: it is Python 2 only).

Each case crafts frames byte by byte and states what RFC 6455 / RFC 7692
require back: the echo of a message, a pong, or a close frame with a given
code followed by the end of TCP. The same cases run against sluice's
server (we are a client and mask) and against sluice's client (we are a
server: we send unmasked frames and require every frame from it to be
masked); the peer under test is the echo peer of test/ws/peer.c.

Usage: conformance.py server|client PEER [--table FILE] [--only GROUP]
  PEER: the command that runs the peer (`sluice_tests ws_peer`).
Prints one line per case and a summary per group; exit 1 on any failure.
"""
import base64, hashlib, os, random, socket, struct, subprocess, sys, time
import zlib

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
TIMEOUT = 5.0


class Fail(Exception):
    pass


def frame(op, payload=b"", fin=True, rsv=0, mask=True, length=None):
    b0 = (0x80 if fin else 0) | (rsv << 4) | op
    n = len(payload) if length is None else length
    m = 0x80 if mask else 0
    if n < 126:
        h = struct.pack("!BB", b0, m | n)
    elif n < 65536:
        h = struct.pack("!BBH", b0, m | 126, n)
    else:
        h = struct.pack("!BBQ", b0, m | 127, n)
    if not mask:
        return h + payload
    key = os.urandom(4)
    return h + key + bytes(c ^ key[i % 4] for i, c in enumerate(payload))


def close_payload(code, reason=b""):
    return struct.pack("!H", code) + reason


class Conn:
    """One connection; `client` says which side we play."""

    def __init__(self, sock, client, rest=b""):
        self.s = sock
        self.client = client  # we mask, and expect unmasked frames
        self.buf = rest
        self.s.settimeout(TIMEOUT)

    def send(self, data, chop=None):
        if chop is None:
            self.s.sendall(data)
            return
        for i in range(0, len(data), chop):
            self.s.sendall(data[i:i + chop])
            time.sleep(0.001)

    def f(self, op, payload=b"", **kw):
        kw.setdefault("mask", self.client)
        return frame(op, payload, **kw)

    def _need(self, n):
        while len(self.buf) < n:
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                raise Fail("timed out waiting for the peer")
            except ConnectionResetError:
                d = b""
            if not d:
                return False
            self.buf += d
        return True

    def read_frame(self):
        if not self._need(2):
            return None
        b0, b1 = self.buf[0], self.buf[1]
        n = b1 & 0x7F
        hl = 2
        if n == 126:
            if not self._need(4):
                return None
            n = struct.unpack("!H", self.buf[2:4])[0]
            hl = 4
        elif n == 127:
            if not self._need(10):
                return None
            n = struct.unpack("!Q", self.buf[2:10])[0]
            hl = 10
        masked = b1 & 0x80
        if masked:
            hl += 4
        if not self._need(hl + n):
            return None
        payload = self.buf[hl:hl + n]
        if masked:
            key = self.buf[hl - 4:hl]
            payload = bytes(c ^ key[i % 4] for i, c in enumerate(payload))
        self.buf = self.buf[hl + n:]
        if self.client and masked:
            raise Fail("the server masked a frame")
        if not self.client and not masked:
            raise Fail("the client sent an unmasked frame")
        return (b0 >> 7, (b0 >> 4) & 7, b0 & 15, payload)

    def expect(self, op, payload=None, rsv=0):
        fr = self.read_frame()
        if fr is None:
            raise Fail("connection closed, wanted opcode %d" % op)
        fin, r, o, p = fr
        if o != op:
            raise Fail("got opcode %d (%r), wanted %d" % (o, p[:60], op))
        if payload is not None and p != payload:
            raise Fail("payload differs (%d bytes vs %d)" % (len(p), len(payload)))
        if r != rsv:
            raise Fail("rsv %d, wanted %d" % (r, rsv))
        return p

    def read_message(self, op):
        """A whole message of opcode `op`, in one or several frames: its
        first frame's RSV bits and the joined payload."""
        fr = self.read_frame()
        if fr is None:
            raise Fail("connection closed, wanted a message")
        fin, rsv, o, data = fr
        if o != op:
            raise Fail("got opcode %d (%r), wanted %d" % (o, data[:60], op))
        while not fin:
            fr = self.read_frame()
            if fr is None or fr[2] != OP_CONT:
                raise Fail("fragmented message broken off")
            fin, _, _, p = fr
            data += p
        return rsv, data

    def expect_message(self, op, payload):
        data = self.read_message(op)[1]
        if data != payload:
            raise Fail("message differs (%d bytes vs %d)" % (len(data), len(payload)))

    def expect_close(self, codes):
        """A close frame with one of `codes` (None: no code), then EOF."""
        while True:
            fr = self.read_frame()
            if fr is None:
                raise Fail("TCP closed without a close frame, wanted %s" % codes)
            if fr[2] == OP_CLOSE:
                break
            if fr[2] not in (OP_PONG,):
                raise Fail("got opcode %d before the close" % fr[2])
        p = fr[3]
        code = struct.unpack("!H", p[:2])[0] if len(p) >= 2 else None
        if code not in codes:
            raise Fail("close code %s, wanted %s" % (code, codes))
        return code

    def expect_eof(self):
        try:
            fr = self.read_frame()
        except Fail:
            raise Fail("TCP still open after the close")
        if fr is not None:
            raise Fail("a frame after the close: opcode %d" % fr[2])

    def close_clean(self, code=1000):
        self.send(self.f(OP_CLOSE, close_payload(code)))
        self.expect_close({code})
        if self.client:
            self.expect_eof()


def fail_with(c, code, data, chop=None):
    c.send(data, chop)
    c.expect_close({code})
    if c.client:
        c.expect_eof()


CASES = []  # (group, name, fn, needs)


def case(group, name, needs=None):
    def reg(fn):
        CASES.append((group, name, fn, needs or {}))
        return fn
    return reg


# --- 1 framing ----------------------------------------------------------------
for n in (0, 125, 126, 127, 65535, 65536, 1 << 20):
    for op, kind in ((OP_TEXT, "text"), (OP_BIN, "binary")):
        def mk(n=n, op=op):
            def fn(c):
                data = (b"*" * n) if op == OP_TEXT else bytes(random.getrandbits(8) for _ in range(min(n, 4096))) * (n // 4096 + 1)
                data = data[:n]
                c.send(c.f(op, data))
                c.expect_message(op, data)
                c.close_clean()
            return fn
        case("framing", "%s %d bytes" % (kind, n))(mk())


@case("framing", "text 64 KiB sent one byte per write")
def _(c):
    data = b"chopped" * 9362
    c.send(c.f(OP_TEXT, data), chop=997)
    c.expect_message(OP_TEXT, data)
    c.close_clean()


@case("framing", "two messages in one TCP segment")
def _(c):
    c.send(c.f(OP_TEXT, b"one") + c.f(OP_BIN, b"two"))
    c.expect_message(OP_TEXT, b"one")
    c.expect_message(OP_BIN, b"two")
    c.close_clean()


@case("framing", "header split byte by byte")
def _(c):
    c.send(c.f(OP_TEXT, b"x" * 300), chop=1)
    c.expect_message(OP_TEXT, b"x" * 300)
    c.close_clean()


@case("framing", "64-bit length with the top bit set -> 1002")
def _(c):
    h = bytes([0x81, (0x80 if c.client else 0) | 127]) + struct.pack("!Q", 1 << 63)
    fail_with(c, 1002, h + (os.urandom(4) if c.client else b""))


@case("framing", "unmasked frame to a server / masked to a client -> 1002")
def _(c):
    fail_with(c, 1002, frame(OP_TEXT, b"hello", mask=not c.client))


# --- 2 pings and pongs ---------------------------------------------------------
@case("pings", "ping without payload -> pong")
def _(c):
    c.send(c.f(OP_PING))
    c.expect(OP_PONG, b"")
    c.close_clean()


@case("pings", "ping with 125 bytes -> pong with them")
def _(c):
    p = bytes(range(125))
    c.send(c.f(OP_PING, p))
    c.expect(OP_PONG, p)
    c.close_clean()


@case("pings", "ping with 126 bytes -> 1002")
def _(c):
    fail_with(c, 1002, c.f(OP_PING, b"x" * 126))


@case("pings", "unsolicited pong is ignored")
def _(c):
    c.send(c.f(OP_PONG, b"unasked") + c.f(OP_TEXT, b"after"))
    c.expect_message(OP_TEXT, b"after")
    c.close_clean()


@case("pings", "ten pings -> ten pongs in order")
def _(c):
    c.send(b"".join(c.f(OP_PING, b"%d" % i) for i in range(10)))
    for i in range(10):
        c.expect(OP_PONG, b"%d" % i)
    c.close_clean()


@case("pings", "ping sent one byte per write")
def _(c):
    c.send(c.f(OP_PING, b"slow ping"), chop=1)
    c.expect(OP_PONG, b"slow ping")
    c.close_clean()


# --- 3 reserved bits ------------------------------------------------------------
for rsv in (1, 2, 3, 4, 5, 6, 7):
    def mk(rsv=rsv):
        def fn(c):
            fail_with(c, 1002, c.f(OP_TEXT, b"reserved", rsv=rsv))
        return fn
    case("reserved bits", "RSV=%d on a text frame -> 1002" % rsv)(mk())


@case("reserved bits", "RSV=2 on a ping -> 1002, after an echo")
def _(c):
    c.send(c.f(OP_TEXT, b"first"))
    c.expect_message(OP_TEXT, b"first")
    fail_with(c, 1002, c.f(OP_PING, b"", rsv=2))


# --- 4 opcodes --------------------------------------------------------------------
for op in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15):
    def mk(op=op):
        def fn(c):
            fail_with(c, 1002, c.f(op, b"reserved opcode"))
        return fn
    case("opcodes", "opcode %d -> 1002" % op)(mk())


# --- 5 fragmentation ---------------------------------------------------------------
@case("fragmentation", "text in two fragments")
def _(c):
    c.send(c.f(OP_TEXT, b"frag", fin=False) + c.f(OP_CONT, b"ment"))
    c.expect_message(OP_TEXT, b"fragment")
    c.close_clean()


@case("fragmentation", "binary in 100 one-byte fragments")
def _(c):
    data = bytes(range(100))
    fr = c.f(OP_BIN, data[:1], fin=False)
    fr += b"".join(c.f(OP_CONT, data[i:i + 1], fin=False) for i in range(1, 99))
    fr += c.f(OP_CONT, data[99:])
    c.send(fr)
    c.expect_message(OP_BIN, data)
    c.close_clean()


@case("fragmentation", "ping between fragments: the pong comes first")
def _(c):
    c.send(c.f(OP_TEXT, b"a", fin=False) + c.f(OP_PING, b"mid"))
    c.expect(OP_PONG, b"mid")
    c.send(c.f(OP_CONT, b"b"))
    c.expect_message(OP_TEXT, b"ab")
    c.close_clean()


@case("fragmentation", "empty fragments")
def _(c):
    c.send(c.f(OP_TEXT, b"", fin=False) + c.f(OP_CONT, b"", fin=False) +
           c.f(OP_CONT, b"x") )
    c.expect_message(OP_TEXT, b"x")
    c.close_clean()


@case("fragmentation", "continuation with no message -> 1002")
def _(c):
    fail_with(c, 1002, c.f(OP_CONT, b"orphan"))


@case("fragmentation", "a new text inside a fragmented one -> 1002")
def _(c):
    fail_with(c, 1002, c.f(OP_TEXT, b"a", fin=False) + c.f(OP_TEXT, b"b"))


@case("fragmentation", "fragmented ping -> 1002")
def _(c):
    fail_with(c, 1002, c.f(OP_PING, b"a", fin=False) + c.f(OP_CONT, b"b"))


@case("fragmentation", "fragmented close -> 1002")
def _(c):
    fail_with(c, 1002, c.f(OP_CLOSE, close_payload(1000), fin=False))


# --- 6 UTF-8 ------------------------------------------------------------------------
VALID = ["κόσμε", "\u0080", "\u07ff", "\u0800", "\uffff", "\U00010000",
         "\U0010ffff", "Hello-µ@ßöäüàá-UTF-8!!", "\ud7ff\ue000"]
for i, s in enumerate(VALID):
    def mk(s=s):
        def fn(c):
            data = s.encode()
            c.send(c.f(OP_TEXT, data))
            c.expect_message(OP_TEXT, data)
            # The same one byte per fragment.
            fr = c.f(OP_TEXT, data[:1], fin=len(data) == 1)
            for k in range(1, len(data)):
                fr += c.f(OP_CONT, data[k:k + 1], fin=k == len(data) - 1)
            c.send(fr)
            c.expect_message(OP_TEXT, data)
            c.close_clean()
        return fn
    case("utf-8", "valid %d (%d bytes), whole and byte by byte" % (i, len(s.encode())))(mk())

INVALID = [b"\x80", b"\xbf", b"\xc0\xaf", b"\xc1\xbf", b"\xe0\x80\xaf",
           b"\xf0\x80\x80\xaf", b"\xed\xa0\x80", b"\xed\xbf\xbf",
           b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xff", b"\xfe",
           b"\xce\xba\xe1\xbd", b"abc\xc3", b"\xf8\x88\x80\x80\x80"]
for i, bad in enumerate(INVALID):
    def mk(bad=bad):
        def fn(c):
            fail_with(c, 1007, c.f(OP_TEXT, bad))
        return fn
    case("utf-8", "invalid %d %s -> 1007" % (i, bad.hex()))(mk())


@case("utf-8", "invalid in the first fragment fails before the last (fail fast)")
def _(c):
    c.send(c.f(OP_TEXT, b"ok\xed\xa0\x80", fin=False))
    c.expect_close({1007})


@case("utf-8", "a character split across fragments is valid")
def _(c):
    c.send(c.f(OP_TEXT, b"\xce", fin=False) + c.f(OP_CONT, b"\xba"))
    c.expect_message(OP_TEXT, "κ".encode())
    c.close_clean()


@case("utf-8", "binary messages are not checked")
def _(c):
    c.send(c.f(OP_BIN, b"\xff\xfe\xed\xa0\x80"))
    c.expect_message(OP_BIN, b"\xff\xfe\xed\xa0\x80")
    c.close_clean()


# --- 7 close handling ---------------------------------------------------------------
@case("close", "close without payload -> close echoed, TCP ends")
def _(c):
    c.send(c.f(OP_CLOSE))
    c.expect_close({None, 1000})
    if c.client:
        c.expect_eof()


@case("close", "close 1000 with a reason")
def _(c):
    c.send(c.f(OP_CLOSE, close_payload(1000, b"bye now")))
    c.expect_close({1000})
    if c.client:
        c.expect_eof()


@case("close", "close with a 123-byte reason")
def _(c):
    c.send(c.f(OP_CLOSE, close_payload(1000, b"r" * 123)))
    c.expect_close({1000})


@case("close", "close with a 1-byte payload -> 1002")
def _(c):
    fail_with(c, 1002, c.f(OP_CLOSE, b"\x03"))


for code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999):
    def mk(code=code):
        def fn(c):
            c.send(c.f(OP_CLOSE, close_payload(code)))
            c.expect_close({code})
        return fn
    case("close", "valid code %d is echoed" % code)(mk())

for code in (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535):
    def mk(code=code):
        def fn(c):
            fail_with(c, 1002, c.f(OP_CLOSE, close_payload(code)))
        return fn
    case("close", "invalid code %d -> 1002" % code)(mk())


@case("close", "close reason with invalid UTF-8 -> 1007")
def _(c):
    fail_with(c, 1007, c.f(OP_CLOSE, close_payload(1000, b"\xed\xa0\x80")))


@case("close", "frames after the close are ignored")
def _(c):
    c.send(c.f(OP_CLOSE, close_payload(1000)) + c.f(OP_TEXT, b"late") + c.f(OP_PING))
    c.expect_close({1000})


@case("close", "message, then close: the echo comes before the close")
def _(c):
    c.send(c.f(OP_TEXT, b"last words") + c.f(OP_CLOSE, close_payload(1000)))
    c.expect_message(OP_TEXT, b"last words")
    c.expect_close({1000})


@case("close", "peer-initiated close 4000 from the peer under test")
def _(c):
    c.send(c.f(OP_TEXT, b"!close"))
    code = c.expect_close({4000})
    c.send(c.f(OP_CLOSE, close_payload(code)))
    if c.client:
        c.expect_eof()


# --- 9 limits (the peer runs with WS_MAX_MESSAGE=1 MiB) --------------------------
LIM = {"WS_MAX_MESSAGE": str(1 << 20)}


@case("limits", "a message of exactly max_message is taken", LIM)
def _(c):
    data = b"m" * (1 << 20)
    c.send(c.f(OP_BIN, data))
    c.expect_message(OP_BIN, data)
    c.close_clean()


@case("limits", "a frame over max_message -> 1009", LIM)
def _(c):
    fail_with(c, 1009, c.f(OP_BIN, b"m" * ((1 << 20) + 1)))


@case("limits", "a frame header announcing 2^62 bytes -> 1009 at once", LIM)
def _(c):
    h = bytes([0x82, (0x80 if c.client else 0) | 127]) + struct.pack("!Q", 1 << 62)
    fail_with(c, 1009, h + (os.urandom(4) if c.client else b""))


@case("limits", "fragments adding up past max_message -> 1009", LIM)
def _(c):
    part = b"f" * (600 * 1024)
    fail_with(c, 1009, c.f(OP_BIN, part, fin=False) + c.f(OP_CONT, part))


# --- 12/13 permessage-deflate (the peer runs with WS_DEFLATE) --------------------
def deflate(data, z=None):
    z = z or zlib.compressobj(6, zlib.DEFLATED, -15)
    out = z.compress(data) + z.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def inflate(data, z=None):
    z = z or zlib.decompressobj(-15)
    try:
        return z.decompress(data + b"\x00\x00\xff\xff")
    except zlib.error as e:
        raise Fail("the peer's compressed message does not inflate: %s" % e)


def expect_deflated(c, op, payload, z=None):
    rsv, p = c.read_message(op)
    got = inflate(p, z) if rsv & 4 else p
    if got != payload:
        raise Fail("inflated message differs (%d vs %d bytes)" % (len(got), len(payload)))
    return rsv & 4


PMD = {"WS_DEFLATE": "1", "extensions": "permessage-deflate; client_max_window_bits"}
PMD_NCT = {"WS_DEFLATE": "2", "extensions": "permessage-deflate; client_max_window_bits"}

for n in (0, 1, 125, 4096, 65536, 1 << 20):
    def mk(n=n):
        def fn(c):
            data = (b"compress me " * (n // 12 + 1))[:n]
            c.send(c.f(OP_TEXT, deflate(data), rsv=4))
            expect_deflated(c, OP_TEXT, data)
            c.close_clean()
        return fn
    case("permessage-deflate", "compressed text %d bytes, no context takeover" % n, PMD_NCT)(mk())


@case("permessage-deflate", "context takeover: 20 messages on one compressor", PMD)
def _(c):
    zo = zlib.compressobj(6, zlib.DEFLATED, -15)
    zi = zlib.decompressobj(-15)
    for i in range(20):
        # Every fifth one empty: after another message's flush, an empty
        # one must still be a block the peer can read (RFC 7692 7.2.3.6).
        data = b"" if i % 5 == 4 else b"the same words again and again %d " % i * 50
        c.send(c.f(OP_BIN, deflate(data, zo), rsv=4))
        expect_deflated(c, OP_BIN, data, zi)
    c.close_clean()


@case("permessage-deflate", "compressed message in fragments (RSV1 on the first only)", PMD_NCT)
def _(c):
    data = b"fragmented and compressed " * 400
    comp = deflate(data)
    a, b = comp[:len(comp) // 2], comp[len(comp) // 2:]
    c.send(c.f(OP_TEXT, a, rsv=4, fin=False) + c.f(OP_CONT, b))
    expect_deflated(c, OP_TEXT, data)
    c.close_clean()


@case("permessage-deflate", "uncompressed message on a deflate connection", PMD_NCT)
def _(c):
    c.send(c.f(OP_TEXT, b"plain"))
    expect_deflated(c, OP_TEXT, b"plain")
    c.close_clean()


@case("permessage-deflate", "RSV1 on a continuation -> 1002", PMD_NCT)
def _(c):
    fail_with(c, 1002, c.f(OP_TEXT, deflate(b"ab"), rsv=4, fin=False) +
              c.f(OP_CONT, b"x", rsv=4))


@case("permessage-deflate", "RSV1 on a ping -> 1002", PMD_NCT)
def _(c):
    fail_with(c, 1002, c.f(OP_PING, b"", rsv=4))


@case("permessage-deflate", "data that does not inflate -> 1007", PMD_NCT)
def _(c):
    fail_with(c, 1007, c.f(OP_BIN, b"\xff\xff\xff\xff garbage", rsv=4))


@case("permessage-deflate", "bad UTF-8 inside a compressed text -> 1007", PMD_NCT)
def _(c):
    fail_with(c, 1007, c.f(OP_TEXT, deflate(b"ok \xed\xa0\x80"), rsv=4))


@case("permessage-deflate", "a 64 MiB bomb (64 KiB compressed) -> 1009",
      dict(PMD_NCT, WS_MAX_MESSAGE=str(1 << 20)))
def _(c):
    bomb = deflate(b"\0" * (64 << 20))
    fail_with(c, 1009, c.f(OP_BIN, bomb, rsv=4))


@case("permessage-deflate", "RSV1 without the extension -> 1002")
def _(c):
    fail_with(c, 1002, c.f(OP_TEXT, deflate(b"ab"), rsv=4))


# --- running ------------------------------------------------------------------------
def start_peer(peer, env_extra, mode, url=None, ncases=0):
    env = dict(os.environ)
    env.update({k: v for k, v in env_extra.items() if k.startswith("WS_")})
    env["WS_MODE"] = mode
    pf = None
    if mode == "server":
        pf = "/tmp/ws-conf-port-%d" % os.getpid()
        if os.path.exists(pf):
            os.unlink(pf)
        env["WS_PORT_FILE"] = pf
    else:
        env["WS_URL"] = url
        env["WS_CASES"] = str(ncases)
    p = subprocess.Popen(peer, env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    port = None
    if pf:
        for _ in range(400):
            if os.path.exists(pf) and open(pf).read().strip():
                port = int(open(pf).read())
                break
            if p.poll() is not None:
                break
            time.sleep(0.01)
        os.unlink(pf) if os.path.exists(pf) else None
    return p, port


def read_head(sock, what):
    """An HTTP head and the bytes after it."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = sock.recv(4096)
        if not d:
            raise Fail(what)
        buf += d
    return buf.split(b"\r\n\r\n", 1)


def client_handshake(port, path, ext=None):
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    key = base64.b64encode(os.urandom(16)).decode()
    req = ("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
           "Sec-WebSocket-Version: 13\r\n" % (path, port, key))
    if ext:
        req += "Sec-WebSocket-Extensions: %s\r\n" % ext
    s.sendall((req + "\r\n").encode())
    head, rest = read_head(s, "no 101")
    if not head.startswith(b"HTTP/1.1 101"):
        raise Fail("handshake: %r" % head[:80])
    want = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest())
    if b"Sec-WebSocket-Accept: " + want not in head:
        raise Fail("bad Sec-WebSocket-Accept")
    if ext and b"permessage-deflate" not in head:
        raise Fail("permessage-deflate not accepted")
    return Conn(s, True, rest)


def server_handshake(conn, ext):
    head, rest = read_head(conn, "no request")
    lines = head.decode().split("\r\n")
    hdr = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:]}
    key = hdr.get("sec-websocket-key", "")
    if len(base64.b64decode(key)) != 16 or hdr.get("sec-websocket-version") != "13":
        raise Fail("bad client request: %r" % lines[:3])
    acc = base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()
    resp = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n" % acc)
    if ext:
        if "permessage-deflate" not in hdr.get("sec-websocket-extensions", ""):
            raise Fail("the client did not offer permessage-deflate")
        resp += "Sec-WebSocket-Extensions: %s\r\n" % (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
            if "no_context" in hdr["sec-websocket-extensions"]
            else "permessage-deflate")
    conn.sendall((resp + "\r\n").encode())
    return Conn(conn, False, rest)


def peer_env_key(needs):
    return tuple(sorted((k, v) for k, v in needs.items() if k.startswith("WS_")))


def run_server_mode(peer, cases):
    results = []
    groups = {}
    for cs in cases:
        groups.setdefault(peer_env_key(cs[3]), []).append(cs)
    for key, cs in groups.items():
        p, port = start_peer(peer, dict(key), "server")
        if port is None:
            print("peer did not start: %s" % p.stderr.read())
            sys.exit(1)
        for i, (group, name, fn, needs) in enumerate(cs):
            ext = needs.get("extensions")
            if "WS_DEFLATE" in needs and "no_context" not in ext and needs["WS_DEFLATE"] == "2":
                pass
            try:
                c = client_handshake(port, "/case/%d" % i, ext)
                fn(c)
                c.s.close()
                results.append((group, name, None))
            except (Fail, OSError) as e:
                results.append((group, name, str(e)))
        p.terminate()
        p.wait()
    return results


def run_client_mode(peer, cases):
    results = []
    groups = {}
    for cs in cases:
        # A client cannot reject "RSV1 without the extension" unless it
        # offered none: those run with a client that does not offer.
        groups.setdefault(peer_env_key(cs[3]), []).append(cs)
    for key, cs in groups.items():
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", 0))
        ls.listen(16)
        ls.settimeout(TIMEOUT * 2)
        port = ls.getsockname()[1]
        p, _ = start_peer(peer, dict(key), "client",
                          "ws://127.0.0.1:%d/case/" % port, len(cs))
        for i, (group, name, fn, needs) in enumerate(cs):
            if p.poll() is not None:
                # The client under test is gone (it crashed): the rest of
                # its cases fail at once instead of each waiting.
                results.append((group, name, "the client exited (status %s): %s"
                                % (p.returncode, p.stderr.read()[-300:])))
                continue
            try:
                conn = None
                t0 = time.time()
                ls.settimeout(0.2)
                while conn is None:
                    try:
                        conn, _ = ls.accept()
                    except socket.timeout:
                        if p.poll() is not None or time.time() - t0 > TIMEOUT * 2:
                            raise Fail("the client did not connect")
                c = server_handshake(conn, needs.get("extensions"))
                fn(c)
                c.s.close()
                results.append((group, name, None))
            except (Fail, OSError) as e:
                results.append((group, name, str(e)))
                try:
                    conn.close()
                except Exception:
                    pass
        try:
            p.wait(timeout=TIMEOUT * 2)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        ls.close()
    return results


def main():
    mode, peer = sys.argv[1], sys.argv[2].split()
    table = None
    only = None
    args = sys.argv[3:]
    while args:
        a = args.pop(0)
        if a == "--table":
            table = args.pop(0)
        elif a == "--only":
            only = args.pop(0)
    cases = [c for c in CASES if only is None or c[0] == only]
    random.seed(6455)
    res = (run_server_mode if mode == "server" else run_client_mode)(peer, cases)
    fails = 0
    summary = {}
    for group, name, err in res:
        ok = err is None
        fails += not ok
        s = summary.setdefault(group, [0, 0])
        s[0] += ok
        s[1] += 1
        print("%-4s %-18s %s%s" % ("ok" if ok else "FAIL", group, name,
                                   "" if ok else ": " + err))
    for g, (ok, n) in summary.items():
        print("%s: %d/%d" % (g, ok, n))
    if table:
        with open(table, "w") as f:
            for g, (ok, n) in summary.items():
                f.write("%s\t%d\t%d\n" % (g, ok, n))
    print("%s: %d of %d cases pass" % (mode, len(res) - fails, len(res)))
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
