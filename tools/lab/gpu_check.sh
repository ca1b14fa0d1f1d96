#!/usr/bin/env bash
# One short check (< 5 min) on a CUDA machine: step time, data wait, peak GPU
# memory and achieved TFLOP/s of ViT-S/14 and ViT-B/14 at 8 clips x 12 frames
# x 256 points (bf16 teacher), the input pipeline's clips/s with all cores and
# the resulting GPU utilisation; BootsTAPIR's frames/s and its bf16 / fp16
# error against fp32; FSDP from a DDP checkpoint (equal weights) and FSDP with
# cpu_offload + bf16 mixed precision (tools/lab/gpu_check.py; docs/benchmarks.md).
#   bash tools/lab/gpu_check.sh                     # on the GPU node
#   bash tools/lab/gpu_check.sh --device cpu --tiny # smoke test without a GPU
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv/bin/python}
exec "$PY" tools/lab/gpu_check.py "$@"
