#!/usr/bin/env python3
"""`aelm watch` over many processes: its CPU against --max-cpu, the rate it
achieves per target, the blocks it finds, and its memory (issue 13).

One command, stdlib only, about 2 minutes on a 2-core machine; it runs
`cargo build --release` first:

    python3 bench/watch_scale.py
    python3 bench/watch_scale.py --targets 20 --budgets 10,25,1000 --window 8 --rounds 3

Two sets of N target processes (default 20), one set at a time:
- idle: bench/targets/idle_loop.py, an asyncio loop with nothing to do;
- busy: bench/targets/periodic_blocks.py, a loop that blocks for 30-60 ms of
  CPU-bound pure Python every 150-250 ms and records each block (its ground
  truth).
The targets carry a token on their command line, which is what
`aelm watch --match TOKEN` selects; they run under `nice -n 10`
(--target-nice) so that 20 of them do not starve aelm's samplers on a small
machine (aelm itself is not niced). Over each set, one `aelm watch` per
--max-cpu value (default 10, the default budget; 25; and 1000, which does not
bind at this load: the unbudgeted baseline of the same run), all with
--threshold-ms 20 (--threshold-ms; its default rate is 500 Hz, which
20 targets cannot all get inside 10% of a core) and --metrics-addr.

Per run: aelm is started, all N `start` lines awaited, then SETTLE seconds
(default 4) for the budget to settle, then a steady WINDOW (default 8 s):
- CPU: aelm's threads' CPU time over the window (/proc/PID/task/*/schedstat,
  ns), as % of one core; also its `aelm-sampler` threads alone (what
  --max-cpu governs; the rest is the session thread running the detector, the
  scanner and the metrics server); ratios to --max-cpu and to the baseline
  run (--max-cpu 100) of the same set.
- rate per target: samples taken in the window, from `aelm_samples_total`
  scraped at its start and end (steady), and `achieved_hz` of the `end`
  lines (the whole run, with the first seconds at the full rate before the
  budget bites); min / median / max over the targets.
- blocks (busy set): the targets' own blocks that started and ended inside the
  window, and how many of those an aelm block of the same pid overlaps
  (found), per target (median); aelm blocks inside the window that overlap no
  recorded block (extra, all targets). `gaps` and `missed_ticks` summed from the `end`
  lines (starvation).
- memory: VmRSS and VmHWM of aelm (/proc/PID/status) at the end of the window.
Then SIGTERM; the `end` lines are read from aelm's output.

With --rounds R > 1 each figure is the median over the rounds (the budgets
in rotating order). The tables are printed as markdown, ready to paste.

The machine is shared: the load average is printed before each section.
Raw outputs (aelm's stdout/stderr per run, the targets' truth files) go to a
temporary directory that is printed at the start (--keep to keep it).
"""
import argparse
import calendar
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

from benchlib import PYTHONS_TSV, load, pythons, say, section, table

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TARGETS = os.path.join(HERE, "targets")

OUT = None  # raw output directory


# ---------------------------------------------------------------- utilities


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def spread(xs, nd=0):
    """'min / median / max' of xs."""
    xs = [x for x in xs if x is not None]
    if not xs:
        return "-"
    f = "%." + str(nd) + "f"
    return " / ".join(f % x for x in (min(xs), statistics.median(xs), max(xs)))


def tasks_cpu_ns(pid):
    """{tid: (comm, CPU ns)} of pid's live threads, from schedstat."""
    out = {}
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                ns = int(f.read().split()[0])
            with open("/proc/%d/task/%s/comm" % (pid, tid)) as f:
                comm = f.read().strip()
        except (OSError, ValueError, IndexError):
            continue
        out[tid] = (comm, ns)
    return out


def cpu_between(a, b):
    """(all threads, sampler threads) CPU ns between two tasks_cpu_ns readings;
    threads that started in between count from zero."""
    total = samplers = 0
    for tid, (comm, ns) in b.items():
        d = ns - a.get(tid, (comm, 0))[1]
        total += d
        if comm.startswith("aelm-sampler"):
            samplers += d
    return total, samplers


def status_kib(pid, field):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def scrape_samples(port):
    """{pid: aelm_samples_total} from aelm's /metrics."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            text = r.read().decode()
    except OSError:
        return {}
    out = {}
    for m in re.finditer(r'^aelm_samples_total\{pid="(\d+)"\} (\S+)$', text, re.M):
        out[int(m.group(1))] = float(m.group(2))
    return out


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rfc3339(t):
    """Seconds since the epoch of aelm's `time` (e.g. 2026-11-25T12:36:10.165266Z)."""
    m = re.match(r"(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)(\.\d+)?Z$", t)
    if not m:
        return None
    y, mo, d, h, mi, s = (int(m.group(i)) for i in range(1, 7))
    return calendar.timegm((y, mo, d, h, mi, s)) + float(m.group(7) or 0)


