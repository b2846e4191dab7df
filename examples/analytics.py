# The ML step of examples/analytics: anomaly detection on the per-minute
# series, run as a child process (python3 -c this text). One JSON object
# per line on stdin, {"minute": "2026-12-01T10:42Z", "requests": N,
# "errors": E}, one answer per line on stdout, {"minute": ..., "anomaly":
# true|false, "score": Z}. The score is a robust z-score (distance from the
# median in units of the median absolute deviation, scaled to a normal's
# sigma) of the request count and of the 5xx ratio, against the previous
# (at most) 60 minutes; a minute is an anomaly when either passes 6 with at
# least 5 minutes of history. numpy when it is installed, else statistics.
import json
import sys

try:
    import numpy as np

    def median(xs):
        return float(np.median(np.asarray(xs, dtype=float)))
except ImportError:  # the standard library does the same, slower
    import statistics

    def median(xs):
        return float(statistics.median(xs))


def robust_z(history, x):
    m = median(history)
    mad = median([abs(h - m) for h in history]) * 1.4826
    if mad == 0:
        mad = max(abs(m) * 0.05, 1e-9)
    return (x - m) / mad


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
    if len(reqs) >= 5:
        score = max(robust_z(reqs, n), robust_z(ratios, r))
        anomaly = score > 6
    reqs = (reqs + [n])[-60:]
    ratios = (ratios + [r])[-60:]
    print(json.dumps({"minute": w.get("minute"), "anomaly": anomaly,
                      "score": round(score, 2)}), flush=True)
