"""Benchmark target: a fixed amount of call-heavy asyncio work, self-timed.

TASKS tasks each run ROUNDS steps; a step makes CALLS small pure-Python
function calls and then yields to the loop (``await asyncio.sleep(0)``), so
the loop thread is busy all the time with many short callbacks and a great
many Python calls -- the kind of workload a setprofile hook taxes hardest and
the one a sampler's interference (cache, CPU, memory bandwidth) would show on.

The work is fixed by the arguments (not by time), so the elapsed time is the
measurement. Once its loop runs it prints ``ready <pid>``, then waits
START_DELAY seconds in the loop (idle, so an attaching sampler can find the
loop and settle before the work starts; the delay is outside the timed part),
then does the work and prints one line at the end:
    elapsed_s <wall seconds> cpu_s <process CPU seconds> checksum <n>
(wall time is what a user waits; CPU time leaves out the time the target was
not running at all, e.g. preempted by other load on a shared machine).

Usage: python call_heavy.py [ROUNDS] [START_DELAY_S]   (defaults 400, 0)

Stream mode, for bench/slowdown.py: ``python call_heavy.py --stream SECONDS
FILE`` runs the same tasks for SECONDS after "ready" and then writes, to
FILE, the time.perf_counter() (CLOCK_MONOTONIC) at which each step ended, as
native doubles (array "d"). A step is ~70 us of work, so the log tells the
throughput of any window of a few hundred milliseconds.
"""
import array
import asyncio
import os
import sys
import time

STREAM = len(sys.argv) > 1 and sys.argv[1] == "--stream"
ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 and not STREAM else 400
START_DELAY = float(sys.argv[2]) if len(sys.argv) > 2 and not STREAM else 0.0
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
    for r in range(ROUNDS):
        for i in range(CALLS):
            acc.feed(i ^ k)
        await asyncio.sleep(0)
    return acc.v


async def streamer(k, until, log):
    acc = Acc()
    now = time.perf_counter
    while True:
        for i in range(CALLS):
            acc.feed(i ^ k)
        t = now()
        log.append(t)
        if t >= until:
            return acc.v
        await asyncio.sleep(0)


async def stream(seconds, path):
    log = array.array("d")
    print("ready", os.getpid(), flush=True)
    until = time.perf_counter() + seconds
    await asyncio.gather(*(streamer(k, until, log) for k in range(TASKS)))
    with open(path, "wb") as f:
        log.tofile(f)


async def main():
    print("ready", os.getpid(), flush=True)
    if START_DELAY:
        await asyncio.sleep(START_DELAY)
    t0 = time.perf_counter()
    c0 = time.process_time()
    results = await asyncio.gather(*(worker(k) for k in range(TASKS)))
    cpu = time.process_time() - c0
    elapsed = time.perf_counter() - t0
    print("elapsed_s %.6f cpu_s %.6f checksum %d" % (elapsed, cpu, sum(results)), flush=True)


if __name__ == "__main__":
    if STREAM:
        asyncio.run(stream(float(sys.argv[2]), sys.argv[3]))
    else:
        asyncio.run(main())
