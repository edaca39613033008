#!/usr/bin/env bash
# Sheets against figures as the indexed unit, every `patfig eval` mode, on the USPTO part of the sample set
# ingested WITH OCR (figures are split only where OCR read their FIG labels):
#   - figures: the 40 design folders and the 9 utility ZIPs, default ingest (units = figures);
#     evaluated whole, on its designs alone (design protocol) and on its utility patents alone (reid);
#   - sheets: the 9 utility ZIPs with PATFIG_SPLIT_FIGURES=0 (units = sheets).
# (The designs as sheets, without OCR, are bench/eval_design.sh.) Writes bench/results/eval_sheets_vs_figures.txt.
#   bash bench/eval_units.sh [FIGURE_INDEX] [SHEET_INDEX]   (defaults /tmp/evalfig_idx /tmp/evalsheet_idx;
#   existing indexes are reused: ingest skips what is indexed)
set -euo pipefail
source "$(dirname "$0")/eval_common.sh"
FIG=${1:-/tmp/evalfig_idx}
SHEET=${2:-/tmp/evalsheet_idx}
OUT=bench/results/eval_sheets_vs_figures.txt
run() { record "$@"; }
UTIL=$(mktemp -d)  # the 9 utility ZIPs alone, as links
trap 'rm -r "$UTIL"' EXIT
for z in "$DATA"/uspto/US*.ZIP; do ln -s "$(readlink -f "$z")" "$UTIL/"; done
: >"$OUT"
{
  echo "patfig eval: sheets and figures as the unit, OCR on (PP-OCR), every mode"
  machine_line
  echo "env: PATFIG_OFFLINE=1 PATFIG_VISUAL_ENCODER=linedraw; fused modes weigh visual 0.3, text 0.7 (more like this)"
  echo "Indexes under 128 units keep the raw cosine (no whitening, no query expansion)."
  echo
} >>"$OUT"
echo "=== figures (default ingest of the USPTO folder)" >>"$OUT"
run "$PY" -m patfig ingest "$DATA/uspto" --index "$FIG" --visual-encoder linedraw --workers 1
run "$PY" -m patfig eval --index "$FIG"
run "$PY" -m patfig eval --index "$FIG" --protocols design --design
run "$PY" -m patfig eval --index "$FIG" --protocols reid --utility
echo "=== sheets (the 9 utility ZIPs, PATFIG_SPLIT_FIGURES=0)" >>"$OUT"
run env PATFIG_SPLIT_FIGURES=0 "$PY" -m patfig ingest "$UTIL" --index "$SHEET" --visual-encoder linedraw --workers 1
run "$PY" -m patfig eval --index "$SHEET" --protocols reid
