#!/usr/bin/env python3
"""Code lines of each example against the manual snippet it implements.

Usage: python3 tools/exlines.py [--markdown] [--max-median R] [--stamp|--check]

Counts code lines only: non-blank lines that are not comments, on both
sides (JS: `//` lines; C: `/* ... */` and `//`). The C count is like for
like: it leaves out what the manual's snippet does not do, fenced in the
source between a line holding `/* extra:` and one holding `/* end extra */`
(option parsing, usage text, a --node-child mode for the interop tests);
a single such line ends with the comment `/* extra */`.
Exercises (manual 2.9, 3.12, 4.10) and the proxy have no code in the
manual; they are listed without a ratio. With --max-median R, exits 1
when the median ratio over the snippet examples exceeds R. The manual is
read from ../shared when it is there; otherwise the JS counts recorded
below stand in for it. --stamp writes each example's note line (the last
line of its opening comment, "Lines: 9 of C like for like ... 2.2x")
and the table in examples/README.md; --check fails when one is missing
or stale.
"""
import os
import re
import statistics
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MANUAL = os.path.join(ROOT, "..", "shared", "manual",
                      "advanced-nodejs-mini-manual.txt")

# example -> manual line ranges (inclusive) of the snippet(s) it implements
SNIPPETS = {
    "read-file": [(391, 401)],
    "copy-file": [(411, 416)],
    "gzip-file": [(428, 436)],
    "stream-video": [(450, 456)],
    "hello-server": [(642, 645)],
    "cluster-server": [(626, 647)],
    "cluster-cpu": [(727, 739), (745, 754)],
    "exec-ls": [(869, 873)],
    "execfile-version": [(887, 890)],
    "spawn-ping": [(904, 908)],
    "fork-compute": [(954, 960)],
    "compute-worker": [(966, 971)],
    "spawn-gzip": [(997, 1005)],
    "two-way": [(1021, 1021), (1027, 1030)],
    "run-timeout": [(1045, 1047), (1053, 1055), (1061, 1061)],
}


# The JS code lines of each snippet, as counted from the manual: a clean
# clone has no ../shared, and then these are used; with the manual present
# they are checked against it, so that an edit of the manual is noticed.
JS_LINES = {
    "read-file": 8,
    "copy-file": 4,
    "gzip-file": 6,
    "stream-video": 7,
    "hello-server": 4,
    "cluster-server": 21,
    "cluster-cpu": 23,
    "exec-ls": 5,
    "execfile-version": 4,
    "spawn-ping": 5,
    "fork-compute": 7,
    "compute-worker": 6,
    "spawn-gzip": 7,
    "two-way": 5,
    "run-timeout": 7,
}


# Examples whose Node twin is not in the manual (the manual names the
# feature, not its code): the twin stands in the example's opening comment,
# and its JS code lines are counted here. Listed with a ratio, left out of
# the median, which is the manual's snippets'.
TWIN_JS = {
    "ws-echo": 5,
}


def js_lines(ranges):
    if not os.path.exists(MANUAL):
        return None
    src = open(MANUAL, encoding="utf-8").read().split("\n")
    n = 0
    for a, b in ranges:
        for ln in src[a - 1:b]:
            t = ln.strip()
            if t and not t.startswith("//"):
                n += 1
    return n


def c_lines(path):
    s = open(path, encoding="utf-8").read()
    full = like = 0
    in_comment = in_extra = False
    for no, ln in enumerate(s.split("\n"), 1):
        if "/* extra:" in ln:
            if not ln.strip().startswith("/* extra:") or in_extra:
                sys.exit("%s:%d: a fence opens alone on its line, once "
                         "(one line: end it with /* extra */)" % (path, no))
            in_extra = True
        if "/* end extra */" in ln:
            in_extra = False
            continue
        t = ln.strip()
        code = ""
        i = 0
        while i < len(t):  # strip comments, keep code
            if in_comment:
                j = t.find("*/", i)
                if j < 0:
                    i = len(t)
                else:
                    in_comment, i = False, j + 2
            elif t.startswith("/*", i):
                in_comment, i = True, i + 2
            elif t.startswith("//", i):
                break
            else:
                code += t[i]
                i += 1
        if code.strip():
            full += 1
            if not in_extra and not t.endswith("/* extra */"):
                like += 1
    if in_extra:
        sys.exit("%s: a /* extra: fence is not closed" % path)
    return full, like


