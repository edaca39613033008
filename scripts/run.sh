#!/usr/bin/env bash
# Set up, then start the chat UI on http://127.0.0.1:7860 at once while the sample patents
# (../shared/data/patents) are ingested into data/index in the background: figures become searchable as
# their documents complete, and the page shows the progress. Stopping it loses nothing: the next run resumes
# (documents already indexed are skipped). Extra arguments go to `patfig serve` (e.g. --port 7861).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
DATA=${PATFIG_SAMPLE_DATA:-../shared/data/patents}
exec .venv/bin/patfig serve --index data/index --ingest "$DATA" "$@"
