#!/usr/bin/env python3
"""aelm's accuracy-and-overhead benchmark, against ground truth and its peers.

One command, stdlib only (run by the machine's python3), from a fresh clone:

    python3 bench/accuracy/run.py            # full run  (~14 min on 2 cores)
    python3 bench/accuracy/run.py --quick    # smaller   (~6 min)

Options (--help): --versions (aelm accuracy; full 3.11,3.12,3.13,3.14, quick
3.11,3.14), --peer-versions (3.11,3.14), --slowdown-versions (3.11,3.14,3.15),
--targets, --detectors, --concurrent, --requests, --rounds, --skip
accuracy|slowdown, --aelm BINARY, --out DIR (default
~/.cache/aelm/bench-results/TIME), --rescore DIR (re-make the tables).

What it does (docs/benchmarks.md explains how to read the result):

0. Set-up: ``scripts/provision-pythons.sh`` (interpreters 3.8-3.15 with uvloop
   and aiohttp), ``cargo build --release`` (the binary is copied into the
   results dir, so a rebuild during the run changes nothing), and per
   interpreter a package dir ~/.cache/aelm/bench-site/3.X/site-packages with
   fastapi, uvicorn, httptools and asyncio-event-loop-monitor, installed by
   that interpreter's own pip (3.14/3.15, which have none: the pip wheel the
   provisioning fetched, on PYTHONPATH, as scripts/provision-pythons.sh
   does); the PyPI ``py-spy`` binary once, into ~/.cache/aelm/bench-site/tools,
   with the machine's pip. Re-runs reuse all of it.
1. Accuracy. Targets (this directory): aiohttp_app.py on the stdlib loop and
   on uvloop (``web.run_app(loop=uvloop.new_event_loop())``), fastapi_app.py
   under uvicorn with uvloop. Each records its blocking sections as ground
   truth (fixtures/truth.py). load.py, a separate process, sends a bounded,
   seeded mix of requests from 4 threads over loopback. Detectors, one run of
   the target each, on the same request plan:
     aelm       ``aelm attach --threshold-ms T`` at its default rate
                (T = 10, 20, 50 ms: 1000, 500, 200 Hz), one run per T
                (--concurrent: the three attached at once, one run)
     aelm-rt    the same under ``chrt -f 10`` (SCHED_FIFO), T = 20 ms by
                default: other load on the machine cannot starve its sampler,
                which separates the detector's own errors from starvation
     setprofile asyncio-event-loop-monitor in the target, threshold 10 ms
     debug      asyncio debug mode, slow_callback_duration 10 ms
   The in-process peers' reports at 20/50 ms are their 10 ms reports of at
   least that length (their threshold is only a filter on what they measure).
   Scores per threshold T: recall over truth blocks >= 1.5 T; precision over
   reported (ended) blocks; a report matches a truth block when it overlaps
   it by more than half the truth block's length (and, for aelm, is on the
   same thread); recall pairs truth and reports one to one (largest overlap
   first), precision counts a report as real when it matches any truth
   block. Culprit, over all paired blocks: aelm's culprit qualname (co_name
   before 3.11), file and line equal the truth's (tests/common compare); the
   peers give no file or line, so only their name is checked, and a truth
   block counts as named when any report matching it names the function.
   Duration error: |reported - truth| ms over paired blocks, median and p95.
2. Slowdown. call_heavy.py (fixed call-heavy asyncio work, self-timed, sized
   to ~0.5 s unmonitored) run unmonitored and under: aelm at 1 kHz and
   10 kHz, py-spy record at 1 kHz (blocking, and --nonblocking), asyncio debug
   mode, (3.15) ``python3.15 -m profiling.sampling attach`` at 1 kHz and
   10 kHz, and the setprofile monitor (only in the first 2 rounds, 1 with
   --quick: it is 25-75x slower). Samplers attach while the target waits,
   then the timed work starts. Rounds interleave the modes (rotating order);
   the figure is the median elapsed divided by the unmonitored median of the
   same run.

Output: progress on stderr; the tables (markdown) on stdout and in
OUT/results.md, every number in OUT/results.json, raw outputs (truth, aelm
lines, peer reports) under OUT/raw/ (raw/runs.json has every run), and the
blocks aelm got wrong at 20 ms (each with aelm's line beside the truth) in
OUT/analysis.md.
"""
import argparse
import datetime
import glob
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
CACHE = os.environ.get("AELM_CACHE") or os.path.expanduser("~/.cache/aelm")
BENCH_SITE = os.path.join(CACHE, "bench-site")
AELM = os.path.join(REPO, "target", "release", "aelm")
BENCH_PKGS = ["fastapi", "uvicorn", "httptools", "asyncio-event-loop-monitor"]
BENCH_MODS = ["fastapi", "uvicorn", "asyncio_event_loop_monitor"]
THRESHOLDS = (10, 20, 50)
PEER_THRESHOLD = 10

TARGETS = {
    # name: (script, args, needs)
    "aiohttp-asyncio": ("aiohttp_app.py", ["--loop", "asyncio"], ["aiohttp"]),
    "aiohttp-uvloop": ("aiohttp_app.py", ["--loop", "uvloop"], ["aiohttp", "uvloop"]),
    "fastapi-uvloop": ("fastapi_app.py", [], ["fastapi", "uvicorn", "uvloop"]),
}

_children = []


