#!/usr/bin/env bash
# Set up (venv, Python packages, Debian's chromium for the browser tests) and run lint, type checks and the whole
# test suite:
# the slow tests too (real OCR, real models, the browser), only not the ones that need an Ollama server.
# A bare `pytest` runs the fast suite instead (pyproject's addopts: -m 'not slow and not ollama'); then the fast
# suite runs once more against a real Chroma server (PATFIG_TEST_CHROMA=server).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v chromium >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq && $SUDO apt-get install -y -qq chromium >/dev/null
fi
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
.venv/bin/ruff check .
.venv/bin/pyright --pythonpath .venv/bin/python  # types of core, store, runtime, tools and agent (pyproject)
.venv/bin/python -m pytest -q -m "not ollama" "$@"  # this -m replaces the one in addopts
# Server mode: the fast suite again, every index keeping its vectors in a real Chroma server that the session
# starts on a free loopback port (`chroma run`, the command the chromadb wheel installs in .venv/bin).
test -x .venv/bin/chroma || { echo "chromadb's chroma command is missing from .venv/bin" >&2; exit 1; }
PATFIG_TEST_CHROMA=server .venv/bin/python -m pytest -q "$@"
