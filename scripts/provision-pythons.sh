#!/usr/bin/env bash
# Provision the CPython interpreters aelm is tested against (3.8-3.15), each
# with a private package dir holding uvloop, aiohttp, pytest, pytest-asyncio,
# uvicorn, nest_asyncio and greenlet.
#
#   scripts/provision-pythons.sh [--only 3.11,3.14] [--refresh]
#
# Everything lives under ${AELM_CACHE:-$HOME/.cache/aelm}, outside the repo:
#   python3.14/, python3.15/   private roots unpacked from Debian sid packages
#                              (interpreter at ROOT/usr/bin/python3.X, headers
#                              incl. internal/ at ROOT/usr/include/python3.X),
#                              and ROOT/usr/bin/python3.X-shared: the same
#                              interpreter linked to libpython3.X.so
#   site/3.X/site-packages/    per-interpreter package dir, for PYTHONPATH (named
#                              site-packages so that aelm sees it as installed code)
#   pythons.tsv                manifest: VERSION EXECUTABLE PYTHONPATH_DIR PKGS
#   sid/, wheels/, logs/       apt state and downloads, pip wheel, logs
#
# 3.8-3.13 come from pyenv (~/.pyenv/versions); nothing can be downloaded for
# them. 3.14/3.15 come from sid's binary packages (see "Python versions" in
# the spec). Re-runs reuse what is there and take a few seconds; --refresh
# re-fetches sid packages and reinstalls the package dirs.
#
# stdout: the manifest path only. Everything else goes to stderr.
# Exit status: non-zero if 3.11, 3.14 or 3.15 (when selected) is unusable,
# except that 3.14/3.15 are only warned about when sid cannot be reached.
set -euo pipefail

CACHE=${AELM_CACHE:-$HOME/.cache/aelm}
PYENV_VERSIONS=${PYENV_ROOT:-$HOME/.pyenv}/versions
ALL_VERSIONS=(3.8 3.9 3.10 3.11 3.12 3.13 3.14 3.15)
SID_VERSIONS=" 3.14 3.15 "
REQUIRED=(3.11 3.14 3.15)
# PyPI distribution names and the module each one provides (same order).
PKGS=(uvloop aiohttp pytest pytest-asyncio uvicorn nest_asyncio greenlet)
MODS=(uvloop aiohttp pytest pytest_asyncio uvicorn nest_asyncio greenlet)
# sid libraries the sid interpreters and their extension modules link against
# (found with readelf on usr/bin/python3.X and lib-dynload/*.so). libmpdec is
# not needed: Debian's _decimal uses the bundled copy. libdb (dbm.ndbm) is left
# out on purpose.
SID_LIBS=(libc6 libgcc-s1 zlib1g libexpat1 libffi8 liblzma5 libbz2-1.0 libzstd1
          libssl3t64 libsqlite3-0 libuuid1 libncursesw6 libtinfo6 libreadline8t64)
# What a sid root must import to count as working.
SMOKE='import sys, asyncio, ssl, sqlite3, hashlib, json, ctypes, uuid, decimal, zlib, lzma, bz2, readline'

ONLY="" REFRESH=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --only) ONLY=${2:?--only needs a list such as 3.11,3.14}; shift 2 ;;
    --only=*) ONLY=${1#--only=}; shift ;;
    --refresh) REFRESH=1; shift ;;
    -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "provision-pythons: unknown argument: $1" >&2; exit 2 ;;
  esac
done

SELECTED=()
if [[ -n $ONLY ]]; then
  IFS=, read -r -a SELECTED <<<"$ONLY"
  for v in "${SELECTED[@]}"; do
    [[ " ${ALL_VERSIONS[*]} " == *" $v "* ]] || { echo "provision-pythons: unsupported version '$v' (want one of ${ALL_VERSIONS[*]})" >&2; exit 2; }
  done
else
  SELECTED=("${ALL_VERSIONS[@]}")
fi

say() { echo "provision-pythons: $*" >&2; }

mkdir -p "$CACHE/logs" "$CACHE/site" "$CACHE/wheels"
LOG=$CACHE/logs/provision.log
: >"$LOG"
# Two runs at once (e.g. parallel test jobs) must not rebuild the same root.
exec 9>"$CACHE/.lock"
flock 9