def log(msg):
    sys.stderr.write("[bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def loadavg():
    try:
        return open("/proc/loadavg").read().split()[0]
    except OSError:
        return "?"


def spawn(cmd, **kw):
    p = subprocess.Popen(cmd, **kw)
    _children.append(p)
    return p


def stop(p, sig=signal.SIGTERM, timeout=10.0):
    """End one process we started: signal, wait, then SIGKILL."""
    if p is None or p.poll() is not None:
        return p.returncode if p is not None else None
    try:
        p.send_signal(sig)
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        return p.wait()


def cleanup():
    for p in _children:
        if p.poll() is None:
            p.kill()
            p.wait()


# ---------------------------------------------------------------- set-up

def provision():
    log("provisioning interpreters (scripts/provision-pythons.sh)")
    r = subprocess.run(["bash", os.path.join(REPO, "scripts", "provision-pythons.sh")],
                       stdout=subprocess.PIPE, universal_newlines=True)
    if r.returncode != 0:
        log("warning: provision-pythons.sh exited %s; using what it provisioned" % r.returncode)
    manifest = (r.stdout.strip().splitlines() or [os.path.join(CACHE, "pythons.tsv")])[-1]
    pythons = {}
    for line in open(manifest):
        parts = line.rstrip("\n").split("\t")
        if len(parts) < 4:
            continue
        full, exe, site, pkgs = parts[:4]
        minor = ".".join(full.split(".")[:2])
        pythons[minor] = {"version": full, "exe": exe, "site": site, "pkgs": pkgs.split(",")}
    return pythons


def build(aelm_arg, out_dir):
    """Build aelm and copy the binary into the results dir (a rebuild during the
    run must not change what is measured); return (path, version, commit)."""
    src = aelm_arg or AELM
    if not aelm_arg:
        log("cargo build --release")
        r = subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO)
        if r.returncode != 0:
            if not os.path.exists(AELM):
                raise SystemExit("cargo build --release failed and there is no %s" % AELM)
            log("warning: cargo build failed; using the existing %s" % AELM)
    dst = os.path.join(out_dir, "aelm")
    shutil.copy2(src, dst)
    out = subprocess.run([dst, "--version"], stdout=subprocess.PIPE, universal_newlines=True)
    if aelm_arg:
        return dst, out.stdout.strip(), "binary %s" % os.path.basename(aelm_arg)
    git = subprocess.run(["git", "-C", REPO, "describe", "--always", "--dirty"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, universal_newlines=True)
    return dst, out.stdout.strip(), "tree " + git.stdout.strip()


def clean_env(extra=None):
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("AELM_") or k.startswith("BENCH_") or k.startswith("PYTHON"))}
    env.update(extra or {})
    return env


