# Sourced by the bench/eval_*.sh scripts (after `set -euo pipefail`): runs from the repo root, offline, with the
# line-drawing descriptor; DATA, PY; `record CMD...` appends "$ CMD" and its output to $OUT; `machine_line`
# says when, at which commit and on what machine (with its load) a result was measured.
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DATA=${PATFIG_SAMPLE_DATA:-../shared/data/patents}
PY=${PYTHON:-.venv/bin/python}
export PATFIG_OFFLINE=1 PATFIG_VISUAL_ENCODER=linedraw PYTHONPATH=$PWD

record() {
  echo "\$ $*" >>"$OUT"
  "$@" >>"$OUT" 2>/dev/null
  echo >>"$OUT"
}

machine_line() {
  echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); commit $(git rev-parse --short HEAD)"
  echo "machine: $(nproc) cores of $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/Mem:/{print $2}') GB," \
       "shared with other jobs (load average $(cut -d' ' -f1-3 /proc/loadavg))"
}
