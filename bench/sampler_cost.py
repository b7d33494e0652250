#!/usr/bin/env python3
"""What it costs to sample a busy asyncio loop: aelm's direct reader, aelm
with py-spy's reader, and CPython 3.15's own `profiling.sampling`.

One command, stdlib only (plus strace, valgrind and cc when present), 8 to 10
minutes on a 2-core machine (longer when it is loaded); it runs
`cargo build --release` first:

    python3 bench/sampler_cost.py                 # everything
    python3 bench/sampler_cost.py --versions 3.15 --skip slowdown,callgrind

It measures (see docs/performance.md for how to read the output):

0. The floor: bench/floor.c (built with cc) ticks at 1 and 10 kHz doing
   nothing but clock_nanosleep to absolute deadlines, then also one
   process_vm_readv shaped like aelm's (1 iovec of 512 B; 3 iovecs in 3
   pages, 4.1 KB, aelm's steady-state read of the target on 3.13+), and the
   same reads back to back without sleeping. What any
   sampler that sleeps between samples pays on this machine. Then
   bench/read_cost.c: one read back to back by its shape (ranges, pages).
1. CPU per sample. A target (bench/targets/deep_busy.py) keeps an asyncio
   loop busy ~32 frames deep. Each sampler attaches for a fixed duration at
   1 kHz and 10 kHz. Two figures per run:
   - steady: CPU time of all the sampler's threads (/proc/PID/task/*/schedstat,
     ns resolution) over a window that starts 1 s after launch and ends 0.3 s
     before the end, divided by the samples taken in that window (achieved
     rate x window). Attach and exit costs are outside the window.
   - whole run: user+sys from wait4()'s rusage divided by all samples
     (attach, symbol loading and -- for profiling.sampling -- its final
     report included).
   Samples come from aelm's `end` line, and from profiling.sampling's own
   "Captured N samples in T seconds" line (which counts failed samples too,
   as aelm's `samples` does not: both are printed).
2. Highest rate: each sampler asked for 20 kHz (profiling.sampling also for
   100 kHz, its top rate): the achieved rate.
3. Syscalls per sample: `strace -c -f`, a short and a long run, the
   difference divided by the difference in samples (so attach is out).
   Separate runs from the CPU ones: strace slows the sampler down.
4. Instructions per sample (valgrind --tool=callgrind, aelm only): inclusive
   instruction counts of aelm's per-sample functions divided by samples.
5. Many targets, one sampler thread: N (1, 4, 16) deep_busy targets in
   sleep mode (same 32-frame stack, held in time.sleep, no CPU burnt) under
   one `aelm watch --match`, at 1 and 10 kHz: steady CPU per sample. aelm
   samples every target on one wake-up a tick, so the wake-up's cost is
   shared.
6. Target slowdown: bench/targets/call_heavy.py does a fixed amount of
   call-heavy asyncio work and times itself. Runs: unmonitored, aelm direct at
   1 kHz, 10 kHz and its default rate (threshold 50 ms -> 200 Hz), aelm with
   py-spy's reader at 1 kHz, and profiling.sampling at 1 kHz (3.15);
   ROUNDS rounds in rotating order; medians, ratios to the unmonitored median
   of the same run. Attach method: the target prints "ready" once its loop
   runs, then idles 1 s before starting the timed work; the sampler is
   launched right at "ready" (`aelm attach`, not `aelm run`) and ends by
   itself when the target exits.

The machine is shared: the load average is printed before each section.
Raw outputs (sampler stdout/stderr, strace tables, callgrind files) go to a
temporary directory that is printed at the start (--keep to keep it).
"""
import argparse
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

from benchlib import load, pythons, say, section, table

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
TARGETS = os.path.join(HERE, "targets")
ALL_VERSIONS = ["3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.15"]
PRIMARY = ["3.11", "3.14", "3.15"]

OUT = None  # raw output directory
LOG = []  # every measurement, for --json


# ---------------------------------------------------------------- utilities


def f1(x, nd=1):
    if x is None:
        return "-"
    return ("%." + str(nd) + "f") % x


def ratio(a, b, nd=1):
    if a is None or b is None or b == 0:
        return "-"
    return ("%." + str(nd) + "fx") % (a / b)


def cpu_ns(pid):
    """CPU time (user+sys, ns) of all live threads of pid, from schedstat."""
    total = 0
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return None
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def sleep_until(t):
    d = t - time.monotonic()
    if d > 0:
        time.sleep(d)


def wait_rusage(p):
    """Reap p with wait4; returns (exit code, user+sys seconds)."""
    _, status, ru = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    return p.returncode, ru.ru_utime + ru.ru_stime


