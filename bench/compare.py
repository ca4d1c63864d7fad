#!/usr/bin/python3
"""Run herald_bench and print herald against its peers, group by group.

    /usr/bin/python3 bench/compare.py --repetitions 5

Runs the binary with --benchmark_format=json --benchmark_repetitions=N, takes
the median of the N repetitions of every benchmark, and prints:

  Immediate, FanOut  median time per message (one send / one emit), and
                     ratio = peer_ns / herald_ns   (> 1: herald is faster)
  Queued             median messages per second, and
                     ratio = herald_items_s / peer_items_s   (> 1: herald is faster)

Only the Python standard library is used.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_BINARY = os.path.join(HERE, "..", "build", "release", "bench", "herald_bench")

# BM_<Group>_<Impl>/<arg>[/real_time]
NAME = re.compile(r"^BM_(?P<group>[A-Za-z0-9]+)_(?P<impl>[A-Za-z0-9]+)/(?P<arg>\d+)")
TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
THROUGHPUT_GROUPS = {"Queued"}  # compared by items/s; the others by time per message
ARG_LABEL = {"Immediate": "listeners", "FanOut": "receivers", "Queued": "producers"}


def run(binary, repetitions, extra):
    cmd = [binary, "--benchmark_format=json", f"--benchmark_repetitions={repetitions}"] + extra
    print("running:", " ".join(cmd), file=sys.stderr, flush=True)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, check=False)
    if proc.returncode != 0:
        sys.exit(f"{binary} exited with status {proc.returncode}")
    return json.loads(proc.stdout)


def collect(report):
    """{(group, arg): {impl: {"ns": [...], "items_s": [...], "error": str|None}}}"""
    results = {}
    for b in report["benchmarks"]:
        if b.get("run_type", "iteration") != "iteration":
            continue  # aggregates: we compute our own medians
        m = NAME.match(b.get("run_name", b["name"]))
        if not m:
            continue
        slot = results.setdefault((m["group"], int(m["arg"])), {}).setdefault(
            m["impl"], {"ns": [], "items_s": [], "error": None})
        if b.get("error_occurred"):
            slot["error"] = b.get("error_message", "error")
            continue
        slot["ns"].append(b["real_time"] * TO_NS[b.get("time_unit", "ns")])
        if "items_per_second" in b:
            slot["items_s"].append(b["items_per_second"])
    return results


def fmt_ns(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} us"
    return f"{ns:.1f} ns"


def fmt_rate(r):
    return f"{r / 1e6:.2f} M/s"


def spread(values):
    """Relative half-range of the repetitions, to show how noisy a median is."""
    if len(values) < 2:
        return ""
    med = statistics.median(values)
    return f"±{(max(values) - min(values)) / 2 / med * 100:.0f}%" if med else ""


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repetitions", "-n", type=int, default=5)
    ap.add_argument("--binary", default=DEFAULT_BINARY)
    ap.add_argument("--filter", help="passed as --benchmark_filter")
    ap.add_argument("--json-out", help="also save the raw benchmark JSON here")
    ap.add_argument("extra", nargs="*", help="more flags for the binary (after --)")
    args = ap.parse_args()

    extra = list(args.extra)
    if args.filter:
        extra.append(f"--benchmark_filter={args.filter}")
    report = run(os.path.normpath(args.binary), args.repetitions, extra)
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(report, f, indent=1)
    results = collect(report)

    ctx = report.get("context", {})
    print(f"herald_bench: {args.repetitions} repetitions, medians; "
          f"{ctx.get('num_cpus', '?')} CPUs @ {ctx.get('mhz_per_cpu', '?')} MHz, "
          f"load avg {ctx.get('load_avg', '?')}")
    print("ratio > 1 means herald is faster "
          "(Immediate/FanOut: peer_ns / herald_ns; Queued: herald_items_s / peer_items_s)\n")

    header = f"{'group':<10} {'arg':<14} {'herald':>18} {'peer':<11} {'peer value':>18} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    order = {"Immediate": 0, "FanOut": 1, "Queued": 2}
    for (group, arg) in sorted(results, key=lambda k: (order.get(k[0], 9), k[0], k[1])):
        impls = results[(group, arg)]
        throughput = group in THROUGHPUT_GROUPS
        label = f"{ARG_LABEL.get(group, 'arg')}={arg}"

        def value(slot):
            if slot is None:
                return None, "missing"
            if slot["error"]:
                return None, "ERROR"
            series = slot["items_s"] if throughput else slot["ns"]
            if not series:
                return None, "no data"
            med = statistics.median(series)
            text = (fmt_rate(med) if throughput else fmt_ns(med)) + " " + spread(series)
            return med, text.strip()

        h_val, h_text = value(impls.get("Herald"))
        for peer in sorted(p for p in impls if p != "Herald"):
            p_val, p_text = value(impls[peer])
            if h_val and p_val:
                ratio = f"{(h_val / p_val if throughput else p_val / h_val):.2f}"
            else:
                ratio = "n/a"
            print(f"{group:<10} {label:<14} {h_text:>18} {peer:<11} {p_text:>18} {ratio:>7}")
        for impl, slot in impls.items():
            if slot["error"]:
                print(f"  !! {group}_{impl}/{arg}: {slot['error']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
