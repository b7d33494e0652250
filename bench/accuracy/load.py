"""Load generator for the benchmark's server targets (stdlib only).

    python load.py URL [--count N] [--threads T] [--seed S] [--deadline SEC]
    python load.py URL --warmup

Sends a bounded number of GET requests to a loopback server from T threads
(default 4, so requests overlap and the blocks of different requests follow
each other closely on the server's loop; each thread pauses 0-40 ms, seeded,
after each request, so the loop also idles now and then), then exits.  The plan is fixed by
the seed: every endpoint kind meets every block length in turn, shuffled.
Kinds: fast, await (not blocks) and sleep, hash, helper, cpu, zlib, sqlite,
urllib (blocks).  Lengths (``?ms=``): 12, 20, 32, 48, 80, 120 ms.

--warmup sends each endpoint once with ms=1 (first-request costs: lazy
imports, route compilation) and exits.

Stops after --deadline seconds (default 120) whatever is left.  Refuses
non-loopback URLs.  Prints one JSON line: requests, failures, elapsed_s.
Exit status 0 when every request got a 200.
"""
import argparse
import json
import random
import sys
import threading
import time
import urllib.parse
import urllib.request

KINDS = ["fast", "sleep", "helper", "await", "cpu", "hash", "fast", "zlib", "sqlite", "await", "urllib"]
BLOCKING = {"sleep", "hash", "helper", "cpu", "zlib", "sqlite", "urllib"}
LENGTHS_MS = [12, 20, 32, 48, 80, 120]


def plan(count, seed):
    out = []
    i = 0
    while len(out) < count:
        kind = KINDS[i % len(KINDS)]
        ms = LENGTHS_MS[(i // len(KINDS)) % len(LENGTHS_MS)] if kind in BLOCKING or kind == "await" else 0
        out.append((kind, ms))
        i += 1
    random.Random(seed).shuffle(out)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--count", type=int, default=96)
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--deadline", type=float, default=120.0)
    ap.add_argument("--think-ms", type=float, default=40.0,
                    help="each thread pauses 0..this many ms (seeded) after each request")
    ap.add_argument("--warmup", action="store_true")
    args = ap.parse_args()
    base = args.url.rstrip("/")
    host = urllib.parse.urlsplit(base).hostname or ""
    if not (host.startswith("127.") or host in ("localhost", "::1")):
        sys.stderr.write("load: refusing non-loopback URL %s\n" % base)
        return 2
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    if args.warmup:
        todo = [(k, 1) for k in sorted(set(KINDS))]
        nthreads = 1
    else:
        todo = plan(args.count, args.seed)
        nthreads = max(1, args.threads)
    total = len(todo)
    lock = threading.Lock()
    failures = []
    t0 = time.time()
    deadline = t0 + args.deadline

    def run(k):
        rnd = random.Random(args.seed * 1000 + k)
        while True:
            with lock:
                if not todo or time.time() > deadline:
                    return
                kind, ms = todo.pop(0)
            try:
                with opener.open("%s/%s?ms=%d" % (base, kind, ms), timeout=30) as resp:
                    resp.read()
                    if resp.status != 200:
                        raise RuntimeError("status %s" % resp.status)
            except Exception as exc:  # noqa: BLE001
                with lock:
                    failures.append("%s: %r" % (kind, exc))
            if args.think_ms > 0 and not args.warmup:
                time.sleep(rnd.uniform(0, args.think_ms) / 1000.0)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(nthreads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for f in failures[:10]:
        sys.stderr.write("load: %s\n" % f)
    print(json.dumps({"requests": total - len(todo), "failures": len(failures),
                      "unsent": len(todo), "elapsed_s": round(time.time() - t0, 3)}))
    return 1 if failures or todo else 0


if __name__ == "__main__":
    sys.exit(main())
