#!/usr/bin/env python3
"""Fallback for `/usr/bin/time -f %M` when the `time` package is missing.

Usage: maxrss.py OUTFILE CMD [ARGS...]
Runs CMD (inheriting stdin/stdout/stderr), waits for it with wait4() and
writes "RSS_KB SECONDS" to OUTFILE: the child's peak resident set size in
KiB and its wall time, measured here so Python's own start-up is excluded.
Exits with the child's status (128+N if killed by signal N)."""
import os
import sys
import time

def main():
    if len(sys.argv) < 3:
        sys.stderr.write("usage: maxrss.py OUTFILE CMD [ARGS...]\n")
        return 2
    out, cmd = sys.argv[1], sys.argv[2:]
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        try:
            os.execvp(cmd[0], cmd)
        finally:
            os._exit(127)
    _, status, ru = os.wait4(pid, 0)
    secs = time.perf_counter() - t0
    with open(out, "w") as f:
        f.write("%d %.6f\n" % (ru.ru_maxrss, secs))
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)

if __name__ == "__main__":
    sys.exit(main())
