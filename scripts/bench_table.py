"""Prints scripts/bench's summary: one row per figure, beside its baseline
from the same run, the ratio, the goal and whether it was met, and the peak
RSS of the process measured. Reads the JSON lines the benchmarks appended to
the file named on the command line."""
import json
import sys


def main():
    rows = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    print("| stage | measured | baseline (same run) | ratio | goal | met | peak RSS MiB |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        ratio = "–" if r["ratio"] is None else f"{r['ratio']:.2f}"
        rss = "–" if r["rss_mib"] is None else f"{r['rss_mib']:.0f}"
        met = "–" if r["met"] is None else ("yes" if r["met"] else "NO")
        print(f"| {r['stage']} | {r['measured']} | {r['baseline'] or '–'} | {ratio} | {r['goal']} | {met} | {rss} |")
    goals = [r for r in rows if r["met"] is not None]  # the broker's ceiling rows have no goal
    print(f"\n{sum(1 for r in goals if r['met'])} of {len(goals)} goals met")


if __name__ == "__main__":
    main()
