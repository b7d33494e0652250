"""Benchmark target: an asyncio loop with nothing to do.

The loop runs (``asyncio.run``) and waits on an event that is never set, so
the main thread sits in the selector's ``epoll_wait`` -- an idle service
between requests. Any arguments are ignored (the watch benchmark puts a token
on the command line for ``aelm watch --match``).

Usage: python idle_loop.py [TOKEN]
Prints "ready PID" on stdout once the loop runs; runs until killed.
"""
import asyncio
import os


async def main():
    print("ready", os.getpid(), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main())
