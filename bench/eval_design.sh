#!/usr/bin/env bash
# Design re-identification and utility re-identification on the USPTO part of the sample set: the 40 design
# folders (USD*) and the 9 utility ZIPs, ingested without OCR into one index, then `patfig eval` on the whole
# index, on its designs alone and on its utility patents alone. Writes bench/results/eval_design.txt.
#   bash bench/eval_design.sh [INDEX_DIR]   (default /tmp/evalp_idx; an existing index is reused)
set -euo pipefail
source "$(dirname "$0")/eval_common.sh"
IDX=${1:-/tmp/evalp_idx}
OUT=bench/results/eval_design.txt
run() { record "$PY" -m patfig "$@"; }  # run and record one patfig command line with its output
: >"$OUT"
{
  echo "patfig eval: design re-identification and utility re-identification on the USPTO sample"
  machine_line
  echo "env: PATFIG_OFFLINE=1 PATFIG_VISUAL_ENCODER=linedraw"
  echo
  echo "Units are sheets (no OCR, so FIG numbers and descriptions go to sheets by order). Metrics over the top 50,"
  echo "as every patfig eval protocol: mAP@50 (AP@50 divides by min(|relevant|, 50)), P@1, R@10, MRR@10; the query"
  echo "itself is never ranked. design: every view of a design patent with 2+ views queries the evaluated set;"
  echo "relevant = the other views of the same design. --design / --utility / --patents restrict both the"
  echo "queries and the gallery. fused_avg / fused_max use score curves that ingest fitted on this same index"
  echo "(tools/calibrate.py: visual and text_sheet by re-identification), so they have seen its relevance labels."
  echo
} >>"$OUT"
run ingest "$DATA/uspto" --index "$IDX" --no-ocr --visual-encoder linedraw --workers 1
run eval --index "$IDX"
run eval --index "$IDX" --protocols design --design
run eval --index "$IDX" --protocols reid --utility
SMALL=$("$PY" - "$IDX" <<'EOF' 2>/dev/null
import sys
from collections import Counter
from pathlib import Path
from core.settings import Settings
from patfig.wiring import build_services
s = build_services(Settings(index_dir=Path(sys.argv[1]), visual_encoder="linedraw"))
meta = s.store.all_metadata().values()
n = Counter(m["patent_id"] for m in meta if m["doc_type"] == "design")
print(",".join(sorted(p for p, k in n.items() if k <= 15)))
EOF
)
echo "# the designs with at most 15 views (leaving out the family USD911448 + USD911449, 57 and 67 views):" >>"$OUT"
run eval --index "$IDX" --protocols design --design --patents "$SMALL"
