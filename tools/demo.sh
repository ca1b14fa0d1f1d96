#!/usr/bin/env bash
# The main job on the embedded default: synthetic videos (generated on first
# use), the default DIS tracker, a small random-init ViT. No downloads.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
WORK_DIR=${WORK_DIR:-work_dirs/mosic_vits_synthetic}
"$PY" tools/train.py configs/mosic_vits_synthetic.py --work-dir "$WORK_DIR" "$@"
echo
echo "demo done."
echo "  checkpoints: $WORK_DIR/iter_*.pth (latest: $(cat "$WORK_DIR/last_checkpoint" 2>/dev/null || echo none))"
echo "  tensorboard: tensorboard --logdir $WORK_DIR"
