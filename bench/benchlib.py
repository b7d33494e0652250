"""Helpers shared by the benchmark scripts in bench/ (stdlib only): printing
sections and markdown tables, the machine's load, and the provisioned
interpreters (~/.cache/aelm/pythons.tsv, written by
scripts/provision-pythons.sh)."""
import os

PYTHONS_TSV = os.path.expanduser("~/.cache/aelm/pythons.tsv")


def say(*a):
    print(*a, flush=True)


_last_stat = [None]


def _cpu_stat():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    return sum(v), v[7] if len(v) > 7 else 0, v[3] + (v[4] if len(v) > 4 else 0)


def load():
    """Load average, and since the previous call: machine CPU busy % and steal %."""
    with open("/proc/loadavg") as f:
        la = " ".join(f.read().split()[:3])
    now = _cpu_stat()
    prev, _last_stat[0] = _last_stat[0], now
    if prev is None or now[0] - prev[0] < 50:  # too short a span to say
        if prev is not None:
            _last_stat[0] = prev
        return la
    tot = now[0] - prev[0]
    busy = 100.0 * (tot - (now[2] - prev[2])) / tot
    steal = 100.0 * (now[1] - prev[1]) / tot
    return "%s; since last: CPUs %.0f%% busy, steal %.1f%%" % (la, busy, steal)


def section(title):
    say("")
    say("=" * 78)
    say("%s    [load average %s]" % (title, load()))
    say("=" * 78)


def table(headers, rows):
    """Prints a markdown table, columns padded."""
    cols = [[str(h)] + [str(r[i]) for r in rows] for i, h in enumerate(headers)]
    widths = [max(len(c) for c in col) for col in cols]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    say(line([str(h) for h in headers]))
    say("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        say(line([str(c) for c in r]))


def pythons():
    """{"3.11": {"full": "3.11.7", "exe": path}, ...} of the provisioned interpreters."""
    out = {}
    with open(PYTHONS_TSV) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 2:
                ver = ".".join(parts[0].split(".")[:2])
                out[ver] = {"full": parts[0], "exe": parts[1]}
    return out