# Run an interpreter with a clean Python environment, from / so that nothing
# in the caller's cwd shadows a module.
run_py() { (cd / && env -u PYTHONPATH -u PYTHONHOME -u PYTHONSTARTUP "$@"); }

# Full version (e.g. 3.14.10), memoised: each call starts an interpreter.
declare -A FULLV=()
full_version() {
  [[ -n ${FULLV[$1]:-} ]] || FULLV[$1]=$(run_py "$1" -c 'import platform; print(platform.python_version())')
  echo "${FULLV[$1]}"
}

# ---------------------------------------------------------------- pyenv 3.8-3.13
# Newest patch release of a minor, e.g. 3.11 -> .../3.11.7/bin/python3.11.
# Functions below return results in globals (PY_EXE, SITE_OK), not on stdout,
# so they run in this shell and their state (e.g. SID_APT_OK) is kept.
pyenv_python() {
  local m=$1 best
  # Only plain X.Y.Z dirs: not 3.13.0t (free-threaded) or 3.12-dev.
  best=$(printf '%s\n' "$PYENV_VERSIONS/$m".* | sed 's|.*/||' | grep -E "^${m//./\\.}\.[0-9]+$" | sort -V | tail -n 1 || true)
  [[ -n $best && -x $PYENV_VERSIONS/$best/bin/python$m ]] || return 1
  run_py "$PYENV_VERSIONS/$best/bin/python$m" -c 'import asyncio' 2>>"$LOG" || return 1
  PY_EXE=$PYENV_VERSIONS/$best/bin/python$m
}

# ---------------------------------------------------------------- sid 3.14/3.15
SID=$CACHE/sid
# Private apt configuration: our own sources list, lists, and cache, so the
# system's apt sources and state are never touched. The system's apt.conf.d is
# still read on purpose (it may carry the proxy settings apt needs here).
APT_OPTS=(
  -o Dir::Etc::SourceList="$SID/sid.sources"
  -o Dir::Etc::SourceParts=/dev/null
  -o Dir::State::Lists="$SID/lists"
  -o Dir::Cache="$SID/cache"
  -o Dir::State::status=/dev/null
  -o APT::Architectures=amd64
  -o APT::Sandbox::User=root
  -o Acquire::Languages=none
  -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false
)
sid_apt() { apt-get -q "${APT_OPTS[@]}" "$@"; }

SID_UPDATED=0 SID_APT_OK=1
sid_update() {
  [[ $SID_UPDATED == 1 ]] && return "$((1 - SID_APT_OK))"
  SID_UPDATED=1
  mkdir -p "$SID/lists/partial" "$SID/cache/archives/partial"
  cat >"$SID/sid.sources" <<'EOF'
Types: deb
URIs: http://deb.debian.org/debian
Suites: sid
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  say "apt-get update (private sid list)"
  # --error-on=any: a failed fetch is otherwise only a warning (exit 0).
  if ! sid_apt update --error-on=any >>"$LOG" 2>&1; then
    SID_APT_OK=0
    say "cannot update the sid package list (see $LOG)"
    return 1
  fi
}

# patchelf rewrites the sid binary's loader and library path.
ensure_patchelf() {
  command -v patchelf >/dev/null && return 0
  say "installing patchelf"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q patchelf >>"$LOG" 2>&1 ||
    { apt-get update -q >>"$LOG" 2>&1 && apt-get install -y -q patchelf >>"$LOG" 2>&1; }
}

# A sid root is reused when it was built for this very path (the loader path
# is baked into the binary) and it still imports the stdlib smoke set.
sid_root_ok() {
  local root=$1 v=$2
  [[ -f $root/.aelm-root && $(<"$root/.aelm-root") == "$root" ]] &&
    run_py "$root/usr/bin/python$v" -c "$SMOKE" 2>>"$LOG"
}

