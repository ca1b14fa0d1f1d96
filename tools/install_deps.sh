#!/usr/bin/env bash
# Create or refresh the project venv ($1, default .venv) with the pinned stack.
# mmcv 2.1.0 (full, with ops) has no binary on PyPI: use a prebuilt wheel from
# $MMCV_WHEEL_DIR (default ../shared/wheels) when one is there, otherwise build it
# once from the PyPI sdist (20-40 min on 2 cores) into .cache/wheels and reuse it.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${1:-.venv}
WHEEL_DIR=${MMCV_WHEEL_DIR:-../shared/wheels}
PY=${PYTHON:-python3}

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
PIP="$VENV/bin/python -m pip"
$PIP install -q --upgrade "pip>=23" "setuptools<70" wheel

mkdir -p .cache/wheels
if ! ls "$WHEEL_DIR"/mmcv-2.1.0-*.whl >/dev/null 2>&1 && ! ls .cache/wheels/mmcv-2.1.0-*.whl >/dev/null 2>&1; then
  echo "[install_deps] no prebuilt mmcv 2.1.0 wheel in $WHEEL_DIR: building it from source (slow, once)"
  $PIP install -q torch==2.14.1 torchvision==0.29.1 ninja
  tmp=$(mktemp -d)
  $PIP download -q --no-deps --no-binary :all: -d "$tmp" mmcv==2.1.0
  tar xzf "$tmp"/mmcv-2.1.0.tar.gz -C "$tmp"
  # torch >= 2.10 headers need C++20; mmcv's setup.py forces an older standard.
  sed -i 's/-std=c++14/-std=c++20/; s/-std=c++17/-std=c++20/' "$tmp"/mmcv-2.1.0/setup.py
  (cd "$tmp"/mmcv-2.1.0 && MMCV_WITH_OPS=1 FORCE_CUDA=0 MAX_JOBS=${MAX_JOBS:-2} \
     "$OLDPWD/$VENV/bin/python" -m pip wheel -q --no-deps --no-build-isolation -w "$OLDPWD/.cache/wheels" .)
  rm -rf "$tmp"
fi

$PIP install -q --find-links "$WHEEL_DIR" --find-links .cache/wheels -r requirements.txt 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
$PIP install -q --no-deps --no-build-isolation -e .
echo "[install_deps] $VENV ready: $($VENV/bin/python -c 'import torch, mmengine, mmcv, mmpretrain, mmseg; print("torch", torch.__version__, "mmengine", mmengine.__version__, "mmcv", mmcv.__version__, "mmpretrain", mmpretrain.__version__, "mmseg", mmseg.__version__)')"
