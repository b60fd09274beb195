#!/usr/bin/env python3
"""Sums a CubeCL profiling log (CUBECL_DEBUG_OPTION=profile) by kernel.

CubeCL writes one line per profiled launch, `| <duration> | <kernel> [| <detail>]`, e.g.
`| 2.333024ms | PrngKernel | NormalFamily_b7c36e41`. Prints the total, then per kernel (name and
detail, the detail's hash suffix dropped) the summed time, launch count and mean, largest first.
"""
import re
import sys
from collections import defaultdict

UNITS = {"ns": 1e-6, "µs": 1e-3, "us": 1e-3, "ms": 1.0, "s": 1e3}
DUR = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ns|µs|us|ms|s)\s*$")


def main(path, top=45):
    tot, cnt = defaultdict(float), defaultdict(int)
    for line in open(path, encoding="utf-8", errors="replace"):
        cols = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cols) < 2:
            continue
        m = DUR.match(cols[0])
        if not m:
            continue
        name = " | ".join(re.sub(r"_[0-9a-f]{8}$", "", c) for c in cols[1:3])
        tot[name] += float(m.group(1)) * UNITS[m.group(2)]
        cnt[name] += 1
    total = sum(tot.values())
    print(f"{sum(cnt.values())} launches, {total:.1f} ms of kernel time")
    for name, ms in sorted(tot.items(), key=lambda kv: -kv[1])[:top]:
        print(f"{ms:9.1f} ms {100 * ms / total:5.1f}% {cnt[name]:7d} x {ms / cnt[name] * 1e3:8.1f} us  {name[:100]}")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 45)
