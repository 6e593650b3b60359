#!/usr/bin/env bash
# On a machine with an NVIDIA GPU: the CUDA tests, then the benchmark on the GPU, in under
# 5 minutes. Writes out/gpu/bench-cuda.{md,json} and out/gpu/pytest-cuda.txt.
#
#   bash scripts/gpu_check.sh            # uses .venv (make setup) or $PYTHON
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-.venv/bin/python}
OUT=${OUT_DIR:-out/gpu}
mkdir -p "$OUT"
if ! "$PYTHON" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)'; then
    echo "gpu_check: torch sees no CUDA device here; nothing to check" >&2
    exit 2
fi
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
echo "== CUDA tests" >&2
timeout 150 "$PYTHON" -m pytest -q -m cuda tests/gpu 2>&1 | tee "$OUT/pytest-cuda.txt"
echo "== benchmark on cuda (random weights)" >&2
timeout 150 "$PYTHON" -m visionanything bench --device cuda --repeats 5 --clip-seconds 8 \
    --json "$OUT/bench-cuda.json" --markdown "$OUT/bench-cuda.md" >/dev/null
cat "$OUT/bench-cuda.md"
