#!/usr/bin/env python3
"""Target slowdown under aelm, measured in paired windows of one run.

Timing whole runs of a workload with and without a sampler cannot resolve a
1 % slowdown on a shared VM: unmonitored runs of the same work spread by
8-20 % here (docs/performance.md, "Noise"). This script compares the
target's throughput with aelm sampling and with aelm paused, in alternating
windows of the SAME run, so that whatever the machine does over seconds
hits both sides alike.

Method. The target (bench/targets/call_heavy.py --stream) runs 50 tasks of
call-heavy asyncio work and logs when each ~70 us step ends. aelm attaches
to it and samples. The driver then pauses and resumes aelm (SIGSTOP /
SIGCONT; aelm's sampler skips the ticks it missed, it does not catch up) in
PAIRS pairs of windows of WINDOW ms each; the order within a pair is random.
For each window it counts the steps that ended in it (a GUARD ms margin
after each switch is left out) and turns that into steps per second. A
pair's slowdown is rate(paused) / rate(sampling) - 1. The script prints the
median over pairs with a 95 % bootstrap interval of the median (a VM hiccup
in one window makes one pair an outlier: the median is robust to it, the
mean is printed too).

Scenarios, each a fresh target and a fresh aelm:
- "A/A control": aelm attached and paused in BOTH windows of every pair:
  the method's own noise. A slowdown interval that does not stand out from
  it is no slowdown this method can see.
- aelm at the default rate (200 Hz with the default 20 ms threshold),
  1 kHz and 10 kHz, free to run on the other CPU;
- the same with the target and aelm pinned to ONE CPU (taskset), where
  every microsecond aelm spends is taken from the target: the worst case.

Usage: python3 bench/slowdown.py [--versions 3.11,3.15] [--pairs 40]
           [--window-ms 250] [--no-build]
Needs only the standard library (and taskset, from util-linux).
"""
import argparse
import array
import bisect
import os
import random
import signal
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
from benchlib import say, section, table, pythons  # noqa: E402

TARGET = os.path.join(HERE, "targets", "call_heavy.py")


def start_target(exe, seconds, log_path, pin):
    cmd = [exe, TARGET, "--stream", str(seconds), log_path]
    if pin is not None:
        cmd = ["taskset", "-c", str(pin)] + cmd
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    if not line.startswith("ready"):
        p.kill()
        raise RuntimeError("target did not start: %r" % line)
    return p, int(line.split()[1])


def start_aelm(aelm, pid, rate, pin, out):
    cmd = [aelm, "attach", "--pid", str(pid)]
    if rate:
        cmd += ["--rate", str(rate)]
    if pin is not None:
        cmd = ["taskset", "-c", str(pin)] + cmd
    return subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)


