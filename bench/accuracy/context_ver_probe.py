"""Probe: does PyThreadState.context_ver tell back-to-back callbacks apart?

    PYTHONPATH=<dir with uvloop> python context_ver_probe.py [asyncio|uvloop]

Runs three tasks one after another and, inside each (with ctypes, in-process:
this is evidence for a detector change, not part of the benchmark), reads the
thread state's ``context`` pointer and the ``context_ver`` counter beside it:
at the start of the task's step, after a ``ContextVar.set``, and after a
nested ``Context.run``. The offset of ``context`` is found by scanning the
thread state for the address of a Context being run. Seen on 3.8-3.15, both
loops: the Context pointer is reused between tasks (freed and reallocated),
``context_ver`` differs at every callback, ``ContextVar.set`` leaves it alone
and a nested ``Context.run`` adds 2. See docs/benchmarks.md, "Where aelm falls
short", section 1.
"""
import asyncio
import contextvars
import ctypes
import sys

ctypes.pythonapi.PyThreadState_Get.restype = ctypes.c_void_p
OFF = None
cv = contextvars.ContextVar("probe")
log = []


def ts():
    return ctypes.pythonapi.PyThreadState_Get()


def find_offset():
    global OFF
    ctx = contextvars.Context()

    def probe():
        global OFF
        base = ts()
        for off in range(0, 1024, 8):
            if ctypes.c_void_p.from_address(base + off).value == id(ctx):
                OFF = off
                return

    ctx.run(probe)


def ver():
    return ctypes.c_uint64.from_address(ts() + OFF + 8).value


def ctxp():
    return ctypes.c_void_p.from_address(ts() + OFF).value


async def job(i):
    a = (ver(), ctxp())
    cv.set(i)
    b = (ver(), ctxp())
    contextvars.copy_context().run(lambda: None)
    c = (ver(), ctxp())
    log.append((i, a, b, c))


async def main():
    await asyncio.sleep(0)
    for i in range(3):
        await asyncio.ensure_future(job(i))


if __name__ == "__main__":
    find_offset()
    if OFF is None:
        sys.exit("could not find ts->context")
    kind = sys.argv[1] if len(sys.argv) > 1 else "asyncio"
    if kind == "uvloop":
        import uvloop
        loop = uvloop.new_event_loop()
    else:
        loop = asyncio.new_event_loop()
    loop.run_until_complete(main())
    loop.close()
    print(sys.version.split()[0], kind, "offset of context in PyThreadState:", OFF)
    for i, a, b, c in log:
        print(" task %d: at step start ver=%d ctx=%#x | after ContextVar.set ver=%d ctx=%#x"
              " | after ctx.run ver=%d ctx=%#x" % (i, a[0], a[1], b[0], b[1], c[0], c[1]))