sid_python() {
  local v=$1 root=$CACHE/python$1
  local exe=$root/usr/bin/python$v
  if [[ $REFRESH == 0 ]] && sid_root_ok "$root" "$v"; then PY_EXE=$exe; return 0; fi

  sid_update || return 1
  ensure_patchelf || { say "$v: patchelf is missing and could not be installed"; return 1; }

  # Download into a clean per-version dir so only one version of each package
  # is unpacked. -dev brings the headers (incl. internal/) for other tools.
  local debs=$SID/debs/$v p
  local pkgs=("python$v-minimal" "libpython$v-minimal" "libpython$v-stdlib" "libpython$v-dev" "${SID_LIBS[@]}")
  rm -rf "$debs"; mkdir -p "$debs"
  say "$v: downloading ${#pkgs[@]} sid packages"
  if ! (cd "$debs" && sid_apt download "${pkgs[@]}") >>"$LOG" 2>&1; then
    # One name may have changed in sid: fetch one by one, and give up only if
    # the interpreter itself or libc is missing.
    for p in "${pkgs[@]}"; do
      (cd "$debs" && sid_apt download "$p") >>"$LOG" 2>&1 && continue
      case $p in
        "python$v-minimal"|"libpython$v-minimal"|"libpython$v-stdlib"|libc6)
          say "$v: sid has no package $p"; return 1 ;;
        *) say "$v: warning: could not download $p from sid" ;;
      esac
    done
  fi

  # Unpack beside the final root, patch, then swap it in. The patched paths
  # point at the final root, so the smoke test runs after the move.
  local tmp=$root.tmp d
  rm -rf "$tmp"; mkdir -p "$tmp"
  for d in "$debs"/*.deb; do dpkg -x "$d" "$tmp" || { say "$v: dpkg -x $d failed"; return 1; }; done
  # Private loader + private libs. --force-rpath writes DT_RPATH (not RUNPATH),
  # which also applies to extension modules such as _ssl loaded later. sid is
  # merged-/usr, so everything is under usr/lib; ROOT/lib is not needed.
  patchelf --set-interpreter "$root/usr/lib64/ld-linux-x86-64.so.2" \
    --force-rpath --set-rpath "$root/usr/lib/x86_64-linux-gnu" "$tmp/usr/bin/python$v" ||
    { say "$v: patchelf failed"; return 1; }
  echo "$root" >"$tmp/.aelm-root"
  rm -rf "$root"; mv "$tmp" "$root"
  # The binary sits at ROOT/usr/bin, so sys.prefix resolves to ROOT/usr and
  # the stdlib is found without PYTHONHOME.
  if ! run_py "$exe" -c "$SMOKE" 2>>"$LOG"; then
    say "$v: the unpacked interpreter fails: $SMOKE (see $LOG)"; return 1
  fi
  PY_EXE=$exe
}

# ---------------------------------------------------------------- packages
HOST_PIP=()
# The same interpreter linked to a shared libpython (`Py_ENABLE_SHARED`, as
# the official Docker images build it: /usr/local/bin/python3 is a small
# launcher and the interpreter lives in libpython3.X.so, so _PyRuntime and
# the main thread's state are in the library's data, not the binary's):
# ROOT/usr/bin/python$v-shared, made from sid's libpython$v and a
# three-line launcher. For the test of attaching to such a build; a
# failure here only loses that test's target for this version.
sid_shared() {
  local v=$1 root=$CACHE/python$1
  local exe=$root/usr/bin/python$v-shared lib=$root/usr/lib/x86_64-linux-gnu
  local check='import sys, sysconfig; sys.exit(sysconfig.get_config_var("Py_ENABLE_SHARED") != 1)'
  if [[ $REFRESH == 0 && -x $exe ]] && run_py "$exe" -c "$check" 2>>"$LOG"; then return 0; fi
  command -v cc >/dev/null || { say "$v: no C compiler (cc): python$v-shared not built"; return 1; }
  sid_update || return 1
  ensure_patchelf || { say "$v: patchelf is missing: python$v-shared not built"; return 1; }
  local debs=$SID/debs/$v-shared
  rm -rf "$debs"; mkdir -p "$debs"
  if ! (cd "$debs" && sid_apt download "libpython$v") >>"$LOG" 2>&1; then
    say "$v: sid has no package libpython$v: python$v-shared not built"; return 1
  fi
  dpkg -x "$debs"/libpython"$v"_*.deb "$root" || { say "$v: dpkg -x libpython$v failed"; return 1; }
  printf '#include <Python.h>\nint main(int argc, char **argv) { return Py_BytesMain(argc, argv); }\n' >"$debs/main.c"
  # The library's own needs (sid's libc, libexpat) are met at run time by
  # sid's loader and libraries (rpath below), not by this machine's.
  if ! cc -O2 -I"$root/usr/include" -I"$root/usr/include/python$v" "$debs/main.c" -o "$exe.tmp" \
       -L"$lib" -l:"libpython$v.so.1.0" -Wl,--unresolved-symbols=ignore-in-shared-libs >>"$LOG" 2>&1; then
    say "$v: could not build python$v-shared (see $LOG)"; return 1
  fi
  patchelf --set-interpreter "$root/usr/lib64/ld-linux-x86-64.so.2" \
    --force-rpath --set-rpath "$lib" "$exe.tmp" || { say "$v: patchelf failed on python$v-shared"; return 1; }
  mv "$exe.tmp" "$exe"
  if ! run_py "$exe" -c "$SMOKE" 2>>"$LOG" || ! run_py "$exe" -c "$check" 2>>"$LOG"; then
    say "$v: python$v-shared does not work (see $LOG)"; rm -f "$exe"; return 1
  fi
  say "$v: built python$v-shared (libpython$v.so)"
}

# The machine's pip: python3's, or else the newest pyenv one that has pip.
host_pip() {
  [[ ${#HOST_PIP[@]} -gt 0 ]] && return 0
  local c
  for c in python3 $(ls -1d "$PYENV_VERSIONS"/3.*/bin/python3 2>/dev/null | sort -rV || true); do
    if run_py "$c" -m pip --version >/dev/null 2>&1; then HOST_PIP=("$c" -m pip); return 0; fi
  done
  return 1
}

