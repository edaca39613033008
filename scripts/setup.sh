#!/usr/bin/env bash
# Create .venv with everything patfig needs. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
# torch first, from the pinned CPU-capable builds (see README); then the project and its test extras.
.venv/bin/python -m pip install -q torch==2.14.1 torchvision==0.29.1
.venv/bin/python -m pip install -q -e '.[test,cluster]'  # cluster: Ray, for `patfig ingest --ray`
# Export the text model and the CRAFT backbone to ONNX once (~/.cache/patfig/onnx, or PATFIG_ONNX_CACHE), so that
# one-shot queries run without torch. Without it, the first query exports them (and says so if it cannot).
HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 .venv/bin/python -m models.onnx_export || echo "ONNX export failed: queries load torch"