def run_scenario(args, exe, rate, pin, control):
    """One target run; returns the per-pair slowdowns (fractions)."""
    win = args.window_ms / 1000.0
    guard = args.guard_ms / 1000.0
    seconds = args.settle + args.pairs * 2 * win + 1.0
    tmp = tempfile.mkdtemp(prefix="aelm-slowdown-")
    log_path = os.path.join(tmp, "steps.bin")
    target, pid = start_target(exe, seconds, log_path, pin)
    aelm_out = open(os.path.join(tmp, "aelm.out"), "w")
    aelm = start_aelm(args.aelm, pid, rate, pin, aelm_out)
    windows = []
    try:
        time.sleep(args.settle)
        rnd = random.Random(args.seed)
        for _ in range(args.pairs):
            order = ["on", "off"] if rnd.random() < 0.5 else ["off", "on"]
            for side in order:
                running = side == "on" and not control
                os.kill(aelm.pid, signal.SIGCONT if running else signal.SIGSTOP)
                t0 = time.perf_counter()
                time.sleep(win)
                windows.append((side, t0, time.perf_counter()))
        os.kill(aelm.pid, signal.SIGCONT)
    finally:
        try:
            os.kill(aelm.pid, signal.SIGCONT)
            aelm.send_signal(signal.SIGINT)
            aelm.wait(timeout=10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            aelm.kill()
        aelm_out.close()
        target.wait(timeout=seconds + 30)
    steps = array.array("d")
    with open(log_path, "rb") as f:
        steps.frombytes(f.read())
    steps = sorted(steps)
    shutil.rmtree(tmp, ignore_errors=True)

    def rate_of(t0, t1):
        a = bisect.bisect_left(steps, t0 + guard)
        b = bisect.bisect_left(steps, t1)
        return (b - a) / (t1 - t0 - guard)

    rates = [(side, rate_of(t0, t1)) for side, t0, t1 in windows]
    out = []
    for i in range(0, len(rates) - 1, 2):
        pair = dict(rates[i:i + 2])
        if pair.get("on") and pair.get("off"):
            out.append(pair["off"] / pair["on"] - 1.0)
    return out


def bootstrap_ci(xs, seed, n=4000):
    """95 % bootstrap interval of the median."""
    rnd = random.Random(seed)
    meds = sorted(statistics.median(rnd.choices(xs, k=len(xs))) for _ in range(n))
    return meds[int(0.025 * n)], meds[int(0.975 * n) - 1]


def pct(x):
    return "%+.2f%%" % (100.0 * x)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--versions", default="3.11,3.15")
    ap.add_argument("--pairs", type=int, default=40)
    ap.add_argument("--window-ms", type=float, default=250.0)
    ap.add_argument("--guard-ms", type=float, default=20.0)
    ap.add_argument("--settle", type=float, default=1.5, help="seconds after attach before the first window")
    ap.add_argument("--rates", default="default,1000,10000", help="comma list; 'default' = aelm's own")
    ap.add_argument("--pinned-rates", default="default,1000", help="rates also run with both on one CPU")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--aelm", default=os.path.join(REPO, "target", "release", "aelm"))
    ap.add_argument("--no-build", action="store_true")
    args = ap.parse_args()
    if not args.no_build:
        say("cargo build --release ...")
        subprocess.call(["cargo", "build", "--release", "--quiet"], cwd=REPO)
    pys = pythons()
    git = subprocess.run(["git", "-C", REPO, "log", "-1", "--format=%h"],
                         capture_output=True, text=True).stdout.strip()
    say("aelm commit %s; %d pairs of %.0f ms windows, guard %.0f ms; nproc %d"
        % (git, args.pairs, args.window_ms, args.guard_ms, os.cpu_count()))
    rate_of = lambda r: None if r == "default" else int(r)
    for v in [v for v in args.versions.split(",") if v in pys]:
        exe = pys[v]["exe"]
        section("Target slowdown in paired windows, CPython %s" % pys[v]["full"])
        scenarios = [("A/A control (aelm paused in both)", None, None, True)]
        for r in args.rates.split(","):
            scenarios.append(("aelm %s" % ("default rate" if r == "default" else r + " Hz"),
                              rate_of(r), None, False))
        for r in [r for r in args.pinned_rates.split(",") if r]:
            scenarios.append(("aelm %s, one CPU" % ("default rate" if r == "default" else r + " Hz"),
                              rate_of(r), 0, False))
        rows = []
        for label, rate, pin, control in scenarios:
            xs = run_scenario(args, exe, rate, pin, control)
            lo, hi = bootstrap_ci(xs, args.seed)
            say("  %-40s pairs %d  median %s  mean %s  95%% CI of the median [%s, %s]"
                % (label, len(xs), pct(statistics.median(xs)), pct(statistics.fmean(xs)),
                   pct(lo), pct(hi)))
            rows.append([label, len(xs), pct(statistics.median(xs)), pct(statistics.fmean(xs)),
                         "[%s, %s]" % (pct(lo), pct(hi))])
        say("")
        table(["scenario", "pairs", "median slowdown", "95% CI of the median", "mean slowdown"],
              [[r[0], r[1], r[2], r[4], r[3]] for r in rows])


if __name__ == "__main__":
    main()