def read_lines(path):
    out = []
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("{"):
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
    except OSError:
        pass
    return out


# ------------------------------------------------------------------ targets

class Targets:
    """N copies of a target script, tagged with a token, niced."""

    def __init__(self, exe, script, n, token, nice, truth_dir=None):
        self.token = token
        self.procs = []
        self.truth = {}
        for i in range(n):
            args = [os.path.join(TARGETS, script), token]
            if truth_dir:
                args.append(os.path.join(truth_dir, "truth-%d.txt" % i))
            cmd = (["nice", "-n", str(nice)] if nice else []) + [exe] + args
            p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            self.procs.append(p)
            if truth_dir:
                self.truth[p.pid] = args[-1]
        for p in self.procs:
            line = p.stdout.readline()
            if not line.startswith("ready"):
                self.kill()
                raise RuntimeError("target %s did not start: %r" % (script, line))
        self.pids = [p.pid for p in self.procs]

    def blocks(self, pid):
        """[(start, end)] the target recorded."""
        out = []
        try:
            with open(self.truth[pid]) as f:
                for line in f:
                    parts = line.split()
                    if len(parts) == 2:
                        out.append((float(parts[0]), float(parts[1])))
        except (OSError, KeyError, ValueError):
            pass
        return out

    def kill(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            p.wait()


# ---------------------------------------------------------------------- run

def run_watch(args, aelm, kind, targets, budget, rnd):
    """One `aelm watch` over `targets`; returns a dict of figures."""
    tag = "%s-cpu%g-r%d" % (kind, budget, rnd)
    out_path = os.path.join(OUT, tag + ".jsonl")
    err_path = os.path.join(OUT, tag + ".err")
    port = free_port()
    cmd = [aelm, "watch", "--match", targets.token, "--threshold-ms", str(args.threshold_ms),
           "--max-cpu", str(budget), "--metrics-addr", "127.0.0.1:%d" % port]
    if args.rate:
        cmd += ["--rate", str(args.rate)]
    n = len(targets.pids)
    with open(out_path, "w") as so, open(err_path, "w") as se:
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=so, stderr=se)
        try:
            while True:
                started = [l for l in read_lines(out_path) if l.get("type") == "start"]
                if len(started) >= n:
                    break
                if p.poll() is not None or time.monotonic() - t0 > 30:
                    raise RuntimeError("%s: %d of %d targets attached; see %s" % (
                        tag, len(started), n, err_path))
                time.sleep(0.05)
            attach_s = time.monotonic() - t0
            time.sleep(args.settle)
            c0, s0, w0, m0 = tasks_cpu_ns(p.pid), scrape_samples(port), time.time(), time.monotonic()
            time.sleep(args.window)
            c1, s1, w1, m1 = tasks_cpu_ns(p.pid), scrape_samples(port), time.time(), time.monotonic()
            rss, hwm = status_kib(p.pid, "VmRSS"), status_kib(p.pid, "VmHWM")
        finally:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    win = m1 - m0
    total, samplers = cpu_between(c0, c1)
    lines = read_lines(out_path)
    ends = [l for l in lines if l.get("type") == "end"]
    steady = [(s1[pid] - s0[pid]) / win for pid in targets.pids if pid in s0 and pid in s1]
    r = {
        "kind": kind, "budget": budget, "round": rnd, "attach_s": attach_s,
        "cpu_pct": 100.0 * total / 1e9 / win, "sampler_pct": 100.0 * samplers / 1e9 / win,
        "steady_hz": steady, "end_hz": [e.get("achieved_hz") for e in ends],
        "gaps": sum(e.get("gaps", 0) for e in ends),
        "missed": sum(e.get("missed_ticks", 0) for e in ends),
        "ends": len(ends), "rss_kib": rss, "hwm_kib": hwm,
        "budget_words": sum(1 for l in open(err_path) if "--max-cpu leaves too little" in l),
    }
    if targets.truth:
        found, truth_n, extra = [], [], 0
        by_pid = {}
        for b in lines:
            if b.get("type") == "block" and b.get("state") == "ended":
                s = rfc3339(b.get("time", ""))
                if s is not None:
                    by_pid.setdefault(b.get("pid"), []).append((s, s + b.get("duration_ms", 0) / 1e3))
        for pid in targets.pids:
            real = [t for t in targets.blocks(pid) if t[0] >= w0 and t[1] <= w1]
            seen = by_pid.get(pid, [])
            truth_n.append(len(real))
            found.append(sum(1 for t in real if any(s < t[1] and e > t[0] for s, e in seen)))
            rec = targets.blocks(pid)
            # Only blocks that ended in the window: one still going at its
            # end may not be in the target's record yet.
            extra += sum(1 for s, e in seen if s >= w0 and e <= w1
                         and not any(s < t[1] and e > t[0] for t in rec))
        r.update(truth=truth_n, found=found, extra=extra)
    return r


