"""Benchmark target: a FastAPI app under uvicorn on uvloop, with ground truth.

    python fastapi_app.py

Same endpoints and truth as aiohttp_app.py (see there), as FastAPI ``async
def`` path operations (they run on the loop; a plain ``def`` one would run in
a thread pool and block nothing), served by ``uvicorn.Server`` with
``loop="uvloop"`` on a socket bound to 127.0.0.1 beforehand.  uvicorn's
access log is off and its log level is warning.
"""
import asyncio
import contextlib
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
    import uvicorn
    from fastapi import FastAPI
    from fastapi.responses import PlainTextResponse
except ImportError as exc:
    sys.stderr.write("fastapi/uvicorn not available: %s\n" % exc)
    sys.exit(4)

URL = None


@contextlib.asynccontextmanager
async def lifespan(app):
    # uvicorn put its own SIGTERM/SIGINT handlers in (graceful shutdown):
    # ours exit at once with the truth flushed, as the fixtures do.
    truth.install_signal_handlers()
    inproc.install()
    truth.ready(url=URL, monitor=inproc.MODE, units=work.UNITS)
    yield


app = FastAPI(lifespan=lifespan)


@app.get("/fast", response_class=PlainTextResponse)
async def handle_fast():
    return "fast\n"


@app.get("/await", response_class=PlainTextResponse)
async def handle_await(ms: float = 10):
    await asyncio.sleep(ms / 1000.0)
    return "await\n"


@app.get("/sleep", response_class=PlainTextResponse)
@truth.culprit
async def handle_sleep(ms: float = 10):
    with truth.block(): time.sleep(ms / 1000.0)
    return "sleep\n"


@app.get("/hash", response_class=PlainTextResponse)
@truth.culprit
async def handle_hash(ms: float = 10):
    n = work.units("hash", ms)
    with truth.block(): key = hashlib.pbkdf2_hmac("sha256", b"hunter2", b"bench-salt", n)
    return "hash %s\n" % key.hex()[:8]


@app.get("/{kind}", response_class=PlainTextResponse)
async def handle_work(kind: str, ms: float = 10):
    if kind not in work.HELPER_KINDS:
        return PlainTextResponse("no such endpoint\n", status_code=404)
    value = work.run_kind(kind, ms)
    return "%s %s\n" % (kind, value)


def main():
    global URL
    try:
        import uvloop  # noqa: F401
    except ImportError:
        sys.stderr.write("uvloop not available\n")
        sys.exit(4)
    work.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    URL = "http://127.0.0.1:%d" % sock.getsockname()[1]
    config = uvicorn.Config(app, loop="uvloop", lifespan="on", log_level="warning",
                            access_log=False)
    server = uvicorn.Server(config)
    truth.install_signal_handlers()
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
