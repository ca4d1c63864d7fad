#!/usr/bin/python3
"""Run the herald benchmarks and print herald against its peers, group by group.

    /usr/bin/python3 bench/compare.py --repetitions 5                # herald_bench
    /usr/bin/python3 bench/compare.py --suite zmq --repetitions 3    # herald_zmq_bench
    /usr/bin/python3 bench/compare.py --suite ws --repetitions 5     # herald_ws_bench
    /usr/bin/python3 bench/compare.py --suite all --repetitions 3    # all three, one table

Suites: "dispatch" runs herald_bench (Immediate, FanOut, Queued), "zmq" runs
herald_zmq_bench (Zmq), "ws" runs herald_ws_bench (WsFanout), "all" runs them
one after the other. Each binary runs with --benchmark_format=json
--benchmark_repetitions=N; the median of the N repetitions of every benchmark
is printed:

  Immediate, FanOut  median time per message (one send / one emit), and
                     ratio = peer_ns / herald_ns   (> 1: herald is faster)
  Queued, Zmq        median messages per second, and
                     ratio = herald_items_s / peer_items_s   (> 1: herald is faster)
  WsFanout           median deliveries per second (ratio herald / peer), then
                     median p50 and p99 delivery latency (ratio peer / herald),
                     deliveries per CPU-second of the server process (ratio
                     herald / peer) and each side's CPU use (server, driver)

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
DEFAULT_BINARIES = {
    "dispatch": os.path.join(HERE, "..", "build", "release", "bench", "herald_bench"),
    "zmq": os.path.join(HERE, "..", "build", "release", "bench", "herald_zmq_bench"),
    "ws": os.path.join(HERE, "..", "build", "release", "bench", "herald_ws_bench"),
}
SUITES = {"dispatch": ["dispatch"], "zmq": ["zmq"], "ws": ["ws"], "all": ["dispatch", "zmq", "ws"]}

# BM_<Group>_<Impl>/<arg>[/real_time]
NAME = re.compile(r"^BM_(?P<group>[A-Za-z0-9]+)_(?P<impl>[A-Za-z0-9]+)/(?P<arg>\d+)")
TO_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}
THROUGHPUT_GROUPS = {"Queued", "Zmq", "WsFanout"}  # compared by items/s; the others by time
ARG_LABEL = {"Immediate": "listeners", "FanOut": "receivers", "Queued": "producers",
             "Zmq": "bytes", "WsFanout": "window"}
GROUP_ORDER = {"Immediate": 0, "FanOut": 1, "Queued": 2, "Zmq": 3, "WsFanout": 4}
# WsFanout: items/s are deliveries/s; these user counters are printed under it.
LATENCY_COUNTERS = ("p50_us", "p99_us")  # lower is better: ratio = peer / herald
CPU_COUNTERS = ("server_cpu", "driver_cpu",  # share of one CPU, for reading the numbers
                "deliveries_per_server_cpu_s")


def run(binary, repetitions, extra, env=None):
    cmd = [binary, "--benchmark_format=json", f"--benchmark_repetitions={repetitions}"] + extra
    print("running:", " ".join(cmd), file=sys.stderr, flush=True)
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, check=False, env=env)
    except OSError as e:
        sys.exit(f"cannot run {binary}: {e} (build it, or pass its path)")
    if proc.returncode != 0:
        sys.exit(f"{binary} exited with status {proc.returncode}")
    if not proc.stdout.strip():  # e.g. --filter matched nothing in this binary
        return {"context": {}, "benchmarks": []}
    return json.loads(proc.stdout)


def collect(report):
    """{(group, arg): {impl: {"ns": [...], "items_s": [...], "error": str|None,
                               counter name: [...] (the WsFanout counters)}}}"""
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
        for counter in LATENCY_COUNTERS + CPU_COUNTERS:
            if counter in b:
                slot.setdefault(counter, []).append(b[counter])
    return results


def fmt_ns(ns):
    if ns >= 1e6:
        return f"{ns / 1e6:.2f} ms"
    if ns >= 1e3:
        return f"{ns / 1e3:.2f} us"
    return f"{ns:.1f} ns"


def fmt_rate(r):
    if r >= 1e6:
        return f"{r / 1e6:.2f} M/s"
    return f"{r / 1e3:.1f} k/s"


def spread(values):
    """Relative half-range of the repetitions, to show how noisy a median is."""
    if len(values) < 2:
        return ""
    med = statistics.median(values)
    return f"±{(max(values) - min(values)) / 2 / med * 100:.0f}%" if med else ""


def counter_median(slot, name):
    """Median of a user counter over the repetitions, or None."""
    if slot is None or slot["error"] or not slot.get(name):
        return None
    return statistics.median(slot[name])


def print_ws_counters(herald, peer, peer_slot):
    """WsFanout, under the deliveries/s row: the latencies (ratio peer / herald),
    the CPU each side used, and deliveries per CPU-second of the server process
    (what each server did with the CPU it got; steadier than deliveries/s on a
    busy machine), ratio herald / peer."""
    rows = [(name[:3] + " latency", name, lambda v: fmt_ns(v * 1e3), True)
            for name in LATENCY_COUNTERS]
    rows.append(("per CPU-s", "deliveries_per_server_cpu_s", fmt_rate, False))
    for label, name, fmt, lower_is_better in rows:
        h_val = counter_median(herald, name)
        p_val = counter_median(peer_slot, name)
        h_text = f"{fmt(h_val)} {spread(herald[name])}".strip() if h_val else "n/a"
        p_text = f"{fmt(p_val)} {spread(peer_slot[name])}".strip() if p_val else "n/a"
        if h_val and p_val:
            ratio = f"{(p_val / h_val if lower_is_better else h_val / p_val):.2f}"
        else:
            ratio = "n/a"
        print(f"{'':<10} {'  ' + label:<14} {h_text:>18} {peer:<11} {p_text:>18} {ratio:>7}")
    cpu = []
    for who, slot in (("herald", herald), (peer, peer_slot)):
        server = counter_median(slot, "server_cpu")
        driver = counter_median(slot, "driver_cpu")
        if server is not None and driver is not None:
            cpu.append(f"{who} server {server:.2f} / driver {driver:.2f}")
    if cpu:
        print(f"{'':<10} {'  CPU used':<14} {'; '.join(cpu)} (share of one CPU)")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repetitions", "-n", type=int, default=5)
    ap.add_argument("--suite", choices=sorted(SUITES), default="dispatch",
                    help="which binaries to run: dispatch (herald_bench, the default), "
                         "zmq (herald_zmq_bench), ws (herald_ws_bench) or all (the three)")
    ap.add_argument("--binary",
                    help="path of the binary of a one-suite run: herald_bench, or with "
                         "--suite zmq herald_zmq_bench, with --suite ws herald_ws_bench "
                         "(default: build/release/bench/...)")
    ap.add_argument("--zmq-binary",
                    help="path of herald_zmq_bench (default: build/release/bench/herald_zmq_bench)")
    ap.add_argument("--ws-binary",
                    help="path of herald_ws_bench (default: build/release/bench/herald_ws_bench)")
    ap.add_argument("--hub-threads", type=int,
                    help="ws suite: run the herald hub with --threads N (default 1, the "
                         "headline; Node is single-threaded)")
    ap.add_argument("--filter", help="passed as --benchmark_filter")
    ap.add_argument("--json-out", help="also save the raw benchmark JSON here")
    ap.add_argument("extra", nargs="*", help="more flags for the binary (after --)")
    args = ap.parse_args()

    extra = list(args.extra)
    if args.filter:
        extra.append(f"--benchmark_filter={args.filter}")
    binaries = dict(DEFAULT_BINARIES)
    suites = SUITES[args.suite]
    if args.binary:
        binaries[suites[0] if len(suites) == 1 else "dispatch"] = args.binary
    if args.zmq_binary:
        binaries["zmq"] = args.zmq_binary
    if args.ws_binary:
        binaries["ws"] = args.ws_binary
    env = None
    if args.hub_threads:
        env = dict(os.environ, HERALD_WS_BENCH_HUB_THREADS=str(args.hub_threads))

    # One merged report: every binary's benchmarks, each binary's context.
    report = {"context": {}, "contexts": {}, "benchmarks": []}
    for suite in suites:
        binary = os.path.normpath(binaries[suite])
        part = run(binary, args.repetitions, extra, env if suite == "ws" else None)
        report["contexts"][os.path.basename(binary)] = part.get("context", {})
        if not report["context"]:
            report["context"] = part.get("context", {})
        report["benchmarks"].extend(part.get("benchmarks", []))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(report, f, indent=1)
    results = collect(report)

    for name, ctx in report["contexts"].items():
        print(f"{name}: {args.repetitions} repetitions, medians; "
              f"{ctx.get('num_cpus', '?')} CPUs @ {ctx.get('mhz_per_cpu', '?')} MHz, "
              f"load avg {ctx.get('load_avg', '?')}")
    if args.hub_threads and "ws" in suites:
        print(f"herald hub with --threads {args.hub_threads} (WsFanout)")
    print("ratio > 1 means herald is faster "
          "(Immediate/FanOut: peer_ns / herald_ns; "
          "Queued/Zmq/WsFanout: herald_items_s / peer_items_s; "
          "WsFanout p50/p99: peer / herald)\n")

    header = f"{'group':<10} {'arg':<14} {'herald':>18} {'peer':<11} {'peer value':>18} {'ratio':>7}"
    print(header)
    print("-" * len(header))
    for (group, arg) in sorted(results, key=lambda k: (GROUP_ORDER.get(k[0], 9), k[0], k[1])):
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
            if group == "WsFanout":
                print_ws_counters(impls.get("Herald"), peer, impls[peer])
        for impl, slot in impls.items():
            if slot["error"]:
                print(f"  !! {group}_{impl}/{arg}: {slot['error']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