class Target:
    """A target script started with an interpreter; waits for 'ready PID'."""

    def __init__(self, exe, script, args=(), timeout=20):
        self.p = subprocess.Popen([exe, os.path.join(TARGETS, script)] + [str(a) for a in args],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.p.stdout.readline()
        if not line.startswith("ready"):
            err = self.p.stderr.read() if self.p.poll() is not None else ""
            raise RuntimeError("target %s did not start: %r %s" % (script, line, err))
        self.pid = self.p.pid

    def rest(self, timeout=None):
        out, err = self.p.communicate(timeout=timeout)
        return out, err

    def kill(self):
        if self.p.poll() is None:
            self.p.kill()
        self.p.communicate()


# ----------------------------------------------------------------- samplers

class Ctx:
    aelm = None  # path of the copied aelm binary
    py315 = None  # python3.15 exe, or None


def sampler_cmd(kind, pid, rate, duration=None):
    """kind: direct | py-spy | ps (profiling.sampling) | direct-default."""
    if kind in ("direct", "py-spy"):
        cmd = [Ctx.aelm, "attach", "--pid", str(pid), "--reader", kind]
        if rate:
            cmd += ["--rate", str(rate)]
        if duration:
            cmd += ["--duration", str(duration)]
        return cmd
    if kind == "direct-default":
        cmd = [Ctx.aelm, "attach", "--pid", str(pid)]
        if duration:
            cmd += ["--duration", str(duration)]
        return cmd
    if kind == "ps":
        cmd = [Ctx.py315, "-m", "profiling.sampling", "attach", "-r", str(rate),
               "--no-summary", "-l", "5"]
        if duration:
            cmd += ["-d", str(int(round(duration)))]
        return cmd + [str(pid)]
    raise ValueError(kind)


def parse_sampler_output(kind, out):
    """-> dict(samples, failed, hz, missed) from a sampler's stdout."""
    if kind == "ps":
        m = re.search(r"Captured ([\d,]+) samples? in ([\d.]+) seconds", out)
        e = re.search(r"Error rate: ([\d.]+)", out)
        if not m:
            return None
        n = int(m.group(1).replace(",", ""))
        t = float(m.group(2))
        err = float(e.group(1)) if e else 0.0
        return {"samples": n, "failed": round(n * err / 100.0), "hz": n / t if t else 0.0,
                "missed": None, "elapsed": t}
    end = None
    for line in out.splitlines():
        if line.startswith("{") and '"type":"end"' in line.replace(" ", ""):
            end = json.loads(line)
    if not end:
        return None
    return {"samples": end.get("samples", 0), "failed": end.get("failed_samples", 0),
            "hz": end.get("achieved_hz", 0.0), "missed": end.get("missed_ticks"),
            "elapsed": None}


def run_sampler(tag, kind, pid, rate, duration, window=True):
    """Runs one sampler for `duration` s against pid; CPU per sample."""
    base = os.path.join(OUT, tag)
    with open(base + ".out", "w") as so, open(base + ".err", "w") as se:
        t0 = time.monotonic()
        p = subprocess.Popen(sampler_cmd(kind, pid, rate, duration), stdout=so, stderr=se)
        a = b = None
        if window and duration >= 2.5:
            sleep_until(t0 + 1.0)
            a = (time.monotonic(), cpu_ns(p.pid))
            sleep_until(t0 + duration - 0.3)
            b = (time.monotonic(), cpu_ns(p.pid))
        code, cpu_s = wait_rusage(p)
        wall = time.monotonic() - t0
    with open(base + ".out") as f:
        out = f.read()
    r = parse_sampler_output(kind, out)
    if r is None or code != 0:
        with open(base + ".err") as f:
            err = f.read()
        say("  !! %s: exit %s, no sample count; stderr: %s" % (tag, code, err.strip()[-400:]))
        return None
    r.update({"tag": tag, "kind": kind, "rate": rate, "duration": duration,
              "cpu_s": cpu_s, "wall": wall})
    r["us_total"] = cpu_s * 1e6 / r["samples"] if r["samples"] else None
    r["us_steady"] = None
    if a and b and a[1] is not None and b[1] is not None and r["hz"]:
        n_win = r["hz"] * (b[0] - a[0])
        r["us_steady"] = (b[1] - a[1]) / 1e3 / n_win if n_win > 0 else None
        r["cpu_pct_steady"] = (b[1] - a[1]) / 1e9 / (b[0] - a[0]) * 100
    LOG.append(dict(r, section="cpu"))
    return r


def strace_counts(path):
    counts = {}
    with open(path) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 5 and parts[0][0].isdigit() and parts[-1] != "total":
                try:
                    calls = int(parts[3])
                except ValueError:
                    continue
                counts[parts[-1]] = counts.get(parts[-1], 0) + calls
    return counts


def run_strace(tag, kind, pid, rate, d_short, d_long):
    """Syscalls per sample, attach excluded: (long - short) / (dsamples)."""
    res = []
    for d in (d_short, d_long):
        t = "%s-strace-%ss" % (tag, d)
        so_path = os.path.join(OUT, t + ".out")
        st_path = os.path.join(OUT, t + ".strace")
        with open(so_path, "w") as so, open(os.path.join(OUT, t + ".err"), "w") as se:
            code = subprocess.call(["strace", "-c", "-f", "-o", st_path] +
                                   sampler_cmd(kind, pid, rate, d), stdout=so, stderr=se)
        with open(so_path) as f:
            r = parse_sampler_output(kind, f.read())
        if r is None or code != 0:
            say("  !! %s: strace run failed (exit %s)" % (t, code))
            return None
        res.append((r, strace_counts(st_path)))
    (r1, c1), (r2, c2) = res
    dn = r2["samples"] - r1["samples"]
    if dn <= 0:
        return None
    per = {k: (c2.get(k, 0) - c1.get(k, 0)) / dn for k in set(c1) | set(c2)}
    out = {"tag": tag, "kind": kind, "rate": rate, "dsamples": dn,
           "total": sum(per.values()), "per": per,
           "hz_under_strace": r2["hz"],
           "whole_long": sum(c2.values()) / r2["samples"]}
    LOG.append(dict(out, section="strace"))
    return out


def annotate(path, inclusive):
    """callgrind_annotate -> (total Ir, [(Ir, function)])."""
    args = ["callgrind_annotate", "--inclusive=%s" % ("yes" if inclusive else "no"),
            "--threshold=100", path]
    txt = subprocess.run(args, capture_output=True, text=True).stdout
    total = None
    rows = []
    for line in txt.splitlines():
        m = re.match(r"\s*([\d,]+)\s+(?:\([\s\d.]+%\)\s+)?(.*)$", line)
        if not m:
            continue
        n = int(m.group(1).replace(",", ""))
        rest = m.group(2)
        if "PROGRAM TOTALS" in rest:
            total = n
        elif ":" in rest:
            rows.append((n, rest))
    return total, rows


def run_callgrind(tag, kind, pid, rate, duration):
    cg = os.path.join(OUT, tag + ".callgrind")
    so_path = os.path.join(OUT, tag + ".out")
    with open(so_path, "w") as so, open(os.path.join(OUT, tag + ".err"), "w") as se:
        code = subprocess.call(["valgrind", "--tool=callgrind", "--callgrind-out-file=" + cg] +
                               sampler_cmd(kind, pid, rate, duration), stdout=so, stderr=se)
    with open(so_path) as f:
        r = parse_sampler_output(kind, f.read())
    if r is None or code != 0 or not os.path.exists(cg):
        say("  !! %s: callgrind run failed (exit %s)" % (tag, code))
        return None
    total, incl = annotate(cg, True)
    _, excl = annotate(cg, False)

    def find(pat):
        best = 0
        for n, fn in incl:
            if re.search(pat, fn):
                best = max(best, n)
        return best

    n = r["samples"]
    out = {"tag": tag, "kind": kind, "samples": n, "hz": r["hz"], "total_ir": total,
           "reader": find(r"as aelm::python::StackSource>::sample "),
           "detector": find(r"aelm::detector::Detector::push "),
           "attach": find(r"aelm::python::attach::open "),
           "top_self": [(c, re.sub(r"^\?\?\?:", "", fn)) for c, fn in excl[:10]]}
    LOG.append(dict(out, section="callgrind"))
    return out


# ----------------------------------------------------------------- sections

def floor_section(pys, args):
    """bench/floor.c: the cost of a bare tick (sleep, one read) on this machine."""
    cc = shutil.which("cc") or shutil.which("gcc")
    if not cc:
        say("note: no C compiler, floor section skipped")
        return {}
    exe_path = os.path.join(OUT, "floor")
    subprocess.check_call([cc, "-O2", "-o", exe_path, os.path.join(HERE, "floor.c")])
    v = "3.15" if "3.15" in pys else sorted(pys)[-1]
    section("0. Floor: a bare periodic tick on this machine (bench/floor.c, against a %s deep_busy target)" % v)
    say("clock_nanosleep to absolute deadlines + optionally one process_vm_readv; CPU = rusage / ticks")
    tgt = Target(pys[v]["exe"], "deep_busy.py")
    res = {}
    try:
        modes = [(0, "sleep only"), (1, "sleep + 1 read, 1 iovec, 512 B"),
                 (2, "sleep + 1 read, 3 iovecs in 3 pages, 4.1 KB"),
                 (4, "1-iovec 512 B read, no sleep (back to back)"),
                 (3, "3-iovec read, no sleep (back to back)")]
        rows = []
        for mode, name in modes:
            row = [name]
            for rate in ((1000, 10000) if mode < 3 else (None,)):
                out = subprocess.run([exe_path, str(tgt.pid), str(rate or 1000000),
                                      "1" if mode >= 3 else str(args.floor_s), str(mode)],
                                     capture_output=True, text=True).stdout
                m = re.search(r"ticks (\d+) cpu_us_per_tick ([\d.]+) achieved_hz ([\d.]+)", out)
                if not m:
                    row.append("-")
                    continue
                us, hz = float(m.group(2)), float(m.group(3))
                res[(mode, rate)] = us
                row.append("%.2f us (%s Hz)" % (us, "%.0f" % hz))
                LOG.append({"section": "floor", "mode": mode, "rate": rate, "us": us, "hz": hz})
            if mode >= 3:
                row.append("")
            rows.append(row)
        table(["tick", "1 kHz: CPU/tick (back to back: CPU/read)", "10 kHz: CPU/tick"], rows)
        read_cost(cc, tgt)
    finally:
        tgt.kill()
    return res


def read_cost(cc, tgt):
    """bench/read_cost.c: one process_vm_readv back to back, by ranges and pages."""
    exe_path = os.path.join(OUT, "read_cost")
    subprocess.check_call([cc, "-O2", "-o", exe_path, os.path.join(HERE, "read_cost.c")])
    say("")
    say("what one process_vm_readv costs by its shape (bench/read_cost.c, back to back, "
        "CPU a call): aelm's reader merges its ranges by this")
    out = subprocess.run([exe_path, str(tgt.pid)], capture_output=True, text=True).stdout
    shapes = []
    for m in re.finditer(r"ranges (\d+) pages (\d+) bytes (\d+) us ([\d.]+)", out):
        r, p, b, us = int(m.group(1)), int(m.group(2)), int(m.group(3)), float(m.group(4))
        shapes.append((r, p, b, us))
        LOG.append({"section": "read_cost", "ranges": r, "pages": p, "bytes": b, "us": us})
    if not shapes:
        say("note: read_cost printed nothing")
        return
    table(["ranges", "pages", "bytes", "us a call"],
          [[r, p, b, "%.2f" % us] for r, p, b, us in shapes])
    one = {(r, p): us for r, p, _, us in shapes}
    if (1, 1) in one and (8, 1) in one and (1, 8) in one:
        say("=> about %.2f us a call, %.2f us more a range, %.2f us more a page"
            % (one[(1, 1)], (one[(8, 1)] - one[(1, 1)]) / 7, (one[(1, 8)] - one[(1, 1)]) / 7))


def back_to_back_section(vers, pys, args):
    """benches/back_to_back.rs: aelm's own work a sample, without the wake-up."""
    section("6. aelm's own work a sample, back to back (cargo bench --bench back_to_back)")
    say("the sampler's per-sample path and the detector, %d samples back to back on one thread "
        "against deep_busy; CPU = the thread's CPU clock / samples" % args.b2b_samples)
    built = subprocess.run(["cargo", "bench", "--bench", "back_to_back", "--no-run",
                            "--message-format=json"], cwd=REPO, capture_output=True, text=True)
    exe = None
    for line in built.stdout.splitlines():
        try:
            msg = json.loads(line)
        except ValueError:
            continue
        if msg.get("target", {}).get("name") == "back_to_back" and msg.get("executable"):
            exe = msg["executable"]
    if not exe:
        say("note: could not build benches/back_to_back.rs, section skipped")
        return {}
    say("gap 0: back to back (hot caches); gap N us: N us asleep between samples and each "
        "sample's work timed alone, less the clock's own cost (caches as a sampler at "
        "1e6/N Hz finds them, still without the wake-up)")
    res = {}
    rows = []
    for v in vers:
        tgt = Target(pys[v]["exe"], "deep_busy.py")
        try:
            for gap in args.b2b_gaps:
                # Gapped runs last about 5 s each.
                n = args.b2b_samples if gap == 0 else min(args.b2b_samples, 5000000 // gap)
                runs = []
                for _ in range(args.b2b_runs):
                    out = subprocess.run([exe, str(tgt.pid), str(n), "--gap-us", str(gap)],
                                         capture_output=True, text=True)
                    try:
                        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
                    except (ValueError, IndexError):
                        say("  %s: %s" % (v, out.stderr.strip()[-200:]))
                if runs:
                    us = sorted(r["cpu_us_per_sample"] for r in runs)
                    res[(v, gap)] = us[len(us) // 2]
                    rows.append([pys[v]["full"], gap, n, "%.2f" % us[len(us) // 2],
                                 "%.2f .. %.2f" % (us[0], us[-1]),
                                 "%.3f" % (runs[-1]["reads_per_sample"] or 0),
                                 sum(r["failed"] for r in runs)])
                    LOG.append({"section": "back_to_back", "version": v, "gap_us": gap,
                                "runs": runs})
        finally:
            tgt.kill()
    table(["python", "gap us", "samples", "us/sample (median)", "min .. max", "reads/sample",
           "failed"], rows)
    return res


def cpu_section(vers, pys, args):
    section("1-4. Sampler cost on a loop busy ~32 frames deep (bench/targets/deep_busy.py)")
    say("duration per run: %.0f s on %s, %.0f s on the others; aelm binary %s"
        % (args.duration, ",".join(v for v in vers if v in PRIMARY), args.short_duration, Ctx.aelm))
    cpu, hi, sc, cg = {}, {}, {}, {}
    for v in vers:
        exe = pys[v]["exe"]
        primary = v in PRIMARY or args.full
        d = args.duration if primary else args.short_duration
        tgt = Target(exe, "deep_busy.py")
        try:
            time.sleep(0.3)
            say("-- %s (%s), target pid %d, load %s" % (v, pys[v]["full"], tgt.pid, load()))
            runs = [("direct", 1000), ("direct", 10000), ("py-spy", 1000)]
            if primary:
                runs.append(("py-spy", 10000))
            if v == "3.15" and Ctx.py315:
                runs += [("ps", 1000), ("ps", 10000)]
            for kind, rate in runs:
                r = run_sampler("%s-%s-%d" % (v, kind, rate), kind, tgt.pid, rate, d)
                cpu[(v, kind, rate)] = r
                if r:
                    say("   %-7s %5d Hz: %8.1f Hz achieved, %6d samples (%d failed), "
                        "%7s us/sample steady, %7s whole run"
                        % (kind, rate, r["hz"], r["samples"], r["failed"],
                           f1(r["us_steady"], 2), f1(r["us_total"], 2)))
            # highest rate
            top = [("direct", 20000), ("py-spy", 20000)]
            if v == "3.15" and Ctx.py315:
                top += [("ps", 20000), ("ps", 100000)]
            for kind, rate in top:
                if kind == "py-spy" and not primary:
                    continue
                r = run_sampler("%s-%s-%d" % (v, kind, rate), kind, tgt.pid, rate,
                                args.top_duration)
                hi[(v, kind, rate)] = r
                if r:
                    say("   %-7s %5d Hz: %8.1f Hz achieved, %7s us/sample steady"
                        % (kind, rate, r["hz"], f1(r["us_steady"], 2)))
            if "strace" not in args.skip and primary:
                kinds = ["direct", "py-spy"] + (["ps"] if v == "3.15" and Ctx.py315 else [])
                for kind in kinds:
                    r = run_strace("%s-%s-1000" % (v, kind), kind, tgt.pid, 1000, 1, 4)
                    sc[(v, kind)] = r
                    if r:
                        topsc = sorted(r["per"].items(), key=lambda kv: -kv[1])[:3]
                        say("   strace %-7s: %.2f syscalls/sample (%s)" % (
                            kind, r["total"], ", ".join("%s %.2f" % kv for kv in topsc)))
            if "callgrind" not in args.skip and v in args.callgrind_versions:
                r = run_callgrind("%s-direct-callgrind" % v, "direct", tgt.pid, 1000, 3)
                cg[(v, "direct")] = r
                if v == "3.15":
                    cg[(v, "py-spy")] = run_callgrind("%s-py-spy-callgrind" % v, "py-spy",
                                                      tgt.pid, 1000, 3)
        finally:
            tgt.kill()
    return cpu, hi, sc, cg


def report_cpu(vers, cpu, hi, sc, cg):
    section("RESULTS: CPU per sample (us of sampler CPU, user+sys, per sample taken)")
    say("steady = schedstat over the middle of the run; whole = rusage / samples, attach included")
    rows = []
    for v in vers:
        for rate in (1000, 10000):
            d = cpu.get((v, "direct", rate))
            p = cpu.get((v, "py-spy", rate))
            s = cpu.get((v, "ps", rate))
            if not (d or p or s):
                continue
            g = lambda r, k: r[k] if r else None
            rows.append([v, rate,
                         f1(g(d, "us_steady"), 2), f1(g(d, "us_total"), 2), f1(g(d, "hz"), 0),
                         f1(g(p, "us_steady"), 1), f1(g(p, "hz"), 0),
                         ratio(g(p, "us_steady"), g(d, "us_steady"), 0),
                         f1(g(s, "us_steady"), 1) if s else "",
                         f1(g(s, "hz"), 0) if s else "",
                         ratio(g(s, "us_steady"), g(d, "us_steady"), 1) if s else ""])
    table(["python", "asked Hz", "direct us/s", "direct whole", "direct Hz",
           "py-spy us/s", "py-spy Hz", "py-spy/direct",
           "prof.sampling us/s", "prof.sampling Hz", "prof.sampling/direct"], rows)

    say("")
    say("Highest rate (asked 20 kHz; profiling.sampling also 100 kHz): achieved Hz and steady us/sample")
    rows = []
    for (v, kind, rate), r in sorted(hi.items(), key=lambda kv: (ALL_VERSIONS.index(kv[0][0]), kv[0][1], kv[0][2])):
        if r:
            name = {"ps": "profiling.sampling"}.get(kind, "aelm " + kind)
            rows.append([v, name, rate, f1(r["hz"], 0), r["missed"] if r["missed"] is not None else "-",
                         f1(r["us_steady"], 2), f1(r.get("cpu_pct_steady"), 0),
                         "%d/%d" % (r["failed"], r["samples"])])
    table(["python", "sampler", "asked Hz", "achieved Hz", "missed ticks", "us/sample",
           "sampler CPU %", "failed/samples"], rows)

    if sc:
        say("")
        say("Syscalls per sample at 1 kHz, strace -c -f, (4 s run - 1 s run) / (difference in samples)")
        rows = []
        for (v, kind), r in sorted(sc.items(), key=lambda kv: (ALL_VERSIONS.index(kv[0][0]), kv[0][1])):
            if not r:
                continue
            per = r["per"]
            topsc = sorted(per.items(), key=lambda kv: -kv[1])[:4]
            name = {"ps": "profiling.sampling"}.get(kind, "aelm " + kind)
            rows.append([v, name, f1(r["total"], 2), f1(per.get("process_vm_readv", 0), 2),
                         ", ".join("%s %.2f" % kv for kv in topsc), f1(r["whole_long"], 2),
                         f1(r["hz_under_strace"], 0)])
        table(["python", "sampler", "syscalls/sample", "process_vm_readv/sample",
               "top syscalls/sample", "whole 4 s run/sample", "Hz under strace"], rows)

    if cg:
        say("")
        say("Instructions per sample (callgrind, ~3 s at 1 kHz asked; inclusive Ir / samples)")
        rows = []
        for (v, kind), r in sorted(cg.items()):
            if not r or not r["samples"]:
                continue
            n = r["samples"]
            rows.append([v, "aelm " + kind, n, f1(r["hz"], 0),
                         "%d" % (r["reader"] / n), "%d" % (r["detector"] / n),
                         "%d" % ((r["total_ir"] - r["attach"]) / n),
                         "%.1fM" % (r["attach"] / 1e6)])
        table(["python", "reader", "samples", "Hz (under valgrind)", "Ir/sample reader",
               "Ir/sample detector", "Ir/sample all but attach",
               "attach Ir"], rows)
        for (v, kind), r in sorted(cg.items()):
            if r and kind == "direct":
                say("")
                say("%s direct, top functions by own Ir (whole run, attach included):" % v)
                for c, fn in r["top_self"][:8]:
                    say("  %12s  %5.1f%%  %s" % ("{:,}".format(c), 100.0 * c / r["total_ir"], fn[:110]))


def calibrate_rounds(exe, want_s):
    tgt = Target(exe, "call_heavy.py", [100, 0])
    out, _ = tgt.rest(timeout=120)
    # CPU time, not wall: on a loaded machine wall time would shrink the work.
    m = re.search(r"cpu_s ([\d.]+)", out)
    per_round = float(m.group(1)) / 100
    return max(20, int(want_s / per_round))


def slowdown_section(pys, args):
    results = {}
    for v in args.slowdown_versions:
        exe = pys[v]["exe"]
        rounds_work = calibrate_rounds(exe, args.work_s)
        configs = [("none", None, None), ("aelm direct 1 kHz", "direct", 1000),
                   ("aelm direct 10 kHz", "direct", 10000),
                   ("aelm direct default (200 Hz)", "direct-default", None),
                   ("aelm py-spy reader 1 kHz", "py-spy", 1000)]
        if v == "3.15" and Ctx.py315:
            configs.append(("profiling.sampling 1 kHz", "ps", 1000))
        section("5. Target slowdown, %s: call_heavy.py %d rounds x 50 tasks x 500 calls, "
                "%d interleaved rounds" % (v, rounds_work, args.rounds))
        walls = {c[0]: [] for c in configs}
        cpus = {c[0]: [] for c in configs}
        paired_w = {c[0]: [] for c in configs}
        paired_c = {c[0]: [] for c in configs}
        samples = {c[0]: [] for c in configs}
        for rnd in range(args.rounds):
            order = configs[rnd % len(configs):] + configs[:rnd % len(configs)]
            line = []
            this = {}
            for name, kind, rate in order:
                tgt = Target(exe, "call_heavy.py", [rounds_work, args.start_delay])
                sp = None
                if kind:
                    tag = "slow-%s-%s-r%d" % (v, re.sub(r"[^\w]+", "_", name), rnd)
                    so = open(os.path.join(OUT, tag + ".out"), "w")
                    se = open(os.path.join(OUT, tag + ".err"), "w")
                    sp = subprocess.Popen(sampler_cmd(kind, tgt.pid, rate), stdout=so, stderr=se)
                out, err = tgt.rest(timeout=300)
                m = re.search(r"elapsed_s ([\d.]+) cpu_s ([\d.]+)", out)
                if sp:
                    try:
                        sp.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        sp.send_signal(signal.SIGINT)
                        sp.wait(timeout=10)
                    so.close()
                    se.close()
                    with open(os.path.join(OUT, tag + ".out")) as f:
                        r = parse_sampler_output("ps" if kind == "ps" else "direct", f.read())
                    samples[name].append(r["samples"] if r else 0)
                if not m:
                    say("  !! target failed: %s" % err[-300:])
                    continue
                el, cp = float(m.group(1)), float(m.group(2))
                walls[name].append(el)
                cpus[name].append(cp)
                this[name] = (el, cp)
                line.append("%s %.3f/%.3f" % (name.split(" (")[0], el, cp))
            if "none" in this:
                for name in this:
                    paired_w[name].append(this[name][0] / this["none"][0])
                    paired_c[name].append(this[name][1] / this["none"][1])
            say("  round %d [load %s]: wall/cpu s: %s" % (rnd + 1, load(), "; ".join(line)))
        base = statistics.median(walls["none"]) if walls["none"] else None
        cbase = statistics.median(cpus["none"]) if cpus["none"] else None
        pct = lambda x: "%+.1f%%" % ((x - 1) * 100)
        rows = []
        for name, kind, rate in configs:
            ts, cs = walls[name], cpus[name]
            if not ts:
                continue
            med, cmed = statistics.median(ts), statistics.median(cs)
            rows.append([name, len(ts), "%.3f" % med, "%.3f-%.3f" % (min(ts), max(ts)),
                         pct(med / base) if base else "-",
                         pct(statistics.median(paired_w[name])) if paired_w[name] else "-",
                         "%.3f" % cmed, pct(cmed / cbase) if cbase else "-",
                         pct(statistics.median(paired_c[name])) if paired_c[name] else "-",
                         "%d" % statistics.median(samples[name]) if samples[name] else "-"])
            LOG.append({"section": "slowdown", "python": v, "config": name, "walls": ts,
                        "cpus": cs, "paired_wall": paired_w[name], "paired_cpu": paired_c[name],
                        "samples": samples[name]})
        say("")
        say("RESULTS: target slowdown on %s (the target's own timing; medians)" % v)
        say("vs none = median / median of the unmonitored runs; paired = median over rounds of "
            "(run / that round's unmonitored run)")
        table(["monitor", "runs", "wall s", "wall min-max", "wall vs none", "wall paired",
               "CPU s", "CPU vs none", "CPU paired", "samples taken"], rows)
        results[v] = (base, {r[0]: r for r in rows})
    return results


def many_section(pys, args):
    """N targets on aelm's one sampler thread (`aelm watch`): CPU per sample."""
    v = "3.11" if "3.11" in pys else sorted(pys)[-1]
    section("5. Many targets, one sampler thread (aelm watch over N %s deep_busy targets in sleep mode)" % v)
    say("each target's loop thread sits 32 frames deep in time.sleep (no CPU burnt); aelm watch "
        "--match, --rate R, --max-cpu 1000 (no budget in play), %.0f s; steady window %.0f s..%.1f s"
        % (args.many_duration, args.many_duration - 5.0, args.many_duration - 0.3))
    res = {}
    rows = []
    for rate in (1000, 10000):
        for n in args.many_counts:
            token = "aelmbench%d" % os.getpid()
            tgts = []
            try:
                for _ in range(n):
                    tgts.append(Target(pys[v]["exe"], "deep_busy.py", (22, 100, "sleep", token)))
                base = os.path.join(OUT, "many-%d-%d" % (n, rate))
                cmd = [Ctx.aelm, "watch", "--match", token, "--rate", str(rate), "--max-cpu", "1000",
                       "--duration", str(args.many_duration), "--format", "json"]
                with open(base + ".out", "w") as so, open(base + ".err", "w") as se:
                    t0 = time.monotonic()
                    p = subprocess.Popen(cmd, stdout=so, stderr=se)
                    sleep_until(t0 + args.many_duration - 5.0)
                    a = (time.monotonic(), cpu_ns(p.pid))
                    sleep_until(t0 + args.many_duration - 0.3)
                    b = (time.monotonic(), cpu_ns(p.pid))
                    code, _ = wait_rusage(p)
                with open(base + ".out") as f:
                    ends = [json.loads(l) for l in f if '"type":"end"' in l]
                hz = [e.get("achieved_hz", 0.0) for e in ends]
                if code != 0 or len(ends) != n or a[1] is None or b[1] is None:
                    say("  !! %d targets at %d Hz: exit %s, %d end lines" % (n, rate, code, len(ends)))
                    continue
                win = b[0] - a[0]
                n_win = sum(hz) * win
                us = (b[1] - a[1]) / 1e3 / n_win if n_win else None
                pct = (b[1] - a[1]) / 1e9 / win * 100
                res[(n, rate)] = us
                LOG.append({"section": "many", "targets": n, "rate": rate, "us": us,
                            "cpu_pct": pct, "hz": hz})
                rows.append([n, rate, "%.0f-%.0f" % (min(hz), max(hz)), f1(us, 2), f1(pct, 1)])
                say("   %2d targets at %5d Hz: %s us/sample, aelm %.1f%% of a core" % (n, rate, f1(us, 2), pct))
            finally:
                for t in tgts:
                    t.kill()
    table(["targets", "asked Hz", "achieved Hz per target", "us/sample (steady)", "aelm CPU %"], rows)
    return res


def cpu_verdict(us):
    """The CPU-a-sample goal of issue 9 for a worst figure `us`."""
    return "goal <= 3: %s, must <= 5: %s" % ("met" if us <= 3 else "NOT met",
                                             "met" if us <= 5 else "NOT met")


def goals(vers, cpu, sc, slow, floor, many=None, b2b=None):
    section("Against issue 9's goals")
    d1 = [cpu.get((v, "direct", 1000)) for v in vers]
    d10 = [cpu.get((v, "direct", 10000)) for v in vers]
    st = [r["us_steady"] for r in d1 + d10 if r and r["us_steady"]]
    if st:
        say("direct reader CPU/sample (steady, all versions, 1 and 10 kHz): %.2f .. %.2f us"
            "  -> %s" % (min(st), max(st), cpu_verdict(max(st))))
    if floor:
        say("floor on this machine (bench/floor.c): sleep-only tick %s / %s us at 1 / 10 kHz; "
            "tick with aelm's 3-iovec read %s / %s us" % tuple(
                f1(floor.get(k), 1) for k in ((0, 1000), (0, 10000), (2, 1000), (2, 10000))))
    for rate in (1000, 10000):
        above = [r["us_steady"] - floor[(0, rate)] for v in vers
                 for r in [cpu.get((v, "direct", rate))] if r and r["us_steady"] and (0, rate) in floor]
        if above:
            say("direct reader CPU/sample above the sleep-only tick at %d Hz: %.2f .. %.2f us"
                "  -> must <= 5: %s" % (rate, min(above), max(above),
                                         "met" if max(above) <= 5 else "NOT met"))
    for gap in sorted({g for _, g in (b2b or {})}):
        us = [u for (_, g), u in b2b.items() if g == gap]
        how = "back to back" if gap == 0 else "%d us between samples" % gap
        say("aelm's own work a sample, %s (no wake-up): %.2f .. %.2f us  -> %s"
            % (how, min(us), max(us), cpu_verdict(max(us))))
    for (n, rate), us in sorted((many or {}).items()):
        if us is not None and n > 1:
            say("%d targets on one sampler thread at %d Hz: %.2f us/sample  -> %s"
                % (n, rate, us, cpu_verdict(us)))
    sys_ = [(v, r["total"]) for (v, k), r in sc.items() if k == "direct" and r]
    if sys_:
        say("direct reader syscalls/sample at 1 kHz: %s  -> goal <= 2: %s" % (
            ", ".join("%s %.2f" % x for x in sys_),
            "met" if max(x[1] for x in sys_) <= 2 else "NOT met"))
    for rate in (1000, 10000):
        d = cpu.get(("3.15", "direct", rate))
        s = cpu.get(("3.15", "ps", rate))
        if d and s and d["us_steady"] and s["us_steady"]:
            q = s["us_steady"] / d["us_steady"]
            say("3.15 at %d Hz: profiling.sampling %.1f us/sample vs direct %.2f -> %.1fx less"
                "  -> goal >= 5x: %s" % (rate, s["us_steady"], d["us_steady"], q,
                                         "met" if q >= 5 else "NOT met"))
    for v, (base, rows) in slow.items():
        r = rows.get("aelm direct default (200 Hz)")
        if r and base:
            say("%s slowdown at the default rate: wall %s (paired %s), target CPU %s (paired %s);"
                " goal <= 1%%; unmonitored wall runs spread %s s" % (
                    v, r[4], r[5], r[7], r[8], rows["none"][3]))


def main():
    global OUT
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--versions", default="all",
                    help="comma list (3.8..3.15) or 'all' (default)")
    ap.add_argument("--full", action="store_true",
                    help="full matrix (py-spy 10 kHz, strace, long runs) on every version, "
                         "not only 3.11/3.14/3.15")
    ap.add_argument("--duration", type=float, default=5.0, help="seconds per CPU run (3.11/3.14/3.15)")
    ap.add_argument("--short-duration", type=float, default=3.0, help="seconds per CPU run, other versions")
    ap.add_argument("--top-duration", type=float, default=3.0, help="seconds per 20 kHz run")
    ap.add_argument("--slowdown-versions", default="3.11,3.15")
    ap.add_argument("--callgrind-versions", default="3.11,3.15")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--work-s", type=float, default=3.0, help="unmonitored length of the slowdown workload")
    ap.add_argument("--start-delay", type=float, default=1.0)
    ap.add_argument("--floor-s", type=float, default=2.0, help="seconds per floor run")
    ap.add_argument("--skip", default="",
                    help="comma list of: floor,cpu,strace,callgrind,many,slowdown,b2b")
    ap.add_argument("--b2b-samples", type=int, default=100000, help="samples per back-to-back run")
    ap.add_argument("--b2b-runs", type=int, default=3, help="back-to-back runs per version")
    ap.add_argument("--b2b-gaps", default="0,1000",
                    help="comma list of sleeps (us) between back-to-back samples; 0 = none")
    ap.add_argument("--many-counts", default="1,4,16", help="target counts for the many-targets part")
    ap.add_argument("--many-duration", type=float, default=8.0, help="seconds per many-targets run")
    ap.add_argument("--aelm", default=os.path.join(REPO, "target", "release", "aelm"))
    ap.add_argument("--no-build", action="store_true", help="do not run cargo build --release first")
    ap.add_argument("--keep", action="store_true", help="keep the raw output directory")
    ap.add_argument("--json", help="write every measurement to this file")
    args = ap.parse_args()
    args.skip = set(s for s in args.skip.split(",") if s)
    args.slowdown_versions = [s for s in args.slowdown_versions.split(",") if s]
    args.callgrind_versions = [s for s in args.callgrind_versions.split(",") if s]
    args.many_counts = [int(s) for s in args.many_counts.split(",") if s]
    args.b2b_gaps = [int(s) for s in args.b2b_gaps.split(",") if s]
    started = time.monotonic()

    pys = pythons()
    vers = ALL_VERSIONS if args.versions == "all" else args.versions.split(",")
    vers = [v for v in vers if v in pys]
    args.slowdown_versions = [v for v in args.slowdown_versions if v in pys]
    Ctx.py315 = pys.get("3.15", {}).get("exe")
    for tool in ("strace", "valgrind", "callgrind_annotate"):
        if not shutil.which(tool):
            say("note: %s not found, skipping what needs it" % tool)
            args.skip.add("strace" if tool == "strace" else "callgrind")

    OUT = tempfile.mkdtemp(prefix="aelm-bench-")
    if not args.no_build:
        say("cargo build --release ...")
        if subprocess.call(["cargo", "build", "--release", "--quiet"], cwd=REPO,
                           stderr=subprocess.DEVNULL) != 0:
            say("note: cargo build failed; measuring the existing %s" % args.aelm)
    if not os.path.exists(args.aelm):
        sys.exit("no aelm binary at %s" % args.aelm)
    # A private copy: others may rebuild target/ while this runs.
    Ctx.aelm = os.path.join(OUT, "aelm")
    shutil.copy2(args.aelm, Ctx.aelm)

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
    say("%s (commit %s%s), py-spy 0.4.3 inside" % (
        subprocess.run([Ctx.aelm, "--version"], capture_output=True, text=True).stdout.strip(),
        git, ", src/ has uncommitted changes" if dirty else ""))
    say("aelm binary built %s" % time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(args.aelm))))
    say("pythons: %s" % ", ".join(pys[v]["full"] for v in vers))
    say("raw outputs: %s" % OUT)

    cpu = hi = sc = cg = {}
    slow = {}
    floor = {}
    many = {}
    b2b = {}
    try:
        if "floor" not in args.skip:
            floor = floor_section(pys, args)
        if "cpu" not in args.skip:
            cpu, hi, sc, cg = cpu_section(vers, pys, args)
            report_cpu(vers, cpu, hi, sc, cg)
        if "many" not in args.skip:
            many = many_section(pys, args)
        if "slowdown" not in args.skip:
            slow = slowdown_section(pys, args)
        if "b2b" not in args.skip:
            b2b = back_to_back_section(vers, pys, args)
        goals(vers, cpu, sc, slow, floor, many, b2b)
    finally:
        if args.json:
            with open(args.json, "w") as f:
                json.dump(LOG, f, indent=1, default=str)
        say("")
        say("done in %.0f s, load average %s" % (time.monotonic() - started, load()))
        if not args.keep:
            shutil.rmtree(OUT, ignore_errors=True)


if __name__ == "__main__":
    main()
