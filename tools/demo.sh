#!/usr/bin/env bash
# The main job on the embedded default: synthetic videos (generated on first
# use), the default DIS tracker, a small random-init ViT. No downloads.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
WORK_DIR=${WORK_DIR:-work_dirs/mosic_vits_synthetic}
# Track once into data/synthetic/track_cache (a second run skips every video);
# training then reads the cache instead of tracking on the fly.
"$PY" tools/extract_tracks.py configs/mosic_vits_synthetic.py
"$PY" tools/train.py configs/mosic_vits_synthetic.py --work-dir "$WORK_DIR" "$@"
# Before / after: the config's initialisation (same seed) vs the trained
# student on the synthetic val split (docs/evaluation.md).
echo
"$PY" tools/evaluate.py all configs/mosic_vits_synthetic.py \
    "$(cat "$WORK_DIR/last_checkpoint")" --json "$WORK_DIR/eval_before_after.json"
# MoSiC's claim in miniature (an image-SSL start, then MoSiC vs static tracks
# vs more image SSL, 3 seeds; docs/mini_reproduction.md) takes ~24 min on 2
# cores the first time (~15 with its start and tracks cached), beyond the
# demo's budget together with the demo, so it is opt-in: MINI=1 or make
# reproduce-mini.
if [ "${MINI:-0}" = 1 ]; then
    echo
    "$PY" tools/reproduce_mini.py --python "$PY"
fi
echo
echo "demo done."
echo "  checkpoints: $WORK_DIR/iter_*.pth (latest: $(cat "$WORK_DIR/last_checkpoint" 2>/dev/null || echo none))"
echo "  tensorboard: tensorboard --logdir $WORK_DIR"