def bench_site(minor, py):
    """Fill ~/.cache/aelm/bench-site/3.X/site-packages; return (dir, importable mods)."""
    d = os.path.join(BENCH_SITE, minor, "site-packages")
    stamp = os.path.join(d, ".bench-stamp")
    want = "%s %s" % (py["version"], " ".join(BENCH_PKGS))
    if not (os.path.exists(stamp) and open(stamp).read().strip() == want):
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
        env = clean_env({"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_ROOT_USER_ACTION": "ignore"})
        has_pip = subprocess.run([py["exe"], "-m", "pip", "--version"], env=env, cwd="/",
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
        if not has_pip:
            wheels = sorted(glob.glob(os.path.join(CACHE, "wheels", "pip-*.whl")))
            if not wheels:
                log("%s: no pip and no pip wheel (run scripts/provision-pythons.sh)" % minor)
                return d, []
            env["PYTHONPATH"] = wheels[-1]
        log("%s: pip install --target %s %s" % (minor, d, " ".join(BENCH_PKGS)))
        r = subprocess.run([py["exe"], "-m", "pip", "install", "-q", "--target", d,
                            "--only-binary=:all:"] + BENCH_PKGS, env=env, cwd="/",
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
        if r.returncode != 0:
            log("%s: pip failed:\n%s" % (minor, r.stdout[-2000:]))
        else:
            with open(stamp, "w") as f:
                f.write(want + "\n")
    ok = []
    env = clean_env({"PYTHONPATH": "%s:%s" % (py["site"], d)})
    for m in BENCH_MODS + ["uvloop", "aiohttp"]:
        if subprocess.run([py["exe"], "-c", "import " + m], env=env, cwd="/",
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0:
            ok.append(m)
    return d, ok


def py_spy():
    d = os.path.join(BENCH_SITE, "tools")
    exe = os.path.join(d, "bin", "py-spy")
    if not os.path.exists(exe):
        log("pip install --target %s py-spy (the machine's pip)" % d)
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                        "--target", d, "--only-binary=:all:", "py-spy"], check=False)
    if not os.path.exists(exe):
        return None, None
    v = subprocess.run([exe, "--version"], stdout=subprocess.PIPE, universal_newlines=True).stdout.strip()
    return exe, v


# ---------------------------------------------------------------- parsing

def read_jsonl(path):
    out = []
    if not os.path.exists(path):
        return out
    for line in open(path):
        line = line.strip()
        if not line:
            continue
        try:
            out.append(json.loads(line))
        except ValueError:
            pass
    return out


def epoch(rfc3339):
    t = datetime.datetime.strptime(rfc3339, "%Y-%m-%dT%H:%M:%S.%fZ")
    return t.replace(tzinfo=datetime.timezone.utc).timestamp()


def wait_for(pred, timeout, what, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = pred()
        if v:
            return v
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("%s: process exited with %s" % (what, proc.returncode))
        time.sleep(0.02)
    raise RuntimeError("timed out waiting for %s" % what)


# ---------------------------------------------------------------- accuracy runs

def run_target(name, minor, py, site, detector, raw, n_requests, seed, thresholds=THRESHOLDS):
    """One run of one target under one detector; returns the raw material.

    aelm: one ``aelm attach`` per threshold in ``thresholds``, all at once."""
    script, args, _ = TARGETS[name]
    tag = "%s-%s-%s" % (name, minor, detector)
    if detector.startswith("aelm") and tuple(thresholds) != tuple(THRESHOLDS):
        tag += "".join("-%d" % t for t in thresholds)
    truth_path = os.path.join(raw, tag + ".truth.jsonl")
    peer_path = os.path.join(raw, tag + ".peer.jsonl")
    for p in (truth_path, peer_path):
        if os.path.exists(p):
            os.remove(p)
    env = clean_env({
        "PYTHONPATH": "%s:%s" % (py["site"], site),
        "AELM_TRUTH": truth_path,
        "BENCH_MONITOR": detector if detector in ("setprofile", "debug") else "none",
        "BENCH_PEER_OUT": peer_path,
        "BENCH_PEER_THRESHOLD_MS": str(PEER_THRESHOLD),
    })
    load_at_start = loadavg()
    errf = open(os.path.join(raw, tag + ".target.stderr"), "w")
    target = spawn([py["exe"], os.path.join(HERE, script)] + args, env=env, cwd=REPO,
                   stdin=subprocess.DEVNULL, stdout=errf, stderr=errf)
    aelms = []
    try:
        ready = wait_for(lambda: [e for e in read_jsonl(truth_path) if e.get("event") == "ready"],
                         90, "%s ready" % tag, target)[0]
        url = ready["url"]
        subprocess.run([sys.executable, os.path.join(HERE, "load.py"), url, "--warmup"],
                       stdout=subprocess.DEVNULL, check=True, timeout=60)
        if detector.startswith("aelm"):
            # aelm-rt: the same binary under SCHED_FIFO (chrt -f 10), so that
            # other load on the machine cannot starve its sampler thread.
            prefix = ["chrt", "-f", "10"] if detector == "aelm-rt" else []
            for thr in thresholds:
                out = os.path.join(raw, "%s.aelm%d.jsonl" % (tag, thr))
                if os.path.exists(out):
                    os.remove(out)
                err = open(os.path.join(raw, "%s.aelm%d.stderr" % (tag, thr)), "w")
                a = spawn(prefix + [AELM, "attach", "--pid", str(target.pid), "--threshold-ms", str(thr),
                           "--output", out], stdin=subprocess.DEVNULL, stdout=err, stderr=err)
                aelms.append((thr, a, out))
            for thr, a, out in aelms:
                wait_for(lambda: any(e.get("type") == "start" for e in read_jsonl(out)), 30,
                         "aelm start line (%s)" % tag, a)
        time.sleep(0.2)
        t_go = time.time()
        r = subprocess.run([sys.executable, os.path.join(HERE, "load.py"), url, "--count",
                            str(n_requests), "--seed", str(seed), "--deadline", "120"],
                           stdout=subprocess.PIPE, universal_newlines=True, timeout=180)
        load = json.loads(r.stdout.strip().splitlines()[-1]) if r.stdout.strip() else {}
        time.sleep(0.3)
        t_stop = time.time()
    finally:
        for _, a, _ in aelms:
            stop(a)
        stop(target)
        errf.close()
    truth = [e for e in read_jsonl(truth_path)
             if e.get("event") == "block" and t_go <= e["start"] and e["end"] <= t_stop]
    res = {"target": name, "python": py["version"], "minor": minor, "detector": detector,
           "load": load, "loadavg": load_at_start, "truth": truth, "t_go": t_go, "t_stop": t_stop, "reports": {}}
    if detector.startswith("aelm"):
        for thr, _, out in aelms:
            lines = read_jsonl(out)
            res["reports"][thr] = [aelm_report(e) for e in lines
                                   if e.get("type") == "block" and e.get("state") == "ended"]
            res.setdefault("aelm_end", {})[thr] = next((e for e in lines if e.get("type") == "end"), None)
    else:
        reps = [peer_report(e) for e in read_jsonl(peer_path)]
        # Everything reported while the load ran (an idle wait that began before
        # the load and ended in it is a report made during the run).
        reps = [r for r in reps if r is not None and t_go < r["end"] <= t_stop]
        for thr in THRESHOLDS:
            res["reports"][thr] = [r for r in reps if r["ms"] >= thr]
    return res


def aelm_report(e):
    start = epoch(e["time"])
    return {"start": start, "end": start + e["duration_ms"] / 1000.0, "ms": e["duration_ms"],
            "tid": e.get("tid"), "culprit": e.get("culprit") or {}, "callee": e.get("callee"),
            "line": e}


_DEBUG_RE = re.compile(r"^Executing (.*) took (\d+(?:\.\d+)?) seconds$", re.S)
_CORO_RE = re.compile(r"coro=<([^\s()]+)\(")
_HANDLE_RE = re.compile(r"<(?:Handle|TimerHandle) ([^\s()]+)\(")


def peer_report(e):
    if e.get("peer") == "setprofile":
        ms = float(e["ms"])
        return {"start": e["end"] - ms / 1000.0, "end": e["end"], "ms": ms, "tid": None,
                "name": e["name"], "line": e}
    if e.get("peer") == "debug":
        m = _DEBUG_RE.match(e["msg"])
        if not m:
            return None
        took = float(m.group(2))
        handle = m.group(1)
        n = _CORO_RE.search(handle) or _HANDLE_RE.search(handle)
        return {"start": e["end"] - took, "end": e["end"], "ms": took * 1000.0, "tid": None,
                "name": n.group(1) if n else handle[:120], "line": e}
    return None


# ---------------------------------------------------------------- scoring

def overlap(r, t):
    return min(r["end"], t["end"]) - max(r["start"], t["start"])


def matches(r, t):
    if r["tid"] is not None and r["tid"] != t["tid"]:
        return False
    return overlap(r, t) > 0.5 * (t["end"] - t["start"])


def culprit_ok_aelm(r, t, minor):
    c = r["culprit"]
    qual = c.get("qualname") or ""
    short = t["function"].rsplit(".", 1)[-1]
    name_ok = qual == t["function"] or (minor < 11 and qual == short)
    f = c.get("file") or ""
    file_ok = f == t["file"] or (f and os.path.realpath(f) == os.path.realpath(t["file"]))
    return bool(name_ok and file_ok and c.get("line") == t["line"])


def name_ok_peer(r, t):
    n = r["name"]
    return n == t["function"] or n.endswith("." + t["function"])


def pctl(xs, p):
    if not xs:
        return None
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, int(round(p / 100.0 * len(xs) + 0.5)) - 1))
    return xs[k]


