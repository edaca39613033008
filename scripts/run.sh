#!/usr/bin/env bash
# Set up, ingest the sample patents (../shared/data/patents) into data/index, then start the chat UI.
# Extra arguments go to `patfig serve` (e.g. --port 7861). Ingest is idempotent: a second run only serves.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
DATA=${PATFIG_SAMPLE_DATA:-../shared/data/patents}
.venv/bin/patfig ingest "$DATA" --index data/index || echo "some documents failed; see above (the rest is indexed)"
.venv/bin/patfig stats --index data/index
exec .venv/bin/patfig serve --index data/index "$@"
