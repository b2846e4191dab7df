#!/usr/bin/python3
"""The anomaly step of bench/analytics/twin.js (the Node twin of
examples/analytics), run as its child process; the standard library only.

One JSON object per line on stdin,
    {"minute": "2026-12-01T10:42Z", "requests": N, "errors": E}
(errors: the minute's 5xx), one answer per input line on stdout, flushed,
    {"minute": "2026-12-01T10:42Z", "anomaly": true|false, "score": Z}

The score is the larger of two robust z-scores against the previous (at
most) 60 minutes: of the request count, and of the 5xx ratio E / N. A
robust z-score is (x - median) / (1.4826 * MAD), MAD being the median
absolute deviation from the median; when the MAD is 0 (a log with exactly
as many requests every minute) it is replaced by 5% of the median (at
least 1e-9), as examples/analytics.py does. A minute is an anomaly when the
score passes 6 with at least 5 minutes of history. A line that is no such
object gets {"error": "bad input"} and does not enter the history.
"""
import json
import statistics
import sys

HISTORY = 60
MIN_HISTORY = 5
THRESHOLD = 6.0


def robust_z(history, x):
    m = statistics.median(history)
    mad = statistics.median([abs(h - m) for h in history]) * 1.4826
    if mad == 0:
        mad = max(abs(m) * 0.05, 1e-9)
    return (x - m) / mad


def main():
    reqs, ratios = [], []
    for line in sys.stdin:
        try:
            w = json.loads(line)
            n, e = float(w["requests"]), float(w["errors"])
        except (ValueError, KeyError, TypeError):
            print(json.dumps({"error": "bad input"}), flush=True)
            continue
        r = e / n if n else 0.0
        score, anomaly = 0.0, False
        if len(reqs) >= MIN_HISTORY:
            score = max(robust_z(reqs, n), robust_z(ratios, r))
            anomaly = score > THRESHOLD
        reqs = (reqs + [n])[-HISTORY:]
        ratios = (ratios + [r])[-HISTORY:]
        print(json.dumps({"minute": w.get("minute"), "anomaly": anomaly,
                          "score": round(score, 2)}), flush=True)


if __name__ == "__main__":
    main()
