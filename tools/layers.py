#!/usr/bin/env python3
"""Layer check for sluice's src/ tree (issue 11).

Layers, lowest first: core < stream < process, http (siblings) < cluster, ws (siblings) < top
(src/version.c, src/sluice.c).  For every .c/.h under src/ it reports
  (a) #include of another, higher layer's internal header ("cluster/cluster_int.h")
  (b) references to sl_/sl__ functions defined in a higher layer (or a sibling)
as lines `src/stream/tcp.c -> cluster: sl__cluster_listen (call)`, then an
edge matrix (layer -> layer: count).  Exit 1 if any upward edge exists.

Function definitions come from `nm` on build/**/*.o when --build is given
(T = defined, U = undefined per object), else from a regex on definitions at
column 0 in the sources.

Usage: python3 tools/layers.py [--build build] [--known tools/layers.known]
With --known FILE (one edge line per line, '#' comments) only edges missing
from FILE fail; known edges that disappeared are reported so FILE shrinks.
"""
import argparse, collections, os, re, subprocess, sys

RANK = {"core": 0, "stream": 1, "process": 2, "http": 2, "cluster": 3, "ws": 3, "top": 4}
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def layer_of(rel):
    parts = rel.split("/")
    if len(parts) >= 3 and parts[1] in RANK:
        return parts[1]
    return "top"


def upward(src, dst):
    return src != dst and RANK[dst] >= RANK[src]


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


DEF_RE = re.compile(r"^[A-Za-z_][\w \t\*]*?\b(sl_{1,2}\w+)\s*\([^;{]*?\)\s*\{", re.M | re.S)
INC_RE = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)
ID_RE = re.compile(r"\b(sl_{1,2}\w+)\b")


def sources():
    out = []
    for d, _, fs in os.walk(os.path.join(ROOT, "src")):
        for f in fs:
            if f.endswith((".c", ".h")):
                out.append(os.path.relpath(os.path.join(d, f), ROOT))
    return sorted(out)


def defs_regex(files):
    defs = {}
    for rel in files:
        if not rel.endswith(".c"):
            continue
        text = strip_comments(open(os.path.join(ROOT, rel)).read())
        for m in DEF_RE.finditer(text):
            defs.setdefault(m.group(1), layer_of(rel))
    return defs


def nm_objects(build):
    objs = {}
    for d, _, fs in os.walk(build):
        for f in fs:
            if f.endswith(".o") and "/src/" in os.path.join(d, f).replace(os.sep, "/") + "/":
                p = os.path.join(d, f)
                m = re.search(r"/src/(.*)\.o$", p.replace(os.sep, "/"))
                if m:
                    objs["src/" + m.group(1)] = p
    return objs


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--build")
    ap.add_argument("--known")
    a = ap.parse_args()
    files = sources()
    edges = []
    defs = None
    undef = {}
    if a.build:
        objs = nm_objects(a.build)
        if objs:
            defs = {}
            for rel, p in objs.items():
                out = subprocess.run(["nm", p], capture_output=True, text=True).stdout
                for line in out.splitlines():
                    f = line.split()
                    if len(f) >= 2 and f[-1].startswith("sl_"):
                        if f[-2] == "T":
                            defs.setdefault(f[-1], layer_of(rel))
                        elif f[-2] == "U":
                            undef.setdefault(rel, set()).add(f[-1])
    if defs is None:
        defs = defs_regex(files)
    for rel in files:
        src = layer_of(rel)
        raw = open(os.path.join(ROOT, rel)).read()
        text = strip_comments(raw)
        for m in INC_RE.finditer(text):
            inc = m.group(1)
            dl = inc.split("/")[0] if "/" in inc else None
            if dl in RANK and dl != src and upward(src, dl):
                edges.append(f"{rel} -> {dl}: {inc} (include)")
        code = re.sub(r'"(\\.|[^"\\\n])*"', '""', text)  # names in strings are not calls
        names = undef.get(rel) if rel in undef else set(ID_RE.findall(code))
        for n in sorted(names):
            dl = defs.get(n)
            if dl and upward(src, dl):
                edges.append(f"{rel} -> {dl}: {n} (call)")
    edges = sorted(set(edges))
    for e in edges:
        print(e)
    mat = collections.Counter()
    for e in edges:
        s = layer_of(e.split(" ->")[0]); d = e.split("-> ")[1].split(":")[0]
        mat[(s, d)] += 1
    print("# upward edges: layer -> layer: count")
    for (s, d), c in sorted(mat.items()):
        print(f"# {s} -> {d}: {c}")
    if a.known:
        known = {l.strip() for l in open(a.known) if l.strip() and not l.startswith("#")}
        new = [e for e in edges if e not in known]
        gone = sorted(known - set(edges))
        for e in gone:
            print("gone (remove from known list):", e)
        for e in new:
            print("NEW upward edge:", e)
        return 1 if new else 0
    return 1 if edges else 0


if __name__ == "__main__":
    sys.exit(main())
