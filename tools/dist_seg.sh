#!/usr/bin/env bash
# mmsegmentation benchmark of a MoSiC backbone (configs/benchmarks/mmseg).
#   tools/dist_seg.sh CONFIG GPUS BACKBONE [--work-dir DIR] [--cfg-options ...]
# BACKBONE: an exported backbone file (tools/export_backbone.py, mmpretrain
# format) or a training checkpoint (its student; for the teacher add
# --cfg-options model.backbone.init_cfg.prefix=teacher.backbone.).
# Trains with torchrun (NNODES, NODE_RANK, MASTER_ADDR, PORT as in
# tools/dist_train.sh) and validates on the val split as configured.
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 CONFIG GPUS BACKBONE [train.py options]" >&2
    exit 2
fi
CONFIG=$1
GPUS=$2
BACKBONE=$3
shift 3
if [ ! -f "$BACKBONE" ]; then
    echo "$0: backbone file $BACKBONE does not exist" >&2
    exit 2
fi
PORT=${PORT:-29501} exec "$(dirname "$0")/torchrun.sh" "$GPUS" tools/train.py \
    "$CONFIG" --launcher pytorch \
    --cfg-options model.backbone.init_cfg.checkpoint="$(realpath "$BACKBONE")" "$@"
