#!/usr/bin/env bash
# Paper benchmarks over several processes (one per GPU; gloo on CPU hosts):
#   tools/dist_evaluate.sh NPROC bench NAME MODEL [MODEL ...] [options]
#   tools/dist_evaluate.sh NPROC all-paper MODEL [MODEL ...] [options]
# Feature extraction is sharded over the ranks; rank 0 prints and writes.
set -euo pipefail
if [ $# -lt 3 ]; then
    echo "usage: $0 NPROC bench|all-paper ... (see tools/evaluate.py)" >&2
    exit 2
fi
NPROC=$1
shift
exec "$(dirname "$0")/torchrun.sh" "$NPROC" tools/evaluate.py "$@"
