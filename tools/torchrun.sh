#!/usr/bin/env bash
# tools/torchrun.sh NPROC SCRIPT [args]: run SCRIPT (a path under the repo
# root) with torchrun, one process per GPU (gloo processes on CPU hosts).
# Multi-node: NNODES, NODE_RANK, MASTER_ADDR, PORT. Python: $PYTHON, else the
# repo's .venv, else python3. The dist_*.sh wrappers call this.
set -euo pipefail
NPROC=$1
SCRIPT=$2
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${PYTHON:-}" ]; then
  if [ -x "$ROOT/.venv/bin/python" ]; then PYTHON=$ROOT/.venv/bin/python; else PYTHON=python3; fi
fi
PYTHONPATH="$ROOT:${PYTHONPATH:-}" exec "$PYTHON" -m torch.distributed.run \
    --nnodes="${NNODES:-1}" \
    --node_rank="${NODE_RANK:-0}" \
    --master_addr="${MASTER_ADDR:-127.0.0.1}" \
    --nproc_per_node="$NPROC" \
    --master_port="${PORT:-29500}" \
    "$ROOT/$SCRIPT" "${@:3}"
