"""Benchmark target: an aiohttp server whose handlers block the loop, with truth.

    python aiohttp_app.py --loop asyncio|uvloop

Serves on 127.0.0.1 (a port the kernel picks; the URL is in the ``ready``
truth line) through ``aiohttp.web.run_app`` (with ``--loop uvloop``:
``loop=uvloop.new_event_loop()``).  Endpoints, each taking ``?ms=N``:

  /fast     returns at once
  /await    awaits asyncio.sleep(ms): not a block
  /sleep    handle_sleep: time.sleep in the handler's own body
  /hash     handle_hash: hashlib.pbkdf2_hmac (one long C call) in the body
  /helper /cpu /zlib /sqlite /urllib
            handle_work calls the sync helper of that kind in work.py, which
            is the expected culprit (see work.py)

Ground truth (AELM_TRUTH) as in fixtures/truth.py.  BENCH_MONITOR switches an
in-process peer on (inproc.py).  SIGTERM/SIGINT exit at once, status 0.
"""
import argparse
import asyncio
import hashlib
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import work  # noqa: E402  (puts fixtures/ on sys.path)
import inproc  # noqa: E402
import truth  # noqa: E402

try:
    from aiohttp import web
except ImportError:
    web = None

URL = None


def _ms(request):
    return float(request.query.get("ms", "10"))


async def handle_fast(request):
    return web.Response(text="fast\n")


async def handle_await(request):
    await asyncio.sleep(_ms(request) / 1000.0)
    return web.Response(text="await\n")


@truth.culprit
async def handle_sleep(request):
    ms = _ms(request)
    with truth.block(): time.sleep(ms / 1000.0)
    return web.Response(text="sleep\n")


@truth.culprit
async def handle_hash(request):
    n = work.units("hash", _ms(request))
    with truth.block(): key = hashlib.pbkdf2_hmac("sha256", b"hunter2", b"bench-salt", n)
    return web.Response(text="hash %s\n" % key.hex()[:8])


async def handle_work(request):
    kind = request.match_info["kind"]
    value = work.run_kind(kind, _ms(request))
    return web.Response(text="%s %s\n" % (kind, value))


async def on_startup(app):
    inproc.install()
    truth.ready(url=URL, monitor=inproc.MODE, units=work.UNITS)


def main():
    global URL
    parser = argparse.ArgumentParser()
    parser.add_argument("--loop", choices=("asyncio", "uvloop"), default="asyncio")
    args = parser.parse_args()
    if web is None:
        sys.stderr.write("aiohttp not available\n")
        sys.exit(4)
    loop = None
    if args.loop == "uvloop":
        try:
            import uvloop
        except ImportError:
            sys.stderr.write("uvloop not available\n")
            sys.exit(4)
        loop = uvloop.new_event_loop()
    work.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    URL = "http://127.0.0.1:%d" % sock.getsockname()[1]

    app = web.Application()
    app.router.add_get("/fast", handle_fast)
    app.router.add_get("/await", handle_await)
    app.router.add_get("/sleep", handle_sleep)
    app.router.add_get("/hash", handle_hash)
    app.router.add_get("/{kind:helper|cpu|zlib|sqlite|urllib}", handle_work)
    app.on_startup.append(on_startup)

    truth.install_signal_handlers()
    kwargs = dict(sock=sock, print=None, access_log=None, handle_signals=False)
    if loop is not None:
        kwargs["loop"] = loop
    web.run_app(app, **kwargs)


if __name__ == "__main__":
    main()