NOTE = re.compile(r"\n \*\n \* Lines: [^\n]*?(?= \*/)")


def note_line(full, like, js, ratio, whose="manual's"):
    return ("\n *\n * Lines: %d of C like for like (%d in all) against the "
            "%s %d of JS: %.1fx" % (like, full, whose, js, ratio))


def stamp(path, note, check):
    """Writes the note line at the end of the file's opening comment; with
    check, only says whether it is there and current."""
    s = open(path, encoding="utf-8").read()
    m = NOTE.search(s)
    end = s.index(" */") if m is None else m.start()
    t = s[:end] + note + s[(m.end() if m else end):]
    if t == s:
        return True
    if not check:
        open(path, "w", encoding="utf-8").write(t)
    return False


def markdown(rows, ratios, med):
    out = ["| example | C lines | C like for like | manual JS | ratio |",
           "|---|---:|---:|---:|---:|"]
    for name, full, like, js, r in rows:
        out.append("| %s | %d | %d | %s | %s |" % (
            name, full, like, js if js else "exercise",
            "%.1fx" % r if r else "-"))
    out.append("")
    out.append("Median ratio over %d snippet examples: %.2fx" % (len(ratios), med))
    return "\n".join(out) + "\n"


def readme_table(table, check):
    """examples/README.md holds the table from its header row to the
    Median line; --stamp rewrites it there, --check compares."""
    path = os.path.join(ROOT, "examples", "README.md")
    t = open(path, encoding="utf-8").read()
    m = re.search(r"^\| example \|.*?^Median ratio[^\n]*\n", t, re.S | re.M)
    if m is None:
        return False
    if m.group(0) == table:
        return True
    if not check:
        open(path, "w", encoding="utf-8").write(t[:m.start()] + table + t[m.end():])
    return not check


def main(argv):
    md = "--markdown" in argv
    do_stamp = "--stamp" in argv
    check = "--check" in argv
    cap = None
    if "--max-median" in argv:
        cap = float(argv[argv.index("--max-median") + 1])
    rows, ratios = [], []
    stale = False
    exdir = os.path.join(ROOT, "examples")
    for f in sorted(os.listdir(exdir)):
        if not f.endswith(".c"):
            continue
        name = f[:-2]
        full, like = c_lines(os.path.join(exdir, f))
        js = None
        if name in SNIPPETS:
            js = js_lines(SNIPPETS[name])
            if js is not None and js != JS_LINES[name]:
                print("%s: the manual's snippet has %d lines, JS_LINES says %d"
                      % (name, js, JS_LINES[name]), file=sys.stderr)
                return 1
            js = JS_LINES[name]
        twin = name in TWIN_JS
        if twin:
            js = TWIN_JS[name]
        ratio = like / js if js else None
        if ratio is not None and not twin:
            ratios.append(ratio)
        rows.append((name, full, like, ("twin %d" % js) if twin else js, ratio))
        if ratio is not None and (do_stamp or check):
            path = os.path.join(exdir, f)
            whose = "Node twin's" if twin else "manual's"
            if not stamp(path, note_line(full, like, js, ratio, whose), check):
                if check:
                    print("%s: its Lines: note is missing or stale (run "
                          "tools/exlines.py --stamp)" % f, file=sys.stderr)
                    stale = True
    med = statistics.median(ratios) if ratios else 0
    table = markdown(rows, ratios, med)
    if do_stamp or check:
        if not readme_table(table, check):
            print("examples/README.md: its table is stale (run "
                  "tools/exlines.py --stamp)", file=sys.stderr)
            stale = True
    if md:
        print(table, end="")
    else:
        for name, full, like, js, r in rows:
            print("%-20s C %4d  like-for-like %4d  JS %4s  %s" % (
                name, full, like, js if js else "-",
                "%.1fx" % r if r else "(exercise)"))
        print("median %.2fx over %d snippet examples" % (med, len(ratios)))
    if stale:
        return 1
    if cap is not None and med > cap:
        print("median %.2fx exceeds %.2fx" % (med, cap), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
