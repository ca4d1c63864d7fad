#!/usr/bin/env python3
"""Soak test: rounds of hundreds of `herald sub` / `herald pub` clients joining,
sending, leaving (SIGTERM) and being killed (SIGKILL) against one `herald hub`
and one `herald broker`, with each server's RSS (/proc/PID/status VmRSS) and
open descriptors (/proc/PID/fd) sampled every few seconds.

The plateau is what each server holds once the first round's clients are gone
(allocator pools, libzmq's sockets and threads are warm by then). Passes when,
after the last round's clients are gone, each server's descriptor count is the
plateau's exactly and its RSS is within +20% of the plateau's.

  tests/soak/soak.py HERALD_BINARY [--rounds N] [--clients N] [--seconds S]"""
import argparse, os, re, signal, subprocess, sys, tempfile, time

def start_server(cmd):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    m = re.match(r"listening (\S+)", line)
    if not m:
        p.kill()
        sys.exit(f"soak: {cmd[1]} did not start: {line!r}")
    return p, m.group(1)

def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return -1

def fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))

class Sampler:
    def __init__(self, servers):
        self.servers, self.rows, self.t0 = servers, [], time.monotonic()

    def sample(self, phase):
        row = [f"{time.monotonic() - self.t0:6.1f}", phase]
        for _, p in self.servers:
            row += [str(rss_kib(p.pid)), str(fds(p.pid))]
        self.rows.append(row)
        print("  ".join(f"{c:>10}" for c in row), flush=True)
        return {name: (rss_kib(p.pid), fds(p.pid)) for name, p in self.servers}

    def header(self):
        cols = ["t (s)", "phase"]
        for name, _ in self.servers:
            cols += [f"{name} KiB", f"{name} fds"]
        print("  ".join(f"{c:>10}" for c in cols), flush=True)

def run_round(herald, urls, clients, seconds, sampler, n, out_dir):
    """One round: `clients` subscribers split over the servers, each joining two
    of 20 channels, publishers sending meanwhile; then a third are killed, a third
    leave (SIGTERM), and the last third are killed while publishers still run."""
    subs, pubs = [], []
    for i in range(clients):
        url = urls[i % len(urls)]
        chans = [f"room-{i % 20}", f"room-{(i * 7) % 20}"]
        out = open(os.path.join(out_dir, f"r{n}-s{i}.jsonl"), "w")
        subs.append(subprocess.Popen([herald, "sub", url, *chans, "--all"], stdout=out,
                                     stderr=subprocess.DEVNULL))
        out.close()
    deadline = time.monotonic() + seconds
    next_sample = time.monotonic()
    k = 0
    while time.monotonic() < deadline:
        pubs = [p for p in pubs if p.poll() is None]
        while len(pubs) < 16:  # 16 publishers at a time, each one message then exit
            url = urls[k % len(urls)]
            pubs.append(subprocess.Popen(
                [herald, "pub", url, f"room-{k % 20}", "chat", f'{{"n":{k},"pad":"{"x" * (k % 512)}"}}'],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            k += 1
        if time.monotonic() >= next_sample:
            sampler.sample(f"load {n}")
            next_sample += 3
        time.sleep(0.05)
    third = len(subs) // 3
    for p in subs[:third]:
        p.send_signal(signal.SIGKILL)
    for p in subs[third:2 * third]:
        p.send_signal(signal.SIGTERM)
    for p in subs[2 * third:]:
        p.send_signal(signal.SIGKILL)
    for p in pubs:
        p.send_signal(signal.SIGKILL)
    for p in subs + pubs:
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return k

def settle(sampler, seconds, phase):
    """Samples while the servers notice the clients are gone (the broker's
    session timeout); returns the last sample."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        sampler.sample(phase)
        time.sleep(3)
    return sampler.sample(phase)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("herald")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--clients", type=int, default=200, help="subscribers per round")
    ap.add_argument("--seconds", type=float, default=15, help="load per round")
    args = ap.parse_args()
    session_timeout_ms = 2000
    hub, hub_url = start_server([args.herald, "hub", "--ws", "127.0.0.1:0"])
    broker, broker_url = start_server([args.herald, "broker", "--zmq", "tcp://127.0.0.1:0",
                                       "--session-timeout-ms", str(session_timeout_ms)])
    servers = [("hub", hub), ("broker", broker)]
    sampler = Sampler(servers)
    settle_s = session_timeout_ms / 1000 * 3 + 3
    print(f"soak: hub {hub_url} (pid {hub.pid}), broker {broker_url} (pid {broker.pid}); "
          f"{args.rounds} rounds of {args.clients} subscribers for {args.seconds:.0f} s", flush=True)
    sampler.header()
    start = sampler.sample("start")
    sent = 0
    ok = True
    with tempfile.TemporaryDirectory(prefix="herald-soak-") as out_dir:
        try:
            for n in range(1, args.rounds + 1):
                sent += run_round(args.herald, [hub_url, broker_url], args.clients, args.seconds,
                                  sampler, n, out_dir)
                after = settle(sampler, settle_s, f"idle {n}")
                if n == 1:
                    plateau = after
            received = 0
            for name in os.listdir(out_dir):
                with open(os.path.join(out_dir, name), "rb") as f:
                    received += f.read().count(b"\n")
        finally:
            for _, p in servers:
                p.send_signal(signal.SIGTERM)
            for _, p in servers:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    ok = False
                    print("soak: a server did not stop on SIGTERM", flush=True)
    clients = args.rounds * args.clients
    print(f"\nsoak: {clients} subscribers and {sent} publishers started; {received} lines received "
          f"by subscribers")
    print(f"{'server':>8} {'start KiB':>10} {'plateau KiB':>12} {'final KiB':>10} "
          f"{'start fds':>10} {'plateau fds':>12} {'final fds':>10}  verdict")
    for name, _ in servers:
        (r0, f0), (rp, fp), (rf, ff) = start[name], plateau[name], after[name]
        good = ff == fp and rf <= rp * 1.2
        ok = ok and good
        print(f"{name:>8} {r0:>10} {rp:>12} {rf:>10} {f0:>10} {fp:>12} {ff:>10}  "
              f"{'flat' if good else 'GREW'}")
    if received == 0:
        ok = False
        print("soak: no subscriber received anything: the load did not reach the servers")
    print("soak: " + ("PASS (descriptors back to the plateau exactly, RSS within +20%)" if ok
                      else "FAIL"))
    return 0 if ok else 1

sys.exit(main())
