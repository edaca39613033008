#!/usr/bin/env bash
# Every `patfig eval` protocol and mode on the whole sample folder (USPTO ZIPs and design folders, EP/WO/US
# PDFs) ingested without OCR, so units are sheets; families (US + EP + WO publications of one invention) need
# the PDFs. Writes bench/results/eval_full_sample_no_ocr.txt.
#   bash bench/eval_full_no_ocr.sh [INDEX_DIR]   (default /tmp/evalall; an existing index is reused)
set -euo pipefail
source "$(dirname "$0")/eval_common.sh"
IDX=${1:-/tmp/evalall}
OUT=bench/results/eval_full_sample_no_ocr.txt
{
  echo "patfig eval: the whole sample folder without OCR (units = sheets), every protocol and mode"
  machine_line
  echo "env: PATFIG_OFFLINE=1 PATFIG_VISUAL_ENCODER=linedraw; fused modes weigh visual 0.3, text 0.7 (more like this)"
  echo
  echo "\$ patfig ingest $DATA --index $IDX --no-ocr --visual-encoder linedraw --workers 1"
  "$PY" -m patfig ingest "$DATA" --index "$IDX" --no-ocr --visual-encoder linedraw --workers 1 2>/dev/null
  echo
  echo "\$ patfig eval --index $IDX"
  "$PY" -m patfig eval --index "$IDX" 2>/dev/null
} >"$OUT"
