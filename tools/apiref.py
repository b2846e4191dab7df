#!/usr/bin/env python3
"""The API reference, generated from include/sluice.h (and the layer
headers under include/sluice/ it includes): every declaration
with the comment above it, grouped by the header's sections, as one HTML
page and one man page, sluice(3). The header is the single source: what a
function returns, who owns what and when its callback runs is written
there, next to the prototype.

Usage: apiref.py HEADER OUT.html OUT.3 VERSION
"""
import html
import re
import sys

BANNER = re.compile(r"^/\* -{20,} \*/$")
SUB = re.compile(r"^/\* --- (.*?) -*\s*\*/$")


def comment_text(lines):
    out = []
    for ln in lines:
        ln = ln.strip()
        ln = re.sub(r"^/\*+ ?", "", ln)
        ln = re.sub(r"\s*\*+/$", "", ln)
        ln = re.sub(r"^\* ?", "", ln)
        out.append(ln)
    return "\n".join(out).strip()


def expand(path, seen):
    """The header's lines with each `#include "sluice/x.h"` replaced by that
    layer header's own lines (each once), so the reference follows the
    layers in the order <sluice.h> includes them."""
    import os
    out = []
    for ln in open(path, encoding="utf-8").read().split("\n"):
        m = re.match(r'^#include "(sluice/)?(\w+)\.h"', ln)
        if m:
            sub = os.path.join(os.path.dirname(path), (m.group(1) or ""), m.group(2) + ".h")
            if sub not in seen and os.path.exists(sub):
                seen.add(sub)
                out += expand(sub, seen)
            continue
        out.append(ln)
    return out


def parse(path):
    """Sections of items; an item is (comment, code, names)."""
    src = expand(path, set())
    sections = [["Overview", []]]
    i, n = 0, len(src)
    pending = []  # comment lines waiting for their code
    while i < n:
        ln = src[i]
        if BANNER.match(ln.strip()) and i + 1 < n:
            title = comment_text([src[i + 1]]).strip()
            sections.append([title, []])
            i += 2
            continue
        m = SUB.match(ln.strip())
        if m:
            sections.append([sections[-1][0].split(": ")[0] + ": " + m.group(1), []])
            i += 1
            continue
        if ln.strip().startswith("/*"):
            block = [ln]
            while "*/" not in src[i] and i + 1 < n:
                i += 1
                block.append(src[i])
            i += 1
            # A comment followed by code belongs to it; a free-standing one
            # (blank line after) is prose for the section.
            if i < n and src[i].strip() and not src[i].strip().startswith("/*"):
                pending = block
            else:
                text = comment_text(block)
                if text:
                    sections[-1][1].append((text, "", []))
                pending = []
            continue
        if ln.strip() and not ln.startswith("#include") and \
                not ln.startswith("#ifndef SLUICE_H") and \
                not ln.startswith("#define SLUICE_H") and \
                ln.strip() not in ("#endif", "}", 'extern "C" {', "#ifdef __cplusplus"):
            code = []
            while i < n and src[i].strip():
                if src[i].strip().startswith("/*") and code and \
                        not code[-1].rstrip().endswith((",", "{", "(")) and \
                        (code[-1].rstrip().endswith(";") or code[-1].rstrip().endswith("*/")):
                    break
                code.append(src[i])
                i += 1
            text = "\n".join(code)
            names = re.findall(r"\b(sl_[a-z0-9_]+)\s*\(", text)
            names += re.findall(r"typedef\s+(?:struct\s+\w+\s*\{[^}]*\}\s*)?[^;]*?\b(sl_\w+_t)\s*;", text, re.S)
            names += re.findall(r"#define\s+(SL_\w+)", text)
            if "SL_EXTERN" in text or "typedef" in text or "enum" in text or "#define" in text:
                sections[-1][1].append((comment_text(pending) if pending else "", text, names))
            pending = []
            continue
        i += 1
    return [s for s in sections if s[1]]


def anchor(title):
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def write_html(sections, out, version):
    h = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
         "<title>sluice %s API reference</title>" % version,
         "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:60em;margin:2em auto;padding:0 1em}"
         "pre{background:#f4f4f4;padding:.6em;overflow:auto}h2{border-bottom:1px solid #ccc}"
         "p.c{white-space:pre-wrap}</style></head><body>",
         "<h1>sluice %s: API reference</h1>" % version,
         "<p>Generated from <code>include/sluice.h</code> and the layer headers it includes. "
         "Every declaration, with what its comment says.</p><ul>"]
    for title, _ in sections:
        h.append('<li><a href="#%s">%s</a></li>' % (anchor(title), html.escape(title)))
    h.append("</ul>")
    for title, items in sections:
        h.append('<h2 id="%s">%s</h2>' % (anchor(title), html.escape(title)))
        for text, code, names in items:
            for name in names:
                h.append('<a id="%s"></a>' % name)
            if code:
                h.append("<pre>%s</pre>" % html.escape(code))
            if text:
                h.append('<p class="c">%s</p>' % html.escape(text))
    h.append("</body></html>")
    open(out, "w", encoding="utf-8").write("\n".join(h) + "\n")


def roff(s):
    s = s.replace("\\", "\\e")
    return "\n".join(("\\&" + ln) if ln.startswith((".", "'")) else ln
                     for ln in s.split("\n"))


def write_man(sections, out, version):
    m = ['.TH SLUICE 3 2026-12-02 "sluice %s" "Library Functions"' % version,
         ".SH NAME", "sluice \\- Node.js's streams, child processes, cluster and HTTP for C",
         ".SH SYNOPSIS", ".nf", ".B #include <sluice.h>", ".PP",
         "cc app.c $(pkg-config \\-\\-cflags \\-\\-libs sluice)", ".fi",
         ".SH DESCRIPTION",
         "Every declaration of the header, with its comment: what it returns, "
         "who owns what, and when its callback runs."]
    for title, items in sections:
        m.append(".SH " + roff(title.upper()))
        for text, code, _ in items:
            if code:
                m += [".PP", ".nf", ".ft CW", roff(code), ".ft R", ".fi"]
            if text:
                m += [".PP", roff(text)]
    m += [".SH SEE ALSO", ".BR sluice (1)"]
    open(out, "w", encoding="utf-8").write("\n".join(m) + "\n")


def main():
    header, out_html, out_man, version = sys.argv[1:5]
    sections = parse(header)
    write_html(sections, out_html, version)
    write_man(sections, out_man, version)


if __name__ == "__main__":
    main()