# pip is run by the target interpreter itself, not cross-installed by the
# host pip with --python-version/--platform: the host pip evaluates environment
# markers for the host's Python, so e.g. 3.8 would miss exceptiongroup and
# async-timeout (seen). Run by the target, pip gets markers and wheel tags
# right and falls back by itself to the newest release that has a wheel for
# that Python. pyenv interpreters have their own pip; the sid ones get a pip
# wheel (fetched once by the machine's pip) put on PYTHONPATH.
pip_cmd() {
  local exe=$1 whl
  if run_py "$exe" -m pip --version >/dev/null 2>&1; then
    PIP=(env PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 "$exe" -m pip); return 0
  fi
  whl=$(ls -1 "$CACHE"/wheels/pip-*.whl 2>/dev/null | sort -V | tail -n 1 || true)
  if [[ -z $whl || $REFRESH == 1 && -z ${PIP_WHEEL_FETCHED:-} ]]; then
    host_pip || { say "no pip on this machine to fetch a pip wheel with"; return 1; }
    rm -f "$CACHE"/wheels/pip-*.whl
    "${HOST_PIP[@]}" download -q --disable-pip-version-check --no-deps --only-binary=:all: \
      -d "$CACHE/wheels" pip >>"$LOG" 2>&1 || { say "could not fetch a pip wheel"; return 1; }
    PIP_WHEEL_FETCHED=1
    whl=$(ls -1 "$CACHE"/wheels/pip-*.whl | sort -V | tail -n 1)
  fi
  PIP=(env PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONPATH="$whl" "$exe" -m pip)
}

# Did pip fail to reach the index (as opposed to finding no suitable wheel)?
pip_offline() { grep -qE 'Retrying|NewConnectionError|ConnectTimeout|Max retries|name resolution|ProxyError' "$1"; }

# Which of MODS import with this interpreter and dir on PYTHONPATH (comma list).
importable() {
  local exe=$1 dir=$2
  (cd / && env -u PYTHONHOME PYTHONPATH="$dir" "$exe" - "${MODS[@]}" 2>>"$LOG" <<'PY'
import importlib, sys
ok = []
for m in sys.argv[1:]:
    try:
        importlib.import_module(m)
        ok.append(m)
    except Exception as e:
        print("import %s: %s: %s" % (m, type(e).__name__, e), file=sys.stderr)
print(",".join(ok))
PY
  ) || true
}

