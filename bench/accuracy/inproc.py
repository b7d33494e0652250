"""The in-process peers, switched on inside a benchmark target by environment.

    BENCH_MONITOR=setprofile  asyncio-event-loop-monitor (PyPI): its
                              EventLoopMonitor, activated on the loop thread
                              (sys.setprofile is per thread), with a callback
                              that records each BlockingCallInfo
    BENCH_MONITOR=debug       asyncio debug mode: loop.set_debug(True) and
                              loop.slow_callback_duration; its
                              "Executing <...> took X seconds" warnings are
                              recorded from the "asyncio" logger
    BENCH_MONITOR unset/none  nothing
    BENCH_PEER_THRESHOLD_MS   the peer's threshold (default 10); the scorer
                              filters for higher thresholds, which gives the
                              same reports as running the peer at them
    BENCH_PEER_OUT            file for the peer's reports, one JSON line each,
                              with the wall-clock time the report was made
                              ("end": both peers report right after the call
                              or callback returned)

``install()`` must be called from a coroutine running on the loop.
"""
import json
import logging
import os
import threading
import time

MODE = os.environ.get("BENCH_MONITOR", "none") or "none"
THRESHOLD_MS = float(os.environ.get("BENCH_PEER_THRESHOLD_MS", "10") or 10)
_OUT_PATH = os.environ.get("BENCH_PEER_OUT") or None
_out = None
_lock = threading.Lock()
_monitor = None


def _write(obj):
    global _out
    if _OUT_PATH is None:
        return
    line = json.dumps(obj)
    with _lock:
        if _out is None:
            _out = open(_OUT_PATH, "a", buffering=1)
        _out.write(line + "\n")
        _out.flush()


def _on_blocking_call(info):
    # BlockingCallInfo: method_name, duration_ms, is_c_call. No time stamp and
    # no file/line: the call has just returned, so now is its end.
    _write({"peer": "setprofile", "end": time.time(), "name": info.method_name,
            "ms": info.duration_ms, "c_call": bool(info.is_c_call)})


class _DebugLogHandler(logging.Handler):
    def emit(self, record):
        try:
            msg = record.getMessage()
        except Exception:  # noqa: BLE001
            return
        if msg.startswith("Executing "):
            _write({"peer": "debug", "end": record.created, "msg": msg})


def install():
    """Switch the configured peer on, from the loop thread (inside the loop)."""
    global _monitor
    if MODE == "setprofile":
        from asyncio_event_loop_monitor import EventLoopMonitor
        _monitor = EventLoopMonitor(threshold_ms=THRESHOLD_MS, on_blocking_call=_on_blocking_call)
        _monitor.activate()
    elif MODE == "debug":
        import asyncio
        logger = logging.getLogger("asyncio")
        logger.addHandler(_DebugLogHandler())
        logger.setLevel(logging.WARNING)
        logger.propagate = False
        loop = asyncio.get_running_loop()
        loop.set_debug(True)
        loop.slow_callback_duration = THRESHOLD_MS / 1000.0
    elif MODE != "none":
        raise SystemExit("unknown BENCH_MONITOR=%r" % MODE)


def uninstall():
    if _monitor is not None:
        _monitor.deactivate()
