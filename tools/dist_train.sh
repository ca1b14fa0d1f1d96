#!/usr/bin/env bash
# tools/dist_train.sh CONFIG GPUS [train.py args]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT. Works on CPU hosts too
# (gloo, one process per "GPU").
set -euo pipefail
if [ $# -lt 2 ]; then
    echo "usage: $0 CONFIG GPUS [train.py options]" >&2
    exit 2
fi
PORT=${PORT:-29500} exec "$(dirname "$0")/torchrun.sh" "$2" tools/train.py \
    "$1" --launcher pytorch "${@:3}"
