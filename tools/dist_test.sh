#!/usr/bin/env bash
# tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args]
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT. Works on CPU hosts too
# (gloo, one process per "GPU").
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 CONFIG CHECKPOINT GPUS [test.py options]" >&2
    exit 2
fi
PORT=${PORT:-29502} exec "$(dirname "$0")/torchrun.sh" "$3" tools/test.py \
    "$1" "$2" --launcher pytorch "${@:4}"