def score(run, thr):
    """Scores of one run at one threshold, plus the cases for the analysis.

    Cases (aelm only): ``missed`` (a truth block >= 1.5 T with no report
    paired to it; ``why``: ``merged`` = a report spans it and another truth
    block, ``split`` = two or more reports overlap it but none by half its
    length, ``short`` = one report overlaps it by less than half, ``none`` =
    nothing overlaps it), ``invented`` (a report that overlaps no truth block
    at all), ``fragment`` (a report that overlaps a truth block, but by less
    than half of it: a piece of a split block), ``misnamed`` (a paired report
    whose culprit is not the truth's; ``why``: ``merged``, ``short`` = a truth
    block under 1.5 T, or ``other``) and
    ``merged`` (a report that matches two or more truth blocks).
    """
    truth = sorted(run["truth"], key=lambda t: t["start"])
    reps = run["reports"].get(thr, [])
    minor = int(run["minor"].split(".")[1])
    aelm = run["detector"].startswith("aelm")
    # One-to-one pairing, largest overlap first.
    pairs = []
    for ti, t in enumerate(truth):
        for ri, r in enumerate(reps):
            if matches(r, t):
                pairs.append((overlap(r, t), ti, ri))
    pairs.sort(reverse=True)
    t2r, r2t = {}, {}
    for _, ti, ri in pairs:
        if ti not in t2r and ri not in r2t:
            t2r[ti] = ri
            r2t[ri] = ti
    due = [ti for ti, t in enumerate(truth) if t["ms"] >= 1.5 * thr]
    found = [ti for ti in due if ti in t2r]
    real = [ri for ri, r in enumerate(reps) if any(matches(r, t) for t in truth)]
    merged_r = {ri for ri, r in enumerate(reps) if sum(1 for t in truth if matches(r, t)) >= 2}
    named, errs, cases = 0, [], []
    matched = sorted(t2r)
    for ti in matched:
        t, r = truth[ti], reps[t2r[ti]]
        if aelm:
            ok = culprit_ok_aelm(r, t, minor)
        else:
            ok = any(name_ok_peer(x, t) for x in reps if matches(x, t))
        named += ok
        errs.append(abs(r["ms"] - t["ms"]))
        if aelm and not ok:
            why = "merged" if t2r[ti] in merged_r else ("short" if t["ms"] < 1.5 * thr else "other")
            cases.append({"kind": "misnamed", "why": why,
                          "truth": [t], "aelm": [r]})
    n_frag = n_inv = 0
    if aelm:
        for ti in due:
            if ti in t2r:
                continue
            t = truth[ti]
            near = [ri for ri, r in enumerate(reps) if overlap(r, t) > 0 and r["tid"] == t["tid"]]
            if any(ri in merged_r and matches(reps[ri], t) for ri in near):
                why = "merged"
            elif len(near) >= 2:
                why = "split"
            elif near:
                why = "short"
            else:
                why = "none"
            # The truth blocks those reports also cover, for context.
            ctx = [x for x in truth if x is not t and any(overlap(reps[ri], x) > 0 for ri in near)]
            cases.append({"kind": "missed", "why": why, "truth": [t] + ctx, "aelm": [reps[ri] for ri in near]})
        for ri, r in enumerate(reps):
            if ri in real:
                if ri in merged_r:
                    cases.append({"kind": "merged", "why": "", "truth": [t for t in truth if matches(r, t)],
                                  "aelm": [r]})
                continue
            near = [t for t in truth if overlap(r, t) > 0]
            if near:
                n_frag += 1
                cases.append({"kind": "fragment", "why": "", "truth": near, "aelm": [r]})
            else:
                n_inv += 1
                cases.append({"kind": "invented", "why": "", "truth": [], "aelm": [r]})
    return {
        "truth_due": len(due), "found": len(found),
        "recall": len(found) / len(due) if due else None,
        "reported": len(reps), "real": len(real),
        "precision": len(real) / len(reps) if reps else None,
        "matched": len(matched), "named": named,
        "culprit": named / len(matched) if matched else None,
        "dur_err_med": statistics.median(errs) if errs else None,
        "dur_err_p95": pctl(errs, 95),
        "merged": len(merged_r), "fragments": n_frag, "invented": n_inv,
        "cases": cases,
    }


def merge_scores(ss):
    out = {k: sum(s[k] for s in ss) for k in ("truth_due", "found", "reported", "real", "matched", "named")}
    out["recall"] = out["found"] / out["truth_due"] if out["truth_due"] else None
    out["precision"] = out["real"] / out["reported"] if out["reported"] else None
    out["culprit"] = out["named"] / out["matched"] if out["matched"] else None
    return out


# ---------------------------------------------------------------- slowdown