def summarize(results, kind, n, budgets, threshold_ms):
    """Rows of the markdown table for one set, medians over rounds."""
    floor = 3000.0 / threshold_ms
    base = med([r["cpu_pct"] for r in results if r["kind"] == kind and r["budget"] == max(budgets)])
    rows = []
    for b in budgets:
        rs = [r for r in results if r["kind"] == kind and r["budget"] == b]
        if not rs:
            continue
        cpu = med([r["cpu_pct"] for r in rs])
        smp = med([r["sampler_pct"] for r in rs])
        # per-target figures: pool the rounds
        steady = [x for r in rs for x in r["steady_hz"]]
        endhz = [x for r in rs for x in r["end_hz"]]
        if kind == "busy":
            truth = med([statistics.median(r["truth"]) for r in rs if r["truth"]])
            found = med([statistics.median(r["found"]) for r in rs if r["found"]])
            tot_t = sum(sum(r["truth"]) for r in rs)
            tot_f = sum(sum(r["found"]) for r in rs)
            blocks = "%s / %s (%.0f%%), %d extra" % (
                "%.0f" % found if found is not None else "-",
                "%.0f" % truth if truth is not None else "-",
                100.0 * tot_f / tot_t if tot_t else 0.0,
                med([r["extra"] for r in rs]))
        else:
            blocks = "-"
        rows.append([
            "%d %s" % (n, kind),
            "%g" % b,
            "%.1f" % cpu,
            "%.1f" % smp,
            "%.2fx" % (cpu / b),
            "%.2fx" % (cpu / base) if base else "-",
            spread(steady),
            "%d" % sum(1 for x in steady if x < floor * 0.95),
            spread(endhz),
            blocks,
            "%d / %d" % (med([r["gaps"] for r in rs]), med([r["missed"] for r in rs])),
            "%.1f / %.1f" % (med([r["rss_kib"] for r in rs]) / 1024.0,
                             med([r["hwm_kib"] for r in rs]) / 1024.0),
            "%d" % med([r["budget_words"] for r in rs]),
        ])
    return rows


HEADERS = ["targets", "--max-cpu %", "aelm CPU % (all threads)", "of which samplers %",
           "CPU / --max-cpu", "CPU vs unbudgeted", "rate/target, window: min / med / max Hz",
           "targets under 3/threshold", "rate/target, end lines: min / med / max Hz",
           "blocks/target in window: found / real (all), extra", "gaps / missed ticks",
           "VmRSS / VmHWM MiB", "'cannot cover' lines"]


