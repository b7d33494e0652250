#!/usr/bin/env bash
# aelm's test command (the README's, and CI's through .ci/run).
#
# On a fresh machine it installs what the tests need: Debian packages, the
# CPython interpreters 3.8-3.15 and their PyPI packages (through
# scripts/provision-pythons.sh, cached under ~/.cache/aelm), and the Rust
# crates (cargo). Then: format and lint checks, unit tests, and the
# end-to-end tests against real Python processes on every interpreter.
#
#   bash scripts/test.sh                 # everything
#   AELM_TEST_VERSIONS=3.11 bash scripts/test.sh   # one interpreter only
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v patchelf >/dev/null || need_apt+=(patchelf)
command -v setpriv >/dev/null || need_apt+=(util-linux)
command -v curl >/dev/null || need_apt+=(curl)
command -v tmux >/dev/null || need_apt+=(tmux)              # terminal tests
command -v prometheus >/dev/null || need_apt+=(prometheus)  # a real scraper for the metrics test
command -v chromium >/dev/null || need_apt+=(chromium)      # renders the HTML report in tests
if ((${#need_apt[@]})); then
  echo "test.sh: installing ${need_apt[*]}" >&2
  apt-get install -y -qq "${need_apt[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null && apt-get install -y -qq "${need_apt[@]}" >/dev/null; }
fi

# maturin builds the pip wheel (tests/packaging.rs).
python3 -m maturin --version >/dev/null 2>&1 ||
  python3 -m pip install -q --disable-pip-version-check maturin >&2

echo "== provisioning CPython interpreters" >&2
manifest=$(bash scripts/provision-pythons.sh)
export AELM_PYTHONS="$manifest"
echo "== interpreters under test:" >&2
cut -f1,4 "$AELM_PYTHONS" | sed 's/^/   /' >&2

echo "== cargo fmt --check && cargo clippy" >&2
cargo fmt --check
cargo clippy --release --all-targets --quiet -- -D warnings

echo "== cargo test" >&2
status=0
# One test at a time: the machine has 2 cores and each test runs real
# processes under a sampler; parallel tests would measure the scheduler.
log=$(mktemp)
set +e
RUST_TEST_THREADS=1 cargo test --release --no-fail-fast 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
echo "== tested against CPython: $(cut -f1 "$AELM_PYTHONS" | tr '\n' ' ')${AELM_TEST_VERSIONS:+(narrowed to $AELM_TEST_VERSIONS)}" >&2
# One closing line over every test binary.
passed=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i+1) ~ /^passed/) s += $i } END { print s + 0 }' "$log")
failed=$(awk '/^test result:/ { for (i = 1; i < NF; i++) if ($(i+1) ~ /^failed/) s += $i } END { print s + 0 }' "$log")
rm -f "$log"
echo "tests: ${passed:-0} passed, ${failed:-0} failed"
exit "$status"
