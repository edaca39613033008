#!/usr/bin/env bash
# How the fused modes depend on the text weight: `patfig eval --text-weight W` for several W on the whole
# sample folder without OCR (the index of bench/eval_full_no_ocr.sh, which must exist). Writes the table of
# every protocol and mode per weight to bench/results/eval_fusion_weights.txt.
#   bash bench/eval_fusion_weights.sh [INDEX_DIR]   (default /tmp/evalall)
set -euo pipefail
source "$(dirname "$0")/eval_common.sh"
IDX=${1:-/tmp/evalall}
OUT=bench/results/eval_fusion_weights.txt
{
  echo "patfig eval --text-weight W on $IDX (the whole sample folder without OCR; bench/eval_full_no_ocr.sh)"
  machine_line
  for w in 0.3 0.5 0.6 0.7 0.8 0.9; do
    echo
    echo "\$ patfig eval --index $IDX --protocols reid,family,design --text-weight $w"
    "$PY" -m patfig eval --index "$IDX" --protocols reid,family,design --text-weight "$w" 2>/dev/null \
      | sed -n '/^all protocols/,$p'
  done
} >"$OUT"
