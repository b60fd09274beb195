#!/usr/bin/env python3
"""Per-kernel GPU time of training steps from two `ncu --metrics gpu__time_duration.sum --csv`
logs of runs that differ by K steps: prints the kernels of K steps' difference grouped by name
(total time per step, launches per step), largest first. Usage: ncu-kernels.py SHORT LONG K"""
import collections
import csv
import sys


def load(path):
    rows = [r for r in csv.reader(open(path)) if len(r) > 10 and r[-3] == "gpu__time_duration.sum"]
    agg = collections.defaultdict(lambda: [0.0, 0])
    for r in rows:
        name = r[4].split("(")[0].split("<")[0][:60]
        agg[name][0] += float(r[-1].replace(",", ""))
        agg[name][1] += 1
    return agg, (rows[0][-2] if rows else "?")


short, unit = load(sys.argv[1])
long_, _ = load(sys.argv[2])
k = float(sys.argv[3])
diff = {n: ((long_[n][0] - short.get(n, [0, 0])[0]) / k, (long_[n][1] - short.get(n, [0, 0])[1]) / k)
        for n in long_}
total = sum(t for t, _ in diff.values())
print(f"per step: {total:.0f} {unit} in {sum(c for _, c in diff.values()):.0f} kernels")
for n, (t, c) in sorted(diff.items(), key=lambda x: -x[1][0])[:40]:
    print(f"{t:10.0f} {unit} {100 * t / max(total, 1e-9):5.1f}% {c:7.1f}  {n}")
