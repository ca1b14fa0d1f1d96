#!/usr/bin/env bash
# Create or refresh the project venv with the pinned stack (docs/setup.md).
#
#   tools/install_deps.sh [--core|--dev|--full|--lite] [VENV]   (VENV: default .venv)
#
# --core (default; `make setup`, `make demo`): the main job -- training, track
#     extraction, tools/evaluate.py. mmcv comes as mmcv-lite 2.1.0, a pure-Python
#     wheel: every package is installed from a wheel (--only-binary :all:), so no
#     compiler ever runs. A venv that already has full mmcv 2.1.0 keeps it (full
#     mmcv is a superset of mmcv-lite).
# --dev (`make setup-dev`, `make test`): the core plus mmsegmentation 1.2.2 and
#     the test tools, wheels only as well. mmsegmentation imports mmcv.ops, which
#     loads mmcv's compiled mmcv._ext; under mmcv-lite, mosic_mm.seg installs a
#     stand-in for it first (mosic_mm/compat_mmcv_ext.py): compiled ops then fail
#     when called, naming the op, and nothing this project runs calls one.
# --full (`make setup-full`): --dev with full mmcv 2.1.0 (compiled ops) instead
#     of mmcv-lite. PyPI has no binary of full mmcv: the wheel is taken from
#     $MMCV_WHEEL_DIR (default ../shared/wheels) or .cache/wheels, otherwise built
#     once from the PyPI sdist into .cache/wheels (20-40 min on 2 cores).
# --lite (`make setup-lite`): switch a venv back to mmcv-lite (mmsegmentation and
#     the test tools stay).
#
# mmcv and mmcv-lite are two distributions of the same `mmcv` package: one is
# always uninstalled before the other is installed, and the state of mmcv.ops /
# mmcv._ext is checked after every switch.
set -euo pipefail
MODE=core
case "${1:-}" in
  --core|--dev|--full|--lite) MODE=${1#--}; shift ;;
  -h|--help) sed -n '2,25p' "$0"; exit 0 ;;
  -*) echo "usage: $0 [--core|--dev|--full|--lite] [VENV]" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
VENV=${1:-.venv}
WHEEL_DIR=${MMCV_WHEEL_DIR:-../shared/wheels}
PY=${PYTHON:-python3}
log() { echo "[install_deps] $*"; }

if [ ! -x "$VENV/bin/python" ]; then
  log "creating $VENV with $("$PY" --version 2>&1)"
  "$PY" -m venv "$VENV"
