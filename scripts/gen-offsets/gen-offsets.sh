#!/usr/bin/env bash
# Regenerates src/python/direct/offsets_table.rs: the offsets of the CPython
# structures aelm's direct reader needs, for CPython 3.8-3.15, computed with
# offsetof/sizeof (offsets.c) against each version's own installed headers.
#
# usage: scripts/gen-offsets/gen-offsets.sh [3.X=/path/to/include/python3.X ...]
#
# Header directories, unless given on the command line:
#   3.8-3.13: ~/.pyenv/versions/3.X.*/include/python3.X (highest patch release)
#   3.14+:    ${AELM_CACHE:-~/.cache/aelm}/**/usr/include/python3.X, the
#             unpacked Debian libpython3.X-dev (scripts/provision-pythons.sh),
#             or GEN_OFFSETS_EXTRA_ROOTS (space-separated roots searched the same way)
# Needs a C compiler (cc). Every version must be found: the table is all or nothing.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="$repo/src/python/direct/offsets_table.rs"
cache="${AELM_CACHE:-$HOME/.cache/aelm}"
versions=(3.8 3.9 3.10 3.11 3.12 3.13 3.14 3.15)
declare -A given=()
for arg in "$@"; do given["${arg%%=*}"]="${arg#*=}"; done

find_include() {
    local v="$1" d
    if [[ -n "${given[$v]:-}" ]]; then echo "${given[$v]}"; return; fi
    d="$(ls -d "$HOME"/.pyenv/versions/"$v".[0-9]*/include/python"$v" 2>/dev/null | sort -V | tail -n1 || true)"
    if [[ -n "$d" ]]; then echo "$d"; return; fi
    for root in "$cache" ${GEN_OFFSETS_EXTRA_ROOTS:-}; do
        [[ -d "$root" ]] || continue
        d="$(find "$root" -path "*/usr/include/python$v/Python.h" 2>/dev/null | sort -V | tail -n1 || true)"
        if [[ -n "$d" ]]; then dirname "$d"; return; fi
    done
    return 1
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
{
    echo "//! Offsets of CPython's structures per minor version, generated from each"
    echo "//! version's own headers by scripts/gen-offsets/gen-offsets.sh (offsetof and"
    echo "//! sizeof in scripts/gen-offsets/offsets.c). Do not edit: rerun the script."
    echo "//! Each value's comment is its provenance: the C expression and the header."
    echo
    echo "use super::offsets::HeaderOffsets;"
    echo
    echo "/// (minor version, headers the entry was generated from, offsets)."
    echo "pub const TABLE: &[(u32, &str, HeaderOffsets)] = &["
    for v in "${versions[@]}"; do
        inc="$(find_include "$v")" || { echo "gen-offsets: no headers for $v" >&2; exit 1; }
        # Debian splits pyconfig.h into <triplet>/python3.X: the parent dir resolves it.
        cc -w -I"$inc" -I"$(dirname "$inc")" -o "$tmp/off$v" "$here/offsets.c"
        full="$(sed -n 's/^#define PY_VERSION[[:space:]]*"\(.*\)".*/\1/p' "$inc/patchlevel.h")"
        src="${inc/#$HOME/\~}"
        echo "    ("
        echo "        ${v#3.},"
        echo "        \"CPython $full headers: $src\","
        "$tmp/off$v" | sed 's/^/        /'
        echo "    ),"
    done
    echo "];"
} > "$tmp/table.rs"
mv "$tmp/table.rs" "$out"
if command -v rustfmt >/dev/null; then rustfmt --edition 2024 "$out" || true; fi
echo "wrote $out"
