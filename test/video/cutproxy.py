#!/usr/bin/env python3
"""A TCP forwarder that drops the connection carrying the CUT-th byte a
client sends (counted over every connection), once: the client sees its
upload cut off mid-body, the server a reset. Prints its port, then one line
per connection ("conn N", "cut N after B bytes"). Stops after LIFETIME s.
Usage: cutproxy.py UPSTREAM_PORT CUT [LIFETIME]"""
import socket, sys, threading, time

up_port, cut = int(sys.argv[1]), int(sys.argv[2])
lifetime = float(sys.argv[3]) if len(sys.argv) > 3 else 60
sent = 0
done = False
lock = threading.Lock()
ls = socket.socket()
ls.bind(("127.0.0.1", 0))
ls.listen(16)
print(ls.getsockname()[1], flush=True)


def pump(src, dst, n, upload):
    global sent, done
    try:
        while True:
            b = src.recv(65536)
            if not b:
                dst.shutdown(socket.SHUT_WR)
                return
            if upload:
                with lock:
                    drop = not done and sent + len(b) >= cut
                    if drop:
                        done = True
                        b = b[: cut - sent]
                    sent += len(b)
                if drop:
                    dst.sendall(b)
                    print("cut %d after %d bytes" % (n, sent), flush=True)
                    for s in (src, dst):  # shutdown wakes the other thread's recv
                        try:
                            s.shutdown(socket.SHUT_RDWR)
                        except OSError:
                            pass
                        s.close()
                    return
            dst.sendall(b)
    except OSError:
        for s in (src, dst):
            try:
                s.close()
            except OSError:
                pass


def serve():
    n = 0
    while True:
        c, _ = ls.accept()
        n += 1
        print("conn %d" % n, flush=True)
        u = socket.create_connection(("127.0.0.1", up_port))
        threading.Thread(target=pump, args=(c, u, n, True), daemon=True).start()
        threading.Thread(target=pump, args=(u, c, n, False), daemon=True).start()


threading.Thread(target=serve, daemon=True).start()
time.sleep(lifetime)
