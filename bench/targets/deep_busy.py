"""Benchmark target: an asyncio loop thread kept busy ~30 frames deep.

The main thread runs ``asyncio.run(main())``. ``main`` runs one task whose
coroutine awaits a chain of DEPTH coroutines (``level``), each awaiting the
next, down to a synchronous function (``spin``) that spins in pure Python,
calling a tiny leaf function (``step``) so the leaf frame changes as it would
in real code. With the asyncio machinery under the task (asyncio.run ->
Runner.run -> run_until_complete -> run_forever -> _run_once -> Handle._run
-> coroutine chain) the stack is about 30 frames deep.

Every SLICE_MS the chain returns to the loop (``await asyncio.sleep(0)``) and
goes back in, so the loop's blocks end and begin as they would in a real
program (aelm reports a ~SLICE_MS block each time) while the loop stays busy
nearly all the time.

With MODE ``sleep`` the leaf blocks in ``time.sleep`` instead of spinning:
the same stack, held for the same time, with no CPU burnt (many such
targets fit on a small machine: bench/sampler_cost.py's many-targets part).

Usage: python deep_busy.py [DEPTH] [SLICE_MS] [MODE]   (defaults 22, 100, spin)
Prints "ready PID" on stdout once the loop is busy; runs until killed.
"""
import asyncio
import os
import sys
import time

DEPTH = int(sys.argv[1]) if len(sys.argv) > 1 else 22
SLICE_S = (float(sys.argv[2]) if len(sys.argv) > 2 else 100.0) / 1000.0
SLEEP = len(sys.argv) > 3 and sys.argv[3] == "sleep"


def step(x):
    return (x * 1103515245 + 12345) & 0x7FFFFFFF


def spin(seconds):
    """Pure-Python busy work for `seconds` of wall time (sync, holds the loop)."""
    deadline = time.monotonic() + seconds
    x = 1
    while True:
        for _ in range(200):
            x = step(x)
        if time.monotonic() >= deadline:
            return x


async def level(n):
    if n == 0:
        if SLEEP:
            return time.sleep(SLICE_S)
        return spin(SLICE_S)
    return await level(n - 1)


async def busy():
    while True:
        await level(DEPTH - 1)
        await asyncio.sleep(0)


async def main():
    task = asyncio.ensure_future(busy())
    await asyncio.sleep(0)
    print("ready", os.getpid(), flush=True)
    await task


if __name__ == "__main__":
    asyncio.run(main())
