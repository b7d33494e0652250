"""Blocking work shared by the benchmark's server targets, with ground truth.

Imported by ``aiohttp_app.py`` and ``fastapi_app.py`` (beside it).  The truth
is recorded exactly as the fixtures do it, with ``fixtures/truth.py``: the
blocking statement sits on the same physical line as ``with truth.block()``,
directly in the body of the function a detector should name (see
fixtures/README.md, "How a block is recorded").

Every blocking kind takes its length in milliseconds from the request
(``?ms=``).  Work that is not a sleep is calibrated once at start-up (a
per-millisecond unit), so the load generator can ask for blocks of
different lengths; the truth records what each block really took.

Sync helpers defined here (expected culprit = the helper, at its line):

  load_profile_sync(ms)   time.sleep in a plain function
  render_report(n)        pure-Python CPU work through many small calls
                          (culprit at the loop line, not a leaf)
  compress_payload(n)     one long C call, zlib.compress level 9
  fetch_upstream(url)     urllib.request against a slow HTTP server on
                          127.0.0.1 that this module runs in a thread
                          (callee expected in socket.py)
  count_orders(n)         a heavy recursive-CTE sqlite3 query (in C)

The coroutine-body kinds (time.sleep and hashlib.pbkdf2_hmac written in the
handler itself) live in each app file, because the handler is the culprit.
"""
import os
import random
import sqlite3
import sys
import threading
import time
import urllib.request
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "fixtures"))
import truth  # noqa: E402

# Never through a proxy from the environment: loopback only.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

# ---------------------------------------------------------------- CPU helper


def _mix(acc, i):
    return (acc * 31 + i) & 0xFFFFFFFF


def _fold(acc):
    return (acc ^ (acc >> 7)) & 0xFFFFFFFF


def _spread(i):
    return (i * 2654435761) & 0xFFFF


@truth.culprit
def render_report(n, record=True):
    acc = 0
    with truth.block(next_line=True, record=record):
        for i in range(n): acc = _spread(i) ^ _fold(_mix(acc, i))  # noqa: E701
    return acc


# ---------------------------------------------------------------- sleep helper


@truth.culprit
def load_profile_sync(ms):
    with truth.block(): time.sleep(ms / 1000.0)
    return ms


# ---------------------------------------------------------------- C call


_CHUNK = 1 << 14
_BIG = b""


def _text(n):
    """n bytes of text-like data that zlib level 9 works hard on (deterministic).

    One 1 MiB block of random words, repeated: zlib's window is 32 KiB, so a
    repeat 1 MiB back is as much work as fresh text, and it is quick to make.
    """
    rnd = random.Random(1234)
    words = [bytes(rnd.choice(b"abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(2, 9)))
             for _ in range(4000)]
    block = b" ".join(rnd.choices(words, k=(1 << 20) // 4))[:1 << 20]
    return (block * (n // len(block) + 1))[:n]


def zlib_slice(chunks):
    """The first ``chunks`` x 16 KiB of one long deterministic text (a view, no copy)."""
    global _BIG
    need = max(1, int(chunks)) * _CHUNK
    if len(_BIG) < need:
        _BIG = _text(max(need, 2 * len(_BIG)))
    return memoryview(_BIG)[:need]


@truth.culprit
def compress_payload(data, record=True):
    with truth.block(record=record): packed = zlib.compress(data, 9)
    return len(packed)


# ---------------------------------------------------------------- sqlite

QUERY = (
    "WITH RECURSIVE seq(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM seq WHERE x < ?) "
    "SELECT count(*), sum(x % 7), max(x * 3 % 1000) FROM seq"
)
_CONN = None


@truth.culprit
def count_orders(n, record=True):
    with truth.block(record=record): row = _CONN.execute(QUERY, (n,)).fetchone()
    return row[0]


# ---------------------------------------------------------------- urllib


class _SlowHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self):
        q = parse_qs(urlsplit(self.path).query)
        time.sleep(float(q.get("ms", ["10"])[0]) / 1000.0)
        body = b"upstream ok\n"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


UPSTREAM = None


@truth.culprit
def fetch_upstream(url):
    with truth.block(callee_file="socket.py"): body = _OPENER.open(url, timeout=10).read()
    return len(body)


def upstream_url(ms):
    return "%s/slow?ms=%d" % (UPSTREAM, ms)


# ---------------------------------------------------------------- set-up

UNITS = {}  # kind -> work units per millisecond


def _hash_work(n, record=False):
    import hashlib
    hashlib.pbkdf2_hmac("sha256", b"hunter2", b"bench-salt", max(1, n))


def setup():
    """Calibrate the work units and start the slow upstream (before the loop runs)."""
    global _CONN, UPSTREAM
    _CONN = sqlite3.connect(":memory:", check_same_thread=False)
    target = 0.04  # calibrate on 40 ms blocks, then scale linearly per ms
    UNITS["cpu"] = truth.calibrate(lambda n: render_report(n, record=False), target, n=1000) / 40.0
    UNITS["zlib"] = truth.calibrate(lambda n: compress_payload(zlib_slice(n), record=False), target, n=1) / 40.0
    UNITS["sqlite"] = truth.calibrate(lambda n: count_orders(n, record=False), target, n=10000) / 40.0
    UNITS["hash"] = truth.calibrate(_hash_work, target, n=1000) / 40.0
    zlib_slice(UNITS["zlib"] * 1000)  # text for blocks up to 1 s, made now, not mid-request
    server = ThreadingHTTPServer(("127.0.0.1", 0), _SlowHandler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="slow-upstream", daemon=True).start()
    UPSTREAM = "http://127.0.0.1:%d" % server.server_address[1]


def units(kind, ms):
    return max(1, int(UNITS[kind] * ms))


def zlib_data(ms):
    return zlib_slice(max(1, int(round(UNITS["zlib"] * ms))))


def run_kind(kind, ms):
    """Run one sync-helper kind (the caller is a request handler on the loop)."""
    if kind == "helper":
        return load_profile_sync(ms)
    if kind == "cpu":
        return render_report(units("cpu", ms))
    if kind == "zlib":
        return compress_payload(zlib_data(ms))
    if kind == "sqlite":
        return count_orders(units("sqlite", ms))
    if kind == "urllib":
        return fetch_upstream(upstream_url(ms))
    raise ValueError(kind)


HELPER_KINDS = ("helper", "cpu", "zlib", "sqlite", "urllib")
