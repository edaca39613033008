#!/usr/bin/env bash
# Set up, then start the chat UI on http://127.0.0.1:7860 at once while the sample patents
# (../shared/data/patents) are ingested into data/index in the background: figures become searchable as
# their documents complete, and the page shows the progress. Stopping it loses nothing: the next run resumes
# (documents already indexed are skipped). Extra arguments go to `patfig serve` (e.g. --port 7861).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
# No HF_HUB_OFFLINE here: on a machine with internet the first ingest fetches PatentCLIP once (`patfig models
# pull`); offline that attempt fails at once and the line-drawing descriptor is used. PATFIG_OFFLINE=1 forbids it.
DATA=${PATFIG_SAMPLE_DATA:-../shared/data/patents}
exec .venv/bin/patfig serve --index data/index --ingest "$DATA" "$@"
