#!/usr/bin/python3
"""Compare one benchmark suite between two builds of herald, run alternately.

    git worktree add --detach /tmp/before <commit>
    (cd /tmp/before && cmake --preset release && cmake --build --preset release --target herald_zmq_bench)
    /usr/bin/python3 bench/before_after.py --before /tmp/before/build/release \\
        --after build/release --suite zmq --rounds 5 [--filter Herald]

Each round runs both binaries (in turn, the order swapped every round, so a
machine that grows busier does not favour one) with
--benchmark_repetitions=3; the median of the repetitions is one round's
figure, and the median of the rounds is printed, with after / before. On a
shared machine compare only what ran in the same session; a peer that is
the same code in both builds (e.g. BM_Zmq_Raw) shows how much the machine
itself moved.

Only the Python standard library is used.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys


def run(binary, bench_filter):
    cmd = [binary, f"--benchmark_filter={bench_filter}", "--benchmark_format=json",
           "--benchmark_repetitions=3", "--benchmark_report_aggregates_only=true"]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, check=True).stdout
    return {b["run_name"]: b["items_per_second"] for b in json.loads(out)["benchmarks"]
            if b.get("aggregate_name") == "median" and "items_per_second" in b}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--before", required=True, help="build directory of the old commit")
    p.add_argument("--after", required=True, help="build directory of the new commit")
    p.add_argument("--suite", default="zmq", help="dispatch | zmq | ws | burst (herald_<suite>_bench)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--filter", default=".", help="--benchmark_filter")
    a = p.parse_args()
    name = "herald_bench" if a.suite == "dispatch" else f"herald_{a.suite}_bench"
    binaries = {tag: os.path.join(d, "bench", name) for tag, d in (("before", a.before), ("after", a.after))}
    rounds = {}
    for r in range(a.rounds):
        for tag in (("before", "after") if r % 2 == 0 else ("after", "before")):
            print(f"round {r + 1}: {tag}", file=sys.stderr, flush=True)
            for bench, items in run(binaries[tag], a.filter).items():
                rounds.setdefault(bench, {}).setdefault(tag, []).append(items)
    print(f"{'benchmark':45s} {'before':>12s} {'after':>12s} {'after/before':>12s}")
    for bench in sorted(rounds):
        got = rounds[bench]
        if "before" not in got or "after" not in got:
            continue
        before, after = statistics.median(got["before"]), statistics.median(got["after"])
        print(f"{bench:45s} {before / 1e3:10.1f} k {after / 1e3:10.1f} k {after / before:12.2f}")


main()
