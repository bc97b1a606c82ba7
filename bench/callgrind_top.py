#!/usr/bin/env python3
"""Top functions of a callgrind profile, with inlined code folded into its function (self cost).

callgrind_annotate splits a function's cost by the source file each instruction came from
(inlined iterator adapters, core::ptr, ...); this sums the rows per function name.

Usage: bench/callgrind_top.py callgrind.out [N] [--inclusive]
"""
import re
import subprocess
import sys
from collections import defaultdict


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    inclusive = "--inclusive" in sys.argv
    path, n = args[0], int(args[1]) if len(args) > 1 else 25
    out = subprocess.run(
        ["callgrind_annotate", "--auto=no", f"--inclusive={'yes' if inclusive else 'no'}", "--threshold=100", path],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    total = None
    costs = defaultdict(int)
    row = re.compile(r"^\s*([\d,]+)\s+(?:\([\d. ]+%\)\s+)?(.*?):(.+?)(?: \[.*\])?$")
    for line in out.splitlines():
        if "PROGRAM TOTALS" in line:
            total = int(line.split()[0].replace(",", ""))
            continue
        m = row.match(line)
        if not m or total is None:
            continue
        cost = int(m.group(1).replace(",", ""))
        func = m.group(3).strip()
        # Drop generic noise: hash suffixes and closure numbering.
        func = re.sub(r"::h[0-9a-f]{16}$", "", func)
        # Self cost is split over the files inlined code came from: add the rows. Inclusive
        # rows of one function each repeat (most of) its total: take the largest.
        costs[func] = max(costs[func], cost) if inclusive else costs[func] + cost
    kind = "inclusive" if inclusive else "self"
    print(f"{path}: {total:,} instructions; top {n} functions by {kind} cost (inlined code folded in)\n")
    print(f"| {kind} % | instructions | function |")
    print("|---:|---:|---|")
    for func, cost in sorted(costs.items(), key=lambda kv: -kv[1])[:n]:
        func = func.replace("|", "\\|")
        print(f"| {100 * cost / total:.1f} | {cost:,} | `{func}` |")


if __name__ == "__main__":
    main()