def slowdown_once(mode, py, site, raw, rounds_arg, pyspy, tag):
    env = clean_env({"PYTHONPATH": "%s:%s" % (py["site"], site)})
    go = os.path.join(raw, "go-" + tag)
    if os.path.exists(go):
        os.remove(go)
    env["BENCH_GO"] = go
    if mode in ("setprofile", "debug"):
        env["BENCH_MONITOR"] = mode
        env["BENCH_PEER_THRESHOLD_MS"] = "20"
        env["BENCH_PEER_OUT"] = os.path.join(raw, tag + ".peer.jsonl")
    target = spawn([py["exe"], os.path.join(HERE, "call_heavy.py"), str(rounds_arg)], env=env,
                   cwd=REPO, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, universal_newlines=True)
    sampler, info = None, {}
    serr = os.path.join(raw, tag + ".sampler.stderr")
    try:
        first = target.stdout.readline()
        if not first.startswith("ready"):
            raise RuntimeError("call_heavy did not start: %r" % first)
        pid = str(target.pid)
        if mode.startswith("aelm"):
            rate = "1000" if mode == "aelm-1k" else "10000"
            out = os.path.join(raw, tag + ".aelm.jsonl")
            sampler = spawn([AELM, "attach", "--pid", pid, "--threshold-ms", "10", "--rate", rate,
                             "--output", out], stdin=subprocess.DEVNULL,
                            stdout=open(serr, "w"), stderr=subprocess.STDOUT)
            wait_for(lambda: any(e.get("type") == "start" for e in read_jsonl(out)), 30, "aelm start", sampler)
        elif mode.startswith("py-spy"):
            cmd = [pyspy, "record", "--pid", pid, "--rate", "1000", "--format", "raw",
                   "-o", os.path.join(raw, tag + ".pyspy.txt")]
            if mode == "py-spy-nonblocking":
                cmd.append("--nonblocking")
            sampler = spawn(cmd, stdin=subprocess.DEVNULL, stdout=open(serr, "w"), stderr=subprocess.STDOUT)
            wait_for(lambda: "Sampling process" in open(serr).read(), 30, "py-spy start", sampler)
        elif mode.startswith("profiling.sampling"):
            rate = "1000" if mode.endswith("1k") else "10000"
            sampler = spawn([py["exe"], "-m", "profiling.sampling", "attach", "-r", rate, "--collapsed",
                             "-o", os.path.join(raw, tag + ".collapsed.txt"), pid],
                            env=clean_env(), cwd="/", stdin=subprocess.DEVNULL,
                            stdout=open(serr, "w"), stderr=subprocess.STDOUT)
            # It prints nothing when it starts: give it a second to attach.
            time.sleep(1.0)
            if sampler.poll() is not None:
                raise RuntimeError("profiling.sampling exited: %s" % open(serr).read()[-500:])
        if sampler is not None:
            time.sleep(0.2)
        open(go, "w").close()
        line = target.stdout.readline()
        res = json.loads(line)
        elapsed = res["elapsed_s"]
        target.wait(timeout=30)
        if sampler is not None:
            try:
                sampler.wait(timeout=30)
            except subprocess.TimeoutExpired:
                stop(sampler, signal.SIGINT)
            if mode.startswith("aelm"):
                end = next((e for e in read_jsonl(out) if e.get("type") == "end"), {})
                info = {"achieved_hz": end.get("achieved_hz"), "samples": end.get("samples")}
            elif mode.startswith("py-spy"):
                m = re.search(r"Samples: (\d+) Errors: (\d+)", open(serr).read())
                if m:
                    info = {"samples": int(m.group(1)), "errors": int(m.group(2))}
            elif mode.startswith("profiling.sampling"):
                m = re.search(r"Captured ([\d,]+) samples", open(serr).read())
                if m:
                    info = {"samples": int(m.group(1).replace(",", ""))}
        info["cpu_s"] = res.get("cpu_s")
        return elapsed, info
    finally:
        stop(sampler, signal.SIGINT)
        stop(target)


# ---------------------------------------------------------------- tables

def f2(x, nd=2):
    return "-" if x is None else ("%.*f" % (nd, x))