def main():
    global OUT
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--targets", type=int, default=20, help="processes per set (default 20)")
    ap.add_argument("--budgets", default="10,25,1000",
                    help="--max-cpu values; the largest is the baseline (default 10,25,100)")
    ap.add_argument("--sets", default="idle,busy", help="idle, busy or both (default)")
    ap.add_argument("--threshold-ms", type=float, default=20.0)
    ap.add_argument("--rate", type=float, help="--rate for aelm (default: its own, 10 per threshold)")
    ap.add_argument("--settle", type=float, default=4.0, help="seconds from all attached to the window")
    ap.add_argument("--window", type=float, default=8.0, help="seconds of steady window")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--python", default="3.11", help="interpreter of the targets (default 3.11)")
    ap.add_argument("--target-nice", type=int, default=10)
    ap.add_argument("--aelm", default=os.path.join(REPO, "target", "release", "aelm"))
    ap.add_argument("--no-build", action="store_true", help="do not run cargo build --release first")
    ap.add_argument("--keep", action="store_true", help="keep the raw output directory")
    ap.add_argument("--json", help="write every measurement to this file")
    args = ap.parse_args()
    budgets = [float(b) for b in args.budgets.split(",") if b]
    sets = [s for s in args.sets.split(",") if s in ("idle", "busy")]
    started = time.monotonic()

    pys = pythons()
    if args.python not in pys:
        sys.exit("no python %s in %s" % (args.python, PYTHONS_TSV))
    exe = pys[args.python]["exe"]

    OUT = tempfile.mkdtemp(prefix="aelm-watch-bench-")
    if not args.no_build:
        say("cargo build --release ...")
        if subprocess.call(["cargo", "build", "--release", "--quiet"], cwd=REPO,
                           stderr=subprocess.DEVNULL) != 0:
            say("note: cargo build failed; measuring the existing %s" % args.aelm)
    if not os.path.exists(args.aelm):
        sys.exit("no aelm binary at %s" % args.aelm)
    # A private copy: others may rebuild target/ while this runs.
    aelm = os.path.join(OUT, "aelm")
    shutil.copy2(args.aelm, aelm)

    section("Machine and versions")
    cpu_model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    git = subprocess.run(["git", "-C", REPO, "log", "-1", "--format=%h %s"],
                         capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no", "src"],
                           capture_output=True, text=True).stdout.strip()
    say("nproc %d, CPU %s, kernel %s" % (os.cpu_count(), cpu_model, os.uname().release))
    say("uptime: %s" % subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    say("%s (commit %s%s)" % (
        subprocess.run([aelm, "--version"], capture_output=True, text=True).stdout.strip(),
        git, ", src/ has uncommitted changes" if dirty else ""))
    say("targets: python %s under nice -n %d; %d per set; aelm: --threshold-ms %g%s, not niced"
        % (pys[args.python]["full"], args.target_nice, args.targets, args.threshold_ms,
           ", --rate %g" % args.rate if args.rate else " (its default rate, %g Hz)"
           % min(20000.0, max(100.0, 10000.0 / args.threshold_ms))))
    say("per run: all attached, %g s to settle, %g s window; %d round(s)" % (
        args.settle, args.window, args.rounds))
    say("raw outputs: %s" % OUT)

    results = []
    try:
        for kind in sets:
            section("%d %s targets" % (args.targets, kind))
            token = "aelmscale%d%s" % (os.getpid(), kind)
            script = "idle_loop.py" if kind == "idle" else "periodic_blocks.py"
            targets = Targets(exe, script, args.targets, token, args.target_nice,
                              truth_dir=OUT if kind == "busy" else None)
            try:
                time.sleep(1.0)
                for rnd in range(args.rounds):
                    order = budgets[rnd % len(budgets):] + budgets[:rnd % len(budgets)]
                    for b in order:
                        r = run_watch(args, aelm, kind, targets, b, rnd)
                        results.append(r)
                        say("  --max-cpu %g round %d: attached in %.1f s; CPU %.1f%% (samplers %.1f%%);"
                            " window rate/target %s Hz; end lines %s Hz; RSS %s KiB, HWM %s KiB%s"
                            "  [load %s]" % (
                                b, rnd + 1, r["attach_s"], r["cpu_pct"], r["sampler_pct"],
                                spread(r["steady_hz"]), spread(r["end_hz"]), r["rss_kib"],
                                r["hwm_kib"],
                                "; blocks found %d of %d, %d extra" % (
                                    sum(r["found"]), sum(r["truth"]), r["extra"])
                                if "found" in r else "", load()))
            finally:
                targets.kill()
    finally:
        if args.json:
            with open(args.json, "w") as f:
                json.dump(results, f, indent=1)

    section("RESULTS (markdown)")
    say("")
    say("aelm watch over %d targets per set, --threshold-ms %g (%s), steady window %g s after"
        " %g s to settle%s; CPU in %% of one core; 'CPU vs unbudgeted' is against --max-cpu %g"
        " over the same set; 3 samples a threshold = %.0f Hz." % (
            args.targets, args.threshold_ms,
            "--rate %g" % args.rate if args.rate else "default rate %g Hz"
            % min(20000.0, max(100.0, 10000.0 / args.threshold_ms)),
            args.window, args.settle,
            ", medians of %d rounds" % args.rounds if args.rounds > 1 else "",
            max(budgets), 3000.0 / args.threshold_ms))
    say("")
    rows = []
    for kind in sets:
        rows += summarize(results, kind, args.targets, budgets, args.threshold_ms)
    table(HEADERS, rows)
    say("")
    say("done in %.0f s, load average %s" % (time.monotonic() - started, load()))
    if not args.keep:
        shutil.rmtree(OUT, ignore_errors=True)


if __name__ == "__main__":
    main()
