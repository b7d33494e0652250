"""Benchmark target: an asyncio loop that blocks for 30-60 ms every ~200 ms.

One task loops: it awaits ``asyncio.sleep`` for 150-250 ms (the loop idle),
then calls ``crunch``, a synchronous function that spins in pure Python for
30-60 ms of wall time (so a block lasts that long even when the process is
preempted on a loaded machine; it then burns less CPU). Durations are drawn
from a generator seeded with the pid.

Ground truth: with TRUTH given, one line per block, written and flushed
right after it: ``start end`` (``time.time()`` just before and after the
spin). TOKEN is ignored (the watch benchmark puts it on the command line for
``aelm watch --match``).

Usage: python periodic_blocks.py [TOKEN [TRUTH]]
Prints "ready PID" on stdout once the loop runs; runs until killed.
"""
import asyncio
import os
import random
import sys
import time

TRUTH = sys.argv[2] if len(sys.argv) > 2 else None


def crunch(seconds):
    """Pure-Python work for `seconds` of wall time, holding the loop."""
    deadline = time.monotonic() + seconds
    x = 1
    while time.monotonic() < deadline:
        for _ in range(100):
            x = (x * 1103515245 + 12345) & 0x7FFFFFFF
    return x


async def serve(rng, out):
    while True:
        await asyncio.sleep(rng.uniform(0.15, 0.25))
        start = time.time()
        crunch(rng.uniform(0.03, 0.06))
        end = time.time()
        if out:
            out.write("%.6f %.6f\n" % (start, end))
            out.flush()


async def main():
    out = open(TRUTH, "a") if TRUTH else None
    task = asyncio.ensure_future(serve(random.Random(os.getpid()), out))
    await asyncio.sleep(0)
    print("ready", os.getpid(), flush=True)
    await task


if __name__ == "__main__":
    asyncio.run(main())