fi
VPY="$(cd "$VENV" && pwd)/bin/python"
# The machine's pip config lists local indexes that hold only some packages;
# drop its "is ignored" warnings about the others.
pip_() { "$VPY" -m pip "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2); }
# Wheels only: a package without a wheel is an error here, never a compile.
# --no-compile: Python byte-compiles what is imported on first use instead of
# all of torch at install time (a large part of the install time on 2 cores).
install() { pip_ install -q --no-compile --only-binary :all: "$@"; }

# Which distributions provide the `mmcv` package now: "mmcv", "mmcv-lite",
# "mmcv mmcv-lite" (clobbered: they share files) or "" (none).
mmcv_dists() {
  "$VPY" - <<'PY'
import importlib.metadata as md
have = []
for dist in ('mmcv', 'mmcv-lite'):
    try:
        md.version(dist)
        have.append(dist)
    except md.PackageNotFoundError:
        pass
print(' '.join(have))
PY
}

# Check the mmcv in the venv is the one asked for ($1: lite | full).
check_mmcv() {
  "$VPY" - "$1" <<'PY'
import importlib.util
import sys

want = sys.argv[1]
import mmcv
import mmcv.cnn  # noqa: F401  (what mmpretrain needs)
import mmcv.transforms  # noqa: F401
if mmcv.__version__ != '2.1.0':
    sys.exit(f'mmcv {mmcv.__version__} installed, 2.1.0 expected')
has_ext = importlib.util.find_spec('mmcv._ext') is not None
if want == 'full':
    from mmcv.ops import nms  # noqa: F401  (loads the compiled mmcv._ext)
    print('full mmcv 2.1.0: mmcv.ops and mmcv._ext import')
else:
    if has_ext:
        sys.exit('mmcv-lite requested but mmcv._ext is present (stale files '
                 'of full mmcv): re-run with --lite')
    try:
        import mmcv.ops  # noqa: F401
    except ImportError:
        print('mmcv-lite 2.1.0: no mmcv._ext, mmcv.ops unavailable (expected)')
    else:
        sys.exit('mmcv-lite requested but mmcv.ops imports')
PY
}

# One line: the versions of the stack; with --dev and --full also checks that
# mmsegmentation imports (through mosic_mm.seg, which installs the stand-in for
# mmcv's compiled ops under mmcv-lite) and says what provides the ops.
report() {
  "$VPY" - "$MODE" <<'PY'
import sys

import mmcv
import mmengine
import mmpretrain
import torch

v = [f'torch {torch.__version__}', f'mmengine {mmengine.__version__}',
     f'mmcv {mmcv.__version__}', f'mmpretrain {mmpretrain.__version__}']
if sys.argv[1] in ('dev', 'full'):
    import mosic_mm.seg  # noqa: F401
    import mmseg
    import mmseg.models  # noqa: F401
    from mosic_mm import compat_mmcv_ext
    ops = ('stand-in: compiled ones need make setup-full'
           if compat_mmcv_ext.installed() else 'compiled')
    v.append(f'mmseg {mmseg.__version__} (imports; mmcv ops: {ops})')
else:
    try:
        import mmseg
        v.append(f'mmseg {mmseg.__version__}')
    except ImportError:
        v.append('no mmseg')
print(', '.join(v))
PY
}

# A clobbered or half-removed mmcv-lite: put its files back, check again.
repair_lite() {
  install --force-reinstall --no-deps -r requirements/mmcv-lite.txt
  mmcv_msg=$(check_mmcv lite) || exit 1
}

# Uninstall those of the given distributions that are installed.
uninstall() {
  local d have=()
  for d in "$@"; do
    "$VPY" -c "import importlib.metadata as m, sys; m.version(sys.argv[1])" "$d" 2>/dev/null && have+=("$d")
  done
  [ ${#have[@]} -eq 0 ] || { log "uninstalling ${have[*]}"; pip_ uninstall -q -y "${have[@]}"; }
}

# pip >= 23 (resolver, --only-binary with local indexes). setuptools and wheel
# are only needed to build full mmcv (--full without a prebuilt wheel).
install "pip>=23"

log "core stack (requirements.txt): torch, mmengine, mmpretrain, ... (wheels only)"
install -r requirements.txt

dists=$(mmcv_dists)
case "$MODE" in
  core|dev)
    if [ "$dists" = mmcv ] && mmcv_msg=$(check_mmcv full 2>/dev/null); then
      log "full mmcv 2.1.0 already installed (a superset of mmcv-lite): keeping it"
    else
      case "$dists" in
        mmcv) log "full mmcv is installed but mmcv.ops does not import: replacing it with mmcv-lite" ;;
        "mmcv mmcv-lite") log "both mmcv and mmcv-lite are installed (they overwrite each other's files): replacing them with mmcv-lite" ;;
      esac
      [ "$dists" = mmcv-lite ] || uninstall mmcv mmcv-lite
      log "mmcv-lite 2.1.0 (pure Python, no compiled ops)"
      install -r requirements/mmcv-lite.txt
      # a clobbered or half-removed copy: put mmcv-lite's files back
      mmcv_msg=$(check_mmcv lite 2>/dev/null) || repair_lite
    fi
    if [ "$MODE" = dev ]; then
      log "mmsegmentation 1.2.2 (pure Python), test tools (wheels only)"
      install -r requirements/seg.txt -r requirements/tests.txt
    fi
    ;;
  lite)
    [ "$dists" = mmcv-lite ] || uninstall mmcv mmcv-lite
    log "mmcv-lite 2.1.0 (pure Python, no compiled ops)"
    install -r requirements/mmcv-lite.txt
    mmcv_msg=$(check_mmcv lite 2>/dev/null) || repair_lite
    ;;
  full)
    mkdir -p .cache/wheels
    if ! ls "$WHEEL_DIR"/mmcv-2.1.0-*.whl >/dev/null 2>&1 \
        && ! ls .cache/wheels/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
      log "full mmcv 2.1.0 (\`make setup-full\`: mmcv's compiled C++ ops) was asked for."
      log "  PyPI has no binary of it and there is no prebuilt wheel in $WHEEL_DIR (\$MMCV_WHEEL_DIR)"
      log "  or .cache/wheels: building it from the PyPI sdist with the C++ compiler, once"
      log "  (20-40 min on 2 cores; the wheel is kept in .cache/wheels)."
      log "  Nothing this project runs needs it: \`make setup-dev\` (what \`make test\` uses)"
      log "  and \`make setup\` install mmcv-lite from a wheel instead."
      # the build wants an older setuptools than torch declares: use it for the
      # build only, then put the venv's own version back
      setuptools_was=$("$VPY" -c 'import importlib.metadata as m; print(m.version("setuptools"))')
      install --no-warn-conflicts "setuptools<70" wheel ninja
      tmp=$(mktemp -d)
      trap 'rm -rf "$tmp"' EXIT
      pip_ download -q --no-deps --no-binary :all: -d "$tmp" mmcv==2.1.0
      tar xzf "$tmp"/mmcv-2.1.0.tar.gz -C "$tmp"
      # torch >= 2.10 headers need C++20; mmcv's setup.py forces an older standard.
      sed -i 's/-std=c++14/-std=c++20/; s/-std=c++17/-std=c++20/' "$tmp"/mmcv-2.1.0/setup.py
      (cd "$tmp"/mmcv-2.1.0 && MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=${MAX_JOBS:-2} \
         "$VPY" -m pip wheel -q --no-deps --no-build-isolation -w "$OLDPWD/.cache/wheels" .)
      rm -rf "$tmp"
      install --no-warn-conflicts "setuptools==$setuptools_was"
      log "built $(ls .cache/wheels/mmcv-2.1.0-*.whl)"
    fi
    # mmcv-lite shares the `mmcv` package with full mmcv: remove it first
    [ "$dists" = mmcv ] || uninstall mmcv-lite mmcv
    log "full mmcv 2.1.0 (prebuilt wheel), mmsegmentation 1.2.2, test tools"
    install --find-links "$WHEEL_DIR" --find-links .cache/wheels \
      -r requirements/mmcv-full.txt -r requirements/seg.txt -r requirements/tests.txt
    if ! mmcv_msg=$(check_mmcv full 2>/dev/null); then
      log "mmcv files incomplete (an earlier mmcv-lite removal?): reinstalling full mmcv"
      install --force-reinstall --no-deps --find-links "$WHEEL_DIR" --find-links .cache/wheels mmcv==2.1.0
      mmcv_msg=$(check_mmcv full) || exit 1
    fi
    ;;
esac

pip_ install -q --no-deps --no-build-isolation -e .
want=lite
if [ "$MODE" = full ] || [ "$(mmcv_dists)" = mmcv ]; then want=full; fi
log "$mmcv_msg"   # what check_mmcv found above (pip install -e . keeps mmcv)
# make's stamp of the full set-up (Makefile) is void once full mmcv is gone
[ "$want" = full ] || rm -f "$VENV/.installed-full"
msg=$(report 2>&1) || { echo "$msg" >&2; log "the venv does not import (above)"; exit 1; }
log "$VENV ready ($MODE): ${msg##*$'\n'}"
