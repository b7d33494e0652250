"""Slowdown workload: a fixed amount of call-heavy asyncio work, self-timed.

    python call_heavy.py ROUNDS

50 tasks each run ROUNDS steps; a step makes 500 small pure-Python calls
(three levels deep) and yields (``await asyncio.sleep(0)``), so the loop is
busy all the time with short callbacks and a great many Python calls: what a
setprofile hook taxes hardest, and where a sampler's interference would show.

Prints ``ready PID`` once the loop runs, then waits for the file named by
BENCH_GO (polled every 10 ms; unset: start at once) so that an attaching
sampler is in place before the timed part.  BENCH_MONITOR (inproc.py) switches
an in-process peer on just before the timed part.  Prints one JSON line at
the end: {"elapsed_s": ..., "cpu_s": ..., "checksum": ...}; elapsed is the
perf_counter time of the work alone, cpu_s the process's CPU time over it (all
threads).
"""
import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import inproc  # noqa: E402

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 100
TASKS = 50
CALLS = 500


def add(a, b):
    return a + b


def mix(a, i):
    return add(a * 31, i) & 0xFFFF


class Acc:
    __slots__ = ("v",)

    def __init__(self):
        self.v = 0

    def feed(self, i):
        self.v = mix(self.v, i)


async def worker(k):
    acc = Acc()
    for _ in range(ROUNDS):
        for i in range(CALLS):
            acc.feed(i ^ k)
        await asyncio.sleep(0)
    return acc.v


async def main():
    print("ready", os.getpid(), flush=True)
    go = os.environ.get("BENCH_GO")
    if go:
        while not os.path.exists(go):
            await asyncio.sleep(0.01)
    inproc.install()
    t0 = time.perf_counter()
    c0 = time.process_time()
    results = await asyncio.gather(*(worker(k) for k in range(TASKS)))
    elapsed = time.perf_counter() - t0
    cpu = time.process_time() - c0
    inproc.uninstall()
    print(json.dumps({"elapsed_s": round(elapsed, 6), "cpu_s": round(cpu, 6), "checksum": sum(results)}),
          flush=True)


if __name__ == "__main__":
    asyncio.run(main())
