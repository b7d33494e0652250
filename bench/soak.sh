#!/usr/bin/env bash
# Soak benchmark (issue 12; not a test): aelm at 10 kHz for SOAK_MINUTES
# (default 10) against a busy aiohttp server (fixtures/aiohttp_server.py)
# under a bounded loopback load (fixtures/aiohttp_load.py: 4 threads, a
# bounded number of requests, 127.0.0.1 only; the server and its client are
# stopped when the soak ends). Reports aelm's RSS at start, end and peak
# (from /proc), the end line's achieved_hz / missed_ticks / failed_samples /
# gaps, and aelm's blocks against the server's ground truth.
#
#   bash bench/soak.sh                      # 10 minutes
#   SOAK_MINUTES=3 bash bench/soak.sh
#   bash bench/soak.sh --report DIR          # analyse an earlier run again
#
# Environment: SOAK_MINUTES (10), SOAK_RATE (10000 Hz), SOAK_THRESHOLD_MS
# (20), SOAK_PYTHON (3.11 from the provisioning manifest, else python3),
# AELM (target/release/aelm, built if missing), SOAK_DIR (a temp dir; kept:
# aelm.jsonl, truth.jsonl, rss.tsv, report.json).
set -euo pipefail
cd "$(dirname "$0")/.."

report() {
  SOAK_DIR=$1 python3 - <<'EOF'
import collections, datetime, json, os
d = os.environ["SOAK_DIR"]
lines = [json.loads(l) for l in open(f"{d}/aelm.jsonl")]
truth = [json.loads(l) for l in open(f"{d}/truth.jsonl")]
rss = [l.split("\t") for l in open(f"{d}/rss.tsv").read().split("\n")[1:] if l]
start = next(l for l in lines if l["type"] == "start")
end = next(l for l in lines if l["type"] == "end")
found = [l for l in lines if l["type"] == "block" and l["state"] == "ended"]
tb = [e for e in truth if e["event"] == "block"]
# Only truth blocks that ended while aelm watched count.
t_first = min((e["start"] for e in tb), default=0)
def epoch(s):
    return datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
spans = [(epoch(b["time"]), epoch(b["time"]) + b["duration_ms"] / 1000, b) for b in found]
last_seen = max((e for _, e, _ in spans), default=0)
tb = [t for t in tb if t["end"] <= last_seen + 0.5]
used, hits, merged, wrong = set(), 0, 0, 0
for t in tb:
    cover = [i for i, (s, e, b) in enumerate(spans)
             if b["tid"] == t["tid"] and min(e, t["end"]) - max(s, t["start"]) > 0.5 * (t["end"] - t["start"])]
    if not cover:
        continue
    hits += 1
    i = cover[0]
    if i in used:
        merged += 1  # one block spans back-to-back truth blocks (memory reuse)
        continue
    used.add(i)
    c = spans[i][2]["culprit"]
    if c["function"] != t["function"].rsplit(".", 1)[-1] or c["line"] != t["line"]:
        wrong += 1
# Reported blocks that match no truth block: a fragment of a real block
# (split at a sampling gap) when it overlaps one, else invented.
unmatched = [i for i in range(len(spans)) if i not in used]
def overlaps_any(i):
    s, e, b = spans[i]
    return any(t["tid"] == b["tid"] and min(e, t["end"]) > max(s, t["start"]) for t in tb)
fragments = [i for i in unmatched if overlaps_any(i)]
invented = len(unmatched) - len(fragments)
kb = [int(r[1]) for r in rss if int(r[1]) > 0]
report = {
    "minutes": round(int(rss[-1][0]) / 60, 1) if rss else None,
    "rate_hz": 1e6 / start["interval_us"],
    "rss_kb_start": kb[0] if kb else None,
    "rss_kb_end": kb[-1] if kb else None,
    "rss_kb_peak": max(kb) if kb else None,
    "achieved_hz": end.get("achieved_hz"),
    "samples": end.get("samples"),
    "missed_ticks": end.get("missed_ticks"),
    "failed_samples": end.get("failed_samples"),
    "gaps": end.get("gaps"),
    "truth_blocks": len(tb),
    "found": hits,
    "missed": len(tb) - hits,
    "merged_back_to_back": merged,
    "culprit_wrong": wrong,
    "fragments_of_split_blocks": len(fragments),
    "invented": invented,
    "reported_blocks": len(found),
    "invented_culprits": dict(collections.Counter(
        f'{spans[i][2]["culprit"]["qualname"]} ({spans[i][2]["duration_ms"]:.0f} ms)'
        for i in unmatched if i not in fragments).most_common(8)),
    "rss_kb_each_minute": [int(r[1]) for r in rss if int(r[0]) % 60 < 10],
}
json.dump(report, open(f"{d}/report.json", "w"), indent=1)
print(json.dumps(report, indent=1))
EOF
}