# Fill CACHE/site/V; sets SITE_OK to the importable modules. A stamp (interpreter
# version + wanted packages + what imported) lets re-runs skip pip.
site_dir() {
  local v=$1 exe=$2 dir=$CACHE/site/$1/site-packages want got p pip_log
  full_version "$exe" >/dev/null  # fill the memo in this shell
  want="$(full_version "$exe") ${PKGS[*]}"
  if [[ $REFRESH == 0 && -f $dir/.aelm-stamp && $(sed -n 1p "$dir/.aelm-stamp") == "$want" ]]; then
    got=$(importable "$exe" "$dir")
    if [[ $got == "$(sed -n 2p "$dir/.aelm-stamp")" ]]; then SITE_OK=$got; return 0; fi
  fi
  rm -rf "$dir"; mkdir -p "$dir"
  pip_log=$CACHE/logs/pip-$v.log; : >"$pip_log"
  local -a PIP
  if pip_cmd "$exe"; then
    say "$v: pip install ${PKGS[*]}"
    # --only-binary: never build from source (no compiler setup assumed, and
    # slow). All at once first; if one has no wheel, the rest one by one.
    if ! run_py "${PIP[@]}" install --target "$dir" --only-binary=:all: "${PKGS[@]}" >>"$pip_log" 2>&1; then
      if pip_offline "$pip_log"; then
        say "$v: pip could not reach the package index (see $pip_log)"
      else
        for p in "${PKGS[@]}"; do
          run_py "${PIP[@]}" install --target "$dir" --only-binary=:all: "$p" >>"$pip_log" 2>&1 ||
            say "$v: no installable wheel for $p (see $pip_log)"
        done
      fi
    fi
  fi
  got=$(importable "$exe" "$dir")
  # Remember the result (a package with no wheel for this Python is not
  # retried until --refresh) unless pip could not reach the index: then the
  # next run tries again.
  pip_offline "$pip_log" || printf '%s\n%s\n' "$want" "$got" >"$dir/.aelm-stamp"
  SITE_OK=$got
}

# ---------------------------------------------------------------- main
declare -A EXE=() PKG_OK=()
for v in "${SELECTED[@]}"; do
  PY_EXE=""
  if [[ $SID_VERSIONS == *" $v "* ]]; then
    sid_python "$v" || { say "$v: not provisioned"; continue; }
    sid_shared "$v" || true
  else
    pyenv_python "$v" || { say "$v: no pyenv install under $PYENV_VERSIONS, skipped"; continue; }
  fi
  EXE[$v]=$PY_EXE
  site_dir "$v" "$PY_EXE"
  PKG_OK[$v]=$SITE_OK
done

# The manifest keeps lines for versions not selected by --only (if their
# interpreter still exists), so a partial run does not drop them.
MANIFEST=$CACHE/pythons.tsv
tmp_manifest=$MANIFEST.tmp
: >"$tmp_manifest"
for v in "${ALL_VERSIONS[@]}"; do
  if [[ -n ${EXE[$v]:-} ]]; then
    printf '%s\t%s\t%s\t%s\n' "$(full_version "${EXE[$v]}")" "${EXE[$v]}" "$CACHE/site/$v/site-packages" "${PKG_OK[$v]}" >>"$tmp_manifest"
  elif [[ " ${SELECTED[*]} " != *" $v "* && -f $MANIFEST ]]; then
    awk -F'\t' -v v="$v" '{ split($1, p, "."); if (p[1] "." p[2] == v) print }' "$MANIFEST" |
      while IFS=$'\t' read -r fv e d m; do [[ -x $e ]] && printf '%s\t%s\t%s\t%s\n' "$fv" "$e" "$d" "$m"; done >>"$tmp_manifest" || true
  fi
done
mv "$tmp_manifest" "$MANIFEST"

# Summary on stderr.
{
  printf '%-8s %-9s %-38s %s\n' minor version packages-missing executable
  for v in "${SELECTED[@]}"; do
    if [[ -z ${EXE[$v]:-} ]]; then printf '%-8s %-9s %-38s %s\n' "$v" - - "(not provisioned)"; continue; fi
    missing=()
    for m in "${MODS[@]}"; do [[ ,${PKG_OK[$v]}, == *",$m,"* ]] || missing+=("$m"); done
    printf '%-8s %-9s %-38s %s\n' "$v" "$(full_version "${EXE[$v]}")" "$(IFS=,; echo "${missing[*]:--}")" "${EXE[$v]}"
  done
} >&2

status=0
for v in "${REQUIRED[@]}"; do
  [[ " ${SELECTED[*]} " == *" $v "* && -z ${EXE[$v]:-} ]] || continue
  if [[ $SID_VERSIONS == *" $v "* && $SID_APT_OK == 0 ]]; then
    say "warning: $v unavailable because sid could not be reached through apt"
  else
    say "error: required interpreter $v could not be provisioned (see $LOG)"; status=1
  fi
done
echo "$MANIFEST"
exit "$status"