def accuracy_tables(runs):
    rows = []
    lines = ["### Accuracy per run", "",
             "Notes: for aelm, reports that match two or more truth blocks (merged), pieces of a "
             "split block (fragments: overlap a truth block by less than half of it), reports "
             "that overlap no truth block (invented), and from aelm's end line the gaps and "
             "missed ticks of its sampler; for the peers, how many reports they made per truth "
             "block they found. `load s`: how long the load generator took (the target's "
             "slowdown under an in-process peer shows here). `loadavg`: the machine's 1-minute "
             "load average when the run began (2 CPUs).", "",
             "| target | python | detector | T ms | truth >= 1.5T | recall | reported | precision | culprit | dur err med / p95 ms | load s | loadavg | notes |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for run in runs:
        for thr in sorted(run["reports"]):
            s = score(run, thr)
            rows.append((run, thr, s))
            if run["detector"].startswith("aelm"):
                end = (run.get("aelm_end") or {}).get(thr) or {}
                note = "merged %d, fragments %d, invented %d; gaps %s, missed ticks %s, %s Hz" % (
                    s["merged"], s["fragments"], s["invented"], end.get("gaps", "?"),
                    end.get("missed_ticks", "?"), end.get("achieved_hz", "?"))
            else:
                note = "%.1f reports per found block" % (s["real"] / s["matched"]) if s["matched"] else ""
            lines.append("| %s | %s | %s | %d | %d | %s (%d) | %d | %s (%d) | %s (%d/%d) | %s / %s | %s | %s | %s |" % (
                run["target"], run["python"], run["detector"], thr, s["truth_due"], f2(s["recall"]),
                s["found"], s["reported"], f2(s["precision"]), s["real"], f2(s["culprit"]), s["named"],
                s["matched"], f2(s["dur_err_med"], 1), f2(s["dur_err_p95"], 1),
                f2((run.get("load") or {}).get("elapsed_s"), 1), run.get("loadavg", "?"), note))
    # Headline: per target x detector x threshold, all versions pooled.
    head = ["### Summary (all Python versions pooled)", "",
            "| target | detector | T ms | recall | precision | culprit | dur err med / p95 ms |",
            "|---|---|---|---|---|---|---|"]
    keys = []
    for run, thr, s in rows:
        k = (run["target"], run["detector"], thr)
        if k not in keys:
            keys.append(k)
    for k in keys:
        ss = [s for run, thr, s in rows if (run["target"], run["detector"], thr) == k]
        m = merge_scores(ss)
        errs = []
        for run, thr, s in rows:
            if (run["target"], run["detector"], thr) == k:
                errs.extend(pair_errors(run, thr))
        head.append("| %s | %s | %d | %s (%d/%d) | %s (%d/%d) | %s (%d/%d) | %s / %s |" % (
            k[0], k[1], k[2], f2(m["recall"]), m["found"], m["truth_due"], f2(m["precision"]), m["real"],
            m["reported"], f2(m["culprit"]), m["named"], m["matched"],
            f2(statistics.median(errs) if errs else None, 1), f2(pctl(errs, 95), 1)))
    # Why aelm fell short, per target and threshold.
    why = ["### aelm's errors by cause (all versions pooled)", "",
           "| target | detector | T ms | missed: merged / split / short / none | misnamed: merged / short block / other | fragments | invented |",
           "|---|---|---|---|---|---|---|"]
    for k in keys:
        if not k[1].startswith("aelm"):
            continue
        cases = [c for run, thr, s in rows if (run["target"], run["detector"], thr) == k for c in s["cases"]]
        cnt = lambda kind, w=None: sum(1 for c in cases if c["kind"] == kind and (w is None or c["why"] == w))
        why.append("| %s | %s | %d | %d / %d / %d / %d | %d / %d / %d | %d | %d |" % (
            k[0], k[1], k[2], cnt("missed", "merged"), cnt("missed", "split"), cnt("missed", "short"),
            cnt("missed", "none"), cnt("misnamed", "merged"), cnt("misnamed", "short"), cnt("misnamed", "other"),
            cnt("fragment"), cnt("invented")))
    return head + [""] + why + [""] + lines, rows


def pair_errors(run, thr):
    truth = sorted(run["truth"], key=lambda t: t["start"])
    reps = run["reports"].get(thr, [])
    pairs = sorted(((overlap(r, t), ti, ri) for ti, t in enumerate(truth) for ri, r in enumerate(reps)
                    if matches(r, t)), reverse=True)
    used_t, used_r, errs = set(), set(), []
    for _, ti, ri in pairs:
        if ti not in used_t and ri not in used_r:
            used_t.add(ti)
            used_r.add(ri)
            errs.append(abs(reps[ri]["ms"] - truth[ti]["ms"]))
    return errs


def short_truth(t):
    keys = ("function", "line", "ms", "start", "end", "tid", "file")
    return {k: (round(t[k], 4) if k in ("start", "end") else t[k]) for k in keys if k in t}


def short_aelm(r, full=False):
    if full:
        return r["line"]
    l = r["line"]
    keep = ("time", "duration_ms", "samples", "callback", "culprit", "callee", "hot")
    out = {k: l[k] for k in keep if k in l}
    if "culprit" in out:
        out["culprit"] = {k: out["culprit"].get(k) for k in ("qualname", "file", "line")}
    return out


def analysis(rows, thr=20):
    out = ["# aelm at %d ms: the blocks it got wrong" % thr, "",
           "Truth lines are shortened (start/end are epoch seconds, as aelm's `time` is "
           "the first busy sample); aelm lines keep time, duration, samples, callback, "
           "culprit, callee and hot. Kinds: see score() in run.py.", ""]
    n = 0
    for run, t_, s in rows:
        if t_ != thr or not run["detector"].startswith("aelm") or not s["cases"]:
            continue
        out.append("## %s, Python %s, %s" % (run["target"], run["python"], run["detector"]))
        out.append("")
        for c in s["cases"]:
            n += 1
            out.append("- **%s**%s" % (c["kind"], (" (%s)" % c["why"]) if c["why"] else ""))
            for t in c["truth"]:
                out.append("  - truth: `%s`" % json.dumps(short_truth(t)))
            for r in c["aelm"]:
                out.append("  - aelm:  `%s`" % json.dumps(short_aelm(r)))
        out.append("")
    if n == 0:
        out.append("No missed, invented, misnamed or merged block.")
    return out


# ---------------------------------------------------------------- main

def load_runs(path):
    runs = json.load(open(path))
    for run in runs:
        det = run["detector"]
        run["reports"] = {int(t): [aelm_report(l) if det.startswith("aelm") else peer_report(l) for l in ls]
                          for t, ls in run["reports"].items()}
        if "aelm_end" in run:
            run["aelm_end"] = {int(t): e for t, e in run["aelm_end"].items()}
    return runs


def rescore(d):
    runs = load_runs(os.path.join(d, "raw", "runs.json"))
    tables, rows = accuracy_tables(runs)
    with open(os.path.join(d, "analysis.md"), "w") as f:
        f.write("\n".join(analysis(rows)) + "\n")
    sys.stdout.write("\n".join(tables) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer requests, versions and rounds")
    ap.add_argument("--versions", help="accuracy: Python minors (default 3.11,3.12,3.13,3.14; quick 3.11,3.14)")
    ap.add_argument("--slowdown-versions", help="default 3.11,3.14,3.15")
    ap.add_argument("--skip", default="", help="comma list: accuracy, slowdown")
    ap.add_argument("--requests", type=int, help="requests per accuracy run (default 96; quick 66)")
    ap.add_argument("--rounds", type=int, help="slowdown rounds (default 5; quick 3)")
    ap.add_argument("--targets", help="accuracy: comma list of " + ",".join(TARGETS))
    ap.add_argument("--detectors", help="accuracy: comma list of aelm,aelm-rt,setprofile,debug")
    ap.add_argument("--concurrent", action="store_true",
                    help="accuracy: the three aelm (10/20/50 ms) attached at once, one run, "
                         "instead of one run per threshold")
    ap.add_argument("--rt-versions", help="accuracy of aelm-rt (aelm under chrt -f 10): Python minors "
                    "(default: the --versions; 'none' to skip)")
    ap.add_argument("--rt-thresholds", help="aelm-rt thresholds (default 20)")
    ap.add_argument("--peer-versions", help="accuracy of the in-process peers: Python minors (default 3.11,3.14)")
    ap.add_argument("--rescore", metavar="DIR", help="only re-make the accuracy tables from DIR/raw/runs.json")
    ap.add_argument("--aelm", help="use this aelm binary instead of building one")
    ap.add_argument("--out", help="results dir (default ~/.cache/aelm/bench-results/TIME)")
    args = ap.parse_args()
    if args.rescore:
        return rescore(args.rescore)
    quick = args.quick
    skip = set(x for x in args.skip.split(",") if x)
    def minors(arg, default):
        # "none" (or anything not 3.N) selects nothing.
        return [x for x in (default if arg is None else arg).split(",") if re.match(r"^3\.\d+$", x)]
    versions = minors(args.versions, "3.11,3.14" if quick else "3.11,3.12,3.13,3.14")
    sversions = minors(args.slowdown_versions, "3.11,3.14,3.15")
    pversions = minors(args.peer_versions, "3.11,3.14")
    rversions = minors(args.rt_versions, ",".join(versions))
    rt_thresholds = [int(x) for x in (args.rt_thresholds or "20").split(",") if x]
    if "slowdown" in skip:
        sversions = []
    if "accuracy" in skip:
        versions = pversions = rversions = []
    heavy_rounds = 1 if quick else 2
    n_requests = args.requests or (66 if quick else 96)
    rounds = args.rounds or (3 if quick else 5)
    out_dir = args.out or os.path.join(CACHE, "bench-results", time.strftime("%Y%m%d-%H%M%S"))
    raw = os.path.join(out_dir, "raw")
    os.makedirs(raw, exist_ok=True)
    t_start = time.time()
    log("results go to %s" % out_dir)

    pythons = provision()
    global AELM
    AELM, aelm_version, commit = build(args.aelm, out_dir)
    pyspy, pyspy_version = py_spy()
    sites = {}
    for v in sorted(set(versions) | set(sversions) | set(pversions), key=lambda s: int(s.split(".")[1])):
        if v not in pythons:
            log("%s: not provisioned, skipped" % v)
            continue
        sites[v] = bench_site(v, pythons[v])
        log("%s: %s, importable: %s" % (v, pythons[v]["version"], ",".join(sites[v][1])))

    meta = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "quick": quick, "aelm": aelm_version,
        "commit": commit,
        "py-spy": pyspy_version, "cpus": os.cpu_count(), "uname": " ".join(os.uname()),
        "pythons": {v: pythons[v]["version"] for v in sites}, "requests": n_requests, "rounds": rounds,
        "loadavg_start": loadavg(),
    }
    try:
        meta["cpu"] = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    pkgs = {}
    for v, (d, _) in sites.items():
        vs = {}
        for dist in ("aiohttp", "uvloop", "fastapi", "uvicorn", "starlette", "httptools", "asyncio_event_loop_monitor"):
            for base in (pythons[v]["site"], d):
                hit = glob.glob(os.path.join(base, dist + "-*.dist-info"))
                if hit:
                    vs[dist] = os.path.basename(hit[0])[len(dist) + 1:-len(".dist-info")]
        pkgs[v] = vs
    meta["packages"] = pkgs

    report = ["# aelm benchmark results", "",
              "- date: %s; mode: %s; machine: %s CPUs, %s; load average at start %s" % (
                  meta["date"], "quick" if quick else "full", meta["cpus"], meta.get("cpu", "?"), meta["loadavg_start"]),
              "- %s (%s); %s; Pythons %s" % (aelm_version, commit, pyspy_version,
                                               ", ".join(meta["pythons"].values())),
              "- packages: " + "; ".join("%s: %s" % (v, ", ".join("%s %s" % kv for kv in sorted(p.items())))
                                         for v, p in pkgs.items()),
              ""]
    results = {"meta": meta}

    # ------------------------------------------------------------ accuracy
    runs = []
    rt_ok = shutil.which("chrt") is not None and subprocess.run(
        ["chrt", "-f", "10", "true"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
    if rversions and not rt_ok:
        log("chrt -f 10 is not permitted here (needs root or CAP_SYS_NICE): no aelm-rt runs")
    if "accuracy" not in skip:
        acc_versions = sorted(set(versions) | set(pversions), key=lambda x: int(x.split(".")[1]))
        for v in acc_versions:
            if v not in sites:
                continue
            d, mods = sites[v]
            for name, (_, _, needs) in TARGETS.items():
                if args.targets and name not in args.targets.split(","):
                    continue
                if not all(m in mods for m in needs):
                    log("%s %s: needs %s, skipped" % (name, v, needs))
                    continue
                dets = ((["aelm"] if v in versions else []) + (["aelm-rt"] if v in rversions and rt_ok else []) +
                        (["setprofile", "debug"] if v in pversions else []))
                if "asyncio_event_loop_monitor" not in mods and "setprofile" in dets:
                    dets.remove("setprofile")
                if args.detectors:
                    dets = [x for x in dets if x in args.detectors.split(",")]
                for det in dets:
                    groups = [THRESHOLDS]
                    if det == "aelm" and not args.concurrent:
                        groups = [(t,) for t in THRESHOLDS]
                    elif det == "aelm-rt":
                        groups = [(t,) for t in rt_thresholds]
                    for thrs in groups:
                        log("accuracy: %s on %s under %s%s (load %s)" % (
                            name, v, det, "" if not det.startswith("aelm") else " " + ",".join(map(str, thrs)), loadavg()))
                        try:
                            run = run_target(name, v, pythons[v], d, det, raw, n_requests, seed=1, thresholds=thrs)
                        except Exception as exc:  # noqa: BLE001
                            log("  failed: %s" % exc)
                            continue
                        runs.append(run)
                        log("  truth %d blocks; %s" % (len(run["truth"]), "; ".join(
                            "%d ms: recall %s precision %s culprit %s" % (
                                t, f2(sc["recall"]), f2(sc["precision"]), f2(sc["culprit"]))
                            for t, sc in ((t, score(run, t)) for t in sorted(run["reports"])))))
        tables, rows = accuracy_tables(runs)
        report += ["## Accuracy", ""] + tables + [""]
        results["accuracy"] = [
            dict([(k, run[k]) for k in ("target", "python", "detector", "load")] + [("threshold", thr)] +
                 [(k, v) for k, v in s.items() if k != "cases"])
            for run, thr, s in rows]
        with open(os.path.join(out_dir, "analysis.md"), "w") as f:
            f.write("\n".join(analysis(rows)) + "\n")
        with open(os.path.join(raw, "runs.json"), "w") as f:
            json.dump([dict([(k, v) for k, v in run.items() if k != "reports"] +
                            [("reports", {str(t): [r["line"] for r in rs] for t, rs in run["reports"].items()})])
                       for run in runs], f)

    # ------------------------------------------------------------ slowdown
    if "slowdown" not in skip:
        sd_rows = ["## Slowdown of call_heavy.py (median elapsed / unmonitored median, same run)", "",
                   "| python | detector | runs | median s | slowdown | CPU s (median) | CPU ratio | samples (median) |",
                   "|---|---|---|---|---|---|---|---|"]
        results["slowdown"] = []
        for v in sversions:
            if v not in sites:
                continue
            d, mods = sites[v]
            py = pythons[v]
            # Size the work to ~0.5 s unmonitored on this interpreter.
            probe = min(slowdown_once("none", py, d, raw, 20, pyspy, "probe-%s-%d" % (v, i))[0]
                        for i in range(3))
            work_rounds = max(20, int(20 * 0.5 / max(probe, 1e-3)))
            modes = ["none", "aelm-1k", "aelm-10k"]
            if pyspy:
                modes += ["py-spy-blocking", "py-spy-nonblocking"]
            modes += ["debug"]
            if v == "3.15":
                modes += ["profiling.sampling-1k", "profiling.sampling-10k"]
            heavy = ["setprofile"] if "asyncio_event_loop_monitor" in mods else []
            times = {m: [] for m in modes + heavy}
            infos = {m: [] for m in modes + heavy}
            log("slowdown on %s: %d rounds of work, %d rounds of %s (+ %s x %d) (load %s)" % (
                v, work_rounds, rounds, ",".join(modes), ",".join(heavy), min(rounds, heavy_rounds), loadavg()))
            for r in range(rounds):
                order = modes[r % len(modes):] + modes[:r % len(modes)]
                if r < heavy_rounds:
                    order = order + heavy
                for m in order:
                    tag = "slow-%s-%s-%d" % (v, m, r)
                    try:
                        el, info = slowdown_once(m, py, d, raw, work_rounds, pyspy, tag)
                    except Exception as exc:  # noqa: BLE001
                        log("  %s failed: %s" % (tag, exc))
                        continue
                    times[m].append(el)
                    infos[m].append(info)
            base = statistics.median(times["none"]) if times["none"] else None
            cpus0 = [i.get("cpu_s") for i in infos["none"] if i.get("cpu_s") is not None]
            cbase = statistics.median(cpus0) if cpus0 else None
            for m in modes + heavy:
                if not times[m]:
                    continue
                med = statistics.median(times[m])
                samples = [i.get("samples") for i in infos[m] if i.get("samples") is not None]
                cpus = [i.get("cpu_s") for i in infos[m] if i.get("cpu_s") is not None]
                cmed = statistics.median(cpus) if cpus else None
                ratio = med / base if base else None
                results["slowdown"].append({"python": py["version"], "mode": m, "times": times[m],
                                            "median": med, "ratio": ratio, "infos": infos[m],
                                            "work_rounds": work_rounds, "cpu_median": cmed})
                sd_rows.append("| %s | %s | %d | %.3f | %s | %s | %s | %s |" % (
                    py["version"], m, len(times[m]), med, f2(ratio, 3), f2(cmed, 3),
                    f2(cmed / cbase if (cmed and cbase) else None, 3),
                    int(statistics.median(samples)) if samples else "-"))
            log("  %s" % ", ".join("%s %s" % (x["mode"], f2(x["ratio"], 3)) for x in results["slowdown"]
                                    if x["python"] == py["version"]))
        report += sd_rows + [""]

    meta["loadavg_end"] = loadavg()
    meta["elapsed_s"] = round(time.time() - t_start, 1)
    report.append("Finished in %.0f s; load average at end %s." % (meta["elapsed_s"], meta["loadavg_end"]))
    text = "\n".join(report) + "\n"
    with open(os.path.join(out_dir, "results.md"), "w") as f:
        f.write(text)
    with open(os.path.join(out_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=1)
    sys.stdout.write(text)
    log("done in %.0f s: %s (results.md, results.json, analysis.md, raw/)" % (meta["elapsed_s"], out_dir))


if __name__ == "__main__":
    try:
        main()
    finally:
        cleanup()