if [[ ${1:-} == --report ]]; then
  # Re-analyse an earlier run: bash bench/soak.sh --report DIR
  report "$2"
  exit
fi

minutes=${SOAK_MINUTES:-10}
rate=${SOAK_RATE:-10000}
threshold=${SOAK_THRESHOLD_MS:-20}
dir=${SOAK_DIR:-$(mktemp -d /tmp/aelm-soak.XXXXXX)}
mkdir -p "$dir"
aelm=${AELM:-target/release/aelm}
if [[ ! -x $aelm ]]; then
  cargo build --release --quiet
fi
manifest=${AELM_PYTHONS:-${AELM_CACHE:-$HOME/.cache/aelm}/pythons.tsv}
py=${SOAK_PYTHON:-}
pypath=
if [[ -z $py && -f $manifest ]]; then
  py=$(awk -F'\t' '$1 ~ /^3\.11\./ {print $2; exit}' "$manifest")
  pypath=$(awk -F'\t' '$1 ~ /^3\.11\./ {print $3; exit}' "$manifest")
fi
py=${py:-python3}

# Requests: the load client lists them up front, so bound them by the
# soak's length (the server manages ~25 a second: 2 in 10 block for 100 ms,
# 2 in 10 run 100 ms of CPU).
requests=$((minutes * 60 * 40 + 1000))

echo "soak: $minutes min at $rate Hz, threshold $threshold ms, $py, results in $dir" >&2
rm -f "$dir"/truth.jsonl "$dir"/go "$dir"/aelm.jsonl
PYTHONPATH=$pypath AELM_TRUTH=$dir/truth.jsonl AELM_GO=$dir/go AELM_REQUESTS=$requests \
  PYTHONDONTWRITEBYTECODE=1 nice -n 10 "$py" fixtures/aiohttp_server.py --loop asyncio \
  >/dev/null 2>"$dir/server.err" &
server=$!
cleanup() {
  kill -TERM "$server" 2>/dev/null || true
  [[ -n ${aelm_pid:-} ]] && kill -TERM "$aelm_pid" 2>/dev/null || true
}
trap cleanup EXIT
for _ in $(seq 300); do
  grep -q '"ready"' "$dir/truth.jsonl" 2>/dev/null && break
  sleep 0.1
done
grep -q '"ready"' "$dir/truth.jsonl" || { echo "soak: the server never got ready" >&2; cat "$dir/server.err" >&2; exit 1; }

"$aelm" attach --pid "$server" --rate "$rate" --threshold-ms "$threshold" --format json \
  --output "$dir/aelm.jsonl" 2>"$dir/aelm.err" &
aelm_pid=$!
for _ in $(seq 300); do
  grep -q '"start"' "$dir/aelm.jsonl" 2>/dev/null && break
  sleep 0.1
done
touch "$dir/go"
rss() { awk '/^VmRSS:/ {print $2}' "/proc/$aelm_pid/status" 2>/dev/null || echo 0; }
cpu() { awk '{print $14 + $15}' "/proc/$aelm_pid/stat" 2>/dev/null || echo 0; }
printf 'seconds\trss_kb\tcpu_ticks\n' >"$dir/rss.tsv"
t0=$(date +%s)
end=$((t0 + minutes * 60))
while (($(date +%s) < end)); do
  printf '%s\t%s\t%s\n' $(($(date +%s) - t0)) "$(rss)" "$(cpu)" >>"$dir/rss.tsv"
  kill -0 "$aelm_pid" 2>/dev/null || { echo "soak: aelm died" >&2; cat "$dir/aelm.err" >&2; exit 1; }
  sleep 10
done
printf '%s\t%s\t%s\n' $(($(date +%s) - t0)) "$(rss)" "$(cpu)" >>"$dir/rss.tsv"
kill -TERM "$aelm_pid"
wait "$aelm_pid" || true
aelm_pid=
kill -TERM "$server" 2>/dev/null || true
wait "$server" 2>/dev/null || true

report "$dir"
